//! The one planning pipeline: from a template (given, built-in, recorded or saved), the inputs
//! and a refreshed state to the plan a deploy applies. `plan` shows what it returns and `deploy`
//! applies it, so a saved plan equals what a deploy would do by construction, not because two
//! copies of the pipeline agree.
//!
//! The rules it holds in one place:
//! - **template:** a saved plan's; else the one given (a built-in template keeps the source the
//!   stack was deployed from unless upgraded); else the one the stack records.
//! - **inputs:** a saved plan's; else the stack's recorded inputs, each kept unless given again
//!   (the plan lists which were kept); a sensitive input recorded only as a hash must be given
//!   again unless its default is the value recorded.
//! - **suffix:** the stack's; else a saved plan's; else the one reserved for the name by the
//!   first plan or deploy (`state::stack::reserve_suffix`), so names shown are names created.
//! - **order:** check, secrets, inputs, provider settings, data sources, the diff, the expiry
//!   retagging, `--replace` and `--target`, what the kept deletes leave behind (found after
//!   targeting, so a targeted cluster delete takes its leftovers along), changed secrets, cost.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::error::{OpError, invalid};
use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::source::SourceFile;
use crate::base::value::Value;
use crate::exec::teardown;
use crate::exec::{self, RunConfig};
use crate::ext::connectors::Connector;
use crate::ext::secrets::{self, SecretStore};
use crate::lang::template::{self, TValue, Template};
use crate::plan::plan_file::SavedPlan;
use crate::plan::resolve::{InputValues, StackContext, resolve_inputs};
use crate::plan::{self, InputOrigin, Plan, PlanRequest, PlannedInput, PlannedValue};
use crate::provider::{Props, Registry};
use crate::state::store::{Recorder, StackFiles};
use crate::state::{ResourceState, State, StoredInput};

/// Where the template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// A template file (or any source the caller loaded), used as it is.
    Given(Arc<SourceFile>),
    /// A built-in template by name with the source this stackform ships: a stack deployed from
    /// it keeps the source it was deployed from (an upgrade must not silently change a stack)
    /// unless `upgrade`.
    Builtin {
        name: String,
        shipped: Arc<SourceFile>,
        upgrade: bool,
    },
    /// The template the stack records (`deploy --name NAME` with no template).
    Recorded,
}

/// Everything the pipeline needs besides the state.
pub struct PrepareRequest<'a> {
    pub name: &'a str,
    pub template: TemplateSource,
    /// The inputs given now (`--var`, `--var-file`); recorded ones are kept unless given again.
    pub inputs: InputValues,
    pub registry: &'a Registry,
    pub run: &'a RunConfig,
    /// `deploy --plan FILE`: its template, inputs, suffix, targets and replacements.
    pub saved: Option<&'a SavedPlan>,
    /// `deploy --ttl`, as RFC 3339.
    pub expires_at: Option<String>,
    /// `deploy --environment`; without it the stack keeps the one it has.
    pub environment: Option<String>,
    pub secrets: &'a dyn SecretStore,
    /// `deploy --connector`; without it the stack keeps the one it has.
    pub connector: Option<&'a Connector>,
    pub targets: &'a [String],
    pub replace: &'a [String],
    /// The stack's directory, where a new stack's suffix is reserved.
    pub files: &'a StackFiles,
}

/// What the pipeline made: the plan, and everything applying it needs.
pub struct Prepared {
    pub plan: Plan,
    pub template: Template,
    pub suffix: String,
    pub stack: StackContext,
    /// Inputs after secret substitution, as given to the planner.
    pub inputs: InputValues,
    /// Inputs typed and defaulted.
    pub resolved: BTreeMap<String, Value>,
    pub secret_refs: Vec<secrets::Ref>,
    pub secret_values: BTreeMap<(String, String), String>,
    pub settings: BTreeMap<String, Props>,
    pub data: HashMap<String, BTreeMap<String, Value>>,
    /// What the plan's deleted clusters left, recorded before anything is deleted.
    pub found: BTreeMap<String, ResourceState>,
    pub expires_at: Option<String>,
}

