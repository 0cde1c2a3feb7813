//! The bound on what one plan's values add up to.
//!
//! Each value an expression builds is bounded ([`crate::lang::expr::MAX_VALUE_BYTES`]), but a
//! value read by reference is copied whole: a thousand resources that each read the same 1 MiB
//! value hold a gigabyte, from 65 KB of template (the template fuzz target held 2 GB). The
//! planner counts what it evaluates, and stops at [`MAX_PLAN_VALUE_BYTES`].

use crate::base::diagnostic::Diagnostic;
use crate::base::source::Located;
use crate::base::value::Value;

/// 64 MiB of values ([`Value::size`]): a plan of thousands of resources holds a few.
pub const MAX_PLAN_VALUE_BYTES: usize = 64 << 20;

/// What one plan's values have added up to so far.
#[derive(Debug, Default)]
pub struct Budget {
    spent: usize,
}

impl Budget {
    /// Counts `values`, evaluated for `what` (written at `at`); the error once the plan's
    /// values together pass the bound.
    pub fn spend<'v>(
        &mut self,
        values: impl IntoIterator<Item = &'v Value>,
        what: &str,
        at: Located,
    ) -> Result<(), Diagnostic> {
        for v in values {
            self.spent = self.spent.saturating_add(v.size());
        }
        if self.spent <= MAX_PLAN_VALUE_BYTES {
            return Ok(());
        }
        Err(Diagnostic::new(
            "plan::too_large",
            format!(
                "the values of this plan add up to more than {MAX_PLAN_VALUE_BYTES} bytes at {what}"
            ),
        )
        .at(at)
        .label("the limit is passed here")
        .help(
            "a plan holds at most 64 MiB of values; copying one large value into many resources \
             passes it: build the large value once and give it to one resource",
        ))
    }
}
