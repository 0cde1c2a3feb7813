//! Plans: what applying a template would do to a stack, computed against its state.
//!
//! Each resource gets one action (create, update in place, replace, delete, no-op) with the
//! properties that changed and why. A resource's attributes are read from the state when it is
//! kept, and are unknown when it is created or replaced, so a replacement ripples to whatever
//! reads its outputs. The plan's JSON form is versioned (`format_version`) and documented in
//! README.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use uuid::Uuid;

use crate::base::diagnostic::Diagnostics;
use crate::base::value::Value;
use crate::lang::check::{Target, check, target};
use crate::lang::schema::Catalog;
use crate::lang::template::{TValue, Template};
use crate::plan::budget::Budget;
use crate::plan::graph::Graph;
use crate::plan::resolve::{
    Env, InputValues, ResourceValues, StackContext, eval, eval_when, evaluate_resource,
    resolve_inputs,
};
use crate::state::{State, is_sealed, seal};

/// The version of the plan's JSON form.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Noop,
}

impl Action {
    /// The sign a human plan shows in front of the address.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Noop => " ",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: PlanStack,
    pub template: PlanTemplate,
    /// The state this plan was made against; apply refuses it if the state has moved on.
    pub state: PlanState,
    pub changes: Vec<ResourceChange>,
    pub components: Vec<PlannedComponent>,
    pub outputs: BTreeMap<String, PlannedValue>,
    pub summary: Summary,
    pub warnings: Vec<String>,
    /// The inputs planned with and where each came from (filled by `ops::prepare`; empty for
    /// plans made without inputs, such as a destroy's).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, PlannedInput>,
    /// What the stack costs once applied (filled by whoever holds the price tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::plan::cost::Estimate>,
}

/// One input of a plan: its value (sensitive ones masked) and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedInput {
    /// `value`, `unknown` or `sensitive`, as every planned value, next to `origin`.
    #[serde(flatten)]
    pub value: PlannedValue,
    pub origin: InputOrigin,
}

/// Where a planned input's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputOrigin {
    /// Given now (`--var`, `--var-file`).
    Given,
    /// Kept from the stack's last deploy: recorded inputs stay unless given again.
    Kept,
    /// From the saved plan being applied.
    Saved,
    /// The template's default.
    Default,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStack {
    pub name: Option<String>,
    pub suffix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanTemplate {
    pub name: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanState {
    pub lineage: Option<Uuid>,
    pub serial: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub properties: Vec<PropertyChange>,
    pub depends_on: Vec<String>,
    pub protect: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The address the state has it at (a template's `moved:` entry): the deploy moves it there
    /// first, so it keeps its cloud object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PropertyChange {
    pub name: String,
    pub before: Option<PlannedValue>,
    pub after: Option<PlannedValue>,
    pub forces_replacement: bool,
}

/// A value as a plan shows it: known, unknown until apply, or hidden.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedValue {
    Known(Value),
    Unknown,
    Sensitive,
}

impl PlannedValue {
    pub fn new(value: &Value, sensitive: bool) -> PlannedValue {
        if sensitive {
            PlannedValue::Sensitive
        } else if value.contains_unknown() {
            PlannedValue::Unknown
        } else {
            PlannedValue::Known(value.clone())
        }
    }
}

/// JSON: known values as themselves; `{"unknown": true}` and `{"sensitive": true}` otherwise,
/// so a consumer never mistakes a placeholder for a value.
impl Serialize for PlannedValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PlannedValue::Known(v) => serde_json::json!({ "value": v }).serialize(s),
            PlannedValue::Unknown => serde_json::json!({ "unknown": true }).serialize(s),
            PlannedValue::Sensitive => serde_json::json!({ "sensitive": true }).serialize(s),
        }
    }
}

impl std::fmt::Display for PlannedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlannedValue::Known(v) => write!(f, "{v}"),
            PlannedValue::Unknown => f.write_str("(known after apply)"),
            PlannedValue::Sensitive => f.write_str("(sensitive)"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedComponent {
    #[serde(rename = "type")]
    pub kind: String,
    pub flavor: PlannedValue,
    pub configuration: BTreeMap<String, PlannedValue>,
    /// Configuration whose secrets changed since the last deploy (the values are never shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_changed: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
    pub unchanged: usize,
    /// Resources that change address (`moved:`), whatever else changes for them.
    #[serde(skip_serializing_if = "is_zero")]
    pub moved: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        self.add + self.change + self.replace + self.destroy + self.moved > 0
    }
}