impl Prepared {
    /// The saved form of this plan (`plan --out`), with the targets and replacements it was
    /// made with.
    pub fn saved(&self, name: &str, targets: &[String], replace: &[String]) -> SavedPlan {
        let mut saved = SavedPlan::new(
            &self.plan,
            &self.template,
            &self.resolved,
            name,
            &self.suffix,
        );
        saved.targets = targets.to_vec();
        saved.replace = replace.to_vec();
        saved
    }
}

/// Plans `req` against `existing`, the stack's state after pending operations were resolved and
/// its resources refreshed (or `None` for a new stack). Reads data sources and what a dropped
/// cluster left; records nothing but a new stack's suffix reservation.
pub async fn prepare(
    req: &PrepareRequest<'_>,
    existing: Option<&State>,
) -> Result<Prepared, OpError> {
    let catalog = req.registry.catalog();
    let source = template_source(req, existing)?;
    let parsed = template::parse(&source)?;
    if let Some(saved) = req.saved {
        check_saved_identity(saved, req.name, &parsed)?;
        check_saved_state(saved, existing)?;
    }
    let suffix = match (existing, req.saved) {
        (Some(s), _) => s.stack.suffix.clone(),
        (None, Some(saved)) => saved.stack.suffix.clone(),
        (None, None) => crate::state::stack::reserve_suffix(&req.files.dir)?,
    };
    // The stack id exists only once the first snapshot is written; until then it is unknown.
    let stack = StackContext {
        name: Some(req.name.to_owned()),
        suffix: Some(suffix.clone()),
        id: existing.map(|s| s.stack.id.to_string()),
    };
    // The template's own mistakes come first: they are fixed without asking anyone for secrets.
    crate::lang::check::check(&parsed, &catalog).into_result()?;
    let (given, origins) = inputs_for(req, existing, &parsed);
    // Secret references are checked before anything is shown; sensitive inputs given as one
    // take the secret's value from here on.
    secrets::plain_input_refs(&parsed, &given).into_result()?;
    let secret_refs = collect_secret_refs(&parsed, &given);
    let secret_values = resolve_secrets(&secret_refs, req.secrets).await?;
    let inputs = secrets::substitute(&given, &secret_refs, &secret_values);
    let resolved = resolve_inputs(&parsed, &inputs, false)?;
    if let Some(saved) = req.saved {
        check_saved_inputs(saved, &resolved)?;
    }
    if let Some(state) = existing {
        refuse_forgotten_sensitive(state, &parsed, &origins, &resolved)?;
    }
    let expires_at = expiry(req, &parsed, &resolved)?;
    let mut settings = exec::provider_settings(&parsed, &catalog, &resolved, &stack)?;
    connect(&mut settings, existing, req.connector);
    if let Some(c) = req.connector {
        check_connector(c, req, existing, &parsed)?;
    }
    if let Some(state) = existing {
        refuse_moved_providers(state, &settings, &parsed)?;
    }
    let data = exec::read_data(
        &parsed,
        &catalog,
        req.registry,
        &resolved,
        &stack,
        &settings,
    )
    .await?;
    let mut the_plan = plan::plan_resolved(
        &PlanRequest {
            template: &parsed,
            catalog: &catalog,
            inputs: &inputs,
            stack: stack.clone(),
            state: existing,
            data: &data,
            partial: false,
            replace: req.replace,
        },
        &resolved,
    )?;
    the_plan.inputs = planned_inputs(&parsed, &resolved, &origins);
    if let Some(state) = existing
        && expires_at.is_some()
        && state.stack.expires_at != expires_at
    {
        retag_for_expiry(
            &mut the_plan,
            &catalog,
            expires_at.as_deref().unwrap_or_default(),
        );
    }
    plan::check_replace(&the_plan, req.replace)?;
    plan::retarget(&mut the_plan, req.targets, false)?;
    // A cluster the plan deletes leaves what Kubernetes made in it, as in a destroy: found for
    // the deletes the (targeted) plan keeps, so that a targeted delete takes its leftovers along
    // (`destroy --target` does the same) and a saved plan and its deploy find the same ones.
    let found = match existing {
        Some(state) => {
            let discovery = found_for_deletes(&the_plan, state, req.registry, req.run).await?;
            plan::add_found(&mut the_plan, &discovery.found, &catalog);
            the_plan.warnings.extend(discovery.reported);
            discovery.found
        }
        None => BTreeMap::new(),
    };
    if let Some(state) = existing {
        mark_changed_secrets(&mut the_plan, &parsed, state, &secret_values);
    }
    the_plan.cost =
        crate::plan::cost::of_plan(&the_plan, existing, &catalog, req.registry, &settings);
    Ok(Prepared {
        plan: the_plan,
        template: parsed,
        suffix,
        stack,
        inputs,
        resolved,
        secret_refs,
        secret_values,
        settings,
        data,
        found,
        expires_at,
    })
}

