//! `stackform stack list|describe`.

use std::process::ExitCode;

use stackform_engine::operations::{self, OpError};
use stackform_engine::state::State;
use stackform_engine::store::{self, StackFiles};

use crate::args::StackCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

/// Every stack with a state in STACKFORM_HOME, by name.
pub fn local_stacks() -> Result<Vec<State>, CliError> {
    let mut stacks: Vec<State> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(home::stacks_dir()?) {
        for e in entries.flatten() {
            if let Some(state) = store::load(&StackFiles::new(e.path()))? {
                stacks.push(state);
            }
        }
    }
    stacks.sort_by(|a, b| a.stack.name.cmp(&b.stack.name));
    Ok(stacks)
}

pub fn exec(cmd: &StackCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        StackCommand::List => {
            let stacks = local_stacks()?;
            let registry = stackform_providers::registry(&stackform_providers::Config::for_home(
                &home::home()?,
            ));
            let catalog = registry.catalog();
            let rates: Vec<_> = stacks
                .iter()
                .map(|s| stackform_engine::cost::of_state(s, &catalog, &registry))
                .collect();
            printer.stack_list(&stacks, &rates, crate::clock::now()?);
        }
        StackCommand::Protect { name, resource } | StackCommand::Unprotect { name, resource } => {
            let on = matches!(cmd, StackCommand::Protect { .. });
            stackform_engine::stack::validate_name(name)?;
            let request = operations::ProtectRequest {
                files: StackFiles::new(home::stack_dir(name)?),
                name,
                address: resource.as_deref(),
                protect: on,
                lock_wait: std::time::Duration::ZERO,
                command: if on {
                    "stack protect"
                } else {
                    "stack unprotect"
                },
            };
            let changed = crate::run::runtime()?.block_on(operations::protect(request))?;
            printer.protected(name, on, &changed);
        }
        StackCommand::Describe { name } => {
            let files = StackFiles::new(home::stack_dir(name)?);
            let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            printer.stack_describe(&state);
        }
    }
    Ok(ExitCode::SUCCESS)
}
