//! Whole-stack operations: deploy and destroy, from lock to final snapshot.
//!
//! Each takes the stack's lock for its whole duration, replays the state, resolves what a crashed
//! run left pending, refreshes from the cloud, plans, asks the caller to confirm, applies, and
//! folds the journal into a snapshot. The CLI only gathers arguments, confirms and prints.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{self, Desired, Report, RunConfig, RunError};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lock::{self, Holder, LockError};
use crate::plan::{self, Plan, PlanRequest, template_hash};
use crate::plan_file::SavedPlan;
use crate::provider::Registry;
use crate::resolve::{InputValues, StackContext, resolve_inputs};
use crate::source::SourceFile;
use crate::state::{State, StateError, StoredInput, TemplateRecord};
use crate::store::{self, Entry, Recorder, StackFiles};
use crate::teardown;
use crate::template::{self, TValue};

/// What the caller answers when shown a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Yes,
    No,
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{message}")]
    Stale { message: String, help: String },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("there is no stack named `{0}`")]
    NoSuchStack(String),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

impl From<Diagnostics> for OpError {
    fn from(d: Diagnostics) -> Self {
        OpError::Invalid(d)
    }
}

impl From<store::RecordError> for OpError {
    fn from(e: store::RecordError) -> Self {
        OpError::Run(RunError::Record(e))
    }
}

/// How a deploy or destroy ended.
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    /// `None` when nothing was applied (declined, or no changes).
    pub report: Option<Report>,
    pub declined: bool,
    /// Resources left on purpose (protected, or what they depend on).
    pub kept: Vec<String>,
    /// Destroy only: the stack and its state are gone.
    pub removed: bool,
    /// Destroy only: what the census after it found.
    pub census: Option<CensusReport>,
    /// Destroy only: registered resources, deregistered and left as they are.
    pub external: Vec<String>,
}

/// What the census after a destroy found, by label (an ARN where there is one).
#[derive(Debug, Default)]
pub struct CensusReport {
    /// Found still there after the destroy, and deleted in a second pass.
    pub swept: Vec<String>,
    /// Still there after the second pass: the destroy did not leave nothing.
    pub remaining: Vec<String>,
    /// The providers whose inventories were searched (none: only leftovers were looked for).
    pub checked: Vec<String>,
    /// Why the census could not finish (a listing refused): nothing is proven then.
    pub incomplete: Option<String>,
    /// Resources let go with `state rm`: still in the cloud, unmanaged, left alone.
    pub unmanaged: Vec<String>,
}

impl CensusReport {
    /// Whether the census proved that nothing of the stack remains.
    pub fn clean(&self) -> bool {
        self.remaining.is_empty() && self.incomplete.is_none()
    }
}

/// Everything a deploy needs.
pub struct DeployRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    pub template: Arc<SourceFile>,
    pub inputs: InputValues,
    pub registry: &'a Registry,
    pub run: RunConfig,
    pub lock_wait: Duration,
    pub command: &'a str,
    /// `deploy --plan FILE`: apply exactly this, or refuse.
    pub saved: Option<SavedPlan>,
    /// `deploy --ttl`: when the stack may be reaped (RFC 3339). A template input `expires_at`
    /// says the same; without either, the stack keeps the expiry it has.
    pub expires_at: Option<String>,
    /// `deploy --environment`: `dev`, `staging` or `production`; without it, the stack keeps
    /// the one it has.
    pub environment: Option<String>,
    /// Where `{{ name.key }}` references are resolved.
    pub secrets: &'a dyn crate::secrets::SecretStore,
    /// `deploy --connector`: the connector its provider reaches the cloud through (checked
    /// against the stack's environment); without it, the stack keeps the one it has.
    pub connector: Option<crate::connectors::Connector>,
    /// `--target`: only these resources and what they depend on.
    pub targets: Vec<String>,
    /// `--replace`: replace these even though nothing forces it.
    pub replace: Vec<String>,
}

pub fn take_lock(
    files: &StackFiles,
    name: &str,
    command: &str,
    wait: Duration,
) -> Result<lock::LockGuard, OpError> {
    let holder = Holder::current(command);
    let guard = lock::acquire(&files.dir, name, &holder, wait)?;
    let Some(remote) = &files.remote else {
        return Ok(guard);
    };
    // A remote stack: the lease in the team's storage, then its newest state into the working
    // copy (which, while the lease is held, is the truth).
    let lease = crate::lease::acquire(remote, name, &holder, wait)?;
    let guard = guard.with_lease(crate::lease::LeaseGuard::new(Arc::clone(remote), lease));
    remote.pull(files)?;
    Ok(guard)
}

