//! The CLI's errors and the exit code each one maps to (README documents the table).

use stackform_engine::base::diagnostic::{Diagnostic, Diagnostics};
use stackform_engine::exec::RunError;
use stackform_engine::ops::OpError;
use stackform_engine::state::StateError;
use stackform_engine::state::lock::LockError;

/// Exit codes, part of the CLI contract.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const PARTIAL: u8 = 3;
    pub const LOCKED: u8 = 4;
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
    /// The stack is locked by someone else, or a saved plan no longer applies.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        help: String,
    },
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
            CliError::Conflict { .. } => exit::LOCKED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CliError::Invalid(d) if d.len() == 1 => d.0[0].code,
            CliError::Invalid(_) => "template::invalid",
            CliError::Usage { code, .. }
            | CliError::Failed { code, .. }
            | CliError::Conflict { code, .. } => code,
            CliError::State(StateError::Io { .. }) => "state::io",
            CliError::State(StateError::Corrupt { .. }) => "state::corrupt",
            CliError::State(StateError::TooNew { .. }) => "state::too_new",
            CliError::State(StateError::Remote { denied: true, .. }) => "state::remote_denied",
            CliError::State(StateError::Remote { .. }) => "state::remote",
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            CliError::Invalid(d) if d.len() == 1 => d.0[0].help.clone(),
            CliError::Invalid(_) => Some("fix each problem listed above".into()),
            CliError::Usage { help, .. }
            | CliError::Failed { help, .. }
            | CliError::Conflict { help, .. } => Some(help.clone()),
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

impl From<stackform_engine::ext::secrets::SecretError> for CliError {
    fn from(e: stackform_engine::ext::secrets::SecretError) -> Self {
        use stackform_engine::ext::secrets::SecretError as E;
        let help = e.help();
        match &e {
            E::Exists(_) | E::NoSuchSecret(_) | E::BadName(_) | E::Key { .. } => {
                CliError::usage("secret::invalid", e.to_string(), help)
            }
            E::Decrypt { .. } => CliError::failed("secret::decrypt", e.to_string(), help),
            E::KeyMissing { .. } => CliError::failed("secret::key_missing", e.to_string(), help),
            E::Io { path, source } => CliError::failed(
                "secret::io",
                format!("{e}: {} ({source})", path.display()),
                help,
            ),
            E::Backend { .. } => CliError::failed("secret::backend", e.to_string(), help),
        }
    }
}

impl From<stackform_engine::ext::connectors::ConnectorError> for CliError {
    fn from(e: stackform_engine::ext::connectors::ConnectorError) -> Self {
        use stackform_engine::ext::connectors::ConnectorError as E;
        let help = e.help();
        match e {
            E::Secret(s) => CliError::from(s),
            E::Io { .. } => CliError::failed("connector::io", e.to_string(), help),
            E::InUse { .. } => CliError::failed("connector::in_use", e.to_string(), help),
            _ => CliError::usage("connector::invalid", e.to_string(), help),
        }
    }
}

impl From<stackform_engine::ext::integration::IntegrationError> for CliError {
    fn from(e: stackform_engine::ext::integration::IntegrationError) -> Self {
        use stackform_engine::ext::integration::IntegrationError as E;
        let help = e.help();
        match e {
            E::Invalid { diagnostics, .. } => CliError::Invalid(diagnostics),
            E::Io {
                ref path,
                ref source,
            } => CliError::failed(
                "integration::io",
                format!("cannot use {}: {source}", path.display()),
                help,
            ),
            E::InUse { .. } => CliError::failed("integration::in_use", e.to_string(), help),
            E::Conflict { .. } => CliError::usage("integration::conflict", e.to_string(), help),
            E::Strands { .. } => CliError::failed("integration::in_use", e.to_string(), help),
            E::Exists { .. } => CliError::usage("integration::exists", e.to_string(), help),
            E::NotInstalled { .. } => {
                CliError::usage("integration::not_installed", e.to_string(), help)
            }
            E::NoManifest { .. } => {
                CliError::usage("integration::no_manifest", e.to_string(), help)
            }
            E::TooLarge(_) => CliError::usage("input::too_large", e.to_string(), help),
            E::LinkOutside { .. } => {
                CliError::usage("integration::link_outside", e.to_string(), help)
            }
            E::LinkLoop { .. } => CliError::usage("integration::link_loop", e.to_string(), help),
            E::SpecialFile { .. } => {
                CliError::usage("integration::special_file", e.to_string(), help)
            }
            E::TooBig { .. } => CliError::usage("integration::too_big", e.to_string(), help),
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

impl From<OpError> for CliError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid(d) => CliError::Invalid(d),
            OpError::State(s) => CliError::State(s),
            OpError::Locked(LockError::Held { stack, holder, .. }) => CliError::Conflict {
                code: "lock::held",
                message: format!(
                    "stack `{stack}` is locked by {}",
                    holder.map_or_else(|| "another process".to_owned(), |h| h.to_string())
                ),
                help: format!(
                    "wait for it to finish, or retry with `--lock-timeout 5m`; if the holder is gone on a shared filesystem, run `stackform state unlock {stack} --force`"
                ),
            },
            OpError::Locked(e @ LockError::Backend { denied: true, .. }) => CliError::failed(
                "lock::denied",
                e.to_string(),
                "check that the credentials in the environment may read and write the state backend's bucket or container, and that it exists",
            ),
            OpError::Locked(e @ LockError::Backend { .. }) => CliError::failed(
                "lock::backend",
                e.to_string(),
                "check that the state backend is reachable, then run the command again",
            ),
            OpError::Locked(e @ LockError::Io { .. }) => CliError::failed(
                "lock::io",
                e.to_string(),
                "check that STACKFORM_HOME is writable",
            ),
            OpError::Stale { message, help } => CliError::Conflict {
                code: "plan::stale",
                message,
                help,
            },
            OpError::NoSuchStack(name) => CliError::usage(
                "stack::not_found",
                format!("there is no stack named `{name}`"),
                "see `stackform stack list` for the stacks in STACKFORM_HOME",
            ),
            OpError::Secret(e) => CliError::from(e),
            OpError::Run(RunError::Invalid(d)) => CliError::Invalid(d),
            OpError::Run(RunError::Provider { what, error }) => CliError::failed(
                "provider::error",
                format!(
                    "{what}: {}{}",
                    error.message,
                    error
                        .request_id
                        .map(|r| format!(" (request id {r})"))
                        .unwrap_or_default()
                ),
                "check the provider's credentials and reachability, then run the command again: it resumes safely",
            ),
            OpError::Run(e) => CliError::failed(
                "run::error",
                e.to_string(),
                "run the command again: recorded operations are resolved automatically",
            ),
        }
    }
}