/// Everything `stackform plan` needs.
pub struct PlanCommand<'a> {
    pub prepare: PrepareRequest<'a>,
    pub lock_wait: Duration,
    /// Read every resource from the cloud before planning (Terraform's default); without it the
    /// plan is made against the state as recorded.
    pub refresh: bool,
}

/// `stackform plan`: the stack's state opened under its lock, pending operations resolved and
/// the resources refreshed in memory only (nothing is recorded), then the same pipeline a deploy
/// runs.
pub async fn plan(req: PlanCommand<'_>) -> Result<Prepared, OpError> {
    let files = req.prepare.files;
    let _lock = super::take_lock(files, req.prepare.name, "plan", req.lock_wait)?;
    crate::state::store::clean_temp_files(files);
    let existing = match crate::state::store::load(files)? {
        Some(state) => {
            let recorder = Recorder::in_memory(files.clone(), state);
            if req.refresh {
                exec::resolve_pending(req.prepare.registry, &recorder, req.prepare.run).await?;
                exec::refresh(req.prepare.registry, &recorder, req.prepare.run).await?;
            }
            Some(recorder.state())
        }
        None => None,
    };
    prepare(&req.prepare, existing.as_ref()).await
}

/// The source to plan: the saved plan's, the given one (a built-in one pinned as deployed), or
/// the stack's own.
fn template_source(
    req: &PrepareRequest<'_>,
    existing: Option<&State>,
) -> Result<Arc<SourceFile>, OpError> {
    if let Some(saved) = req.saved {
        return Ok(SourceFile::new(
            saved.template.origin.clone(),
            saved.template.source.clone(),
        ));
    }
    let recorded = existing.filter(|s| !s.template.source.is_empty());
    match &req.template {
        TemplateSource::Given(source) => Ok(Arc::clone(source)),
        TemplateSource::Builtin {
            name,
            shipped,
            upgrade,
        } => match recorded {
            Some(state) if !upgrade && &state.template.name == name => Ok(SourceFile::new(
                format!("builtin:{name} (as deployed)"),
                state.template.source.clone(),
            )),
            _ => Ok(Arc::clone(shipped)),
        },
        TemplateSource::Recorded => match recorded {
            Some(state) => Ok(SourceFile::new(
                format!("{} (as recorded for `{}`)", state.template.name, req.name),
                state.template.source.clone(),
            )),
            None => Err(invalid(
                Diagnostic::new(
                    "deploy::no_template",
                    match existing {
                        None => format!("there is no stack named `{}` whose template could be used", req.name),
                        Some(_) => format!("stack `{}` records no template", req.name),
                    },
                )
                .help("give a template (a built-in name or a file), e.g. `stackform deploy local --name dev`, or --plan FILE"),
            )),
        },
    }
}

