//! `stackform connector register|list|describe|delete|verify|login|token|list-resources`:
//! credentials to a cloud, kept once by whoever may hold them and used by name. Key material
//! goes to the secret store. What a connector's type does (its auth methods, who it is, what it
//! reaches, its logins) is its connector kind's, looked up in the registry by the type.

use std::collections::BTreeMap;
use std::process::ExitCode;

use stackform_engine::ext::connectors::{self, Connector, Connectors};
use stackform_engine::ext::secrets::SecretValues;
use stackform_engine::provider::{Ability, Checks, ConnectorKind, ProviderError, Registry};

use crate::args::ConnectorCommand;
use crate::connector_kinds::{able, failure, kind_of, phrase, refused, use_one};
use crate::error::CliError;
use crate::home;
use crate::printer::Printer;
use crate::run::runtime;

/// A connector with its key material, of a kind that logs in.
fn resolve_for_login<'r>(
    store: &Connectors,
    registry: &'r Registry,
    rt: &tokio::runtime::Runtime,
    name: &str,
) -> Result<
    (
        stackform_engine::ext::connectors::Resolved,
        &'r std::sync::Arc<dyn ConnectorKind>,
    ),
    CliError,
> {
    let secrets = home::secrets()?;
    let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
    match kind_of(registry, &resolved.connector).filter(|k| k.can(Ability::Login)) {
        Some(kind) => Ok((resolved, kind)),
        None => Err(CliError::usage(
            "connector::unsupported",
            format!(
                "this stackform logs in through {} connectors; `{name}` is a {} connector",
                phrase(registry, able(Ability::Login), "and"),
                resolved.connector.kind
            ),
            format!("use {}", use_one(registry, able(Ability::Login))),
        )),
    }
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
    let registry = crate::connector_kinds::registry()?;
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
            let method = connectors::method(&registry, kind, auth_method)?;
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
            let registered =
                rt.block_on(store.register(connector, &registry, material, secrets.as_ref()))?;
            printer.connector(&registered, "registered");
        }
        ConnectorCommand::List => printer.connector_list(&store.list()?),
        ConnectorCommand::Describe { name } => printer.connector(&store.get(name)?, "described"),
        ConnectorCommand::Delete { name } => {
            let states = home::local_stacks()?;
            let secrets = home::secrets()?;
            rt.block_on(store.delete(name, &states, secrets.as_ref()))?;
            printer.note(&format!("Connector `{name}` and its key material deleted."));
        }
        ConnectorCommand::Verify { name, template } => {
            let secrets = home::secrets()?;
            let resolved = rt.block_on(store.resolve(name, secrets.as_ref()))?;
            return verify(&rt, &registry, &resolved, template.as_deref(), printer);
        }
        ConnectorCommand::Login {
            name,
            resource_type,
            resource_id,
        } => {
            let (resolved, kind) = resolve_for_login(&store, &registry, &rt, name)?;
            let refused = |e: ProviderError| {
                CliError::failed(
                    "connector::refused",
                    e.message,
                    "check what the connector's identity may do",
                )
            };
            let unsupported = |_| {
                CliError::usage(
                    "connector::unsupported",
                    format!("connector `{name}` cannot log in to `{resource_type}` resources"),
                    format!("use {}", use_one(&registry, able(Ability::Login))),
                )
            };
            let dir = home_dir.join("logins").join(name);
            match resource_type.as_str() {
                "docker-registry" => {
                    let login = rt
                        .block_on(kind.docker_login(&resolved, resource_id.as_deref()))
                        .map_err(|f| failure(f, refused, unsupported))?;
                    let (host, auth, expires) = (login.host, login.auth, login.expires_at);
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
                    let access = rt
                        .block_on(kind.cluster(&resolved, cluster))
                        .map_err(|f| failure(f, refused, unsupported))?;
                    let (arn, endpoint, ca) =
                        (access.name, access.server, access.certificate_authority);
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
            let (resolved, kind) = resolve_for_login(&store, &registry, &rt, name)?;
            let refused = |e: ProviderError| {
                CliError::failed(
                    "connector::refused",
                    e.message,
                    "check the connector's credentials",
                )
            };
            let unsupported = |_| {
                CliError::usage(
                    "connector::unsupported",
                    format!("connector `{name}` makes no cluster tokens"),
                    format!("use {}", use_one(&registry, able(Ability::Login))),
                )
            };
            let token = rt
                .block_on(kind.token(&resolved, cluster))
                .map_err(|f| failure(f, refused, unsupported))?;
            let (token, expires) = (token.token, token.expires);
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
            let found = rt.block_on(crate::connector_kinds::list_resources(
                &registry,
                &resolved,
                resource_type.as_deref(),
            ))?;
            let found: Vec<(String, String)> =
                found.into_iter().map(|r| (r.resource_type, r.id)).collect();
            printer.connector_resources(name, &found);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who a connector's credentials are, and, where its kind weighs them, which of a template's
/// declared actions they may not perform: exit 1 when any is missing.
fn verify(
    rt: &tokio::runtime::Runtime,
    registry: &Registry,
    resolved: &stackform_engine::ext::connectors::Resolved,
    template: Option<&str>,
    printer: &Printer,
) -> Result<ExitCode, CliError> {
    let name = resolved.connector.name.as_str();
    let Some(kind) = kind_of(registry, &resolved.connector) else {
        return Err(CliError::usage(
            "connector::verify_unsupported",
            format!(
                "this stackform verifies {} connectors; `{name}` is a {} connector",
                phrase(registry, |_| true, "and"),
                resolved.connector.kind
            ),
            "its credentials are checked when a stack first uses them",
        ));
    };
    let unsupported = |_| {
        CliError::usage(
            "connector::verify_unsupported",
            format!("connector `{name}` cannot be verified here"),
            "its credentials are checked when a stack first uses them",
        )
    };
    // The template checked against: the one given, else the kind's own; a kind no template uses
    // is reported under its own name.
    let template = template
        .map(str::to_owned)
        .or_else(|| kind.template().map(str::to_owned))
        .unwrap_or_else(|| "local".to_owned());
    let shown = match kind.template() {
        Some(_) => template.clone(),
        None => kind.name().to_owned(),
    };
    let who = rt
        .block_on(kind.identify(resolved))
        .map_err(|f| failure(f, |e| refused(name, e), unsupported))?;
    let provider = match kind.checks(&resolved.connector) {
        Checks::Nothing(why) => {
            printer.verified(name, &who.scope, &who.identity, &shown, 0, &[], Some(&why));
            return Ok(ExitCode::SUCCESS);
        }
        Checks::Actions { provider } => provider,
    };
    // What the template's resource types need, weighed against what the identity may do.
    let needed = needed_actions(&template, &provider)?;
    let checked = rt
        .block_on(kind.missing(resolved, &who, &needed))
        .map_err(|f| failure(f, |e| refused(name, e), unsupported))?;
    printer.verified(
        name,
        &who.scope,
        &who.identity,
        &shown,
        needed.len(),
        &checked.missing,
        checked.unchecked.as_deref(),
    );
    Ok(ExitCode::from(if checked.missing.is_empty() {
        0
    } else {
        crate::error::exit::FAILED
    }))
}

/// What a template's resource types of provider `provider` declare they need.
fn needed_actions(
    template: &str,
    provider: &str,
) -> Result<std::collections::BTreeSet<String>, CliError> {
    use stackform_engine::lang::expr::Part;
    use stackform_engine::lang::template::TValue;
    let parsed = stackform_engine::lang::template::parse(&crate::templates::load(template)?)?;
    let catalog = stackform_providers::catalog(&crate::home::home()?);
    let mut needed: std::collections::BTreeSet<String> = parsed
        .resources
        .iter()
        .filter_map(|r| catalog.resource(&r.type_name))
        .filter(|s| s.provider() == provider)
        .flat_map(|s| s.actions.iter().cloned())
        .collect();
    // Objects inside a cluster reached as this provider's identity (`credentials_from`) need
    // the identity to reach the cluster and act in it, which the cloud's IAM decides too.
    let reached_as = |p: &stackform_engine::lang::template::ProviderDef| {
        p.settings.iter().any(|s| {
            s.name == "credentials_from"
                && match &s.value {
                    TValue::Literal { value, .. } => value.as_str() == Some(provider),
                    TValue::Text { template, .. } => {
                        matches!(template.parts.as_slice(), [Part::Lit(l)] if l == provider)
                    }
                    _ => false,
                }
        })
    };
    let in_cluster = parsed
        .resources
        .iter()
        .filter_map(|r| catalog.resource(&r.type_name))
        .any(|s| s.provider() == "kubernetes");
    if in_cluster
        && parsed
            .providers
            .iter()
            .any(|p| p.name == "kubernetes" && reached_as(p))
    {
        needed.extend(
            stackform_providers::cluster_access_actions(provider)
                .iter()
                .map(|a| (*a).to_owned()),
        );
    }
    Ok(needed)
}