impl Plan {
    pub fn change(&self, address: &str) -> Option<&ResourceChange> {
        self.changes.iter().find(|c| c.address == address)
    }
}

/// What to plan.
pub struct PlanRequest<'a> {
    pub template: &'a Template,
    pub catalog: &'a Catalog,
    pub inputs: &'a InputValues,
    pub stack: StackContext,
    pub state: Option<&'a State>,
    /// Data sources already read, by name; any not here are unknown.
    pub data: &'a HashMap<String, BTreeMap<String, Value>>,
    /// Missing required inputs are unknown rather than errors (`template validate`).
    pub partial: bool,
    /// `--replace`: these are replaced even though nothing forces it; what reads their outputs
    /// sees them unknown, as for any replacement.
    pub replace: &'a [String],
}

/// `sha256:<hex>` of a template's text: what a saved plan and a state record.
pub fn template_hash(source: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(source.as_bytes()))
    )
}

/// Computes the plan, or every problem that prevents it: the template checked against the
/// catalog, its inputs resolved, then [`plan_resolved`].
pub fn plan(req: &PlanRequest) -> Result<Plan, Diagnostics> {
    check(req.template, req.catalog).into_result()?;
    let inputs = resolve_inputs(req.template, req.inputs, req.partial)?;
    plan_resolved(req, &inputs)
}

