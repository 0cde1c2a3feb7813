//! `stackform destroy NAME`: delete a stack's resources, dependents first.

use std::process::ExitCode;

use stackform_engine::ops::Confirm;
use stackform_engine::ops::destroy::{self, DestroyRequest};
use stackform_engine::state::stack;
use stackform_engine::state::store;

use crate::args::DestroyArgs;
use crate::error::{CliError, exit};
use crate::home;
use crate::printer::Printer;
use crate::run::{Session, check_can_confirm, confirm, runtime};

pub fn exec(args: &DestroyArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    stack::validate_name(&args.name)?;
    let files = home::stack_files(&args.name)?;
    let dir = files.dir.clone();
    let Some(state) = store::load(&files)? else {
        return Err(stackform_engine::ops::OpError::NoSuchStack(args.name.clone()).into());
    };
    match &args.confirm {
        Some(given) if *given != args.name => {
            return Err(CliError::usage(
                "confirm::wrong_name",
                format!("--confirm names `{given}`, not the stack `{}`", args.name),
                format!("to destroy it, pass `--confirm {}`", args.name),
            ));
        }
        Some(_) => {}
        None if state.is_production() => {
            return Err(CliError::usage(
                "confirm::production",
                format!(
                    "stack `{}` is a production stack: destroying it takes its name, not --yes",
                    args.name
                ),
                format!(
                    "run `stackform destroy {0} --confirm {0}`; its protected resources are kept either way (`stackform stack unprotect {0}` first if they must go)",
                    args.name
                ),
            ));
        }
        None => check_can_confirm(&args.run, printer)?,
    }
    let confirmed = args.confirm.is_some();
    let config = stackform_providers::Config::for_home(&home::home()?);
    let registry = stackform_providers::registry(&config);
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let session = Session::start(&args.run, printer, dir.clone());
        let request = DestroyRequest {
            files: files.clone(),
            name: &args.name,
            registry: &registry,
            run: session.config.clone(),
            lock_wait: args.run.lock_timeout,
            command: "destroy",
            retain_data: args.retain_volumes,
            targets: args.targets.clone(),
        };
        let question = format!(
            "Destroy stack `{}`? This deletes the resources listed above.",
            args.name
        );
        let result = destroy::destroy(request, |plan| {
            if confirmed {
                if printer.format() == crate::args::OutputFormat::Human {
                    printer.plan(plan);
                }
                Confirm::Yes
            } else {
                confirm(&args.run, printer, plan, &question)
            }
        })
        .await;
        session.finish().await;
        result
    })?;
    printer.destroyed(&args.name, &outcome);
    Ok(ExitCode::from(match &outcome.report {
        _ if outcome.declined => exit::FAILED,
        Some(r) if !r.ok() => exit::FAILED,
        _ if outcome.census.as_ref().is_some_and(|c| !c.clean()) => exit::FAILED,
        _ if !outcome.kept.is_empty() => exit::PARTIAL,
        _ => 0,
    }))
}
