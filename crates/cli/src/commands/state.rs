//! `stackform state show|unlock`.

use std::process::ExitCode;

use stackform_engine::lock::{self, UnlockOutcome};
use stackform_engine::operations::OpError;
use stackform_engine::store::{self, StackFiles};

use crate::args::StateCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

pub fn exec(cmd: &StateCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        StateCommand::Show { name } => {
            let files = StackFiles::new(home::stack_dir(name)?);
            let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            printer.state(&state);
        }
        StateCommand::Unlock { name, force } => {
            let dir = home::stack_dir(name)?;
            let outcome = lock::unlock(&dir, *force).map_err(OpError::Locked)?;
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
            let files = StackFiles::new(home::stack_dir(name)?);
            let edit = stackform_engine::state_edit::Edit::Move { from, to };
            crate::run::runtime()?.block_on(stackform_engine::state_edit::edit(
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
            stackform_engine::stack::validate_name(name)?;
            let dir = home::stack_dir(name)?;
            let registry = stackform_providers::registry(&stackform_providers::Config::for_home(
                &home::home()?,
            ));
            let values = crate::inputs::collect(inputs)?;
            let source = crate::templates::load(template)?;
            let run = crate::run::quiet_config(dir.clone());
            let request = stackform_engine::rebuild::RebuildRequest {
                files: StackFiles::new(&dir),
                name,
                stack_id: *stack_id,
                template: source,
                inputs: values,
                registry: &registry,
                run,
                lock_wait: std::time::Duration::ZERO,
            };
            let (state, missing) =
                crate::run::runtime()?.block_on(stackform_engine::rebuild::rebuild(request))?;
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
        StateCommand::Rm { name, address } => {
            let files = StackFiles::new(home::stack_dir(name)?);
            let edit = stackform_engine::state_edit::Edit::Forget { address };
            crate::run::runtime()?.block_on(stackform_engine::state_edit::edit(
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
