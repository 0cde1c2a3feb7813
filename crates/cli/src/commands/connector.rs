//! `stackform connector register|list|describe|delete|verify`: credentials to a cloud, kept
//! once by whoever may hold them and used by name. Key material goes to the secret store.

use std::collections::BTreeMap;
use std::process::ExitCode;

use stackform_engine::connectors::{self, Connector, Connectors};
use stackform_engine::secrets::SecretValues;

use crate::args::ConnectorCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;
use crate::run::runtime;

pub fn exec(cmd: &ConnectorCommand, printer: &Printer) -> Result<ExitCode, CliError> {
    let home_dir = home::home()?;
    let store = Connectors::new(&home_dir);
    let rt = runtime()?;
    match cmd {
        ConnectorCommand::Register {
            name,
            kind,
            auth_method,
            region,
            profile,
            role_arn,
            external_id,
            session_duration,
            settings,
            environments,
            from_file,
        } => {
            let method = connectors::method(kind, auth_method)?;
            let mut all: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in [
                ("region", region),
                ("profile", profile),
                ("role_arn", role_arn),
                ("external_id", external_id),
                ("session_duration", session_duration),
            ] {
                if let Some(v) = v {
                    all.insert(k.to_owned(), v.clone());
                }
            }
            for s in settings {
                let Some((k, v)) = s.split_once('=') else {
                    return Err(CliError::usage(
                        "connector::bad_setting",
                        format!("--setting `{s}` is not KEY=VALUE"),
                        "e.g. --setting project=ml-prod",
                    ));
                };
                all.insert(k.to_owned(), v.to_owned());
            }
            let material = if method.secrets.is_empty() && from_file.is_empty() {
                SecretValues::new()
            } else {
                super::secret::read_values(from_file)?
            };
            let connector = Connector {
                name: name.clone(),
                kind: kind.clone(),
                auth_method: auth_method.clone(),
                settings: all,
                secret: None,
                secret_keys: Vec::new(),
                environments: environments.iter().map(|e| e.as_str().to_owned()).collect(),
                created_at: stackform_engine::state::now_rfc3339(),
            };
            let secrets = home::secrets()?;
            let registered = rt.block_on(store.register(connector, material, secrets.as_ref()))?;
            printer.connector(&registered, "registered");
        }
        ConnectorCommand::List => printer.connector_list(&store.list()?),
        ConnectorCommand::Describe { name } => printer.connector(&store.get(name)?, "described"),
        ConnectorCommand::Delete { name } => {
            let states = super::stack::local_stacks()?;
            let secrets = home::secrets()?;
            rt.block_on(store.delete(name, &states, secrets.as_ref()))?;
            printer.note(&format!("Connector `{name}` and its key material deleted."));
        }
        ConnectorCommand::Verify { name } => {
            let secrets = home::secrets()?;
            let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
            if resolved.connector.kind != "aws" {
                return Err(CliError::usage(
                    "connector::verify_unsupported",
                    format!(
                        "this stackform verifies aws connectors; `{name}` is a {} connector",
                        resolved.connector.kind
                    ),
                    "its credentials are checked when a stack first uses them",
                ));
            }
            let (account, arn) = rt
                .block_on(stackform_providers::aws::connector::verify(&resolved))
                .map_err(|e| {
                    CliError::failed(
                        "connector::refused",
                        e.message,
                        "check the connector's key material or role (`stackform connector describe`), or register it again",
                    )
                })?;
            printer.verified(name, &account, &arn);
        }
        ConnectorCommand::ListResources {
            name,
            resource_type,
        } => {
            let secrets = home::secrets()?;
            let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
            if resolved.connector.kind != "aws" {
                return Err(CliError::usage(
                    "connector::list_unsupported",
                    format!(
                        "this stackform lists what aws connectors reach; `{name}` is a {} connector",
                        resolved.connector.kind
                    ),
                    "use an aws connector",
                ));
            }
            let found = rt
                .block_on(stackform_providers::aws::connector::list_resources(
                    &resolved,
                    resource_type.as_deref(),
                ))
                .map_err(|e| {
                    CliError::failed(
                        "connector::refused",
                        e.message,
                        "check what the connector's identity may list",
                    )
                })?;
            printer.connector_resources(name, &found);
        }
    }
    Ok(ExitCode::SUCCESS)
}
