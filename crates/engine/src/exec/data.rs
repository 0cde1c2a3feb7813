//! What a template evaluates outside the graph: its `providers:` settings, its data sources
//! (read before planning), and the stack's components and outputs (once every resource exists).

use std::collections::{BTreeMap, HashMap};

use super::calls::values_of;
use super::run::{Desired, RunError};
use crate::base::diagnostic::Diagnostics;
use crate::base::value::Value;
use crate::lang::schema::Catalog;
use crate::lang::template::Template;
use crate::plan::resolve::{Env, ResourceValues, StackContext, eval};
use crate::provider::{Props, Registry, provider_of};
use crate::state::{ComponentRecord, State, seal};

/// Evaluates the template's `providers:` settings. They may use only inputs and stack.
pub fn provider_settings(
    template: &Template,
    catalog: &Catalog,
    inputs: &BTreeMap<String, Value>,
    stack: &StackContext,
) -> Result<BTreeMap<String, Props>, RunError> {
    let none = HashMap::new();
    let no_data = HashMap::new();
    let env = Env {
        template,
        catalog,
        inputs,
        stack,
        resources: &none,
        data: &no_data,
    };
    let mut out = BTreeMap::new();
    for p in &template.providers {
        let mut settings = Props::new();
        for s in &p.settings {
            let v = eval(&s.value, &env).map_err(|e| RunError::Invalid(e.into()))?;
            settings.insert(s.name.clone(), v);
        }
        out.insert(p.name.clone(), settings);
    }
    Ok(out)
}

/// Reads every data source of a template with the providers' `settings`. Their properties may
/// use only inputs and stack.
pub async fn read_data(
    template: &Template,
    catalog: &Catalog,
    registry: &Registry,
    inputs: &BTreeMap<String, Value>,
    stack: &StackContext,
    settings: &BTreeMap<String, Props>,
) -> Result<HashMap<String, Props>, RunError> {
    let mut out = HashMap::new();
    let none = HashMap::new();
    let no_data = HashMap::new();
    let env = Env {
        template,
        catalog,
        inputs,
        stack,
        resources: &none,
        data: &no_data,
    };
    for d in &template.data {
        let source = registry
            .data_source(&d.type_name)
            .ok_or_else(|| RunError::UnknownType(d.type_name.clone()))?;
        let mut props = Props::new();
        for p in &d.properties {
            let v = eval(&p.value, &env).map_err(|e| RunError::Invalid(e.into()))?;
            props.insert(p.name.clone(), v);
        }
        if props.values().any(Value::contains_unknown) {
            continue; // Read at apply time once known (validate has no inputs).
        }
        let provider = settings
            .get(provider_of(&d.type_name))
            .cloned()
            .unwrap_or_default();
        let values = source
            .read(&provider, &props)
            .await
            .map_err(|error| RunError::Provider {
                what: format!("reading data source `{}`", d.name),
                error,
            })?;
        out.insert(d.name.clone(), values);
    }
    Ok(out)
}

/// The stack's components and outputs, evaluated once every resource exists.
pub fn stack_record(
    desired: &Desired<'_>,
    state: &State,
) -> Result<(Vec<ComponentRecord>, BTreeMap<String, Value>), Diagnostics> {
    let Some(template) = desired.template else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let known: HashMap<String, ResourceValues> = state
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), values_of(r)))
        .collect();
    let env = Env {
        template,
        catalog: desired.catalog,
        inputs: desired.inputs,
        stack: desired.stack,
        resources: &known,
        data: desired.data,
    };
    let (sensitivity, _) = crate::lang::taint::analyse(template, desired.catalog);
    let mut diags = Diagnostics::default();
    let mut components = Vec::new();
    for c in &template.components {
        if let Some(w) = &c.when {
            match crate::plan::resolve::eval_when(w, &env) {
                Ok(Some(false)) => continue,
                Ok(_) => {}
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            }
        }
        let flavor = match eval(&c.flavor, &env) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let mut configuration = BTreeMap::new();
        for p in &c.configuration {
            match eval(&p.value, &env) {
                // Computed from a secret: only its keyed hash is kept, like a sensitive property.
                Ok(v) if sensitivity.field(&c.kind, &p.name) => {
                    configuration.insert(p.name.clone(), seal(&state.stack.id, &v));
                }
                Ok(v) => {
                    configuration.insert(p.name.clone(), v);
                }
                Err(d) => diags.push(d),
            }
        }
        components.push(ComponentRecord {
            secrets: BTreeMap::new(),
            kind: c.kind.clone(),
            flavor,
            configuration,
        });
    }
    let mut outputs = BTreeMap::new();
    // Sensitive outputs, declared or computed from a secret, are never recorded.
    for o in template
        .outputs
        .iter()
        .filter(|o| !sensitivity.output(template, &o.name))
    {
        match eval(&o.value, &env) {
            Ok(v) => {
                outputs.insert(o.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    diags.into_result().map(|()| (components, outputs))
}
