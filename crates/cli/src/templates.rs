//! Finding a template: a built-in name, or a path to a file.

use std::sync::Arc;

use stackform_engine::source::SourceFile;
use stackform_providers::templates;

use crate::error::CliError;

/// Loads `spec`: a built-in template's name, or else a file path.
pub fn load(spec: &str) -> Result<Arc<SourceFile>, CliError> {
    let path = std::path::Path::new(spec);
    let looks_like_path = spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
    if !looks_like_path && let Some(t) = templates::builtin(spec) {
        return Ok(SourceFile::new(format!("builtin:{}", t.name), t.source));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(SourceFile::new(spec, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let names: Vec<&str> = templates::BUILTIN.iter().map(|t| t.name).collect();
            Err(CliError::usage(
                "template::not_found",
                format!("no built-in template or file named `{spec}`"),
                format!(
                    "built-in templates: {} (see `stackform template list`); or give a path to a template file",
                    names.join(", ")
                ),
            ))
        }
        Err(e) => Err(CliError::usage(
            "template::unreadable",
            format!("cannot read template file `{spec}`: {e}"),
            "check the path and its permissions",
        )),
    }
}