/// Opens the stack's state (if any), resolves pending operations and refreshes it.
async fn open_and_refresh(
    files: &StackFiles,
    registry: &Registry,
    run: &RunConfig,
) -> Result<Option<Recorder>, OpError> {
    store::clean_temp_files(files);
    let Some(state) = store::load(files)? else {
        return Ok(None);
    };
    let recorder = Recorder::open(files.clone(), state)?;
    apply::resolve_pending(registry, &recorder, run).await?;
    apply::refresh(registry, &recorder, run).await?;
    Ok(Some(recorder))
}

/// Deploys a template as a stack.
pub async fn deploy(
    req: DeployRequest<'_>,
    confirm: impl FnOnce(&Plan) -> Confirm,
) -> Result<Outcome, OpError> {
    let _lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    let catalog = req.registry.catalog();
    let parsed = template::parse(&req.template)?;
    if let Some(saved) = &req.saved {
        check_saved_identity(saved, &req, &parsed)?;
    }
    let recorder = open_and_refresh(&req.files, req.registry, &req.run).await?;
    let existing = recorder.as_ref().map(Recorder::state);
    if let Some(saved) = &req.saved {
        let (lineage, serial) = existing
            .as_ref()
            .map_or((None, 0), |s| (Some(s.lineage), s.serial));
        if saved.state.lineage != lineage || saved.state.serial != serial {
            return Err(OpError::Stale {
                message: format!(
                    "the saved plan was made against state serial {} but the stack is now at serial {serial}",
                    saved.state.serial
                ),
                help: "make a new plan with `stackform plan ... --out FILE` and review it again"
                    .into(),
            });
        }
    }
    let suffix = match (&existing, &req.saved) {
        (Some(s), _) => s.stack.suffix.clone(),
        (None, Some(saved)) => saved.stack.suffix.clone(),
        (None, None) => crate::stack::new_suffix(),
    };
    // The stack id exists only once the first snapshot is written; until then it is unknown.
    let stack = StackContext {
        name: Some(req.name.to_owned()),
        suffix: Some(suffix.clone()),
        id: existing.as_ref().map(|s| s.stack.id.to_string()),
    };
    // The template's own mistakes come first: they are fixed without asking anyone for secrets.
    crate::check::check(&parsed, &catalog).into_result()?;
    // Secret references are checked before anything is shown; sensitive inputs given as one
    // take the secret's value from here on.
    let secret_refs = collect_secret_refs(&parsed, &req.inputs);
    let secret_values = resolve_secrets(&secret_refs, req.secrets).await?;
    let inputs = crate::secrets::substitute(&req.inputs, &secret_refs, &secret_values);
    let resolved_inputs = resolve_inputs(&parsed, &inputs, false)?;
    if let Some(saved) = &req.saved {
        check_saved_inputs(saved, &resolved_inputs)?;
    }
    let expires_at = expiry(&req, &parsed, &resolved_inputs)?;
    let mut settings = apply::provider_settings(&parsed, &catalog, &resolved_inputs, &stack)?;
    connect(&mut settings, existing.as_ref(), req.connector.as_ref());
    if let Some(c) = &req.connector {
        let environment = req
            .environment
            .clone()
            .or_else(|| existing.as_ref().and_then(|s| s.stack.environment.clone()));
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
    }
    if let Some(state) = &existing {
        refuse_moved_providers(state, &settings, &parsed)?;
    }
    let data = apply::read_data(
        &parsed,
        &catalog,
        req.registry,
        &resolved_inputs,
        &stack,
        &settings,
    )
    .await?;
    let mut the_plan = plan::plan(&PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &inputs,
        stack: stack.clone(),
        state: existing.as_ref(),
        data: &data,
        partial: false,
        replace: &req.replace,
    })?;
    if let Some(state) = &existing
        && expires_at.is_some()
        && state.stack.expires_at != expires_at
    {
        retag_for_expiry(
            &mut the_plan,
            &catalog,
            expires_at.as_deref().unwrap_or_default(),
        );
    }
    // A cluster the template no longer keeps leaves what Kubernetes made in it, as destroy does.
    let found = match &existing {
        Some(state) => {
            let discovery = found_for_deletes(&the_plan, state, req.registry, &req.run).await?;
            plan::add_found(&mut the_plan, &discovery.found, &catalog);
            the_plan.warnings.extend(discovery.reported);
            discovery.found
        }
        None => BTreeMap::new(),
    };
    if let Some(state) = &existing {
        mark_changed_secrets(&mut the_plan, &parsed, state, &secret_values);
    }
    plan::check_replace(&the_plan, &req.replace)?;
    plan::retarget(&mut the_plan, &req.targets, false)?;
    the_plan.cost = crate::cost::of_plan(
        &the_plan,
        existing.as_ref(),
        &catalog,
        req.registry,
        &settings,
    );
    if let Some(saved) = &req.saved {
        let now = serde_json::to_value(&the_plan).unwrap_or_default();
        if now["changes"] != saved.plan["changes"] {
            return Err(OpError::Stale {
                message: "the cloud or the state changed since the plan was saved: applying it now would do something else".into(),
                help: "make a new plan with `stackform plan ... --out FILE` and review it again".into(),
            });
        }
    }
    let unchanged = !the_plan.summary.has_changes() && existing.is_some();
    if !unchanged && req.saved.is_none() && confirm(&the_plan) == Confirm::No {
        return Ok(Outcome {
            plan: the_plan,
            report: None,
            declined: true,
            kept: Vec::new(),
            removed: false,
            census: None,
            external: Vec::new(),
        });
    }

    let template_record = TemplateRecord {
        name: parsed.name.clone(),
        hash: template_hash(&parsed.source.text),
        source: parsed.source.text.clone(),
    };
    // Where each provider's resources live (region, ...): recorded before anything is created,
    // so refresh and destroy reach them without the template.
    let recorder = match recorder {
        Some(r) => r,
        None => {
            let mut state = State::new(req.name, &suffix, template_record.clone());
            state.providers = settings.clone();
            state.stack.expires_at = expires_at.clone();
            state.stack.environment = req.environment.clone();
            Recorder::create(req.files.clone(), state)?
        }
    };
    if expires_at.is_some() && recorder.with_state(|s| s.stack.expires_at != expires_at) {
        recorder.record(Entry::Expiry { expires_at }).await?;
    }
    // Moves first: each resource is at its new address before anything runs.
    for c in &the_plan.changes {
        if let Some(from) = &c.moved_from {
            recorder
                .record(Entry::Moved {
                    from: from.clone(),
                    to: c.address.clone(),
                })
                .await?;
        }
    }
    for (address, resource) in found {
        recorder
            .record(Entry::Applied {
                op: None,
                address,
                resource,
            })
            .await?;
    }
    if req.environment.is_some() && recorder.with_state(|s| s.stack.environment != req.environment)
    {
        recorder
            .record(Entry::Environment {
                environment: req.environment.clone(),
            })
            .await?;
    }
    // Protection lives in state: a template that now says `protect: true`, or a stack that
    // became production, protects what already exists before anything runs.
    let production = recorder.with_state(State::is_production);
    let became_production = production && existing.as_ref().is_some_and(|s| !s.is_production());
    for c in &the_plan.changes {
        let now = recorder.with_state(|s| s.resources.get(&c.address).map(|r| r.protect));
        let wanted = c.protect || became_production;
        if c.action != plan::Action::Delete && now.is_some_and(|p| p != wanted && wanted) {
            recorder
                .record(Entry::Protect {
                    address: c.address.clone(),
                    protect: true,
                })
                .await?;
        }
    }
    if recorder.with_state(|s| s.providers != settings) {
        recorder.record(Entry::Providers { settings }).await?;
    }
    let stack = StackContext {
        id: Some(recorder.with_state(|s| s.stack.id.to_string())),
        ..stack
    };
    let desired = Desired {
        template: Some(&parsed),
        catalog: &catalog,
        inputs: &resolved_inputs,
        stack: &stack,
        data: &data,
    };
    let report = apply::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
    if report.ok() {
        let state = recorder.state();
        let (mut components, outputs) = apply::stack_record(&desired, &state)?;
        let stack_id = state.stack.id;
        for c in &mut components {
            for (key, value) in &c.configuration {
                if let Some(text) = value.as_str()
                    && let Some(fp) =
                        crate::secrets::fingerprint_text(&stack_id, text, &secret_values)
                {
                    c.secrets.insert(key.clone(), fp);
                }
            }
        }
        let inputs: BTreeMap<String, StoredInput> = resolved_inputs
            .iter()
            .map(|(k, v)| {
                let sensitive = parsed.input(k).is_some_and(|d| d.sensitive);
                let reference = secret_refs
                    .iter()
                    .find(|r| r.used_in == format!("input `{k}`"));
                let stored = match (sensitive, reference) {
                    (true, Some(r)) => StoredInput::Secret {
                        reference: r.text(),
                        hash: crate::secrets::fingerprint(
                            &stack_id,
                            v.as_str().unwrap_or_default(),
                        ),
                    },
                    (true, None) => StoredInput::sensitive(v),
                    (false, _) => StoredInput::Value(v.clone()),
                };
                (k.clone(), stored)
            })
            .collect();
        recorder
            .record(Entry::Stack {
                template: template_record,
                inputs,
                components,
                outputs,
            })
            .await?;
    }
    recorder.compact()?;
    Ok(Outcome {
        plan: the_plan,
        report: Some(report),
        declined: false,
        kept: Vec::new(),
        removed: false,
        census: None,
        external: Vec::new(),
    })
}

