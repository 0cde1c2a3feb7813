//! `stackform deploy TEMPLATE --name NAME`: create or update a stack.

use std::process::ExitCode;

use stackform_engine::ops::deploy::{self, DeployRequest};
use stackform_engine::ops::prepare::TemplateSource;
use stackform_engine::plan::plan_file::{PLAN_FILE_SCHEMA, SavedPlan};
use stackform_engine::state::stack;

use crate::args::DeployArgs;
use crate::error::{CliError, exit};
use crate::printer::Printer;
use crate::run::{Session, check_can_confirm, confirm, runtime};
use crate::{clock, home, inputs, templates};

pub fn exec(args: &DeployArgs, printer: &Printer) -> Result<ExitCode, CliError> {
    stack::validate_name(&args.name)?;
    check_can_confirm(&args.run, printer)?;
    let files = home::stack_files(&args.name)?;
    let dir = files.dir.clone();
    let saved = args.plan.as_deref().map(read_saved).transpose()?;
    // A saved plan carries its own --target and --replace: deploy applies exactly that plan.
    let (targets, replace) = match &saved {
        Some(saved) => {
            let given = &args.targeting;
            if (!given.targets.is_empty() && given.targets != saved.targets)
                || (!given.replace.is_empty() && given.replace != saved.replace)
            {
                return Err(CliError::usage(
                    "deploy::plan_targeting",
                    "--target and --replace cannot change a saved plan",
                    "give them to `stackform plan ... --out FILE` instead: the plan file records them and `deploy --plan FILE` applies the same",
                ));
            }
            (saved.targets.clone(), saved.replace.clone())
        }
        None => (
            args.targeting.targets.clone(),
            args.targeting.replace.clone(),
        ),
    };
    // With a saved plan, its template and inputs; else the template given, or the stack's own.
    let template = match &saved {
        Some(_) => TemplateSource::Recorded,
        None => templates::source(args.template.as_deref(), args.upgrade_template)?,
    };
    let values = inputs::collect(&args.inputs)?;
    let expires_at = match args.ttl {
        Some(ttl) => Some(clock::rfc3339(clock::now()? + ttl)),
        None => None,
    };
    let config = stackform_providers::Config::for_home(&home::home()?);
    let registry = stackform_providers::registry(&config);
    let secrets = home::secrets()?;
    let connector = args
        .connector
        .as_deref()
        .map(|name| {
            stackform_engine::ext::connectors::Connectors::new(&home::home()?)
                .get(name)
                .map_err(CliError::from)
        })
        .transpose()?;
    // A cloud's types take their credentials from a connector of their cloud's kind; a kind
    // that reaches one cluster or registry (kubernetes, docker) serves no type.
    if let Some(c) = &connector
        && registry
            .connector_kind(&c.kind)
            .and_then(|k| k.provider())
            .is_none()
    {
        use crate::connector_kinds::{deploys, use_one};
        return Err(CliError::usage(
            "connector::not_used",
            format!(
                "connector `{}` is a {} connector, which no resource type deploys through",
                c.name, c.kind
            ),
            format!(
                "deploy through {} (`stackform connector list`), or without --connector",
                use_one(&registry, deploys)
            ),
        ));
    }
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let session = Session::start(&args.run, printer, dir.clone());
        let request = DeployRequest {
            files,
            name: &args.name,
            template,
            inputs: values,
            registry: &registry,
            run: session.config.clone(),
            lock_wait: args.run.lock_timeout,
            command: "deploy",
            saved,
            expires_at,
            environment: args.environment.map(|e| e.as_str().to_owned()),
            secrets: secrets.as_ref(),
            connector,
            targets,
            replace,
        };
        let question = format!("Deploy these changes to stack `{}`?", args.name);
        let result =
            deploy::deploy(request, |plan| confirm(&args.run, printer, plan, &question)).await;
        session.finish().await;
        result
    })?;
    printer.deployed(&args.name, &outcome);
    Ok(ExitCode::from(match &outcome.report {
        _ if outcome.declined => exit::FAILED,
        Some(r) if !r.ok() => exit::FAILED,
        _ => 0,
    }))
}

fn read_saved(path: &std::path::Path) -> Result<SavedPlan, CliError> {
    let text = crate::inputs::read(
        path,
        "plan file",
        stackform_engine::base::fsio::MAX_DATA_BYTES,
        |e| {
            CliError::usage(
                "plan::unreadable",
                format!("cannot read plan file {}: {e}", path.display()),
                "check the path given to --plan",
            )
        },
    )?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(
            "plan::invalid",
            format!("{} is not a stackform plan file: {e}", path.display()),
            "make one with `stackform plan TEMPLATE --name NAME --out FILE`",
        )
    })?;
    if saved.schema != PLAN_FILE_SCHEMA {
        return Err(CliError::usage(
            "plan::version",
            format!(
                "{} has format `{}`, this stackform reads `{PLAN_FILE_SCHEMA}`",
                path.display(),
                saved.schema
            ),
            "make a new plan with this version of stackform",
        ));
    }
    Ok(saved)
}