/// The inputs to plan with and where each came from: a saved plan's, or the stack's recorded
/// ones (those the template still declares), with what is given now on top.
fn inputs_for(
    req: &PrepareRequest<'_>,
    existing: Option<&State>,
    template: &Template,
) -> (InputValues, BTreeMap<String, InputOrigin>) {
    let mut values = InputValues::default();
    let mut origins = BTreeMap::new();
    if let Some(saved) = req.saved {
        values = saved_inputs(saved);
    } else if let Some(state) = existing {
        values = recorded_inputs(state);
        values.file.retain(|name, _| template.input(name).is_some());
        for name in values.file.keys() {
            origins.insert(name.clone(), InputOrigin::Kept);
        }
    }
    for (name, value) in &req.inputs.file {
        values.file.insert(name.clone(), value.clone());
        origins.insert(name.clone(), InputOrigin::Given);
    }
    for (name, raw) in &req.inputs.vars {
        values.vars.push((name.clone(), raw.clone()));
        origins.insert(name.clone(), InputOrigin::Given);
    }
    if req.saved.is_some() {
        for name in values.file.keys() {
            origins.entry(name.clone()).or_insert(InputOrigin::Saved);
        }
    }
    (values, origins)
}

/// The plan's view of the inputs: each declared input's value (sensitive ones masked) and where
/// it came from.
fn planned_inputs(
    template: &Template,
    resolved: &BTreeMap<String, Value>,
    origins: &BTreeMap<String, InputOrigin>,
) -> BTreeMap<String, PlannedInput> {
    resolved
        .iter()
        .map(|(name, value)| {
            let sensitive = template.input(name).is_some_and(|d| d.sensitive);
            (
                name.clone(),
                PlannedInput {
                    value: PlannedValue::new(value, sensitive),
                    origin: origins.get(name).copied().unwrap_or(InputOrigin::Default),
                },
            )
        })
        .collect()
}

/// A sensitive input the last deploy was given is recorded only as a hash: planning without it
/// would silently fall back to its default. Refuse, unless the default is what was recorded.
fn refuse_forgotten_sensitive(
    state: &State,
    template: &Template,
    origins: &BTreeMap<String, InputOrigin>,
    resolved: &BTreeMap<String, Value>,
) -> Result<(), OpError> {
    let mut diags = Diagnostics::default();
    for (name, stored) in &state.inputs {
        let StoredInput::Sensitive { .. } = stored else {
            continue;
        };
        let Some(def) = template.input(name) else {
            continue;
        };
        if origins.contains_key(name) {
            continue;
        }
        let now = resolved.get(name).cloned().unwrap_or_default();
        if !stored.matches(&now) {
            diags.push(
                Diagnostic::new(
                    "input::sensitive_not_kept",
                    format!(
                        "sensitive input `{name}` was given to the last deploy of `{}`, and its value is not recorded",
                        state.stack.name
                    ),
                )
                .help(format!(
                    "give it again with `--var {name}=...`, or as a secret reference (`--var {name}={{{{ secret.key }}}}`), which the stack keeps"
                ))
                .at(template.locate(def.span)),
            );
        }
    }
    diags.into_result().map_err(OpError::Invalid)
}

/// A connector must serve the stack's environment and reach a cloud the template uses.
fn check_connector(
    c: &Connector,
    req: &PrepareRequest<'_>,
    existing: Option<&State>,
    parsed: &Template,
) -> Result<(), OpError> {
    let environment = req
        .environment
        .clone()
        .or_else(|| existing.and_then(|s| s.stack.environment.clone()));
    if !c.serves(environment.as_deref()) {
        return Err(invalid(
            Diagnostic::new(
                "stack::connector_environment",
                format!(
                    "connector `{}` may serve {} stacks, and `{}` is {}",
                    c.name,
                    c.environments.join(", "),
                    req.name,
                    environment.map_or_else(
                        || "a stack with no environment".to_owned(),
                        |e| format!("a {e} stack")
                    )
                ),
            )
            .help("use a connector registered for this environment (`stackform connector list` shows each one's), or deploy with the `--environment` it serves"),
        ));
    }
    // A connector whose cloud no resource is in would be recorded and never used.
    let cloud_of = |t: &str| t.split('.').next().unwrap_or_default().to_owned();
    if !parsed
        .resources
        .iter()
        .any(|r| cloud_of(&r.type_name) == c.kind)
    {
        return Err(invalid(
            Diagnostic::new(
                "stack::connector_unused",
                format!(
                    "connector `{}` is for {}, and template `{}` has no {} resources to reach through it",
                    c.name, c.kind, parsed.name, c.kind
                ),
            )
            .help("deploy without --connector, or with a connector of the template's cloud"),
        ));
    }
    Ok(())
}

