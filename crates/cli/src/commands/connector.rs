//! `stackform connector register|list|describe|delete|verify`: credentials to a cloud, kept
//! once by whoever may hold them and used by name. Key material goes to the secret store.

use std::collections::BTreeMap;
use std::process::ExitCode;

use stackform_engine::ext::connectors::{self, Connector, Connectors};
use stackform_engine::ext::secrets::SecretValues;

use crate::args::ConnectorCommand;
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;
use crate::run::runtime;

/// An aws, gcp or azure connector with its key material: the kinds `login` and `token` work
/// with.
fn resolve_for_login(
    store: &Connectors,
    rt: &tokio::runtime::Runtime,
    name: &str,
) -> Result<stackform_engine::ext::connectors::Resolved, CliError> {
    let secrets = home::secrets()?;
    let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
    if !matches!(resolved.connector.kind.as_str(), "aws" | "gcp" | "azure") {
        return Err(CliError::usage(
            "connector::unsupported",
            format!(
                "this stackform logs in through aws, gcp and azure connectors; `{name}` is a {} connector",
                resolved.connector.kind
            ),
            "use an aws, gcp or azure connector",
        ));
    }
    Ok(resolved)
}

/// A credential-bearing file: mode 0600, written atomically.
fn write_private(path: &std::path::Path, doc: &serde_json::Value) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::failed(
            "connector::write",
            format!("cannot write {}: {e}", path.display()),
            "check that STACKFORM_HOME is writable",
        )
    };
    std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(fail)?;
    let text = serde_json::to_vec_pretty(doc).expect("serializes");
    stackform_engine::base::fsio::write_atomic(path, &text).map_err(fail)
}

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
        ConnectorCommand::Verify { name, template } => {
            let secrets = home::secrets()?;
            let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
            let template =
                template
                    .clone()
                    .unwrap_or_else(|| match resolved.connector.kind.as_str() {
                        k @ ("aws" | "gcp" | "azure") => k.to_owned(),
                        _ => "local".to_owned(),
                    });
            let template = &template;
            if resolved.connector.kind == "azure" {
                return verify_azure(&rt, &resolved, name, template, printer);
            }
            if resolved.connector.kind == "gcp" {
                return verify_gcp(&rt, &resolved, name, template, printer);
            }
            if matches!(resolved.connector.kind.as_str(), "kubernetes" | "docker") {
                return verify_http(&rt, &resolved, name, printer);
            }
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
            // What the template's resource types need, judged from the identity's policies.
            let needed = needed_actions(template, "aws")?;
            let checked = rt.block_on(stackform_providers::aws::connector::missing_actions(
                &resolved, &arn, &needed,
            ));
            let (missing, unchecked) = match checked {
                Ok(m) => (m, None),
                Err(e) => (Vec::new(), Some(e.message)),
            };
            printer.verified(
                name,
                &account,
                &arn,
                template,
                needed.len(),
                &missing,
                unchecked.as_deref(),
            );
            if !missing.is_empty() {
                return Ok(ExitCode::from(crate::error::exit::FAILED));
            }
        }
        ConnectorCommand::Login {
            name,
            resource_type,
            resource_id,
        } => {
            let resolved = resolve_for_login(&store, &rt, name)?;
            let kind = resolved.connector.kind.clone();
            let gcp = kind == "gcp";
            let refused = |e: stackform_engine::provider::ProviderError| {
                CliError::failed(
                    "connector::refused",
                    e.message,
                    "check what the connector's identity may do",
                )
            };
            let dir = home_dir.join("logins").join(name);
            match resource_type.as_str() {
                "docker-registry" => {
                    let (host, auth, expires) = if kind == "azure" {
                        rt.block_on(stackform_providers::azure::connector::acr_login(
                            &resolved,
                            resource_id.as_deref(),
                        ))
                        .map_err(refused)?
                    } else if gcp {
                        let (host, auth, until) = rt
                            .block_on(stackform_providers::gcp::connector::registry_login(
                                &resolved,
                                resource_id.as_deref(),
                            ))
                            .map_err(refused)?;
                        let until = humantime::format_rfc3339_seconds(until).to_string();
                        (host, auth, Some(until))
                    } else {
                        rt.block_on(stackform_providers::aws::connector::ecr_login(&resolved))
                            .map_err(refused)?
                    };
                    let config = serde_json::json!({"auths": {host.clone(): {"auth": auth}}});
                    let path = dir.join("docker").join("config.json");
                    write_private(&path, &config)?;
                    printer.logged_in(
                        name,
                        &host,
                        &path,
                        &format!("export DOCKER_CONFIG={}", path.parent().unwrap().display()),
                        expires.as_deref(),
                    );
                }
                "kubernetes-cluster" => {
                    let cluster = resource_id.as_deref().ok_or_else(|| {
                        CliError::usage(
                            "connector::no_cluster",
                            "kubernetes-cluster logins need --resource-id CLUSTER",
                            format!("`stackform connector list-resources {name} --resource-type kubernetes-cluster` lists them"),
                        )
                    })?;
                    let (arn, endpoint, ca) = if gcp {
                        rt.block_on(stackform_providers::gcp::connector::gke_cluster(
                            &resolved, cluster,
                        ))
                    } else if kind == "azure" {
                        rt.block_on(stackform_providers::azure::connector::aks_cluster(
                            &resolved, cluster,
                        ))
                    } else {
                        rt.block_on(stackform_providers::aws::connector::eks_cluster(
                            &resolved, cluster,
                        ))
                    }
                    .map_err(refused)?;
                    let exe = std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "stackform".into());
                    let mut exec = serde_json::json!({
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": exe,
                        "args": ["connector", "token", name, "--cluster", cluster],
                        "interactiveMode": "Never",
                    });
                    if let Ok(h) = std::env::var("STACKFORM_HOME") {
                        exec["env"] = serde_json::json!([{"name": "STACKFORM_HOME", "value": h}]);
                    }
                    let config = serde_json::json!({
                        "apiVersion": "v1",
                        "kind": "Config",
                        "clusters": [{"name": arn, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
                        "contexts": [{"name": arn, "context": {"cluster": arn, "user": arn}}],
                        "current-context": arn,
                        "users": [{"name": arn, "user": {"exec": exec}}],
                    });
                    let path = dir.join("kube").join(format!("{cluster}.json"));
                    write_private(&path, &config)?;
                    printer.logged_in(
                        name,
                        &arn,
                        &path,
                        &format!("export KUBECONFIG={}", path.display()),
                        None,
                    );
                }
                other => {
                    return Err(CliError::usage(
                        "connector::login_type",
                        format!("cannot log in to `{other}` resources"),
                        "use --resource-type docker-registry or kubernetes-cluster",
                    ));
                }
            }
        }
        ConnectorCommand::Token { name, cluster } => {
            let resolved = resolve_for_login(&store, &rt, name)?;
            let (token, expires) = if resolved.connector.kind == "gcp" {
                rt.block_on(stackform_providers::gcp::connector::access_token(&resolved))
            } else if resolved.connector.kind == "azure" {
                rt.block_on(stackform_providers::azure::connector::aks_token(&resolved))
            } else {
                rt.block_on(stackform_providers::aws::connector::eks_token(
                    &resolved, cluster,
                ))
            }
            .map_err(|e| {
                CliError::failed(
                    "connector::refused",
                    e.message,
                    "check the connector's credentials",
                )
            })?;
            // The one place a credential is printed: kubectl reads it from stdout.
            printer.document(&format!(
                "{}\n",
                serde_json::json!({
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "kind": "ExecCredential",
                    "spec": {},
                    "status": {
                        "expirationTimestamp": humantime::format_rfc3339_seconds(expires).to_string(),
                        "token": token,
                    }
                })
            ));
        }
        ConnectorCommand::ListResources {
            name,
            resource_type,
        } => {
            let secrets = home::secrets()?;
            let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
            let found = rt.block_on(list_resources(&resolved, resource_type.as_deref()))?;
            printer.connector_resources(name, &found);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a connector reaches, `(resource type, id)`, through its cloud's own listing calls.
pub async fn list_resources(
    resolved: &stackform_engine::ext::connectors::Resolved,
    resource_type: Option<&str>,
) -> Result<Vec<(String, String)>, CliError> {
    let name = resolved.connector.name.as_str();
    match resolved.connector.kind.as_str() {
        "gcp" => stackform_providers::gcp::connector::list_resources(resolved, resource_type)
            .await
            .map_err(|e| refused(name, e)),
        "azure" if resolved.connector.auth_method != "storage-shared-key" => {
            stackform_providers::azure::connector::list_arm(resolved, resource_type)
                .await
                .map_err(|e| refused(name, e))
        }
        "azure" => {
            if let Some(t) = resource_type.filter(|t| *t != "blob-container") {
                return Err(CliError::usage(
                    "connector::list_type",
                    format!("azure connectors list `blob-container` resources, not `{t}`"),
                    "use --resource-type blob-container, or leave it out",
                ));
            }
            let found = stackform_providers::azure::connector::list_containers(resolved)
                .await
                .map_err(|e| azure_refused(name, e))?;
            Ok(found
                .into_iter()
                .map(|uri| ("blob-container".to_owned(), uri))
                .collect())
        }
        "aws" => stackform_providers::aws::connector::list_resources(resolved, resource_type)
            .await
            .map_err(|e| {
                CliError::failed(
                    "connector::refused",
                    e.message,
                    "check what the connector's identity may list",
                )
            }),
        other => Err(CliError::usage(
            "connector::list_unsupported",
            format!(
                "this stackform lists what aws, gcp and azure connectors reach; `{name}` is a {other} connector"
            ),
            "use an aws, gcp or azure connector",
        )),
    }
}

/// An azure connector's failure: a usage error for a method that cannot be checked here, a
/// refusal naming the account otherwise.
fn azure_refused(name: &str, e: stackform_engine::provider::ProviderError) -> CliError {
    if e.kind == stackform_engine::provider::ErrorKind::Invalid {
        return CliError::usage(
            "connector::verify_unsupported",
            e.message,
            "register a `storage-shared-key` connector to check a storage account, or deploy with this one",
        );
    }
    refused(name, e)
}

/// A storage-shared-key connector: the service accepts a request signed with its key. A key
/// grants everything on the account's data, so there are no policies to weigh against the
/// template's needs.
fn verify_azure(
    rt: &tokio::runtime::Runtime,
    resolved: &stackform_engine::ext::connectors::Resolved,
    name: &str,
    template: &str,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    if resolved.connector.auth_method != "storage-shared-key" {
        return verify_entra(rt, resolved, name, template, printer);
    }
    let (account, identity) = rt
        .block_on(stackform_providers::azure::connector::verify(resolved))
        .map_err(|e| azure_refused(name, e))?;
    printer.verified(
        name,
        &account,
        &identity,
        template,
        0,
        &[],
        Some("a storage account key may do everything with the account's data; it has no policies to check"),
    );
    Ok(ExitCode::SUCCESS)
}

/// An Entra ID connector (service principal, or the environment's identity): it signs in, and
/// ARM says which of the template's declared actions its role assignments on the subscription
/// allow.
fn verify_entra(
    rt: &tokio::runtime::Runtime,
    resolved: &stackform_engine::ext::connectors::Resolved,
    name: &str,
    template: &str,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    use stackform_providers::azure::connector;
    let subscription = connector::subscription(resolved).map_err(|e| refused(name, e))?;
    let needed = needed_actions(template, "azure")?;
    let missing = rt
        .block_on(connector::missing_actions(resolved, &needed))
        .map_err(|e| refused(name, e))?;
    let identity = connector::identity(resolved);
    Ok(report(
        printer,
        name,
        &subscription,
        &identity,
        template,
        needed.len(),
        &missing,
    ))
}

/// A verified connector and what it may not do of `checked` actions: exit 1 when anything is
/// missing.
fn report(
    printer: &Printer,
    name: &str,
    scope: &str,
    identity: &str,
    template: &str,
    checked: usize,
    missing: &[String],
) -> ExitCode {
    printer.verified(name, scope, identity, template, checked, missing, None);
    ExitCode::from(if missing.is_empty() {
        0
    } else {
        crate::error::exit::FAILED
    })
}

/// What a template's resource types of provider `provider` declare they need.
fn needed_actions(
    template: &str,
    provider: &str,
) -> Result<std::collections::BTreeSet<String>, CliError> {
    let parsed = stackform_engine::lang::template::parse(&crate::templates::load(template)?)?;
    let catalog = stackform_providers::catalog(&crate::home::home()?);
    Ok(parsed
        .resources
        .iter()
        .filter_map(|r| catalog.resource(&r.type_name))
        .filter(|s| s.provider() == provider)
        .flat_map(|s| s.actions.iter().cloned())
        .collect())
}

/// A connector check's failure: settings the check cannot work with are a usage error, a
/// refusal by the cloud is a failure naming the connector.
fn refused(name: &str, e: stackform_engine::provider::ProviderError) -> CliError {
    if e.kind == stackform_engine::provider::ErrorKind::Invalid {
        return CliError::usage(
            "connector::invalid",
            e.message,
            format!(
                "`stackform connector describe {name}` shows its settings; register it again to change them"
            ),
        );
    }
    CliError::failed(
        "connector::refused",
        e.message,
        format!(
            "check the credentials of connector `{name}` (`stackform connector describe {name}`), or register it again"
        ),
    )
}

/// A gcp connector: its identity and project, and the template's permissions that the
/// project's IAM policy does not grant it (as Resource Manager answers for the caller).
fn verify_gcp(
    rt: &tokio::runtime::Runtime,
    resolved: &stackform_engine::ext::connectors::Resolved,
    name: &str,
    template: &str,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    use stackform_providers::gcp::connector;
    let project = connector::project(&resolved.connector).map_err(|e| refused(name, e))?;
    let identity = connector::identity(resolved).map_err(|e| refused(name, e))?;
    let needed = needed_actions(template, "gcp")?;
    let missing = if needed.is_empty() {
        Vec::new()
    } else {
        rt.block_on(connector::missing_permissions(resolved, &needed))
            .map_err(|e| refused(name, e))?
    };
    Ok(report(
        printer,
        name,
        &project,
        &identity,
        template,
        needed.len(),
        &missing,
    ))
}

/// A kubernetes or docker connector: the API server or registry accepts its credentials and
/// says who they are. No stackform resource type runs on these connectors, so there are no
/// declared actions to check.
fn verify_http(
    rt: &tokio::runtime::Runtime,
    resolved: &stackform_engine::ext::connectors::Resolved,
    name: &str,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    use stackform_providers::connector_checks;
    let kind = resolved.connector.kind.as_str();
    let answer = if kind == "kubernetes" {
        rt.block_on(connector_checks::kubernetes_identity(resolved))
    } else {
        rt.block_on(connector_checks::docker_identity(resolved))
    };
    let (endpoint, identity) = answer.map_err(|e| refused(name, e))?;
    printer.verified(
        name,
        &endpoint,
        &identity,
        kind,
        0,
        &[],
        Some("no stackform resource type uses this kind of connector, so there are no declared actions to check"),
    );
    Ok(ExitCode::SUCCESS)
}