/// The plan of a template already checked, with its inputs already resolved (`inputs`): what
/// `ops::prepare` calls after checking and resolving once.
pub fn plan_resolved(
    req: &PlanRequest,
    inputs: &BTreeMap<String, Value>,
) -> Result<Plan, Diagnostics> {
    let template = req.template;
    let no_resources = HashMap::new();
    let no_data = HashMap::new();
    let mut diags = Diagnostics::default();

    // Which resources and components exist in this configuration.
    let when_env = Env {
        template,
        catalog: req.catalog,
        inputs,
        stack: &req.stack,
        resources: &no_resources,
        data: &no_data,
    };
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for r in &template.resources {
        match r.when.as_ref().map(|w| eval_when(w, &when_env)).transpose() {
            Ok(Some(Some(false))) => {}
            Ok(_) => {
                kept.insert(&r.address);
            }
            Err(d) => diags.push(d),
        }
    }
    let mut components = Vec::new();
    for c in &template.components {
        match c.when.as_ref().map(|w| eval_when(w, &when_env)).transpose() {
            Ok(Some(Some(false))) => {}
            Ok(_) => components.push(c),
            Err(d) => diags.push(d),
        }
    }
    diags.into_result()?;

    let graph = build_graph(template, req.catalog, &kept);
    graph
        .cycle_diagnostics(|s| template.locate(s))
        .into_result()?;

    // `moved:` entries that apply: the state has the old address and not yet the new one.
    let moves: Vec<(&str, &str)> = req.state.map_or_else(Vec::new, |s| {
        template
            .moved
            .iter()
            .filter(|m| s.resources.contains_key(&m.from) && !s.resources.contains_key(&m.to))
            .map(|m| (m.from.as_str(), m.to.as_str()))
            .collect()
    });
    // Walk in dependency order, deciding each resource's action as its inputs become known.
    let mut known: HashMap<String, ResourceValues> = HashMap::new();
    let data_values = req.data;
    let mut changes = Vec::new();
    let mut diags = Diagnostics::default();
    let mut budget = Budget::default();
    for key in graph.topological_order() {
        if key.starts_with("data.") {
            continue; // Data sources are read by providers at apply time; unknown in a plan.
        }
        let Some(def) = template.resource(&key) else {
            continue;
        };
        let Some(schema) = req.catalog.resource(&def.type_name) else {
            continue;
        };
        let env = Env {
            template,
            catalog: req.catalog,
            inputs,
            stack: &req.stack,
            resources: &known,
            data: data_values,
        };
        let props = match evaluate_resource(def, schema, &env) {
            Ok(p) => p,
            Err(d) => {
                diags.extend(d);
                BTreeMap::new()
            }
        };
        // Stops here: evaluating on would only copy more.
        if let Err(d) = budget.spend(
            props.values(),
            &format!("`{key}`"),
            template.locate(def.span),
        ) {
            diags.push(d);
            diags.sort();
            return Err(diags);
        }
        let moved_from = moves
            .iter()
            .find(|(_, to)| *to == key)
            .map(|(from, _)| *from);
        let prior = req.state.and_then(|s| {
            s.resources
                .get(&key)
                .or_else(|| moved_from.and_then(|from| s.resources.get(from)))
        });
        let protected = prior.is_some_and(|p| p.protect);
        let change = diff(
            &key,
            def.protect || protected,
            schema,
            &props,
            prior,
            graph.dependencies(&key),
            req.state.map(|s| s.stack.id),
        );
        let mut change = change;
        change.moved_from = moved_from.map(str::to_owned);
        if req.replace.contains(&key) && matches!(change.action, Action::Noop | Action::Update) {
            if change.protect {
                diags.push(
                    crate::base::diagnostic::Diagnostic::new(
                        "plan::protected",
                        format!("`{key}` is protected, and --replace would replace it"),
                    )
                    .at(template.locate(def.span))
                    .help(unprotect_help(req, &key)),
                );
            } else {
                change.action = Action::Replace;
                change.reason = Some("replacement requested (--replace)".into());
                if schema.stateful {
                    change.warning = Some(format!(
                        "replacing `{key}` ({}) destroys the data it holds",
                        def.type_name
                    ));
                }
            }
        }
        if protected && change.action == Action::Replace {
            diags.push(
                crate::base::diagnostic::Diagnostic::new(
                    "plan::protected",
                    format!(
                        "`{key}` is protected, and this plan would replace it ({})",
                        change.reason.as_deref().unwrap_or("its type changed")
                    ),
                )
                .at(template.locate(def.span))
                .help(unprotect_help(req, &key)),
            );
        }
        let keeps_identity = matches!(change.action, Action::Noop | Action::Update);
        known.insert(
            key.clone(),
            ResourceValues {
                properties: props,
                outputs: prior.filter(|_| keeps_identity).map(|p| p.outputs.clone()),
                id: prior
                    .filter(|_| keeps_identity)
                    .map(|p| p.physical_id.clone()),
            },
        );
        changes.push(change);
    }

    let env = Env {
        template,
        catalog: req.catalog,
        inputs,
        stack: &req.stack,
        resources: &known,
        data: data_values,
    };
    let (sensitivity, _) = crate::lang::taint::analyse(template, req.catalog);
    let mut planned_components = Vec::new();
    for c in components {
        let flavor = eval(&c.flavor, &env);
        let mut configuration = BTreeMap::new();
        for p in &c.configuration {
            match eval(&p.value, &env) {
                Ok(v) => {
                    let what = format!("`{}.{}`", c.kind, p.name);
                    if let Err(d) = budget.spend([&v], &what, template.locate(p.span)) {
                        diags.push(d);
                        diags.sort();
                        return Err(diags);
                    }
                    configuration.insert(
                        p.name.clone(),
                        PlannedValue::new(
                            &v,
                            is_secret_ref(&p.value) || sensitivity.field(&c.kind, &p.name),
                        ),
                    );
                }
                Err(d) => diags.push(d),
            }
        }
        match flavor {
            Ok(f) => planned_components.push(PlannedComponent {
                kind: c.kind.clone(),
                flavor: PlannedValue::new(&f, false),
                configuration,
                secrets_changed: Vec::new(),
            }),
            Err(d) => diags.push(d),
        }
    }
    let mut outputs = BTreeMap::new();
    for o in &template.outputs {
        match eval(&o.value, &env) {
            Ok(v) => {
                let what = format!("output `{}`", o.name);
                if let Err(d) = budget.spend([&v], &what, template.locate(o.span)) {
                    diags.push(d);
                    diags.sort();
                    return Err(diags);
                }
                outputs.insert(
                    o.name.clone(),
                    PlannedValue::new(&v, sensitivity.output(template, &o.name)),
                );
            }
            Err(d) => diags.push(d),
        }
    }
    diags.into_result()?;

    // Whatever the state has that the template no longer keeps is deleted, dependents first.
    let mut warnings = Vec::new();
    let mut refused = Diagnostics::default();
    if let Some(state) = req.state {
        // Found resources (leftovers adopted by a destroy that did not finish) are destroy's to
        // delete, in its order: a deploy leaves them alone.
        let mut kept = kept.clone();
        kept.extend(
            state
                .resources
                .iter()
                .filter(|(_, r)| r.found.is_some())
                .map(|(a, _)| a.as_str()),
        );
        // What moves is not deleted: it changes address.
        kept.extend(moves.iter().map(|(from, _)| *from));
        for address in delete_order(state, &kept) {
            let prior = &state.resources[&address];
            if prior.protect {
                let why = if template.resource(&address).is_some() {
                    "its `when` drops it"
                } else {
                    "it is no longer in the template"
                };
                let mut d = crate::base::diagnostic::Diagnostic::new(
                    "plan::protected",
                    format!("`{address}` is protected, and this plan would delete it: {why}"),
                )
                .help(unprotect_help(req, &address));
                if let Some(def) = template.resource(&address) {
                    d = d.at(template.locate(def.span));
                }
                refused.push(d);
            }
            let stateful = req
                .catalog
                .resource(&prior.type_name)
                .is_some_and(|s| s.stateful);
            let dropped = template.resource(&address).is_some();
            let properties = prior
                .properties
                .iter()
                .map(|(k, v)| PropertyChange {
                    name: k.clone(),
                    before: Some(PlannedValue::new(
                        v,
                        is_sensitive(req.catalog, &prior.type_name, k),
                    )),
                    after: None,
                    forces_replacement: false,
                })
                .collect();
            changes.push(ResourceChange {
                address: address.clone(),
                type_name: prior.type_name.clone(),
                action: Action::Delete,
                reason: Some(if dropped {
                    "dropped by its `when`".into()
                } else {
                    "no longer in the template".into()
                }),
                properties,
                depends_on: prior.dependencies.clone(),
                protect: prior.protect,
                warning: stateful.then(|| {
                    format!(
                        "deleting `{address}` ({}) destroys the data it holds",
                        prior.type_name
                    )
                }),
                moved_from: None,
            });
        }
    }
    refused.into_result()?;
    for c in &changes {
        if let Some(w) = &c.warning {
            warnings.push(w.clone());
        }
    }

    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.destroy += 1,
            Action::Noop => summary.unchanged += 1,
        }
        if c.moved_from.is_some() {
            summary.moved += 1;
        }
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: PlanStack {
            name: req.stack.name.clone(),
            suffix: req.stack.suffix.clone(),
        },
        template: PlanTemplate {
            name: template.name.clone(),
            hash: template_hash(&template.source.text),
        },
        state: PlanState {
            lineage: req.state.map(|s| s.lineage),
            serial: req.state.map_or(0, |s| s.serial),
        },
        changes,
        components: planned_components,
        inputs: BTreeMap::new(),
        outputs,
        summary,
        warnings,
        cost: None,
    })
}