/// What the resources a plan deletes left in the cloud (a deploy that drops a cluster).
pub async fn found_for_deletes(
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
pub fn collect_secret_refs(
    template: &template::Template,
    inputs: &InputValues,
) -> Vec<crate::secrets::Ref> {
    let mut refs = crate::secrets::template_refs(template);
    refs.extend(crate::secrets::input_refs(template, inputs));
    refs
}

/// Every reference's value, or a diagnostic for each one that cannot be resolved.
pub async fn resolve_secrets(
    refs: &[crate::secrets::Ref],
    store: &dyn crate::secrets::SecretStore,
) -> Result<BTreeMap<(String, String), String>, OpError> {
    if refs.is_empty() {
        return Ok(BTreeMap::new());
    }
    crate::secrets::resolve(refs, store)
        .await?
        .map_err(OpError::Invalid)
}

/// Marks the component configuration whose secrets changed since the last deploy (their keyed
/// hashes differ), so a plan shows the change without the value.
pub fn mark_changed_secrets(
    plan: &mut Plan,
    template: &template::Template,
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
                    crate::expr::Part::Secret { name, key, .. } => {
                        Some(format!("{{{{ {name}.{key} }}}}"))
                    }
                    _ => None,
                })
                .collect();
            if written.is_empty() {
                continue;
            }
            let now = crate::secrets::fingerprint_text(&state.stack.id, &written, values);
            let then = before.and_then(|c| c.secrets.get(&p.name));
            if now.as_ref() != then {
                pc.secrets_changed.push(p.name.clone());
            }
        }
    }
}

