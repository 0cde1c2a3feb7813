//! Stacks out and in: a stackform export (template source, inputs, environment and connector
//! names, never credentials or secret values) that `stack import` turns into a stack a deploy
//! reproduces elsewhere; and the ZenML stack YAML that `zenml stack import` reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::base::value::Value;
use crate::state::{State, StoredInput, TemplateRecord};

/// The `schema` of a stackform export.
pub const EXPORT_SCHEMA: &str = "stackform/stack-export/v1";

/// The ZenML version whose stack YAML this writes.
pub const ZENML_VERSION: &str = "0.98.0";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackExport {
    pub schema: String,
    pub name: String,
    pub template: TemplateRecord,
    /// Input values; a sensitive input given as a secret reference keeps the reference.
    pub inputs: BTreeMap<String, Value>,
    /// Sensitive inputs whose values are not exported: pass them again when deploying.
    #[serde(default)]
    pub sensitive_inputs: Vec<String>,
    #[serde(default)]
    pub environment: Option<String>,
    /// Connector names by provider (`aws: ml-staging`).
    #[serde(default)]
    pub connectors: BTreeMap<String, String>,
    pub exported_at: String,
}

/// The stackform export of a stack.
pub fn export(state: &State) -> StackExport {
    let mut inputs = BTreeMap::new();
    let mut sensitive = Vec::new();
    for (k, v) in &state.inputs {
        match v {
            StoredInput::Value(v) => {
                inputs.insert(k.clone(), v.clone());
            }
            StoredInput::Secret { reference, .. } => {
                inputs.insert(k.clone(), Value::String(reference.clone()));
            }
            StoredInput::Sensitive { .. } => sensitive.push(k.clone()),
        }
    }
    StackExport {
        schema: EXPORT_SCHEMA.into(),
        name: state.stack.name.clone(),
        template: state.template.clone(),
        inputs,
        sensitive_inputs: sensitive,
        environment: state.stack.environment.clone(),
        connectors: state
            .providers
            .iter()
            .filter_map(|(p, s)| Some((p.clone(), s.get("connector")?.as_str()?.to_owned())))
            .collect(),
        exported_at: crate::state::now_rfc3339(),
    }
}

/// Reads a stackform export, refusing other documents with what they are.
pub fn read(text: &str) -> Result<StackExport, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a stackform export (JSON): {e}"))?;
    match json.get("schema").and_then(|s| s.as_str()) {
        Some(EXPORT_SCHEMA) => {}
        Some(other) => {
            return Err(format!(
                "its schema is `{other}`; this stackform imports `{EXPORT_SCHEMA}`"
            ));
        }
        None => return Err("it has no `schema`: not a stackform export".into()),
    }
    serde_json::from_value(json).map_err(|e| format!("a malformed stackform export: {e}"))
}

/// The ZenML stack YAML of a stack: `stack_name`, `zenml_version` and each component by type
/// with its name, flavor and configuration. Secret references stay `{{ name.key }}`, as ZenML
/// writes them.
pub fn zenml_yaml(state: &State) -> String {
    let mut out = format!(
        "stack_name: {}\nzenml_version: {}\ncomponents:\n",
        quote(&state.stack.name),
        quote(ZENML_VERSION)
    );
    for c in &state.components {
        out.push_str(&format!("  {}:\n", c.kind));
        out.push_str(&format!(
            "    name: {}\n",
            quote(&format!(
                "{}-{}",
                state.stack.name,
                c.kind.replace('_', "-")
            ))
        ));
        out.push_str(&format!("    flavor: {}\n", quote(&c.flavor)));
        let configuration = zenml_configuration(&c.kind, &c.flavor, &c.configuration);
        if configuration.is_empty() {
            out.push_str("    configuration: {}\n");
        } else {
            out.push_str("    configuration:\n");
            for (k, v) in &configuration {
                out.push_str(&format!("      {k}: {}\n", scalar(v)));
            }
        }
    }
    out
}

/// A component's configuration in the fields ZenML's flavor takes: its AWS container registry
/// is the registry host (no repository path), its Kubernetes orchestrator is reached through a
/// kubeconfig context (an EKS cluster's ARN, as `aws eks update-kubeconfig` names it). What
/// ZenML would refuse is left out; other flavors pass through.
fn zenml_configuration(
    kind: &str,
    flavor: &str,
    configuration: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let pick = |keys: &[&str]| -> BTreeMap<String, Value> {
        configuration
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match (kind, flavor) {
        ("container_registry", "aws") => {
            let mut out = BTreeMap::new();
            if let Some(uri) = configuration.get("uri").and_then(Value::as_str) {
                let host = uri.split('/').next().unwrap_or(uri);
                out.insert("uri".into(), Value::String(host.to_owned()));
            }
            out
        }
        ("orchestrator", "kubernetes") => pick(&[
            "kubernetes_context",
            "kubernetes_namespace",
            "service_account_name",
        ]),
        ("artifact_store", _) => pick(&["path"]),
        _ => configuration.clone(),
    }
}

/// A YAML double-quoted scalar (JSON's string escapes are YAML's).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A value as YAML flow: JSON is YAML.
fn scalar(v: &Value) -> String {
    v.to_json().to_string()
}

/// What `stack import` is given.
pub struct ImportRequest<'a> {
    pub files: crate::state::store::StackFiles,
    pub export: StackExport,
    /// The new stack's name (else the exported one).
    pub name: &'a str,
    /// Overrides the exported environment and connectors.
    pub environment: Option<String>,
    pub connector: Option<crate::ext::connectors::Connector>,
    pub lock_wait: std::time::Duration,
}

/// Creates a stack from an export: its template and inputs recorded, nothing deployed yet (a
/// new id and suffix, so it never collides with the original). `deploy --name NAME` then
/// reproduces it.
pub fn import(req: ImportRequest<'_>) -> Result<State, crate::ops::OpError> {
    use crate::base::diagnostic::Diagnostic;
    use crate::ops::{invalid, take_lock};
    let _lock = take_lock(&req.files, req.name, "stack import", req.lock_wait)?;
    if crate::state::store::load(&req.files)?.is_some() {
        return Err(invalid(
            Diagnostic::new(
                "stack::exists",
                format!("a stack named `{}` exists already", req.name),
            )
            .help("import under another name with `--name`"),
        ));
    }
    let e = req.export;
    let mut state = State::new(req.name, &crate::state::stack::new_suffix(), e.template);
    state.stack.environment = req.environment.or(e.environment);
    for (provider, connector) in e.connectors {
        state
            .providers
            .entry(provider)
            .or_default()
            .insert("connector".into(), Value::String(connector));
    }
    if let Some(c) = &req.connector {
        if !c.serves(state.stack.environment.as_deref()) {
            return Err(invalid(
                Diagnostic::new(
                    "stack::connector_environment",
                    format!(
                        "connector `{}` may serve {} stacks, not this one",
                        c.name,
                        c.environments.join(", ")
                    ),
                )
                .help("import with the `--environment` the connector serves"),
            ));
        }
        state
            .providers
            .entry(c.kind.clone())
            .or_default()
            .insert("connector".into(), Value::String(c.name.clone()));
    }
    state.inputs = e
        .inputs
        .into_iter()
        .map(|(k, v)| (k, StoredInput::Value(v)))
        .collect();
    let recorder = crate::state::store::Recorder::create(req.files.clone(), state)?;
    recorder.compact()?;
    Ok(recorder.state())
}