fn unprotect_help(req: &PlanRequest, address: &str) -> String {
    let stack = req.stack.name.as_deref().unwrap_or("STACK");
    format!(
        "protected resources are never deleted by a plan: keep it as it is, or if it really must go, run `stackform stack unprotect {stack} --resource {address}` first"
    )
}

fn is_secret_ref(tv: &TValue) -> bool {
    matches!(tv, TValue::Text { template, .. } if template.parts.iter().any(|p| matches!(p, crate::lang::expr::Part::Secret { .. })))
}

fn is_sensitive(catalog: &Catalog, type_name: &str, prop: &str) -> bool {
    catalog
        .resource(type_name)
        .and_then(|s| s.find_property(prop))
        .is_some_and(|p| p.sensitive)
}

/// The dependency graph of the resources kept by `when`, plus data sources.
pub fn build_graph(template: &Template, catalog: &Catalog, kept: &BTreeSet<&str>) -> Graph {
    let mut graph = Graph::default();
    for d in &template.data {
        graph.add_node(&format!("data.{}", d.name), d.span);
    }
    for r in template
        .resources
        .iter()
        .filter(|r| kept.contains(r.address.as_str()))
    {
        graph.add_node(&r.address, r.span);
    }
    let target_key = |reference| match target(template, catalog, reference) {
        Some((Target::Resource(r), _)) => Some(r.address.clone()),
        Some((Target::Data(d), _)) => Some(format!("data.{}", d.name)),
        _ => None,
    };
    for d in &template.data {
        for p in &d.properties {
            for (reference, span) in p.value.references() {
                if let Some(t) = target_key(reference) {
                    graph.add_edge(&t, &format!("data.{}", d.name), span);
                }
            }
        }
    }
    for r in template
        .resources
        .iter()
        .filter(|r| kept.contains(r.address.as_str()))
    {
        for p in &r.properties {
            for (reference, span) in p.value.references() {
                if let Some(t) = target_key(reference) {
                    graph.add_edge(&t, &r.address, span);
                }
            }
        }
        for (dep, span) in &r.depends_on {
            graph.add_edge(dep, &r.address, *span);
        }
    }
    graph
}

