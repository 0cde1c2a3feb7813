//! Where stackform keeps its files: `$STACKFORM_HOME`, else the platform's data directory.

use std::path::PathBuf;

use stackform_engine::state::remote::BackendUrl;
use stackform_engine::state::stack::StackName;
use stackform_engine::state::store::StackFiles;

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
pub fn secrets() -> Result<Box<dyn stackform_engine::ext::secrets::SecretStore>, CliError> {
    stackform_providers::secret_store(&home()?).map_err(|message| {
        CliError::usage(
            "secret::backend",
            message,
            "unset STACKFORM_SECRETS_BACKEND for the local store, or set it to `aws`",
        )
    })
}

/// The directory of stack `name`: every command reaches a stack's files through here (or
/// [`stack_files`], [`files_at`], which start here), so every name, typed or read from a file,
/// is checked before it becomes a path.
pub fn stack_dir(name: &str) -> Result<PathBuf, CliError> {
    Ok(StackName::new(name)?.dir_in(&stacks_dir()?))
}

/// Every stack directory.
pub fn stacks_dir() -> Result<PathBuf, CliError> {
    let dir = home()?.join("stacks");
    // Its listing is the stacks' names: private, even if an older version made it 0755. A
    // directory that cannot be tightened (not ours) is reported by the command that writes in it.
    let _ = stackform_engine::base::fsio::tighten_dir(&dir);
    Ok(dir)
}

/// `--state-backend` (or `STACKFORM_STATE_BACKEND`), as given on the command line.
static BACKEND_FLAG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

pub fn set_backend_flag(flag: Option<String>) {
    let _ = BACKEND_FLAG.set(flag.filter(|f| !f.trim().is_empty()));
}

fn parse_backend(text: &str, from: &str) -> Result<BackendUrl, CliError> {
    BackendUrl::parse(text).map_err(|message| {
        CliError::usage(
            "state::backend_url",
            format!("{from}: {message}"),
            "e.g. `--state-backend s3://team-state/stackform`, `gs://bucket/prefix`, `azblob://account/container/prefix`, `file:///shared/stacks` or `local`",
        )
    })
}

/// The user's default backend: `state_backend:` in `$STACKFORM_HOME/config.yaml`.
fn configured_backend() -> Result<Option<BackendUrl>, CliError> {
    let path = home()?.join("config.yaml");
    use stackform_engine::base::fsio::{self, MAX_YAML_BYTES, ReadError};
    // Missing or unreadable: no configured backend, as before; too large: said.
    let text = match fsio::read_input(&path, "config file", MAX_YAML_BYTES) {
        Ok(text) => text,
        Err(e @ ReadError::TooLarge { .. }) => {
            return Err(CliError::usage("input::too_large", e.to_string(), e.help()));
        }
        Err(ReadError::Io { .. }) => return Ok(None),
    };
    let source = stackform_engine::base::source::SourceFile::new(path.display().to_string(), text);
    let doc = stackform_engine::lang::yaml::parse(&source).map_err(CliError::from)?;
    let stackform_engine::lang::yaml::NodeKind::Map(entries) = &doc.kind else {
        return Ok(None);
    };
    for (k, v) in entries {
        if k.as_str() == Some("state_backend") {
            let Some(text) = v.as_str() else {
                return Err(CliError::usage(
                    "state::backend_url",
                    format!(
                        "{}: `state_backend` is {}, not a URL",
                        path.display(),
                        v.kind_name()
                    ),
                    "write it as `state_backend: s3://bucket/prefix`",
                ));
            };
            return parse_backend(text, &path.display().to_string()).map(Some);
        }
    }
    Ok(None)
}

