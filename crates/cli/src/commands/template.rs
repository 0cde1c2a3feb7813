//! `stackform template list|show|validate`.

use std::process::ExitCode;

use stackform_engine::ext::integration::Integrations;
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::StackContext;
use stackform_engine::plan::{PlanRequest, plan};
use stackform_providers::templates::BUILTIN;

use crate::args::TemplateCommand;
use crate::error::CliError;
use crate::printer::{Printer, TemplateSummary};
use crate::{inputs, templates};

pub fn exec(cmd: &TemplateCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    match cmd {
        TemplateCommand::List => {
            let mut list = Vec::new();
            for t in BUILTIN {
                let source = stackform_engine::base::source::SourceFile::new(
                    format!("builtin:{}", t.name),
                    t.source,
                );
                let parsed = template::parse(&source)?;
                list.push(TemplateSummary {
                    name: t.name.to_owned(),
                    description: parsed.description.clone(),
                    resources: parsed.resources.len(),
                    inputs: parsed.inputs.iter().map(|i| i.name.clone()).collect(),
                    integration: None,
                });
            }
            for i in Integrations::new(&crate::home::home()?).list()? {
                for t in &i.templates {
                    let source = templates::read_entry(t)?;
                    let parsed = template::parse(&source)?;
                    list.push(TemplateSummary {
                        name: t.name.clone(),
                        description: if t.description.is_empty() {
                            parsed.description.clone()
                        } else {
                            t.description.clone()
                        },
                        resources: parsed.resources.len(),
                        inputs: parsed.inputs.iter().map(|i| i.name.clone()).collect(),
                        integration: Some(i.name.clone()),
                    });
                }
            }
            printer.template_list(&list);
        }
        TemplateCommand::Show { template } => {
            if let Some(t) = stackform_providers::templates::builtin(template) {
                printer.template_source(t.name, t.source);
            } else if let Some((_, entry)) = templates::integration_template(template)? {
                let source = templates::read_entry(&entry)?;
                printer.template_source(template, &source.text);
            } else {
                let names: Vec<&str> = BUILTIN.iter().map(|t| t.name).collect();
                return Err(CliError::usage(
                    "template::not_found",
                    format!("no template named `{template}`"),
                    format!(
                        "built-in templates: {}; `stackform template list` shows the integrations' templates too",
                        names.join(", ")
                    ),
                ));
            }
        }
        TemplateCommand::Validate { file, inputs: args } => {
            let source = templates::load(file)?;
            let parsed = template::parse(&source)?;
            let catalog = stackform_providers::catalog(&crate::home::home()?);
            let values = inputs::collect(args)?;
            // Validation needs no stack: name, suffix and missing inputs are unknown.
            let result = plan(&PlanRequest {
                template: &parsed,
                catalog: &catalog,
                inputs: &values,
                stack: StackContext::default(),
                state: None,
                partial: true,
                replace: &[],
                data: &std::collections::HashMap::new(),
            })?;
            printer.validated(&source.name, &parsed, result.changes.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
