//! `stackform plan [TEMPLATE] --name NAME`: what a deploy would change, from the same pipeline
//! (`ops::prepare`) the deploy runs.

use std::process::ExitCode;

use stackform_engine::base::fsio;
use stackform_engine::exec;
use stackform_engine::ops::OpError;
use stackform_engine::ops::prepare::{self, PlanCommand, PrepareRequest};
use stackform_engine::state::stack;
use stackform_engine::state::store;

use crate::args::PlanArgs;
use crate::error::{CliError, exit};
use crate::printer::Printer;
use crate::run::runtime;
use crate::{home, inputs, templates};

pub fn exec(args: &PlanArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    stack::validate_name(&args.name)?;
    if args.refresh_only {
        return refresh_only(args, printer);
    }
    let template = templates::source(args.template.as_deref(), args.upgrade_template)?;
    let given = inputs::collect(&args.inputs)?;
    let files = home::stack_files(&args.name)?;
    let registry =
        stackform_providers::registry(&stackform_providers::Config::for_home(&home::home()?));
    let secrets = home::secrets()?;
    let run = crate::run::quiet_config(files.dir.clone());
    let prepared = runtime()?.block_on(prepare::plan(PlanCommand {
        prepare: PrepareRequest {
            name: &args.name,
            template,
            inputs: given,
            registry: &registry,
            run: &run,
            saved: None,
            expires_at: None,
            environment: None,
            secrets: secrets.as_ref(),
            connector: None,
            targets: &args.targeting.targets,
            replace: &args.targeting.replace,
            files: &files,
        },
        lock_wait: args.lock_timeout,
        refresh: args.refresh,
    }))?;
    printer.plan(&prepared.plan);

    if let Some(out) = &args.out {
        let saved = prepared.saved(&args.name, &args.targeting.targets, &args.targeting.replace);
        let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| {
            CliError::failed(
                "plan::encode",
                format!("cannot encode the plan: {e}"),
                "report this as a bug",
            )
        })?;
        fsio::write_atomic(out, &bytes).map_err(|e| {
            CliError::failed(
                "plan::write",
                format!("cannot write the plan to {}: {e}", out.display()),
                "check that the directory exists and is writable",
            )
        })?;
        printer.note(&format!("Plan saved to {}.", out.display()));
    }
    if args.detailed_exitcode && prepared.plan.summary.has_changes() {
        return Ok(ExitCode::from(exit::CHANGES_PRESENT));
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan --refresh-only`: the stack's drift, read from the cloud, recording nothing.
fn refresh_only(args: &PlanArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    let files = home::stack_files(&args.name)?;
    let dir = files.dir.clone();
    let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(args.name.clone()))?;
    let registry =
        stackform_providers::registry(&stackform_providers::Config::for_home(&home::home()?));
    let run = crate::run::quiet_config(dir);
    let drift = runtime()?
        .block_on(exec::drift(&registry, &state, &run))
        .map_err(|e| CliError::from(OpError::Run(e)))?;
    printer.drift(&args.name, &drift);
    if args.detailed_exitcode && !drift.is_empty() {
        return Ok(ExitCode::from(exit::CHANGES_PRESENT));
    }
    Ok(ExitCode::SUCCESS)
}
