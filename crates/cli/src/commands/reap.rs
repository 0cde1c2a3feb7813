//! `stackform reap [--yes]`: destroy every stack whose TTL has passed, from its local state or,
//! with none, found by its resources' `stackform:expires-at` tags. A dry run without `--yes`.

use std::process::ExitCode;

use stackform_engine::ops::Confirm;
use stackform_engine::ops::destroy::{self, DestroyRequest};
use stackform_engine::ops::reap;
use stackform_engine::ops::sweep::{self, SweepRequest};
use stackform_engine::provider::Marks;

use crate::args::ReapArgs;
use crate::error::{CliError, exit};
use crate::printer::Printer;
use crate::run::{Session, runtime};
use crate::{clock, home};

pub fn exec(args: &ReapArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    let now = clock::now()?;
    let home = home::home()?;
    let (states, damaged) = crate::home::readable_stacks()?;
    // A damaged stack is skipped and named, as `stack list` shows it as a damaged row; the
    // others are reaped. Its expiry is unknown, and its resources are not swept by their tags
    // either: its state, once restored, still owns them.
    for (name, e) in &damaged {
        printer.warn(&format!(
            "stack `{name}` skipped: {e}; {}",
            e.help().unwrap_or_default()
        ));
    }
    let registry = stackform_providers::registry(&stackform_providers::Config::for_home(&home));
    let settings = super::sweep::region_settings(args.region.as_deref());
    let rt = runtime()?;
    let results = rt.block_on(async {
        let session = Session::start(&args.run, printer, home.join("sweeps"));
        let found =
            reap::expiring(&registry, &settings, &states, now, &session.config).await;
        let mut results = Vec::new();
        let found = found?
            .into_iter()
            .filter(|e| e.local || !damaged.iter().any(|(name, _)| *name == e.name));
        for e in found {
            let result = if e.expired && args.run.yes {
                Some(if e.local {
                    let files = crate::home::stack_files(&e.name)?;
                    // Local resources resolve their paths inside their own stack's directory.
                    let mut run = session.config.clone();
                    run.stack_dir = files.dir.clone();
                    let request = DestroyRequest {
                        files,
                        name: &e.name,
                        registry: &registry,
                        run,
                        lock_wait: args.run.lock_timeout,
                        command: "reap",
                        retain_data: false,
                        targets: Vec::new(),
                    };
                    match destroy::destroy(request, |_| Confirm::Yes).await {
                        Ok(o) if o.removed => Ok(()),
                        Ok(o) => Err(format!(
                            "{} failed, {} kept, {} still in the cloud",
                            o.report.as_ref().map_or(0, |r| r.failed.len()),
                            o.kept.len(),
                            o.census.as_ref().map_or(0, |c| c.remaining.len())
                        )),
                        Err(err) => Err(CliError::from(err).to_string()),
                    }
                } else {
                    let request = SweepRequest {
                        marks: Marks::StackId(e.id),
                        settings: settings.clone(),
                        registry: &registry,
                        run: session.config.clone(),
                        stacks_dir: home.join("stacks"),
                        sweeps_dir: home.join("sweeps"),
                        delete: true,
                        lock_wait: args.run.lock_timeout,
                        command: "reap",
                    };
                    match sweep::sweep(request).await {
                        Ok(swept) if swept.iter().all(|s| s.clean()) => Ok(()),
                        Ok(_) => Err("some resources could not be deleted; run `stackform sweep` for details".to_owned()),
                        Err(err) => Err(CliError::from(err).to_string()),
                    }
                })
            } else {
                None
            };
            results.push((e, result));
        }
        session.finish().await;
        Ok::<_, CliError>(results)
    })?;
    printer.reaped(&results, args.run.yes, now);
    let failed = results.iter().any(|(_, r)| matches!(r, Some(Err(_))));
    Ok(ExitCode::from(if failed { exit::FAILED } else { 0 }))
}