/// Compares desired properties with the state's record of the resource.
fn diff(
    address: &str,
    protect: bool,
    schema: &crate::lang::schema::ResourceSchema,
    props: &BTreeMap<String, Value>,
    prior: Option<&crate::state::ResourceState>,
    depends_on: Vec<String>,
    stack_id: Option<Uuid>,
) -> ResourceChange {
    let sensitive = |name: &str| schema.find_property(name).is_some_and(|p| p.sensitive);
    let mut change = ResourceChange {
        address: address.to_owned(),
        type_name: schema.type_name.clone(),
        action: Action::Noop,
        reason: None,
        properties: Vec::new(),
        depends_on,
        protect,
        warning: None,
        moved_from: None,
    };
    let Some(prior) = prior else {
        change.action = Action::Create;
        change.properties = props
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .map(|(k, v)| PropertyChange {
                name: k.clone(),
                before: None,
                after: Some(PlannedValue::new(v, sensitive(k))),
                forces_replacement: false,
            })
            .collect();
        return change;
    };
    if prior.type_name != schema.type_name {
        change.action = Action::Replace;
        change.reason = Some(format!("type changed from `{}`", prior.type_name));
    }
    for (name, after) in props {
        let before = prior.properties.get(name).unwrap_or(&Value::Null);
        // Sensitive values are stored sealed: compare seals.
        let same = match stack_id {
            Some(id) if sensitive(name) && is_sealed(before) => seal(&id, after) == *before,
            _ => before == after,
        };
        if same && !after.contains_unknown() {
            continue;
        }
        let force = schema.find_property(name).is_some_and(|p| p.force_new);
        change.properties.push(PropertyChange {
            name: name.clone(),
            before: Some(PlannedValue::new(before, sensitive(name))),
            after: Some(PlannedValue::new(after, sensitive(name))),
            forces_replacement: force,
        });
    }
    let forcing: Vec<&str> = change
        .properties
        .iter()
        .filter(|p| p.forces_replacement)
        .map(|p| p.name.as_str())
        .collect();
    if !forcing.is_empty() {
        change.action = Action::Replace;
        let list: Vec<String> = forcing.iter().map(|n| format!("`{n}`")).collect();
        change.reason = Some(format!("changing {} forces replacement", list.join(", ")));
    } else if change.action == Action::Noop && !change.properties.is_empty() {
        change.action = Action::Update;
    }
    if change.action == Action::Replace && schema.stateful {
        change.warning = Some(format!(
            "replacing `{address}` ({}) destroys the data it holds",
            schema.type_name
        ));
    }
    change
}