/// A moved expiry changes every taggable resource's `stackform:expires-at` tag: what would be
/// left alone is updated in place instead (providers re-apply their tags on update).
fn retag_for_expiry(plan: &mut Plan, catalog: &crate::schema::Catalog, expires_at: &str) {
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
    settings: &mut BTreeMap<String, crate::provider::Props>,
    existing: Option<&State>,
    connector: Option<&crate::connectors::Connector>,
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
        settings.entry(c.kind.clone()).or_default().insert(
            "connector".into(),
            crate::value::Value::String(c.name.clone()),
        );
    }
}

/// The expiry a deploy sets: `--ttl`, else the template's `expires_at` input, checked.
fn expiry(
    req: &DeployRequest<'_>,
    template: &template::Template,
    inputs: &BTreeMap<String, crate::value::Value>,
) -> Result<Option<String>, OpError> {
    if req.expires_at.is_some() {
        return Ok(req.expires_at.clone());
    }
    let Some(crate::value::Value::String(at)) = inputs.get("expires_at") else {
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
    settings: &BTreeMap<String, crate::provider::Props>,
    template: &template::Template,
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
                let shown = |v: Option<&crate::value::Value>| {
                    v.map_or_else(|| "(unset)".to_owned(), |v| v.to_string())
                };
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

fn check_saved_identity(
    saved: &SavedPlan,
    req: &DeployRequest<'_>,
    parsed: &template::Template,
) -> Result<(), OpError> {
    let stale = |message: String| OpError::Stale {
        message,
        help: "make a new plan with `stackform plan ... --out FILE`".into(),
    };
    if saved.stack.name != req.name {
        return Err(stale(format!(
            "the saved plan is for stack `{}`, not `{}`",
            saved.stack.name, req.name
        )));
    }
    if saved.template.hash != template_hash(&parsed.source.text) {
        return Err(stale(
            "the saved plan was made from another version of the template".into(),
        ));
    }
    Ok(())
}

fn check_saved_inputs(
    saved: &SavedPlan,
    inputs: &BTreeMap<String, crate::value::Value>,
) -> Result<(), OpError> {
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

/// Inputs of a saved plan as `--var`-like values (sensitive ones must be given again).
pub fn saved_inputs(saved: &SavedPlan) -> InputValues {
    let mut values = InputValues::default();
    for (k, v) in &saved.inputs {
        if let StoredInput::Value(v) = v {
            values.file.insert(k.clone(), v.clone());
        }
    }
    values
}

/// A stack's recorded inputs as `--var-file`-like values; sensitive ones recorded as a hash
/// must be given again (a secret reference is kept and resolved again).
pub fn recorded_inputs(state: &State) -> InputValues {
    let mut values = InputValues::default();
    for (k, v) in &state.inputs {
        match v {
            StoredInput::Value(v) => {
                values.file.insert(k.clone(), v.clone());
            }
            StoredInput::Secret { reference, .. } => {
                values
                    .file
                    .insert(k.clone(), crate::value::Value::String(reference.clone()));
            }
            StoredInput::Sensitive { .. } => {}
        }
    }
    values
}

/// The template of a saved plan.
pub fn saved_template(saved: &SavedPlan) -> Arc<SourceFile> {
    SourceFile::new(saved.template.origin.clone(), saved.template.source.clone())
}

/// Everything a destroy needs.
pub struct DestroyRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    pub registry: &'a Registry,
    pub run: RunConfig,
    pub lock_wait: Duration,
    pub command: &'a str,
    /// Keep data that leftovers hold (volumes), and report it, instead of deleting it.
    pub retain_data: bool,
    /// `--target`: only these resources and what depends on them.
    pub targets: Vec<String>,
}

/// Destroys a stack: everything but protected resources (and what they depend on), then what
/// the cluster's controllers left behind, then a census of anything still carrying the stack's
/// marks, deleted in a second pass.
pub async fn destroy(
    req: DestroyRequest<'_>,
    confirm: impl FnOnce(&Plan) -> Confirm,
) -> Result<Outcome, OpError> {
    let lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    let Some(recorder) = open_and_refresh(&req.files, req.registry, &req.run).await? else {
        return Err(OpError::NoSuchStack(req.name.to_owned()));
    };
    let catalog = req.registry.catalog();
    let state = recorder.state();
    // What the resources about to go left behind, as nodes of the same graph.
    let mut first = plan::plan_destroy(&state, &catalog);
    plan::retarget(&mut first, &req.targets, true)?;
    let deleted: Vec<String> = first
        .changes
        .iter()
        .filter(|c| c.action == plan::Action::Delete)
        .map(|c| c.address.clone())
        .collect();
    let discovery =
        teardown::leftovers(req.registry, &state, &deleted, req.retain_data, &req.run).await?;
    let found_addresses: Vec<String> = discovery.found.keys().cloned().collect();
    let mut planned = state.clone();
    planned.resources.extend(discovery.found);
    // Whether found data is kept is this destroy's choice, also for what an earlier one adopted.
    for r in planned.resources.values_mut() {
        let data = catalog.resource(&r.type_name).is_some_and(|s| s.stateful);
        if let Some(f) = &mut r.found {
            f.retain = data && req.retain_data;
        }
    }
    let mut the_plan = plan::plan_destroy(&planned, &catalog);
    if !req.targets.is_empty() {
        // The targets, what depends on them, and what their deletion leaves behind.
        let mut targets = deleted.clone();
        targets.extend(found_addresses);
        plan::retarget(&mut the_plan, &targets, true)?;
    }
    the_plan.warnings.extend(discovery.reported.iter().cloned());
    let kept = kept_addresses(&the_plan, &planned);
    let external: Vec<String> = planned
        .resources
        .keys()
        .filter(|a| is_external(&planned, a))
        .cloned()
        .collect();
    if the_plan.summary.destroy > 0 && confirm(&the_plan) == Confirm::No {
        return Ok(Outcome {
            plan: the_plan,
            report: None,
            declined: true,
            kept,
            removed: false,
            census: None,
            external,
        });
    }
    // Leftovers enter the state before anything is deleted: a crash from here on leaves them
    // recorded for the next destroy.
    for (address, resource) in &planned.resources {
        if state.resources.get(address) != Some(resource) {
            recorder
                .record(Entry::Applied {
                    op: None,
                    address: address.clone(),
                    resource: resource.clone(),
                })
                .await?;
        }
    }
    let inputs = BTreeMap::new();
    let stack = StackContext {
        name: Some(state.stack.name.clone()),
        suffix: Some(state.stack.suffix.clone()),
        id: Some(state.stack.id.to_string()),
    };
    let data = HashMap::new();
    let desired = Desired {
        template: None,
        catalog: &catalog,
        inputs: &inputs,
        stack: &stack,
        data: &data,
    };
    let mut report = apply::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
    if report.ok() && kept.is_empty() && req.targets.is_empty() {
        // Everything of the stack's own is gone: what was registered is let go.
        for address in &external {
            recorder
                .record(Entry::Deleted {
                    op: None,
                    address: address.clone(),
                })
                .await?;
        }
    }
    let mut census = None;
    if report.ok() {
        census = Some(
            census_pass(
                req.registry,
                &planned,
                &recorder,
                &desired,
                &req.run,
                &mut report,
            )
            .await?,
        );
    }
    let nothing_left = recorder.with_state(|s| s.resources.is_empty() && s.pending.is_empty());
    let clean = census.as_ref().is_some_and(CensusReport::clean);
    let removed = report.ok() && nothing_left && clean;
    if removed {
        drop(recorder);
        store::remove(&req.files)?;
        // The lock file goes last, while still held: a waiter that then gets it sees that it
        // is no longer at its path and starts over with a new one.
        let _ = std::fs::remove_file(req.files.dir.join("lock"));
        let _ = std::fs::remove_dir(&req.files.dir);
        drop(lock);
    } else {
        recorder.compact()?;
    }
    Ok(Outcome {
        plan: the_plan,
        report: Some(report),
        declined: false,
        kept,
        removed,
        census,
        external,
    })
}

/// The census after a destroy: anything still carrying the stack's marks (`before` is the state
/// the destroy started from) is adopted, deleted in a second pass, and looked for once more.
async fn census_pass(
    registry: &Registry,
    before: &State,
    recorder: &Recorder,
    desired: &Desired<'_>,
    run: &RunConfig,
    report: &mut apply::Report,
) -> Result<CensusReport, OpError> {
    let mut found = CensusReport {
        checked: teardown::census_providers(registry, before),
        unmanaged: before
            .forgotten
            .iter()
            .map(|(a, r)| format!("{a} ({} {})", r.type_name, r.physical_id))
            .collect(),
        ..CensusReport::default()
    };
    let hits = match teardown::census(registry, before, &recorder.state(), run).await {
        Ok(hits) => hits,
        // What was deleted stays deleted; only the proof is missing.
        Err(RunError::Provider { what, error }) => {
            found.incomplete = Some(format!("{what}: {}", error.message));
            return Ok(found);
        }
        Err(e) => return Err(e.into()),
    };
    if hits.is_empty() {
        return Ok(found);
    }
    // What no type of this build can delete is named, not adopted.
    let (hits, unmanaged): (Vec<_>, Vec<_>) = hits
        .into_iter()
        .partition(|h| registry.resource(&h.resource.type_name).is_some());
    found
        .remaining
        .extend(unmanaged.into_iter().map(|h| h.label));
    for h in &hits {
        recorder
            .record(Entry::Applied {
                op: None,
                address: h.address.clone(),
                resource: h.resource.clone(),
            })
            .await?;
    }
    let second = plan::plan_destroy(&recorder.state(), desired.catalog);
    let pass = apply::apply(&second, desired, registry, recorder, run).await?;
    merge(report, pass);
    let left = match teardown::census(registry, before, &recorder.state(), run).await {
        Ok(left) => left,
        Err(RunError::Provider { what, error }) => {
            found.incomplete = Some(format!("{what}: {}", error.message));
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let still: Vec<String> = recorder.with_state(|s| {
        hits.iter()
            .filter(|h| s.resources.contains_key(&h.address))
            .map(|h| h.label.clone())
            .collect()
    });
    found.remaining.extend(still);
    for h in left {
        if !found.remaining.contains(&h.label) {
            found.remaining.push(h.label);
        }
    }
    found.swept = hits
        .iter()
        .map(|h| h.label.clone())
        .filter(|l| !found.remaining.contains(l))
        .collect();
    Ok(found)
}

/// Resources a destroy plan keeps on purpose (registered ones are deregistered, not kept).
fn kept_addresses(plan: &Plan, state: &State) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.action == plan::Action::Noop && !is_external(state, &c.address))
        .map(|c| c.address.clone())
        .collect()
}

fn is_external(state: &State, address: &str) -> bool {
    state
        .resources
        .get(address)
        .and_then(|r| r.found.as_ref())
        .is_some_and(|f| f.external)
}

/// Adds a second pass's results to the first's.
fn merge(into: &mut apply::Report, pass: apply::Report) {
    into.done.extend(pass.done);
    into.failed.extend(pass.failed);
    into.skipped.extend(pass.skipped);
    into.cancelled |= pass.cancelled;
}

/// A stack name that is not valid, as an operation error.
pub fn invalid(d: Diagnostic) -> OpError {
    OpError::Invalid(d.into())
}

/// Everything a sweep needs.
pub struct SweepRequest<'a> {
    pub marks: crate::provider::Marks,
    /// Where to look, per provider (`region`); empty settings mean the provider's default.
    pub settings: BTreeMap<String, crate::provider::Props>,
    pub registry: &'a Registry,
    pub run: RunConfig,
    /// `$STACKFORM_HOME/stacks`: a stack with a state there is destroyed, not swept.
    pub stacks_dir: std::path::PathBuf,
    /// `$STACKFORM_HOME/sweeps`: each swept stack's journal while it runs.
    pub sweeps_dir: std::path::PathBuf,
    /// Delete (`true`), or only show what would be deleted.
    pub delete: bool,
    pub lock_wait: Duration,
    pub command: &'a str,
}

/// One stack found by its tags, and what the sweep did to it.
#[derive(Debug)]
pub struct Swept {
    pub name: String,
    pub id: uuid::Uuid,
    pub plan: Plan,
    /// `None` for a dry run.
    pub report: Option<apply::Report>,
    pub census: Option<CensusReport>,
}

impl Swept {
    pub fn clean(&self) -> bool {
        self.report.as_ref().is_some_and(apply::Report::ok)
            && self.census.as_ref().is_some_and(CensusReport::clean)
    }
}

/// Finds every resource carrying a stack's ownership tags, with no state to go by, and deletes
/// them in the order their kinds demand (dry run unless `delete`). Resources without
/// stackform's tags are never touched, except what a found cluster left behind (found by the
/// cluster's own tags).
pub async fn sweep(req: SweepRequest<'_>) -> Result<Vec<Swept>, OpError> {
    use crate::provider::{TAG_STACK, TAG_STACK_ID};
    let catalog = req.registry.catalog();
    let mut by_stack: BTreeMap<uuid::Uuid, (String, Vec<crate::provider::Found>)> = BTreeMap::new();
    for (provider, inventory) in req.registry.inventories() {
        let settings = req.settings.get(provider).cloned().unwrap_or_default();
        let found = apply::look(&req.run.retry, || {
            inventory.owned(&settings, &req.marks, None)
        })
        .await
        .map_err(|error| RunError::Provider {
            what: format!("looking for `{provider}` resources by their tags"),
            error,
        })?;
        for f in found {
            let Some(id) = f.tags.get(TAG_STACK_ID).and_then(|s| s.parse().ok()) else {
                continue;
            };
            let name = f.tags.get(TAG_STACK).cloned().unwrap_or_default();
            let entry = by_stack.entry(id).or_insert_with(|| (name, Vec::new()));
            entry.1.push(f);
        }
    }
    let mut out = Vec::new();
    for (id, (name, found)) in by_stack {
        if let Some(existing) = State::load(&req.stacks_dir.join(&name).join("state.json"))?
            && existing.stack.id == id
        {
            return Err(invalid(
                Diagnostic::new(
                    "sweep::state_exists",
                    format!("stack `{name}` (id {id}) has a state in this STACKFORM_HOME"),
                )
                .help(format!(
                    "sweep is for stacks whose state is lost: run `stackform destroy {name}`"
                )),
            ));
        }
        out.push(sweep_stack(&req, &catalog, &name, id, found).await?);
    }
    Ok(out)
}

async fn sweep_stack(
    req: &SweepRequest<'_>,
    catalog: &crate::schema::Catalog,
    name: &str,
    id: uuid::Uuid,
    found: Vec<crate::provider::Found>,
) -> Result<Swept, OpError> {
    let files = StackFiles::new(req.sweeps_dir.join(id.to_string()));
    let lock = if req.delete {
        Some(take_lock(&files, name, req.command, req.lock_wait)?)
    } else {
        None
    };
    // A sweep that was interrupted left its journal: finish what it had started.
    let earlier = if req.delete {
        open_and_refresh(&files, req.registry, &req.run).await?
    } else {
        None
    };
    let mut state = earlier.as_ref().map(Recorder::state).unwrap_or_else(|| {
        let mut s = State::new(
            name,
            "",
            TemplateRecord {
                name: "sweep".into(),
                hash: String::new(),
                source: String::new(),
            },
        );
        s.stack.id = id;
        s
    });
    state.providers.extend(req.settings.clone());
    let mut taken: std::collections::BTreeSet<String> = state.resources.keys().cloned().collect();
    let mut hits = Vec::new();
    let (found, unmanaged): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|f| req.registry.resource(&f.type_name).is_some());
    for f in found {
        if state
            .resources
            .values()
            .any(|r| r.type_name == f.type_name && r.physical_id == f.physical_id)
        {
            continue;
        }
        let address = teardown::unique_address(&mut taken, &f);
        hits.push(teardown::Hit {
            address,
            label: f.label.clone(),
            rank: f.rank,
            resource: teardown::adopted(f, "tag stackform:stack-id"),
        });
    }
    let mut tagged = state.clone();
    for h in &hits {
        tagged
            .resources
            .insert(h.address.clone(), h.resource.clone());
    }
    // What the clusters among them left behind, found by the clusters' own tags.
    let owners: Vec<String> = tagged.resources.keys().cloned().collect();
    let discovery = teardown::leftovers(req.registry, &tagged, &owners, false, &req.run).await?;
    for (address, resource) in discovery.found {
        hits.push(teardown::Hit {
            label: resource.physical_id.clone(),
            rank: discovery.ranks.get(&address).copied().unwrap_or(0),
            address,
            resource,
        });
    }
    // No recorded dependencies: the kinds' ranks order everything.
    teardown::order_by_rank(&mut hits);
    for h in hits {
        let mut r = h.resource;
        if let Some(f) = &mut r.found {
            f.after.clear();
        }
        state.resources.insert(h.address, r);
    }
    let mut the_plan = plan::plan_destroy(&state, catalog);
    the_plan.warnings.extend(unmanaged.iter().map(|f| {
        format!(
            "{} carries the stack's tags but is of a kind stackform cannot delete: delete it by hand",
            f.label
        )
    }));
    if !req.delete {
        return Ok(Swept {
            name: name.to_owned(),
            id,
            plan: the_plan,
            report: None,
            census: None,
        });
    }
    let recorder = match earlier {
        Some(r) => {
            for (address, resource) in &state.resources {
                if r.with_state(|s| s.resources.get(address) != Some(resource)) {
                    r.record(Entry::Applied {
                        op: None,
                        address: address.clone(),
                        resource: resource.clone(),
                    })
                    .await?;
                }
            }
            r
        }
        None => Recorder::create(files.clone(), state.clone())?,
    };
    let inputs = BTreeMap::new();
    let stack = StackContext {
        name: Some(name.to_owned()),
        suffix: Some(String::new()),
        id: Some(id.to_string()),
    };
    let data = HashMap::new();
    let desired = Desired {
        template: None,
        catalog,
        inputs: &inputs,
        stack: &stack,
        data: &data,
    };
    let mut report = apply::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
    let census = if report.ok() {
        Some(
            census_pass(
                req.registry,
                &state,
                &recorder,
                &desired,
                &req.run,
                &mut report,
            )
            .await?,
        )
    } else {
        None
    };
    let swept = Swept {
        name: name.to_owned(),
        id,
        plan: the_plan,
        report: Some(report),
        census,
    };
    if swept.clean() && recorder.with_state(|s| s.resources.is_empty() && s.pending.is_empty()) {
        drop(recorder);
        store::remove(&files)?;
        let _ = std::fs::remove_file(files.dir.join("lock"));
        let _ = std::fs::remove_dir(&files.dir);
    } else {
        recorder.compact()?;
    }
    drop(lock);
    Ok(swept)
}