/// What the resources a plan deletes left in the cloud (a deploy that drops a cluster).
async fn found_for_deletes(
    plan: &Plan,
    state: &State,
    registry: &Registry,
    run: &RunConfig,
) -> Result<teardown::Discovery, OpError> {
    let deleted: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == plan::Action::Delete)
        .map(|c| c.address.clone())
        .collect();
    if deleted.is_empty() {
        return Ok(teardown::Discovery::default());
    }
    Ok(teardown::leftovers(registry, state, &deleted, false, run).await?)
}

/// The secret references of a template's components and of sensitive inputs given as one.
fn collect_secret_refs(template: &Template, inputs: &InputValues) -> Vec<secrets::Ref> {
    let mut refs = secrets::template_refs(template);
    refs.extend(secrets::input_refs(template, inputs));
    refs
}

/// Every reference's value, or a diagnostic for each one that cannot be resolved.
async fn resolve_secrets(
    refs: &[secrets::Ref],
    store: &dyn SecretStore,
) -> Result<BTreeMap<(String, String), String>, OpError> {
    if refs.is_empty() {
        return Ok(BTreeMap::new());
    }
    secrets::resolve(refs, store)
        .await?
        .map_err(OpError::Invalid)
}

/// Marks the component configuration whose secrets changed since the last deploy (their keyed
/// hashes differ), so a plan shows the change without the value.
fn mark_changed_secrets(
    plan: &mut Plan,
    template: &Template,
    state: &State,
    values: &BTreeMap<(String, String), String>,
) {
    for pc in &mut plan.components {
        let Some(def) = template.components.iter().find(|c| c.kind == pc.kind) else {
            continue;
        };
        let before = state.components.iter().find(|c| c.kind == pc.kind);
        for p in &def.configuration {
            let TValue::Text { template: text, .. } = &p.value else {
                continue;
            };
            let written: String = text
                .parts
                .iter()
                .filter_map(|part| match part {
                    crate::lang::expr::Part::Secret { name, key, .. } => {
                        Some(format!("{{{{ {name}.{key} }}}}"))
                    }
                    _ => None,
                })
                .collect();
            if written.is_empty() {
                continue;
            }
            let now = secrets::fingerprint_text(&state.stack.id, &written, values);
            let then = before.and_then(|c| c.secrets.get(&p.name));
            if now.as_ref() != then {
                pc.secrets_changed.push(p.name.clone());
            }
        }
    }
}

/// A moved expiry changes every taggable resource's `stackform:expires-at` tag: what would be
/// left alone is updated in place instead (providers re-apply their tags on update).
fn retag_for_expiry(plan: &mut Plan, catalog: &crate::lang::schema::Catalog, expires_at: &str) {
    for c in &mut plan.changes {
        let taggable = catalog
            .resource(&c.type_name)
            .is_some_and(|s| s.find_property("tags").is_some());
        if c.action == plan::Action::Noop && taggable {
            c.action = plan::Action::Update;
            c.reason = Some(format!(
                "the stack's expiry moves to {expires_at}: its `stackform:expires-at` tag follows"
            ));
            plan.summary.unchanged -= 1;
            plan.summary.change += 1;
        }
    }
}

