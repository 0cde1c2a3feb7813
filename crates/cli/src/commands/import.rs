//! `stackform import NAME ADDRESS ID`: adopt an existing resource into a stack, read from the
//! cloud and recorded as a create would have recorded it; the next plan shows only real
//! differences.

use std::process::ExitCode;

use stackform_engine::base::source::SourceFile;
use stackform_engine::ops::OpError;
use stackform_engine::ops::prepare;
use stackform_engine::ops::rebuild::{ImportResourceRequest, import_resource};
use stackform_engine::state::store;

use crate::args::ImportArgs;
use crate::error::CliError;
use crate::printer::Printer;
use crate::run::runtime;
use crate::{home, inputs, templates};

pub fn exec(args: &ImportArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    stackform_engine::state::stack::validate_name(&args.name)?;
    let files = home::stack_files(&args.name)?;
    let dir = files.dir.clone();
    let state = store::load(&files)?.ok_or_else(|| OpError::NoSuchStack(args.name.clone()))?;
    let template = match &args.template {
        Some(t) => templates::load(t)?,
        None => SourceFile::new(
            format!("{} (as recorded for `{}`)", state.template.name, args.name),
            state.template.source.clone(),
        ),
    };
    // The stack's recorded inputs, kept unless given again: the rule `plan` and `deploy` follow.
    let mut values = prepare::recorded_inputs(&state);
    let given = inputs::collect(&args.inputs)?;
    values.file.extend(given.file);
    values.vars.extend(given.vars);
    let registry =
        stackform_providers::registry(&stackform_providers::Config::for_home(&home::home()?));
    let run = crate::run::quiet_config(dir);
    let resource = runtime()?.block_on(import_resource(ImportResourceRequest {
        files,
        name: &args.name,
        address: &args.address,
        physical_id: &args.id,
        template,
        inputs: values,
        registry: &registry,
        run,
        lock_wait: std::time::Duration::ZERO,
    }))?;
    printer.note(&format!(
        "Imported {} `{}` into stack `{}` at `{}`; check with `stackform plan`.",
        resource.type_name, resource.physical_id, args.name, args.address
    ));
    Ok(ExitCode::SUCCESS)
}
