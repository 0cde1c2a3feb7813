//! `stack register`: a stack made of resources that already exist, reached through a connector.
//!
//! Each resource is looked up through its type's `read` before anything is recorded, so a typo
//! is an error rather than a stack that points at nothing. Registered resources are external
//! (`found.external`): refreshed and described like others, never deleted; destroying the stack
//! deregisters them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::base::diagnostic::Diagnostic;
use crate::base::value::Value;
use crate::ext::connectors::Connector;
use crate::ops::{OpError, invalid, take_lock};
use crate::provider::{OpContext, Ownership, Props, RecoveryKey, Registry};
use crate::state::store::{Recorder, StackFiles};
use crate::state::{
    ComponentRecord, FoundRecord, ResourceState, State, TemplateRecord, now_rfc3339,
};

/// One existing resource to register as a component.
#[derive(Debug, Clone)]
pub struct Existing {
    /// `artifact_store`, `container_registry`, `orchestrator`.
    pub component: String,
    pub type_name: String,
    pub physical_id: String,
    /// As the user wrote it, for messages.
    pub given: String,
}

pub struct RegisterRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    pub connector: Connector,
    pub resources: Vec<Existing>,
    pub environment: Option<String>,
    pub registry: &'a Registry,
    pub stack_dir: std::path::PathBuf,
    pub lock_wait: Duration,
    pub command: &'a str,
}

/// Registers the stack, or says which resource could not be found.
pub async fn register(req: RegisterRequest<'_>) -> Result<State, OpError> {
    let _lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    if crate::state::store::load(&req.files)?.is_some() {
        return Err(invalid(
            Diagnostic::new(
                "stack::exists",
                format!("a stack named `{}` exists already", req.name),
            )
            .help("pick another name, or destroy that stack first"),
        ));
    }
    if !req.connector.serves(req.environment.as_deref()) {
        return Err(invalid(
            Diagnostic::new(
                "stack::connector_environment",
                format!(
                    "connector `{}` may serve {} stacks, not {}",
                    req.connector.name,
                    req.connector.environments.join(", "),
                    req.environment
                        .as_deref()
                        .unwrap_or("a stack with no environment")
                ),
            )
            .help("register with the `--environment` the connector serves"),
        ));
    }
    let mut settings = Props::from([(
        "connector".to_owned(),
        Value::String(req.connector.name.clone()),
    )]);
    // Where the connector works: what a resource's lookup needs besides its id.
    for key in ["region", "project", "storage_account"] {
        if let Some(v) = req.connector.settings.get(key) {
            settings.insert(key.into(), Value::String(v.clone()));
        }
    }
    // A storage-shared-key connector names its account `account_name`.
    if let Some(account) = req.connector.settings.get("account_name") {
        settings
            .entry("storage_account".into())
            .or_insert_with(|| Value::String(account.clone()));
    }
    let mut state = State::new(
        req.name,
        "",
        TemplateRecord {
            name: "registered".into(),
            hash: String::new(),
            source: String::new(),
        },
    );
    state.stack.environment = req.environment.clone();
    state
        .providers
        .insert(req.connector.kind.clone(), settings.clone());
    for e in &req.resources {
        let t = req
            .registry
            .resource(&e.type_name)
            .ok_or_else(|| crate::exec::RunError::UnknownType(e.type_name.clone()))?;
        let ctx = OpContext {
            deleting: Default::default(),
            ownership: Ownership {
                stack: req.name.to_owned(),
                stack_id: state.stack.id,
                address: e.component.clone(),
                suffix: String::new(),
                expires_at: None,
            },
            recovery: RecoveryKey::Tags,
            stack_dir: req.stack_dir.clone(),
            settings: settings.clone(),
        };
        let found = t
            .read(&ctx, &e.physical_id, &Props::new())
            .await
            .map_err(|error| crate::exec::RunError::Provider {
                what: format!(
                    "looking up {} through connector `{}`",
                    e.given, req.connector.name
                ),
                error,
            })?;
        let Some(applied) = found else {
            return Err(invalid(
                Diagnostic::new(
                    "stack::register_not_found",
                    format!(
                        "{} ({}) does not exist where connector `{}` looks",
                        e.given, e.component, req.connector.name
                    ),
                )
                .help(format!(
                    "`stackform connector list-resources {}` shows what it can reach",
                    req.connector.name
                )),
            ));
        };
        state.resources.insert(
            e.component.clone(),
            ResourceState {
                type_name: e.type_name.clone(),
                physical_id: applied.physical_id,
                properties: applied.properties,
                outputs: applied.outputs,
                dependencies: Vec::new(),
                protect: false,
                created_at: now_rfc3339(),
                found: Some(FoundRecord {
                    by: format!("registration through connector `{}`", req.connector.name),
                    after: Vec::new(),
                    retain: false,
                    external: true,
                }),
            },
        );
    }
    state.components = components(&state);
    let recorder = Recorder::create(req.files.clone(), state)?;
    recorder.compact()?;
    Ok(recorder.state())
}

