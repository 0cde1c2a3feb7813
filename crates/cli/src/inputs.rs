//! `--var` and `--var-file`: turning command-line inputs into the engine's input values.

use stackform_engine::base::fsio::{self, MAX_YAML_BYTES, ReadError};
use stackform_engine::base::source::SourceFile;
use stackform_engine::base::value::Value;
use stackform_engine::lang::yaml;
use stackform_engine::plan::resolve::InputValues;

use crate::args::InputArgs;
use crate::error::CliError;

/// Reads a file a user gave, a `what`, refusing more than `limit` bytes (see
/// `fsio::read_input`); `on_io` says what an unreadable file means where it was given.
pub fn read(
    path: &std::path::Path,
    what: &'static str,
    limit: u64,
    on_io: impl FnOnce(std::io::Error) -> CliError,
) -> Result<String, CliError> {
    fsio::read_input(path, what, limit).map_err(|e| match e {
        ReadError::Io { source, .. } => on_io(source),
        e @ ReadError::TooLarge { .. } => {
            CliError::usage("input::too_large", e.to_string(), e.help())
        }
    })
}

pub fn collect(args: &InputArgs) -> Result<InputValues, CliError> {
    let mut values = InputValues::default();
    for file in &args.var_files {
        let text = read(file, "var file", MAX_YAML_BYTES, |e| {
            CliError::usage(
                "input::var_file",
                format!("cannot read var file `{}`: {e}", file.display()),
                "check the path given to --var-file",
            )
        })?;
        let source = SourceFile::new(file.display().to_string(), text);
        let node = yaml::parse(&source)?;
        match node.to_value() {
            Value::Map(map) => values.file.extend(map),
            Value::Null => {}
            other => {
                return Err(CliError::usage(
                    "input::var_file",
                    format!(
                        "var file `{}` must hold a map of input names to values, found a {}",
                        file.display(),
                        other.type_name()
                    ),
                    "write one `name: value` line per input",
                ));
            }
        }
    }
    for var in &args.vars {
        let Some((k, v)) = var.split_once('=') else {
            return Err(CliError::usage(
                "input::var",
                format!("--var `{var}` has no `=`"),
                "write --var name=value",
            ));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(CliError::usage(
                "input::var",
                format!("--var `{var}` has no name before `=`"),
                "write --var name=value",
            ));
        }
        values.vars.push((k.to_owned(), v.to_owned()));
    }
    Ok(values)
}