/// Adds the stack's connector to its provider's settings: the one given now, else the one its
/// state records (the settings go to every operation; the name is all they hold).
pub fn connect(
    settings: &mut BTreeMap<String, Props>,
    existing: Option<&State>,
    connector: Option<&Connector>,
) {
    for (provider, old) in existing.map(|s| &s.providers).into_iter().flatten() {
        if let Some(c) = old.get("connector") {
            settings
                .entry(provider.clone())
                .or_default()
                .entry("connector".to_owned())
                .or_insert_with(|| c.clone());
        }
    }
    if let Some(c) = connector {
        settings
            .entry(c.kind.clone())
            .or_default()
            .insert("connector".into(), Value::String(c.name.clone()));
    }
    // A provider that reaches its API through another's identity (the kubernetes provider
    // signing in to an EKS or GKE cluster as whoever deploys the cluster) says so with
    // `credentials_from: PROVIDER`, and uses that provider's connector.
    let shared: Vec<(String, Value)> = settings
        .iter()
        .filter_map(|(provider, s)| match s.get("credentials_from") {
            Some(Value::String(from)) => {
                let c = settings.get(from)?.get("connector")?;
                Some((provider.clone(), c.clone()))
            }
            _ => None,
        })
        .collect();
    for (provider, c) in shared {
        settings
            .entry(provider)
            .or_default()
            .insert("connector".into(), c);
    }
}

/// The expiry a deploy sets: `--ttl`, else the template's `expires_at` input, checked.
fn expiry(
    req: &PrepareRequest<'_>,
    template: &Template,
    inputs: &BTreeMap<String, Value>,
) -> Result<Option<String>, OpError> {
    if req.expires_at.is_some() {
        return Ok(req.expires_at.clone());
    }
    let Some(Value::String(at)) = inputs.get("expires_at") else {
        return Ok(None);
    };
    if at.is_empty() {
        return Ok(None);
    }
    match humantime::parse_rfc3339_weak(at) {
        Ok(t) => Ok(Some(humantime::format_rfc3339_seconds(t).to_string())),
        Err(e) => {
            let mut d = Diagnostic::new(
                "input::expires_at",
                format!("input `expires_at` is not a time: `{at}` ({e})"),
            )
            .help(
                "write it as RFC 3339 in UTC, e.g. 2026-12-24T18:00:00Z, or use `deploy --ttl 4h`",
            );
            if let Some(i) = template.input("expires_at") {
                d = d.at(template.locate(i.span));
            }
            Err(invalid(d))
        }
    }
}

/// A provider setting (a region, an account) that changes under resources that exist would send
/// every later call for them to the wrong place: refuse it and say what to do instead.
fn refuse_moved_providers(
    state: &State,
    settings: &BTreeMap<String, Props>,
    template: &Template,
) -> Result<(), OpError> {
    let mut diags = Diagnostics::default();
    for (provider, old) in &state.providers {
        let in_use = state
            .resources
            .values()
            .any(|r| crate::provider::provider_of(&r.type_name) == provider);
        if !in_use {
            continue;
        }
        let new = settings.get(provider).cloned().unwrap_or_default();
        for key in old.keys().chain(new.keys()) {
            let (before, after) = (old.get(key), new.get(key));
            if before != after {
                let shown =
                    |v: Option<&Value>| v.map_or_else(|| "(unset)".to_owned(), |v| v.to_string());
                let mut d = Diagnostic::new(
                    "stack::provider_moved",
                    format!(
                        "`providers.{provider}.{key}` would change from {} to {} under resources that exist",
                        shown(before),
                        shown(after)
                    ),
                )
                .help(format!(
                    "stackform does not move resources: keep {} for stack `{}`, or destroy it and deploy again",
                    shown(before),
                    state.stack.name
                ));
                if let Some(p) = template.providers.iter().find(|p| &p.name == provider) {
                    d = d.at(template.locate(p.span));
                }
                diags.push(d);
                break;
            }
        }
    }
    diags.into_result().map_err(OpError::Invalid)
}

fn stale(message: String) -> OpError {
    OpError::Stale {
        message,
        help: "make a new plan with `stackform plan ... --out FILE` and review it again".into(),
    }
}

