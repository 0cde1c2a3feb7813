//! Why an operation failed: the errors every use case returns, and the caller's answer to a plan.

use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::exec::RunError;
use crate::state::StateError;
use crate::state::lock::LockError;
use crate::state::store::{self};

/// What the caller answers when shown a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Yes,
    No,
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{message}")]
    Stale { message: String, help: String },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("there is no stack named `{0}`")]
    NoSuchStack(String),
    #[error(transparent)]
    Secret(#[from] crate::ext::secrets::SecretError),
}

impl From<Diagnostics> for OpError {
    fn from(d: Diagnostics) -> Self {
        OpError::Invalid(d)
    }
}

impl From<store::RecordError> for OpError {
    fn from(e: store::RecordError) -> Self {
        OpError::Run(RunError::Record(e))
    }
}

/// A stack name that is not valid, as an operation error.
pub fn invalid(d: Diagnostic) -> OpError {
    OpError::Invalid(d.into())
}
