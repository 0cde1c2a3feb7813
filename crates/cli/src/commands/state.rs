//! `stackform state show|unlock`.

use std::process::ExitCode;

use stackform_engine::ops::OpError;
use stackform_engine::state::lock::{self, UnlockOutcome};
use stackform_engine::state::store;

use crate::args::StateCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

pub fn exec(cmd: &StateCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        StateCommand::Show { name } => {
            let files = home::stack_files(name)?;
            let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            printer.state(&state);
        }
        StateCommand::Unlock { name, force } => {
            let files = home::stack_files(name)?;
            let outcome = match &files.remote {
                Some(remote) => remote_unlock(remote, *force)?,
                None => lock::unlock(&files.dir, *force).map_err(OpError::Locked)?,
            };
            if let UnlockOutcome::HeldBy(holder) = &outcome {
                return Err(CliError::Conflict {
                    code: "lock::held",
                    message: format!(
                        "stack `{name}` is locked by {}",
                        holder
                            .as_ref()
                            .map_or_else(|| "another process".to_owned(), |h| h.to_string())
                    ),
                    help: format!(
                        "the holder is alive; wait for it. If it runs on another machine that died (shared filesystem), use `stackform state unlock {name} --force`"
                    ),
                });
            }
            printer.unlocked(name, &outcome);
        }
        StateCommand::Mv { name, from, to } => {
            let files = home::stack_files(name)?;
            let edit = stackform_engine::ops::state_edit::Edit::Move { from, to };
            crate::run::runtime()?.block_on(stackform_engine::ops::state_edit::edit(
                &files,
                name,
                edit,
                std::time::Duration::ZERO,
                "state mv",
            ))?;
            printer.note(&format!(
                "Moved `{from}` to `{to}` in stack `{name}`; nothing in the cloud changed."
            ));
        }
        StateCommand::Rebuild {
            name,
            stack_id,
            template,
            inputs,
        } => {
            stackform_engine::state::stack::validate_name(name)?;
            let files = home::stack_files(name)?;
            let dir = files.dir.clone();
            let registry = stackform_providers::registry(&stackform_providers::Config::for_home(
                &home::home()?,
            ));
            let values = crate::inputs::collect(inputs)?;
            let source = template
                .as_deref()
                .map(crate::templates::load)
                .transpose()?;
            let run = crate::run::quiet_config(dir.clone());
            let request = stackform_engine::ops::rebuild::RebuildRequest {
                files,
                name,
                stack_id: *stack_id,
                template: source,
                inputs: values,
                registry: &registry,
                run,
                lock_wait: std::time::Duration::ZERO,
            };
            let (state, missing) = crate::run::runtime()?
                .block_on(stackform_engine::ops::rebuild::rebuild(request))?;
            let mut note = format!(
                "Rebuilt stack `{name}` from the cloud: {} resources at their addresses (suffix `{}`).",
                state.resources.len(),
                state.stack.suffix
            );
            if !missing.is_empty() {
                note.push_str(&format!(
                    " Not found, so the next deploy creates them: {}.",
                    missing.join(", ")
                ));
            }
            note.push_str(" Check with `stackform plan`.");
            printer.note(&note);
        }
        StateCommand::Migrate {
            name,
            to,
            lock_timeout,
        } => migrate(name, to, *lock_timeout, printer)?,
        StateCommand::Rm { name, address } => {
            let files = home::stack_files(name)?;
            let edit = stackform_engine::ops::state_edit::Edit::Forget { address };
            crate::run::runtime()?.block_on(stackform_engine::ops::state_edit::edit(
                &files,
                name,
                edit,
                std::time::Duration::ZERO,
                "state rm",
            ))?;
            printer.note(&format!(
                "`{address}` is no longer managed by stack `{name}`; it stays in the cloud, and destroy leaves it there."
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A remote stack's lock: who holds it, and with `force` its removal (the holder's next write
/// then fails: it finds the lock gone or someone else's).
fn remote_unlock(
    remote: &std::sync::Arc<stackform_engine::state::remote::Remote>,
    force: bool,
) -> Result<UnlockOutcome, CliError> {
    use stackform_engine::state::lease;
    let holder = lease::holder(remote).map_err(OpError::Locked)?;
    Ok(match holder {
        None => UnlockOutcome::WasFree,
        Some(r) if force => {
            lease::break_lock(remote).map_err(OpError::Locked)?;
            UnlockOutcome::Broken(Some(r.holder))
        }
        Some(r) => UnlockOutcome::HeldBy(Some(r.holder)),
    })
}

/// `state migrate NAME --to URL`: copy, verify, switch the pointer, remove the source.
fn migrate(
    name: &str,
    to: &str,
    lock_wait: std::time::Duration,
    printer: &Printer,
) -> Result<(), CliError> {
    stackform_engine::state::stack::validate_name(name)?;
    let from_url = home::backend_for(name)?;
    let to_url = stackform_engine::state::remote::BackendUrl::parse(to).map_err(|m| {
        CliError::usage(
            "state::backend_url",
            format!("--to: {m}"),
            "e.g. `--to s3://team-state/stackform`, `--to file:///shared/stacks` or `--to local`",
        )
    })?;
    if from_url == to_url {
        return Err(CliError::usage(
            "state::same_backend",
            format!("stack `{name}` already keeps its state in {to_url}"),
            "name another backend with --to",
        ));
    }
    let from = home::files_at(name, &from_url)?;
    let target = target_files(name, &to_url)?;
    let (moved, guards) = stackform_engine::ops::migrate::copy(&from, &target, name, lock_wait)?;
    // The copy is complete and verified: from now on the stack's state is the target's.
    stackform_engine::state::remote::write_pointer(&home::stack_dir(name)?, &to_url).map_err(|e| {
        CliError::failed(
            "state::pointer",
            format!("cannot record the new backend: {e}"),
            "the state was copied but the stack still uses its old backend; run the command again after fixing the cause",
        )
    })?;
    stackform_engine::ops::migrate::remove_source(&from, &target)?;
    drop(guards);
    if target.remote.is_some() {
        let _ = std::fs::remove_dir_all(&target.dir);
    }
    printer.note(&format!(
        "Moved the state of stack `{name}` from {from_url} to {to_url}: lineage {}, serial {}, {} resources.",
        moved.state.lineage,
        moved.state.serial,
        moved.state.resources.len()
    ));
    Ok(())
}

/// The files of `name` at `url`, without recording `url` as its backend yet.
fn target_files(
    name: &str,
    url: &stackform_engine::state::remote::BackendUrl,
) -> Result<stackform_engine::state::store::StackFiles, CliError> {
    use stackform_engine::state::remote::{BackendUrl, Remote};
    use stackform_engine::state::store::StackFiles;
    Ok(match url {
        BackendUrl::Local => StackFiles::new(home::stack_dir(name)?),
        BackendUrl::File(path) => {
            StackFiles::new(stackform_engine::state::stack::StackName::new(name)?.dir_in(path))
        }
        remote => {
            let store = stackform_providers::state_store(remote).map_err(|m| {
                CliError::usage(
                    "state::backend_unsupported",
                    m,
                    "use an s3://, file:// or local backend",
                )
            })?;
            // Its own working copy while the copy is made and checked: the stack's directory
            // still holds the source.
            StackFiles::remote(
                home::home()?.join("migrating").join(name),
                Remote::new(store, name)
                    .map_err(|m| CliError::failed("state::runtime", m, "report this as a bug"))?,
            )
        }
    })
}