fn check_saved_identity(saved: &SavedPlan, name: &str, parsed: &Template) -> Result<(), OpError> {
    if saved.stack.name != name {
        return Err(stale(format!(
            "the saved plan is for stack `{}`, not `{name}`",
            saved.stack.name
        )));
    }
    if saved.template.hash != plan::template_hash(&parsed.source.text) {
        return Err(stale(
            "the saved plan was made from another version of the template".into(),
        ));
    }
    Ok(())
}

fn check_saved_state(saved: &SavedPlan, existing: Option<&State>) -> Result<(), OpError> {
    let (lineage, serial) = existing.map_or((None, 0), |s| (Some(s.lineage), s.serial));
    if saved.state.lineage != lineage || saved.state.serial != serial {
        return Err(stale(format!(
            "the saved plan was made against state serial {} but the stack is now at serial {serial}",
            saved.state.serial
        )));
    }
    Ok(())
}

fn check_saved_inputs(saved: &SavedPlan, inputs: &BTreeMap<String, Value>) -> Result<(), OpError> {
    for (name, stored) in &saved.inputs {
        let given = inputs.get(name).cloned().unwrap_or_default();
        if !stored.matches(&given) {
            return Err(OpError::Stale {
                message: format!("input `{name}` differs from the value the plan was made with"),
                help: match stored {
                    StoredInput::Sensitive { .. } | StoredInput::Secret { .. } => format!(
                        "sensitive inputs are not saved in plans: pass `--var {name}=...` again with the same value"
                    ),
                    StoredInput::Value(_) => "make a new plan with the inputs you want".into(),
                },
            });
        }
    }
    Ok(())
}

/// Whether applying `prepared` now would do what the saved plan showed.
pub fn check_saved_changes(saved: &SavedPlan, prepared: &Plan) -> Result<(), OpError> {
    let now = serde_json::to_value(prepared).unwrap_or_default();
    if now["changes"] == saved.plan["changes"] {
        return Ok(());
    }
    // Say where they part, so the user sees what moved without diffing two JSON files.
    let by_address = |changes: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        changes
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["address"].as_str().unwrap_or_default().to_owned(),
                    c.clone(),
                )
            })
            .collect()
    };
    let (then, now) = (
        by_address(&saved.plan["changes"]),
        by_address(&now["changes"]),
    );
    let mut differ: Vec<String> = then
        .keys()
        .chain(now.keys())
        .filter(|a| then.get(*a) != now.get(*a))
        .map(|a| {
            let action = |m: &BTreeMap<String, serde_json::Value>| {
                m.get(a)
                    .and_then(|c| c["action"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "nothing".into())
            };
            let (was, is) = (action(&then), action(&now));
            if was == is {
                format!("`{a}` ({is}, with other values)")
            } else {
                format!("`{a}` ({was} then, {is} now)")
            }
        })
        .collect();
    differ.dedup();
    differ.truncate(5);
    Err(stale(format!(
        "the cloud or the state changed since the plan was saved: applying it now would do something else ({})",
        differ.join(", ")
    )))
}

/// A stack's recorded inputs as `--var-file`-like values: what a plan keeps unless given again.
/// A secret reference is kept (and resolved again); a sensitive input recorded only as a hash is
/// not (it must be given again, or its default be the value recorded).
pub fn recorded_inputs(state: &State) -> InputValues {
    let mut values = InputValues::default();
    for (name, stored) in &state.inputs {
        let value = match stored {
            StoredInput::Value(v) => v.clone(),
            StoredInput::Secret { reference, .. } => Value::String(reference.clone()),
            StoredInput::Sensitive { .. } => continue,
        };
        values.file.insert(name.clone(), value);
    }
    values
}

/// Inputs of a saved plan as `--var-file`-like values (sensitive ones must be given again).
fn saved_inputs(saved: &SavedPlan) -> InputValues {
    let mut values = InputValues::default();
    for (k, v) in &saved.inputs {
        if let StoredInput::Value(v) = v {
            values.file.insert(k.clone(), v.clone());
        }
    }
    values
}