/// A stack with a TTL, from its local state or from its resources' tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub name: String,
    pub id: uuid::Uuid,
    pub expires_at: String,
    pub expired: bool,
    /// Its state is in this STACKFORM_HOME (else it was found by tags alone).
    pub local: bool,
}

/// Every stack with a TTL: those in `states`, and those whose resources carry
/// `stackform:expires-at` with no local state (a local state's expiry wins). `now` is injected
/// so that tests can move the clock.
pub async fn expiring(
    registry: &Registry,
    settings: &BTreeMap<String, crate::provider::Props>,
    states: &[State],
    now: std::time::SystemTime,
    run: &RunConfig,
) -> Result<Vec<Expiring>, OpError> {
    use crate::provider::{Marks, TAG_EXPIRES_AT, TAG_STACK, TAG_STACK_ID};
    let past = |at: &str| humantime::parse_rfc3339_weak(at).is_ok_and(|t| t <= now);
    let mut out: Vec<Expiring> = states
        .iter()
        .filter_map(|s| {
            let at = s.stack.expires_at.clone()?;
            Some(Expiring {
                name: s.stack.name.clone(),
                id: s.stack.id,
                expired: past(&at),
                expires_at: at,
                local: true,
            })
        })
        .collect();
    let known: std::collections::BTreeSet<uuid::Uuid> = states.iter().map(|s| s.stack.id).collect();
    for (provider, inventory) in registry.inventories() {
        let here = settings.get(provider).cloned().unwrap_or_default();
        let found = apply::look(&run.retry, || {
            inventory.owned(&here, &Marks::Expiring, None)
        })
        .await
        .map_err(|error| RunError::Provider {
            what: format!("looking for `{provider}` resources with a TTL"),
            error,
        })?;
        for f in found {
            let (Some(id), Some(at)) = (
                f.tags
                    .get(TAG_STACK_ID)
                    .and_then(|s| s.parse::<uuid::Uuid>().ok()),
                f.tags.get(TAG_EXPIRES_AT),
            ) else {
                continue;
            };
            if known.contains(&id) || out.iter().any(|e| e.id == id) {
                continue;
            }
            out.push(Expiring {
                name: f.tags.get(TAG_STACK).cloned().unwrap_or_default(),
                id,
                expired: past(at),
                expires_at: at.clone(),
                local: false,
            });
        }
    }
    out.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// Which resources `stack protect|unprotect` changes.
pub struct ProtectRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    /// One resource, or every resource of the stack.
    pub address: Option<&'a str>,
    pub protect: bool,
    pub lock_wait: Duration,
    pub command: &'a str,
}

