//! `stackform secret create|update|list|get|delete`: the secrets that `{{ name.key }}` refers
//! to. Values come from stdin (KEY=VALUE lines) or files, never from the command line, where
//! other users and shell history could see them.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use stackform_engine::ext::secrets::{SecretError, SecretValues, validate_name};

use crate::args::SecretCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;
use crate::run::runtime;

pub fn exec(cmd: &SecretCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    let store = home::secrets()?;
    let rt = runtime()?;
    match cmd {
        SecretCommand::Create { name, from_file } => {
            validate_name(name)?;
            if rt.block_on(store.get(name))?.is_some() {
                return Err(SecretError::Exists(name.clone()).into());
            }
            let values = read_values(from_file)?;
            if values.is_empty() {
                return Err(CliError::usage(
                    "secret::empty",
                    format!("no KEY=VALUE lines were given for secret `{name}`"),
                    format!(
                        "e.g. `printf 'token=...\\n' | stackform secret create {name}`, or --from-file KEY=PATH"
                    ),
                ));
            }
            rt.block_on(store.put(name, &values))?;
            printer.secret_written(name, "created", &values, &store.describe());
        }
        SecretCommand::Update {
            name,
            from_file,
            remove_key,
        } => {
            let mut values = rt
                .block_on(store.get(name))?
                .ok_or_else(|| SecretError::NoSuchSecret(name.clone()))?;
            let given =
                if from_file.is_empty() && !remove_key.is_empty() && std::io::stdin().is_terminal()
                {
                    SecretValues::new()
                } else {
                    read_values(from_file)?
                };
            values.extend(given);
            for k in remove_key {
                if values.remove(k).is_none() {
                    return Err(CliError::usage(
                        "secret::no_key",
                        format!("secret `{name}` has no key `{k}`"),
                        format!(
                            "its keys are {}",
                            values.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            rt.block_on(store.put(name, &values))?;
            printer.secret_written(name, "updated", &values, &store.describe());
        }
        SecretCommand::List => {
            let mut secrets = Vec::new();
            for name in rt.block_on(store.names())? {
                let keys: Vec<String> = rt
                    .block_on(store.get(&name))?
                    .map(|v| v.into_keys().collect())
                    .unwrap_or_default();
                secrets.push((name, keys));
            }
            printer.secret_list(&secrets, &store.describe());
        }
        SecretCommand::Get { name, reveal } => {
            let values = rt
                .block_on(store.get(name))?
                .ok_or_else(|| SecretError::NoSuchSecret(name.clone()))?;
            printer.secret(name, &values, *reveal);
        }
        SecretCommand::Delete { name } => {
            if !rt.block_on(store.delete(name))? {
                return Err(SecretError::NoSuchSecret(name.clone()).into());
            }
            printer.note(&format!("Secret `{name}` deleted."));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// KEY=VALUE lines from stdin (unless only files are given) and KEY=PATH files. Errors name the
/// line, never its content: it may hold a secret.
pub(super) fn read_values(from_file: &[String]) -> Result<SecretValues, CliError> {
    let mut values = SecretValues::new();
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if from_file.is_empty() {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("Enter KEY=VALUE lines, then Ctrl-D:");
        }
        // Bounded like every other input: `cat /dev/zero | stackform secret create x` must end
        // with an error, not with the machine out of memory.
        let limit = stackform_engine::base::fsio::MAX_DATA_BYTES;
        let mut bytes = Vec::new();
        stdin
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                CliError::usage(
                    "secret::stdin",
                    format!("cannot read stdin: {e}"),
                    "pipe KEY=VALUE lines into the command",
                )
            })?;
        if bytes.len() as u64 > limit {
            return Err(CliError::usage(
                "input::too_large",
                format!("stdin holds more than the {} MiB a secret may", limit >> 20),
                "pipe only the KEY=VALUE lines; a large value is better given as --from-file KEY=PATH",
            ));
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::usage(
                "secret::stdin",
                "stdin is not UTF-8 text",
                "pipe KEY=VALUE lines of text; a binary value goes in with --from-file KEY=PATH",
            )
        })?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(CliError::usage(
                    "secret::bad_line",
                    format!("line {} of stdin is not KEY=VALUE", i + 1),
                    "write one KEY=VALUE per line (the value may contain `=`)",
                ));
            };
            let k = k.trim();
            if !key_ok(k) {
                return Err(CliError::usage(
                    "secret::bad_key",
                    format!("line {} of stdin has a key that is not a word", i + 1),
                    "keys hold letters, digits, `_` and `-`",
                ));
            }
            values.insert(k.to_owned(), v.to_owned());
        }
    }
    for spec in from_file {
        let Some((k, path)) = spec.split_once('=').filter(|(k, _)| key_ok(k)) else {
            return Err(CliError::usage(
                "secret::bad_from_file",
                format!("--from-file `{spec}` is not KEY=PATH"),
                "e.g. --from-file kubeconfig=./kubeconfig.yaml",
            ));
        };
        let value = crate::inputs::read(
            std::path::Path::new(path),
            "secret value",
            stackform_engine::base::fsio::MAX_DATA_BYTES,
            |e| {
                CliError::usage(
                    "secret::unreadable",
                    format!("cannot read {path} for key `{k}`: {e}"),
                    "check the path",
                )
            },
        )?;
        values.insert(k.to_owned(), value);
    }
    Ok(values)
}
