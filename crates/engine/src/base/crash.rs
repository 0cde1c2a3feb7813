//! Crash injection for tests: `STACKFORM_TEST_CRASH_AT=<boundary>:<n>` makes the process
//! SIGKILL itself at the n-th crossing of a boundary, so tests can prove that every boundary
//! is safe to die at.
//!
//! Boundaries: `intent` (an operation was durably recorded, its call not yet made), `call` (the
//! provider call returned, its result not yet recorded), `snapshot` (half of a snapshot's temp
//! file is written). The variable is read once; without it every check is a relaxed load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Intent,
    Call,
    Snapshot,
}

impl Boundary {
    fn name(self) -> &'static str {
        match self {
            Boundary::Intent => "intent",
            Boundary::Call => "call",
            Boundary::Snapshot => "snapshot",
        }
    }
}

struct Plan {
    boundary: &'static str,
    at: u64,
    seen: AtomicU64,
}

fn plan() -> Option<&'static Plan> {
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let spec = std::env::var("STACKFORM_TEST_CRASH_AT").ok()?;
        let (name, n) = spec.split_once(':')?;
        let boundary = [Boundary::Intent, Boundary::Call, Boundary::Snapshot]
            .into_iter()
            .find(|b| b.name() == name)?
            .name();
        Some(Plan {
            boundary,
            at: n.parse().ok()?,
            seen: AtomicU64::new(0),
        })
    })
    .as_ref()
}

/// Marks a crossing of `boundary`; dies here if this is the crossing the test asked for.
pub fn point(boundary: Boundary) {
    let Some(plan) = plan() else { return };
    if plan.boundary != boundary.name() {
        return;
    }
    if plan.seen.fetch_add(1, Ordering::SeqCst) + 1 == plan.at {
        // SAFETY: kill(2) on our own pid with SIGKILL has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL cannot be caught; should the call fail, do not go on as if nothing happened.
        std::process::abort();
    }
}
