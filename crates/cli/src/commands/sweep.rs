//! `stackform sweep --stack NAME | --stack-id ID`: find a stack's resources by their ownership
//! tags alone and delete them, for when the state is lost. A dry run unless `--yes`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use stackform_engine::base::value::Value;
use stackform_engine::ops::sweep::{self, SweepRequest};
use stackform_engine::provider::{Marks, Props};
use stackform_engine::state::stack;

use crate::args::SweepArgs;
use crate::error::{CliError, exit};
use crate::home;
use crate::printer::Printer;
use crate::run::{Session, runtime};

/// `--region R` as the providers' settings for searches by tag (none: the environment's region).
pub(super) fn region_settings(region: Option<&str>) -> BTreeMap<String, Props> {
    region
        .map(|r| {
            let aws = Props::from([("region".to_owned(), Value::String(r.to_owned()))]);
            BTreeMap::from([("aws".to_owned(), aws)])
        })
        .unwrap_or_default()
}

pub fn exec(args: &SweepArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    let marks = match (&args.stack, args.stack_id) {
        (_, Some(id)) => Marks::StackId(id),
        (Some(name), None) => {
            stack::validate_name(name)?;
            Marks::StackName(name.clone())
        }
        (None, None) => {
            return Err(CliError::usage(
                "sweep::no_stack",
                "say which stack to sweep",
                "pass --stack NAME or --stack-id ID",
            ));
        }
    };
    let home = home::home()?;
    let config = stackform_providers::Config::for_home(&home);
    let registry = stackform_providers::registry(&config);
    let settings = region_settings(args.region.as_deref());
    let rt = runtime()?;
    let swept = rt.block_on(async {
        let session = Session::start(&args.run, printer, home.join("sweeps"));
        let request = SweepRequest {
            marks,
            settings,
            registry: &registry,
            run: session.config.clone(),
            stacks_dir: home.join("stacks"),
            sweeps_dir: home.join("sweeps"),
            delete: args.run.yes,
            lock_wait: args.run.lock_timeout,
            command: "sweep",
        };
        let result = sweep::sweep(request).await;
        session.finish().await;
        result
    })?;
    printer.swept(&swept, args.run.yes);
    let failed = args.run.yes && swept.iter().any(|s| !s.clean());
    Ok(ExitCode::from(if failed { exit::FAILED } else { 0 }))
}
