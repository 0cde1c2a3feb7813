//! What a run of the executor is given (retry policy, configuration, the desired values) and
//! what it gives back (events as it goes, a report, the errors that stop it).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::base::diagnostic::Diagnostics;
use crate::base::value::Value;
use crate::lang::schema::Catalog;
use crate::lang::template::Template;
use crate::plan::Action;
use crate::plan::resolve::StackContext;
use crate::provider::{Props, ProviderError};
use crate::state::store::RecordError;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: a random wait up to base * 2^(attempt-1), capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let ceiling = exp.min(self.cap);
        let fraction: f64 = rand::random::<f64>() * 0.5 + 0.5;
        ceiling.mul_f64(fraction)
    }
}

/// Settings of one run.
#[derive(Clone)]
pub struct RunConfig {
    /// Operations in flight at once, over all providers.
    pub parallelism: usize,
    pub retry: RetryPolicy,
    pub cancel: CancellationToken,
    pub events: mpsc::UnboundedSender<Event>,
    /// The stack's directory, for providers that keep local files.
    pub stack_dir: PathBuf,
}

/// What happens during a run, for progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started {
        address: String,
        action: Action,
    },
    Waiting {
        address: String,
        note: String,
    },
    Retrying {
        address: String,
        attempt: u32,
        delay: Duration,
        error: String,
    },
    Finished {
        address: String,
        action: Action,
        elapsed: Duration,
    },
    Failed {
        address: String,
        action: Action,
        error: String,
    },
    Skipped {
        address: String,
        reason: String,
    },
    /// A pending operation from an earlier run was resolved.
    Resolved {
        address: String,
        outcome: String,
    },
    /// A resource was found changed or gone by refresh.
    Refreshed {
        address: String,
        outcome: String,
    },
}

/// A failed operation.
#[derive(Debug, Clone)]
pub struct Failure {
    pub address: String,
    pub action: Action,
    pub error: ProviderError,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<(String, Action)>,
    pub failed: Vec<Failure>,
    /// Not started: a dependency failed, or the run was cancelled.
    pub skipped: Vec<(String, String)>,
    pub cancelled: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

/// Why a run could not go on at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("resource type `{0}` is not built into this stackform")]
    UnknownType(String),
    #[error("{what}: {error}")]
    Provider { what: String, error: ProviderError },
}

/// What the executor needs besides the plan.
pub struct Desired<'a> {
    /// `None` for destroy, which needs no template.
    pub template: Option<&'a Template>,
    pub catalog: &'a Catalog,
    pub inputs: &'a BTreeMap<String, Value>,
    pub stack: &'a StackContext,
    pub data: &'a HashMap<String, Props>,
}
