//! `stackform plan TEMPLATE --name NAME`: what a deploy would change.

use std::process::ExitCode;

use stackform_engine::apply;
use stackform_engine::operations::{self, OpError};
use stackform_engine::plan::{PlanRequest, plan};
use stackform_engine::plan_file::SavedPlan;
use stackform_engine::resolve::{StackContext, resolve_inputs};
use stackform_engine::store;
use stackform_engine::{fsio, stack, template};

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
    let source = templates::load(args.template.as_deref().unwrap_or_default())?;
    let parsed = template::parse(&source)?;
    let catalog = stackform_providers::catalog(&crate::home::home()?);
    // The template's own mistakes come before any secret lookup.
    stackform_engine::check::check(&parsed, &catalog).into_result()?;
    let given = inputs::collect(&args.inputs)?;
    let files = home::stack_files(&args.name)?;
    let state = store::load(&files)?;
    // Secret references are checked now; sensitive inputs given as one take its value.
    let secret_store = home::secrets()?;
    let refs = operations::collect_secret_refs(&parsed, &given);
    let rt = runtime()?;
    let secret_values = rt.block_on(operations::resolve_secrets(&refs, secret_store.as_ref()))?;
    let values = stackform_engine::secrets::substitute(&given, &refs, &secret_values);
    let suffix = state
        .as_ref()
        .map_or_else(stack::new_suffix, |s| s.stack.suffix.clone());
    let stack_ctx = StackContext {
        name: Some(args.name.clone()),
        suffix: Some(suffix.clone()),
        id: state.as_ref().map(|s| s.stack.id.to_string()),
    };
    let resolved = resolve_inputs(&parsed, &values, false)?;
    let registry =
        stackform_providers::registry(&stackform_providers::Config::for_home(&home::home()?));
    let mut settings = apply::provider_settings(&parsed, &catalog, &resolved, &stack_ctx)
        .map_err(|e| CliError::from(OpError::Run(e)))?;
    operations::connect(&mut settings, state.as_ref(), None);
    let data = rt
        .block_on(apply::read_data(
            &parsed, &catalog, &registry, &resolved, &stack_ctx, &settings,
        ))
        .map_err(|e| CliError::from(OpError::Run(e)))?;
    let request = PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &values,
        stack: StackContext {
            name: Some(args.name.clone()),
            suffix: Some(suffix.clone()),
            id: state.as_ref().map(|s| s.stack.id.to_string()),
        },
        state: state.as_ref(),
        partial: false,
        data: &data,
        replace: &args.targeting.replace,
    };
    let mut result = plan(&request)?;
    stackform_engine::plan::check_replace(&result, &args.targeting.replace)?;
    stackform_engine::plan::retarget(&mut result, &args.targeting.targets, false)?;
    if let Some(state) = &state {
        operations::mark_changed_secrets(&mut result, &parsed, state, &secret_values);
        // What a dropped cluster left behind, as the deploy will find it.
        let run = crate::run::quiet_config(files.dir.clone());
        let discovery = rt.block_on(operations::found_for_deletes(
            &result, state, &registry, &run,
        ))?;
        stackform_engine::plan::add_found(&mut result, &discovery.found, &catalog);
        result.warnings.extend(discovery.reported);
    }
    result.cost =
        stackform_engine::cost::of_plan(&result, state.as_ref(), &catalog, &registry, &settings);
    printer.plan(&result);

    if let Some(out) = &args.out {
        let mut saved = SavedPlan::new(&result, &parsed, &resolved, &args.name, &suffix);
        saved.targets = args.targeting.targets.clone();
        saved.replace = args.targeting.replace.clone();
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
    if args.detailed_exitcode && result.summary.has_changes() {
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
        .block_on(apply::drift(&registry, &state, &run))
        .map_err(|e| CliError::from(OpError::Run(e)))?;
    printer.drift(&args.name, &drift);
    if args.detailed_exitcode && !drift.is_empty() {
        return Ok(ExitCode::from(exit::CHANGES_PRESENT));
    }
    Ok(ExitCode::SUCCESS)
}