/// The plan of `destroy`: every resource deleted, dependents first, except protected resources
/// and everything they depend on, which are kept and say why.
pub fn plan_destroy(state: &State, catalog: &Catalog) -> Plan {
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = state
        .resources
        .iter()
        .filter(|(_, r)| r.protect || r.found.as_ref().is_some_and(|f| f.retain && !f.external))
        .map(|(a, _)| a.as_str())
        .collect();
    while let Some(a) = todo.pop() {
        if kept.insert(a)
            && let Some(r) = state.resources.get(a)
        {
            todo.extend(
                r.dependencies
                    .iter()
                    .map(String::as_str)
                    .filter(|d| state.resources.contains_key(*d)),
            );
        }
    }
    // Registered resources are not the stack's to delete: deregistered, never deleted.
    let external: BTreeSet<&str> = state
        .resources
        .iter()
        .filter(|(_, r)| r.found.as_ref().is_some_and(|f| f.external))
        .map(|(a, _)| a.as_str())
        .collect();
    kept.retain(|a| !external.contains(a));
    let mut changes = Vec::new();
    for address in &external {
        let r = &state.resources[*address];
        changes.push(ResourceChange {
            address: (*address).to_owned(),
            type_name: r.type_name.clone(),
            action: Action::Noop,
            reason: Some("external: deregistered, never deleted".into()),
            properties: Vec::new(),
            depends_on: Vec::new(),
            protect: r.protect,
            warning: None,
            moved_from: None,
        });
    }
    for address in &kept {
        let r = &state.resources[*address];
        changes.push(ResourceChange {
            address: (*address).to_owned(),
            type_name: r.type_name.clone(),
            action: Action::Noop,
            reason: Some(match &r.found {
                _ if r.protect => "protected".into(),
                Some(f) if f.retain => format!("found by {}, retained on request", f.by),
                _ => "a protected or retained resource depends on it".into(),
            }),
            properties: Vec::new(),
            depends_on: r.dependencies.clone(),
            protect: r.protect,
            warning: None,
            moved_from: None,
        });
    }
    let mut skip = kept.clone();
    skip.extend(external.iter().copied());
    for address in delete_order(state, &skip) {
        changes.push(delete_change(&address, &state.resources[&address], catalog));
    }
    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Delete => summary.destroy += 1,
            _ => summary.unchanged += 1,
        }
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: PlanStack {
            name: Some(state.stack.name.clone()),
            suffix: Some(state.stack.suffix.clone()),
        },
        template: PlanTemplate {
            name: state.template.name.clone(),
            hash: state.template.hash.clone(),
        },
        state: PlanState {
            lineage: Some(state.lineage),
            serial: state.serial,
        },
        warnings: changes.iter().filter_map(|c| c.warning.clone()).collect(),
        changes,
        inputs: BTreeMap::new(),
        components: Vec::new(),
        outputs: BTreeMap::new(),
        summary,
        cost: None,
    }
}

/// The deletion of a resource recorded (or about to be recorded) in state.
fn delete_change(
    address: &str,
    r: &crate::state::ResourceState,
    catalog: &Catalog,
) -> ResourceChange {
    let stateful = catalog.resource(&r.type_name).is_some_and(|s| s.stateful);
    ResourceChange {
        address: address.to_owned(),
        type_name: r.type_name.clone(),
        action: Action::Delete,
        reason: r
            .found
            .as_ref()
            .map(|f| format!("found by {}, not in state", f.by)),
        properties: Vec::new(),
        depends_on: r.dependencies.clone(),
        protect: false,
        warning: stateful.then(|| {
            format!(
                "deleting `{address}` ({}) destroys the data it holds",
                r.type_name
            )
        }),
        moved_from: None,
    }
}

/// Adds the deletion of found resources (what a deleted cluster left behind) to a plan, each
/// right after the resource that made it.
pub fn add_found(
    plan: &mut Plan,
    found: &BTreeMap<String, crate::state::ResourceState>,
    catalog: &Catalog,
) {
    for (address, r) in found {
        let change = delete_change(address, r, catalog);
        if let Some(w) = &change.warning {
            plan.warnings.push(w.clone());
        }
        let maker = r.found.as_ref().and_then(|f| f.after.first());
        let at = plan
            .changes
            .iter()
            .position(|c| Some(&c.address) == maker)
            .map_or(plan.changes.len(), |i| i + 1);
        plan.changes.insert(at, change);
        plan.summary.destroy += 1;
    }
}

