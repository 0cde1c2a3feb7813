//! The CLI's errors and the exit code each one maps to (README documents the table).

use stackform_engine::diagnostic::{Diagnostic, Diagnostics};
use stackform_engine::state::StateError;

/// Exit codes, part of the CLI contract.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CHANGES_PRESENT: u8 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Something wrong in a template or its inputs: rendered with locations.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// A usage mistake without a source location.
    #[error("{message}")]
    Usage {
        code: &'static str,
        message: String,
        help: String,
    },
    #[error("{0}")]
    State(#[from] StateError),
    /// An operation that failed for reasons outside the user's input.
    #[error("{message}")]
    Failed {
        code: &'static str,
        message: String,
        help: String,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Invalid(_) | CliError::Usage { .. } => exit::USAGE,
            CliError::State(_) | CliError::Failed { .. } => exit::FAILED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CliError::Invalid(d) if d.len() == 1 => d.0[0].code,
            CliError::Invalid(_) => "template::invalid",
            CliError::Usage { code, .. } | CliError::Failed { code, .. } => code,
            CliError::State(StateError::Io { .. }) => "state::io",
            CliError::State(StateError::Corrupt { .. }) => "state::corrupt",
            CliError::State(StateError::TooNew { .. }) => "state::too_new",
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            CliError::Invalid(d) if d.len() == 1 => d.0[0].help.clone(),
            CliError::Invalid(_) => Some("fix each problem listed above".into()),
            CliError::Usage { help, .. } | CliError::Failed { help, .. } => Some(help.clone()),
            CliError::State(e) => Some(e.help()),
        }
    }

    pub fn usage(code: &'static str, message: impl Into<String>, help: impl Into<String>) -> Self {
        CliError::Usage {
            code,
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn failed(code: &'static str, message: impl Into<String>, help: impl Into<String>) -> Self {
        CliError::Failed {
            code,
            message: message.into(),
            help: help.into(),
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Invalid(d)
    }
}

impl From<Diagnostic> for CliError {
    fn from(d: Diagnostic) -> Self {
        CliError::Invalid(d.into())
    }
}
