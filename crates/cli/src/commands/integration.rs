//! `stackform integration list|add|remove`: integrations bring component flavors, provider
//! plugins and templates from a directory with a manifest, without forking stackform.

use std::process::ExitCode;

use stackform_engine::ext::integration::{self, Integration, Integrations};
use stackform_providers::templates::BUILTIN;

use crate::args::IntegrationCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;

pub fn exec(cmd: &IntegrationCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    let home = home::home()?;
    let installed = Integrations::new(&home);
    match cmd {
        IntegrationCommand::List => printer.integration_list(&installed.list()?),
        IntegrationCommand::Add { path, replace } => {
            let candidate = integration::load(path)?;
            let existing = installed.get(&candidate.name).ok();
            check_providers(&candidate)?;
            let builtin_templates: Vec<&str> = BUILTIN.iter().map(|t| t.name).collect();
            let builtin_providers = stackform_providers::builtin_providers();
            let builtin_providers: Vec<&str> =
                builtin_providers.iter().map(String::as_str).collect();
            let problems =
                installed.conflicts(&candidate, &builtin_templates, &builtin_providers)?;
            if !problems.is_empty() {
                return Err(integration::IntegrationError::Conflict {
                    name: candidate.name.clone(),
                    problems,
                }
                .into());
            }
            if let Some(old) = &existing {
                if !replace {
                    return Err(integration::IntegrationError::Exists {
                        name: candidate.name.clone(),
                        version: old.version.clone(),
                    }
                    .into());
                }
                let mut problems = Vec::new();
                for state in crate::home::local_stacks()? {
                    for dropped in old.dropped_for(&candidate, &state) {
                        problems.push(format!("{dropped} (stack {})", state.stack.name));
                    }
                }
                if !problems.is_empty() {
                    return Err(integration::IntegrationError::Strands {
                        name: candidate.name.clone(),
                        problems,
                    }
                    .into());
                }
            }
            check_templates(&home, &installed, &candidate)?;
            let added = installed.install(&candidate, *replace)?;
            printer.integration_added(&added, existing.is_some());
        }
        IntegrationCommand::Remove { name } => {
            let states = crate::home::local_stacks()?;
            let removed = installed.remove(name, &states)?;
            printer.integration_removed(&removed);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every plugin it brings answers `describe` for the provider it is declared as, and every
/// built-in provider it needs is in this build.
fn check_providers(candidate: &Integration) -> Result<(), CliError> {
    let builtin_providers = stackform_providers::builtin_providers();
    for need in &candidate.providers {
        match &need.plugin {
            None if !builtin_providers.contains(&need.name) => {
                return Err(CliError::usage(
                    "integration::provider",
                    format!(
                        "integration `{}` needs provider `{}`, which this build of stackform does not have",
                        candidate.name, need.name
                    ),
                    format!(
                        "built-in providers: {}; a provider that is not built in needs `plugin: stackform-provider-{}` in the manifest",
                        builtin_providers.join(", "),
                        need.name
                    ),
                ));
            }
            None => {}
            Some(path) => {
                let (provider, types) =
                    stackform_providers::plugin::describe(path).map_err(|e| {
                        CliError::usage(
                            "integration::plugin",
                            format!(
                                "integration `{}`: plugin {} does not work: {e}",
                                candidate.name,
                                path.display()
                            ),
                            "run it by hand with `{\"op\":\"describe\"}` on stdin and fix what it answers (README.md, \"Provider plugins\")",
                        )
                    })?;
                if provider != need.name {
                    return Err(CliError::usage(
                        "integration::plugin",
                        format!(
                            "integration `{}`: plugin {} serves provider `{provider}`, the manifest says `{}`",
                            candidate.name,
                            path.display(),
                            need.name
                        ),
                        "make the manifest's provider name and the plugin's `provider` agree",
                    ));
                }
                if let Some(bad) = types
                    .iter()
                    .find(|t| stackform_engine::provider::provider_of(t) != provider)
                {
                    return Err(CliError::usage(
                        "integration::plugin",
                        format!(
                            "integration `{}`: plugin {} describes type `{bad}`, outside its provider `{provider}`",
                            candidate.name,
                            path.display()
                        ),
                        format!("name its types `{provider}.<kind>`"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Each template it adds parses and checks against the catalog it would be used with: the
/// built-in types, the other integrations and this one.
fn check_templates(
    home: &std::path::Path,
    installed: &Integrations,
    candidate: &Integration,
) -> Result<(), CliError> {
    let mut integrations: Vec<Integration> = installed
        .list()?
        .into_iter()
        .filter(|i| i.name != candidate.name)
        .collect();
    integrations.push(candidate.clone());
    let mut config = stackform_providers::Config::for_home(home);
    config.integrations = integrations;
    let catalog = stackform_providers::registry(&config).catalog();
    for t in &candidate.templates {
        let text = crate::inputs::read(
            &t.path,
            "template",
            stackform_engine::base::fsio::MAX_YAML_BYTES,
            |e| {
                CliError::usage(
                    "integration::template",
                    format!("cannot read template {}: {e}", t.path.display()),
                    "check the manifest's `templates:` paths",
                )
            },
        )?;
        let source =
            stackform_engine::base::source::SourceFile::new(t.path.display().to_string(), text);
        let parsed = stackform_engine::lang::template::parse(&source)?;
        stackform_engine::lang::check::check(&parsed, &catalog).into_result()?;
    }
    Ok(())
}