/// Protects or unprotects resources in state (no cloud call): protected resources are kept by
/// destroy and refused by any plan that would delete or replace them. Returns what changed.
pub async fn protect(req: ProtectRequest<'_>) -> Result<Vec<String>, OpError> {
    let _lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    store::clean_temp_files(&req.files);
    let Some(state) = store::load(&req.files)? else {
        return Err(OpError::NoSuchStack(req.name.to_owned()));
    };
    if let Some(address) = req.address
        && !state.resources.contains_key(address)
    {
        return Err(invalid(
            Diagnostic::new(
                "stack::unknown_resource",
                format!("stack `{}` has no resource `{address}`", req.name),
            )
            .help(crate::suggest::did_you_mean(
                address,
                state.resources.keys().map(String::as_str),
                "resources",
            )),
        ));
    }
    let changed: Vec<String> = state
        .resources
        .iter()
        .filter(|(a, r)| {
            req.address.is_none_or(|want| want == a.as_str()) && r.protect != req.protect
        })
        .map(|(a, _)| a.clone())
        .collect();
    let recorder = Recorder::open(req.files.clone(), state)?;
    for address in &changed {
        recorder
            .record(Entry::Protect {
                address: address.clone(),
                protect: req.protect,
            })
            .await?;
    }
    recorder.compact()?;
    Ok(changed)
}
