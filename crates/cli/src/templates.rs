//! Finding a template: a built-in name, an installed integration's template, or a path to a file.

use std::sync::Arc;

use stackform_engine::base::fsio::MAX_YAML_BYTES;
use stackform_engine::base::source::SourceFile;
use stackform_engine::ext::integration::{Integration, Integrations, TemplateEntry};
use stackform_engine::ops::prepare::TemplateSource;
use stackform_providers::templates;

use crate::error::CliError;

/// What `plan` and `deploy` plan from: `spec` loaded (a built-in template by name, so that the
/// engine can keep a stack on the source it was deployed from unless `upgrade`), or, with no
/// spec, the template the stack records.
pub fn source(spec: Option<&str>, upgrade: bool) -> Result<TemplateSource, CliError> {
    let Some(spec) = spec else {
        return Ok(TemplateSource::Recorded);
    };
    let loaded = load(spec)?;
    Ok(match loaded.name.strip_prefix("builtin:") {
        Some(name) => TemplateSource::Builtin {
            name: name.to_owned(),
            shipped: loaded,
            upgrade,
        },
        None => TemplateSource::Given(loaded),
    })
}

/// Loads `spec`: a built-in template's name, or else a file path.
pub fn load(spec: &str) -> Result<Arc<SourceFile>, CliError> {
    let path = std::path::Path::new(spec);
    let looks_like_path = spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
    if !looks_like_path && let Some(t) = templates::builtin(spec) {
        return Ok(SourceFile::new(format!("builtin:{}", t.name), t.source));
    }
    if !looks_like_path && let Some((_, entry)) = integration_template(spec)? {
        return read_entry(&entry);
    }
    let mut unreadable = None;
    let text = crate::inputs::read(path, "template", MAX_YAML_BYTES, |e| {
        let message = format!("cannot read template file `{spec}`: {e}");
        unreadable = Some(e);
        CliError::usage(
            "template::unreadable",
            message,
            "check the path and its permissions",
        )
    });
    match (text, unreadable) {
        (Ok(text), _) => Ok(SourceFile::new(spec, text)),
        (Err(_), Some(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            let names: Vec<&str> = templates::BUILTIN.iter().map(|t| t.name).collect();
            Err(CliError::usage(
                "template::not_found",
                format!("no built-in template or file named `{spec}`"),
                format!(
                    "built-in templates: {} (`stackform template list` also shows the integrations' templates); or give a path to a template file",
                    names.join(", ")
                ),
            ))
        }
        (Err(e), _) => Err(e),
    }
}

/// The installed integration that adds a template named `name`, and the template.
pub fn integration_template(name: &str) -> Result<Option<(Integration, TemplateEntry)>, CliError> {
    for i in Integrations::new(&crate::home::home()?).list()? {
        if let Some(t) = i.template(name).cloned() {
            return Ok(Some((i, t)));
        }
    }
    Ok(None)
}

/// An integration's template, read from where it was installed.
pub fn read_entry(entry: &TemplateEntry) -> Result<Arc<SourceFile>, CliError> {
    let text = crate::inputs::read(&entry.path, "template", MAX_YAML_BYTES, |e| {
        CliError::failed(
            "template::unreadable",
            format!("cannot read template {}: {e}", entry.path.display()),
            "add the integration again with `stackform integration add PATH --replace`",
        )
    })?;
    Ok(SourceFile::new(entry.path.display().to_string(), text))
}