/// State resources no longer kept, ordered so that dependents are deleted before dependencies.
fn delete_order(state: &State, kept: &BTreeSet<&str>) -> Vec<String> {
    let gone: BTreeSet<&str> = state
        .resources
        .keys()
        .map(String::as_str)
        .filter(|a| !kept.contains(a))
        .collect();
    let mut graph = Graph::default();
    for a in &gone {
        graph.add_node(a, crate::base::source::Span::default());
    }
    for a in &gone {
        let r = &state.resources[*a];
        for dep in &r.dependencies {
            // Reverse edges: a dependent comes before what it depends on.
            graph.add_edge(a, dep, crate::base::source::Span::default());
        }
        // A found resource comes after whatever made it.
        for maker in r.found.iter().flat_map(|f| &f.after) {
            graph.add_edge(maker, a, crate::base::source::Span::default());
        }
    }
    let mut order = graph.topological_order();
    // A corrupt state could hold a dependency cycle; delete those last in name order.
    for a in gone {
        if !order.iter().any(|o| o == a) {
            order.push(a.to_owned());
        }
    }
    order
}

/// Why `--target` or `--replace` cannot be applied to a plan.
pub fn unknown_address(
    plan: &Plan,
    address: &str,
    flag: &str,
) -> crate::base::diagnostic::Diagnostic {
    crate::base::diagnostic::Diagnostic::new(
        "plan::unknown_target",
        format!("{flag} names `{address}`, which this plan does not have"),
    )
    .help(crate::base::suggest::did_you_mean(
        address,
        plan.changes.iter().map(|c| c.address.as_str()),
        "resources",
    ))
}

/// `--target`: keeps only the changes of `targets` and what they depend on (for a destroy: what
/// depends on them, which must go first). Everything else is left as it is.
pub fn retarget(plan: &mut Plan, targets: &[String], destroy: bool) -> Result<(), Diagnostics> {
    if targets.is_empty() {
        return Ok(());
    }
    let mut diags = Diagnostics::default();
    for t in targets {
        if plan.change(t).is_none() {
            diags.push(unknown_address(plan, t, "--target"));
        }
    }
    diags.into_result()?;
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = targets.to_vec();
    while let Some(a) = todo.pop() {
        if !keep.insert(a.clone()) {
            continue;
        }
        let deleted = plan.change(&a).is_some_and(|c| c.action == Action::Delete);
        if destroy || deleted {
            // Dependents go first: whatever lists `a` among its dependencies. A deploy that
            // deletes a target takes what depends on it along too (a node group before its
            // cluster), never the other way round; what the target itself depends on stays.
            todo.extend(
                plan.changes
                    .iter()
                    .filter(|c| c.depends_on.contains(&a))
                    .filter(|c| destroy || c.action != Action::Noop)
                    .map(|c| c.address.clone()),
            );
        } else if let Some(c) = plan.change(&a) {
            todo.extend(
                c.depends_on
                    .iter()
                    .filter(|d| !d.starts_with("data."))
                    .cloned(),
            );
        }
    }
    plan.changes.retain(|c| keep.contains(&c.address));
    plan.warnings = plan
        .changes
        .iter()
        .filter_map(|c| c.warning.clone())
        .collect();
    recount(plan);
    Ok(())
}

/// `--replace`: every address named must be one the plan keeps (the plan itself replaced it).
pub fn check_replace(plan: &Plan, addresses: &[String]) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    for a in addresses {
        match plan.change(a) {
            None => diags.push(unknown_address(plan, a, "--replace")),
            Some(c) if c.action == Action::Delete => diags.push(
                crate::base::diagnostic::Diagnostic::new(
                    "plan::replace_deleted",
                    format!("--replace names `{a}`, which this plan deletes"),
                )
                .help(format!(
                    "keep `{a}` in the template, or leave it out of --replace"
                )),
            ),
            Some(_) => {}
        }
    }
    diags.into_result()
}

fn recount(plan: &mut Plan) {
    let mut summary = Summary::default();
    for c in &plan.changes {
        match c.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.destroy += 1,
            Action::Noop => summary.unchanged += 1,
        }
        if c.moved_from.is_some() {
            summary.moved += 1;
        }
    }
    plan.summary = summary;
}
