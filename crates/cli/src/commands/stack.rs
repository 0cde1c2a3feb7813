//! `stackform stack list|describe`.

use std::process::ExitCode;

use stackform_engine::operations::OpError;
use stackform_engine::state::State;
use stackform_engine::store::{self, StackFiles};

use crate::args::StackCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

pub fn exec(cmd: &StackCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        StackCommand::List => {
            let mut stacks: Vec<State> = Vec::new();
            if let Ok(entries) = std::fs::read_dir(home::stacks_dir()?) {
                for e in entries.flatten() {
                    if let Some(state) = store::load(&StackFiles::new(e.path()))? {
                        stacks.push(state);
                    }
                }
            }
            stacks.sort_by(|a, b| a.stack.name.cmp(&b.stack.name));
            printer.stack_list(&stacks);
        }
        StackCommand::Describe { name } => {
            let files = StackFiles::new(home::stack_dir(name)?);
            let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(name.clone()))?;
            printer.stack_describe(&state);
        }
    }
    Ok(ExitCode::SUCCESS)
}