/// Where stack `name` keeps its state: the pointer in its directory (written when it first went
/// remote), else local if it has a local state, else `--state-backend`, else the user config,
/// else local. A flag that contradicts where the state is is refused, never obeyed: obeying it
/// would hide the stack's state (or split it in two).
pub fn backend_for(name: &str) -> Result<BackendUrl, CliError> {
    let dir = stack_dir(name)?;
    let flag = match BACKEND_FLAG.get().cloned().flatten() {
        Some(f) => Some(parse_backend(&f, "--state-backend")?),
        None => None,
    };
    let current = stackform_engine::state::remote::read_pointer(&dir)
        .or_else(|| dir.join("state.json").exists().then_some(BackendUrl::Local));
    match (flag, current) {
        (Some(f), Some(c)) if f != c => Err(CliError::usage(
            "state::backend_mismatch",
            format!("stack `{name}` keeps its state in {c}, not {f}"),
            format!(
                "to move it there, run `stackform state migrate {name} --to {f}`; otherwise leave out --state-backend"
            ),
        )),
        (_, Some(c)) => Ok(c),
        (Some(f), None) => Ok(f),
        (None, None) => Ok(configured_backend()?.unwrap_or(BackendUrl::Local)),
    }
}

/// The files of stack `name` as its backend has them (see [`backend_for`]).
pub fn stack_files(name: &str) -> Result<StackFiles, CliError> {
    let url = backend_for(name)?;
    files_at(name, &url)
}

/// The files of stack `name` kept in `url`; a remote one's pointer is written in its local
/// directory, so later commands find it without the flag.
pub fn files_at(name: &str, url: &BackendUrl) -> Result<StackFiles, CliError> {
    let dir = stack_dir(name)?;
    let pointer = |dir: &std::path::Path| {
        stackform_engine::state::remote::write_pointer(dir, url).map_err(|e| {
            CliError::failed(
                "state::pointer",
                format!("cannot record the state backend in {}: {e}", dir.display()),
                "check that STACKFORM_HOME is writable",
            )
        })
    };
    match url {
        BackendUrl::Local => Ok(StackFiles::new(dir)),
        BackendUrl::File(path) => {
            if stackform_engine::state::remote::read_pointer(&dir).as_ref() != Some(url) {
                pointer(&dir)?;
            }
            Ok(StackFiles::new(StackName::new(name)?.dir_in(path)))
        }
        remote => {
            let store = stackform_providers::state_store(remote).map_err(|message| {
                CliError::usage(
                    "state::backend_unsupported",
                    message,
                    "use an s3://, file:// or local backend",
                )
            })?;
            let remote = stackform_engine::state::remote::Remote::new(store, name)
                .map_err(|m| CliError::failed("state::runtime", m, "report this as a bug"))?;
            if stackform_engine::state::remote::read_pointer(&dir).as_ref() != Some(url) {
                pointer(&dir)?;
            }
            Ok(StackFiles::remote(dir, remote))
        }
    }
}

/// Every stack with a state in STACKFORM_HOME, by name; a damaged local state is an error (for
/// callers that must not miss a stack: is a connector or an integration still in use?).
pub fn local_stacks() -> Result<Vec<stackform_engine::state::State>, CliError> {
    let (stacks, damaged) = readable_stacks()?;
    match damaged.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(stacks),
    }
}

/// A local stack whose state cannot be read, and why.
pub type Damaged = (String, CliError);

/// Every stack with a state in STACKFORM_HOME, by name, and apart the local stacks whose state
/// cannot be read, with why: one damaged stack must not stop `reap` from reaping the others.
pub fn readable_stacks() -> Result<(Vec<stackform_engine::state::State>, Vec<Damaged>), CliError> {
    let mut stacks: Vec<stackform_engine::state::State> = Vec::new();
    let mut damaged = Vec::new();
    if let Ok(entries) = std::fs::read_dir(stacks_dir()?) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only stacks: not the list's index, nor anything else a user left there.
            if !e.file_type().is_ok_and(|t| t.is_dir())
                || stackform_engine::state::stack::validate_name(&name).is_err()
            {
                continue;
            }
            // Each by its own backend: a remote stack's directory holds its working copy. One
            // that cannot be reached is reported and left out, not a reason to list nothing.
            let files = stack_files(&name)?;
            match stackform_engine::state::store::load(&files) {
                Ok(Some(state)) => stacks.push(state),
                Ok(None) => {}
                Err(e) if files.remote.is_some() => {
                    tracing::warn!("stack `{name}` left out: {e}; {}", e.help());
                }
                Err(e) => damaged.push((name, e.into())),
            }
        }
    }
    stacks.sort_by(|a, b| a.stack.name.cmp(&b.stack.name));
    damaged.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((stacks, damaged))
}