/// The components the registered resources make.
fn components(state: &State) -> Vec<ComponentRecord> {
    let output = |r: &ResourceState, k: &str| r.outputs.get(k).cloned().unwrap_or(Value::Null);
    let region = state
        .providers
        .values()
        .find_map(|p| p.get("region").cloned())
        .unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (address, r) in &state.resources {
        let cloud = r.type_name.split('.').next().unwrap_or_default();
        let (flavor, configuration): (&str, BTreeMap<String, Value>) =
            match (address.as_str(), cloud) {
                ("artifact_store", "aws") => (
                    "s3",
                    BTreeMap::from([(
                        "path".into(),
                        Value::String(format!("s3://{}", r.physical_id)),
                    )]),
                ),
                ("artifact_store", "gcp") => (
                    "gcp",
                    BTreeMap::from([(
                        "path".into(),
                        Value::String(format!("gs://{}", r.physical_id)),
                    )]),
                ),
                // A data-plane container (a storage-key connector's) is named by itself; an ARM
                // one by its id, whose last segments are the account and the container.
                ("artifact_store", "azure") if r.type_name == "azure.storage.container" => (
                    "azure",
                    BTreeMap::from([
                        (
                            "path".into(),
                            Value::String(format!("az://{}", r.physical_id)),
                        ),
                        ("account_name".into(), output(r, "storage_account")),
                    ]),
                ),
                ("artifact_store", "azure") => {
                    let segments: Vec<&str> = r.physical_id.split('/').collect();
                    let account = segments
                        .iter()
                        .position(|s| s.eq_ignore_ascii_case("storageAccounts"))
                        .and_then(|i| segments.get(i + 1))
                        .map_or(Value::Null, |a| Value::String((*a).to_owned()));
                    (
                        "azure",
                        BTreeMap::from([
                            ("path".into(), output(r, "uri")),
                            ("account_name".into(), account),
                        ]),
                    )
                }
                ("container_registry", "aws" | "gcp") => {
                    (cloud, BTreeMap::from([("uri".into(), output(r, "uri"))]))
                }
                ("container_registry", "azure") => (
                    "azure",
                    BTreeMap::from([("uri".into(), output(r, "login_server"))]),
                ),
                ("orchestrator", "azure") => (
                    "kubernetes",
                    BTreeMap::from([
                        ("cluster_name".into(), output(r, "name")),
                        ("kubernetes_context".into(), output(r, "name")),
                        ("endpoint".into(), output(r, "fqdn")),
                        ("oidc_issuer_url".into(), output(r, "oidc_issuer_url")),
                    ]),
                ),
                ("orchestrator", "aws") => (
                    "kubernetes",
                    BTreeMap::from([
                        ("cluster_name".into(), Value::String(r.physical_id.clone())),
                        ("endpoint".into(), output(r, "endpoint")),
                        ("kubernetes_context".into(), output(r, "arn")),
                        ("region".into(), region.clone()),
                    ]),
                ),
                ("orchestrator", "gcp") => (
                    "kubernetes",
                    BTreeMap::from([
                        ("cluster_name".into(), output(r, "name")),
                        ("endpoint".into(), output(r, "endpoint")),
                        ("kubernetes_context".into(), output(r, "context")),
                        ("workload_pool".into(), output(r, "workload_pool")),
                    ]),
                ),
                _ => continue,
            };
        out.push(ComponentRecord {
            kind: address.clone(),
            flavor: flavor.into(),
            configuration,
            secrets: BTreeMap::new(),
        });
    }
    out
}
