//! Where stackform keeps its files: `$STACKFORM_HOME`, else the platform's data directory.

use std::path::PathBuf;

use crate::error::CliError;

pub fn home() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("STACKFORM_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir()
        .map(|d| d.join("stackform"))
        .ok_or_else(|| {
            CliError::usage(
                "home::unknown",
                "cannot find a data directory for stackform's files",
                "set STACKFORM_HOME to a directory stackform may use",
            )
        })
}

/// The secret store to use (`STACKFORM_SECRETS_BACKEND`: local, or aws).
pub fn secrets() -> Result<Box<dyn stackform_engine::secrets::SecretStore>, CliError> {
    stackform_providers::secret_store(&home()?).map_err(|message| {
        CliError::usage(
            "secret::backend",
            message,
            "unset STACKFORM_SECRETS_BACKEND for the local store, or set it to `aws`",
        )
    })
}

/// The directory of stack `name`.
pub fn stack_dir(name: &str) -> Result<PathBuf, CliError> {
    Ok(home()?.join("stacks").join(name))
}

/// Every stack directory.
pub fn stacks_dir() -> Result<PathBuf, CliError> {
    Ok(home()?.join("stacks"))
}
