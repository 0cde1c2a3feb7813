//! `state rebuild`: a lost state reconstructed from the cloud. Every resource carrying the
//! stack's id is read and placed at its `stackform:address`, with the template's dependencies;
//! the stack's suffix is recovered from the names the template builds with it. Properties a
//! provider does not report take the template's values, so the next plan shows only real
//! differences. Nothing in the cloud is changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::base::diagnostic::Diagnostic;
use crate::base::source::SourceFile;
use crate::base::value::Value;
use crate::exec::{self, RunConfig, RunError};
use crate::lang::expr::Part;
use crate::lang::template::{self, TValue};
use crate::ops::{OpError, invalid, take_lock};
use crate::plan::resolve::{InputValues, StackContext, resolve_inputs};
use crate::plan::{self, Action, PlanRequest, PlannedValue};
use crate::provider::{
    Found, Inventory, Marks, Props, RecoveryKind, Registry, TAG_ADDRESS, TAG_STACK,
};
use crate::state::store::{Recorder, StackFiles};
use crate::state::{ResourceState, State, StateError, StoredInput, TemplateRecord, now_rfc3339};

pub struct RebuildRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    /// `None`: the id the state's backup records.
    pub stack_id: Option<uuid::Uuid>,
    /// `None`: the template the state's backup records.
    pub template: Option<Arc<SourceFile>>,
    /// What is given; the inputs the backup records fill in the rest.
    pub inputs: InputValues,
    pub registry: &'a Registry,
    pub run: RunConfig,
    pub lock_wait: Duration,
}

/// Rebuilds the state and returns it, with the addresses found and those the template has but
/// the cloud does not.
pub async fn rebuild(req: RebuildRequest<'_>) -> Result<(State, Vec<String>), OpError> {
    let _lock = take_lock(&req.files, req.name, "state rebuild", req.lock_wait)?;
    // A lost state, or a corrupt one (set aside below, never deleted); a readable one is kept.
    let corrupt = match crate::state::store::load(&req.files) {
        Ok(None) => false,
        Ok(Some(_)) => {
            return Err(invalid(
                Diagnostic::new(
                    "state::exists",
                    format!(
                        "stack `{}` has a readable state; rebuild is for a lost or corrupt one",
                        req.name
                    ),
                )
                .help(
                    "`stackform state show` shows it; `stackform drift` compares it with the cloud",
                ),
            ));
        }
        Err(StateError::Corrupt { .. }) => true,
        Err(e) => return Err(e.into()),
    };
    // The backup is one command behind, so it never stands in for the state; but the stack's
    // id, template and inputs do not change between commands, and it knows them.
    let backup = std::fs::read(req.files.backup())
        .ok()
        .and_then(|bytes| State::from_bytes(&req.files.backup(), &bytes).ok());
    let stack_id = req
        .stack_id
        .or(backup.as_ref().map(|b| b.stack.id))
        .ok_or_else(|| needs("--stack-id", req.name))?;
    let source = match (&req.template, &backup) {
        (Some(t), _) => Arc::clone(t),
        (None, Some(b)) => SourceFile::new(
            format!(
                "template `{}` recorded by {}",
                b.template.name,
                req.files.backup().display()
            ),
            b.template.source.clone(),
        ),
        (None, None) => return Err(needs("--template", req.name)),
    };
    let given = match &backup {
        Some(b) => {
            let mut merged = crate::ops::prepare::recorded_inputs(b);
            merged.file.extend(req.inputs.file.clone());
            merged.vars = req.inputs.vars.clone();
            merged
        }
        None => req.inputs.clone(),
    };
    if corrupt {
        set_aside(&req.files)?;
    }
    let parsed = template::parse(&source)?;
    let catalog = req.registry.catalog();
    let inputs = resolve_inputs(&parsed, &given, false)?;
    let provisional = StackContext {
        name: Some(req.name.to_owned()),
        suffix: Some(String::new()),
        id: Some(stack_id.to_string()),
    };
    let provisional_settings = exec::provider_settings(&parsed, &catalog, &inputs, &provisional)?;
    let mut by_provider = BTreeMap::new();
    for (provider, inventory) in req.registry.inventories() {
        let here = provisional_settings
            .get(provider)
            .cloned()
            .unwrap_or_default();
        let listed = owned_by(&req, provider, inventory.as_ref(), &here, stack_id).await?;
        by_provider.insert(provider.to_owned(), listed);
    }
    let mut found: Vec<Found> = by_provider.values().flatten().cloned().collect();
    if let Some(other) = found
        .iter()
        .filter_map(|f| f.tags.get(TAG_STACK))
        .find(|n| n.as_str() != req.name)
    {
        return Err(invalid(
            Diagnostic::new(
                "state::other_stack",
                format!(
                    "the resources of stack id {} belong to stack `{other}`",
                    stack_id
                ),
            )
            .help(format!(
                "rebuild it under its own name: `stackform state rebuild {other} ...`"
            )),
        ));
    }
    let suffix = recover_suffix(&parsed, req.registry, &found).unwrap_or_default();
    let stack = StackContext {
        name: Some(req.name.to_owned()),
        suffix: Some(suffix.clone()),
        id: Some(stack_id.to_string()),
    };
    // Settings built from the suffix (`providers.kubernetes.eks_cluster: ${stack.name}-${stack.suffix}`)
    // name the right place only now: those providers are listed again there.
    let settings = exec::provider_settings(&parsed, &catalog, &inputs, &stack)?;
    if settings != provisional_settings {
        for (provider, inventory) in req.registry.inventories() {
            let here = settings.get(provider).cloned().unwrap_or_default();
            if provisional_settings
                .get(provider)
                .cloned()
                .unwrap_or_default()
                != here
            {
                let listed = owned_by(&req, provider, inventory.as_ref(), &here, stack_id).await?;
                by_provider.insert(provider.to_owned(), listed);
            }
        }
        found = by_provider.values().flatten().cloned().collect();
    }
    let mut state = State::new(
        req.name,
        &suffix,
        TemplateRecord {
            name: parsed.name.clone(),
            hash: plan::template_hash(&parsed.source.text),
            source: parsed.source.text.clone(),
        },
    );
    state.stack.id = stack_id;
    state.providers = settings.clone();
    state.inputs = inputs
        .iter()
        .map(|(k, v)| {
            let sensitive = parsed.input(k).is_some_and(|d| d.sensitive);
            let stored = if sensitive {
                StoredInput::sensitive(v)
            } else {
                StoredInput::Value(v.clone())
            };
            (k.clone(), stored)
        })
        .collect();
    let all: BTreeSet<&str> = parsed
        .resources
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let graph = plan::build_graph(&parsed, &catalog, &all);
    for f in found {
        let Some(address) = f.tags.get(TAG_ADDRESS).cloned() else {
            continue;
        };
        let Some(def) = parsed.resource(&address) else {
            continue;
        };
        if def.type_name != f.type_name {
            continue;
        }
        state.resources.insert(
            address.clone(),
            ResourceState {
                type_name: f.type_name,
                physical_id: f.physical_id,
                properties: strip_census_defaults(f.properties),
                outputs: f.outputs,
                dependencies: graph
                    .dependencies(&address)
                    .into_iter()
                    .filter(|d| !d.starts_with("data."))
                    .collect(),
                protect: def.protect,
                created_at: now_rfc3339(),
                found: None,
            },
        );
    }
    // What providers do not report keeps the template's value: take it from a plan against what
    // was found, round after round (a value that depends on another's outputs settles once that
    // one has), as deep as the template's graph at most.
    let data = exec::read_data(&parsed, &catalog, req.registry, &inputs, &stack, &settings).await?;
    for _ in 0..parsed.resources.len().max(1) {
        let changed = complete(
            &mut state,
            &parsed,
            &catalog,
            &given,
            &stack,
            &data,
            req.registry,
            &req.run,
            None,
        )
        .await?;
        if !changed {
            break;
        }
    }
    let missing: Vec<String> = parsed
        .resources
        .iter()
        .map(|r| r.address.clone())
        .filter(|a| !state.resources.contains_key(a))
        .collect();
    let recorder = Recorder::create(req.files.clone(), state)?;
    recorder.compact()?;
    Ok((recorder.state(), missing))
}

/// Why a rebuild cannot start: what the backup would have told, and it is not there.
/// What `provider` holds of stack `stack_id` where `settings` point.
async fn owned_by(
    req: &RebuildRequest<'_>,
    provider: &str,
    inventory: &dyn Inventory,
    settings: &Props,
    stack_id: uuid::Uuid,
) -> Result<Vec<Found>, OpError> {
    let marks = Marks::StackId(stack_id);
    Ok(
        exec::look(&req.run.retry, || inventory.owned(settings, &marks, None))
            .await
            .map_err(|error| RunError::Provider {
                what: format!("looking for `{provider}` resources by their tags"),
                error,
            })?,
    )
}

fn needs(flag: &str, name: &str) -> OpError {
    invalid(
        Diagnostic::new(
            "state::rebuild_needs",
            format!("stack `{name}` has no readable backup to say its {}", &flag[2..]),
        )
        .help("give `--stack-id ID --template TEMPLATE` (the id is the `stackform:stack-id` tag on any of its resources) and the inputs it was deployed with"),
    )
}

/// Moves a corrupt state and its journal aside (`*.corrupt`), kept for whoever wants to look.
fn set_aside(files: &StackFiles) -> Result<(), OpError> {
    for path in [files.state(), files.journal()] {
        if path.exists() {
            let mut aside = path.clone().into_os_string();
            aside.push(".corrupt");
            std::fs::rename(&path, &aside).map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// The census adds what a stateless delete needs (`force_destroy`); a rebuilt state records only
/// what the cloud reports and the template asks.
fn strip_census_defaults(mut props: Props) -> Props {
    props.remove("force_destroy");
    props.remove("force_delete");
    props
}

/// Reads each resource again with the properties the template asks for, as a create would
/// have recorded it: what the provider reports, and the asked value for what it does not.
#[allow(clippy::too_many_arguments)]
async fn complete(
    state: &mut State,
    parsed: &template::Template,
    catalog: &crate::lang::schema::Catalog,
    inputs: &InputValues,
    stack: &StackContext,
    data: &HashMap<String, BTreeMap<String, Value>>,
    registry: &Registry,
    run: &RunConfig,
    only: Option<&str>,
) -> Result<bool, OpError> {
    let the_plan = plan::plan(&PlanRequest {
        template: parsed,
        catalog,
        inputs,
        stack: stack.clone(),
        state: Some(state),
        data,
        partial: false,
        replace: &[],
    })?;
    let before = state.resources.clone();
    for c in &the_plan.changes {
        if !matches!(c.action, Action::Update | Action::Replace)
            || only.is_some_and(|a| a != c.address)
        {
            continue;
        }
        let Some(r) = state.resources.get(&c.address).cloned() else {
            continue;
        };
        let mut asked = r.properties.clone();
        for p in &c.properties {
            if let Some(PlannedValue::Known(v)) = &p.after {
                asked.insert(p.name.clone(), v.clone());
            }
        }
        let Some(t) = registry.resource(&r.type_name) else {
            continue;
        };
        let ctx = crate::provider::OpContext {
            deleting: Default::default(),
            ownership: state.ownership(&c.address),
            recovery: crate::provider::RecoveryKey::Tags,
            stack_dir: run.stack_dir.clone(),
            settings: state
                .providers
                .get(crate::provider::provider_of(&r.type_name))
                .cloned()
                .unwrap_or_default(),
        };
        let read = exec::look(&run.retry, || t.read(&ctx, &r.physical_id, &asked))
            .await
            .map_err(|error| RunError::Provider {
                what: format!("reading `{}` again", c.address),
                error,
            })?;
        if let Some(applied) = read {
            let mut properties = asked;
            properties.extend(applied.properties);
            if let Some(slot) = state.resources.get_mut(&c.address) {
                slot.properties = properties;
                slot.outputs = applied.outputs;
            }
        }
    }
    Ok(state.resources != before)
}

/// The stack's suffix, from a property the template builds with `${stack.suffix}` and the value
/// the cloud reports for it: the property as found, or the physical id of a type recovered by
/// that property (its name).
fn recover_suffix(
    parsed: &template::Template,
    registry: &Registry,
    found: &[crate::provider::Found],
) -> Option<String> {
    for def in &parsed.resources {
        let Some(t) = registry.resource(&def.type_name) else {
            continue;
        };
        let named_by = match t.recovery() {
            RecoveryKind::Name(prop) => Some(prop),
            _ => None,
        };
        for p in &def.properties {
            let TValue::Text { template: text, .. } = &p.value else {
                continue;
            };
            let Some(re) = suffix_pattern(&text.parts) else {
                continue;
            };
            for f in found {
                if f.tags.get(TAG_ADDRESS) != Some(&def.address) {
                    continue;
                }
                let by_name = (named_by == Some(p.name.as_str())).then_some(f.physical_id.as_str());
                let reported = f.properties.get(&p.name).and_then(Value::as_str);
                for seen in [reported, by_name].into_iter().flatten() {
                    if let Some(c) = re.captures(seen) {
                        return c.get(1).map(|m| m.as_str().to_owned());
                    }
                }
            }
        }
    }
    None
}

/// A pattern matching the text `parts` build, capturing what `${stack.suffix}` stands for; none
/// when the text does not use the suffix.
fn suffix_pattern(parts: &[Part]) -> Option<regex::Regex> {
    let mut pattern = String::from("^");
    let mut has_suffix = false;
    for part in parts {
        match part {
            Part::Lit(l) => pattern.push_str(&regex::escape(l)),
            Part::Expr { expr, .. } => {
                let refs = expr.references();
                let is_suffix = refs.len() == 1
                    && refs[0].segments == ["stack".to_owned(), "suffix".to_owned()];
                if is_suffix && !has_suffix {
                    pattern.push_str("([a-z0-9]+)");
                    has_suffix = true;
                } else {
                    pattern.push_str(".*?");
                }
            }
            Part::Secret { .. } => pattern.push_str(".*?"),
        }
    }
    pattern.push('$');
    if !has_suffix {
        return None;
    }
    regex::Regex::new(&pattern).ok()
}

/// What `stackform import` is given.
pub struct ImportResourceRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    pub address: &'a str,
    pub physical_id: &'a str,
    pub template: Arc<SourceFile>,
    pub inputs: InputValues,
    pub registry: &'a Registry,
    pub run: RunConfig,
    pub lock_wait: Duration,
}

/// Adopts an existing resource into a stack at `address`, read from the cloud and recorded as a
/// create of the template's resource would have recorded it; nothing in the cloud changes.
pub async fn import_resource(req: ImportResourceRequest<'_>) -> Result<ResourceState, OpError> {
    let _lock = take_lock(&req.files, req.name, "import", req.lock_wait)?;
    let Some(mut state) = crate::state::store::load(&req.files)? else {
        return Err(OpError::NoSuchStack(req.name.to_owned()));
    };
    let parsed = template::parse(&req.template)?;
    let catalog = req.registry.catalog();
    let Some(def) = parsed.resource(req.address) else {
        return Err(invalid(
            Diagnostic::new(
                "import::unknown_address",
                format!("the template has no resource `{}`", req.address),
            )
            .help("declare it in the template first, then import it at its address"),
        ));
    };
    if state.resources.contains_key(req.address) {
        return Err(invalid(
            Diagnostic::new(
                "import::managed",
                format!("stack `{}` already manages `{}`", req.name, req.address),
            )
            .help("`stackform state rm` it first to import another resource there"),
        ));
    }
    let t = req
        .registry
        .resource(&def.type_name)
        .ok_or_else(|| RunError::UnknownType(def.type_name.clone()))?;
    let ctx = crate::provider::OpContext {
        deleting: Default::default(),
        ownership: state.ownership(req.address),
        recovery: crate::provider::RecoveryKey::Tags,
        stack_dir: req.run.stack_dir.clone(),
        settings: state
            .providers
            .get(crate::provider::provider_of(&def.type_name))
            .cloned()
            .unwrap_or_default(),
    };
    let nothing = Props::new();
    let read = exec::look(&req.run.retry, || t.read(&ctx, req.physical_id, &nothing))
        .await
        .map_err(|error| RunError::Provider {
            what: format!("reading {} {}", def.type_name, req.physical_id),
            error,
        })?;
    let Some(applied) = read else {
        return Err(invalid(
            Diagnostic::new(
                "import::not_found",
                format!(
                    "there is no {} `{}` to import",
                    def.type_name, req.physical_id
                ),
            )
            .help("check the id and the stack's region and connector"),
        ));
    };
    let inputs = resolve_inputs(&parsed, &req.inputs, false)?;
    let stack = StackContext {
        name: Some(state.stack.name.clone()),
        suffix: Some(state.stack.suffix.clone()),
        id: Some(state.stack.id.to_string()),
    };
    let all: BTreeSet<&str> = parsed
        .resources
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let graph = plan::build_graph(&parsed, &catalog, &all);
    state.resources.insert(
        req.address.to_owned(),
        ResourceState {
            type_name: def.type_name.clone(),
            physical_id: applied.physical_id,
            properties: applied.properties,
            outputs: applied.outputs,
            dependencies: graph
                .dependencies(req.address)
                .into_iter()
                .filter(|d| !d.starts_with("data."))
                .collect(),
            protect: def.protect,
            created_at: now_rfc3339(),
            found: None,
        },
    );
    let settings = state.providers.clone();
    let data = exec::read_data(&parsed, &catalog, req.registry, &inputs, &stack, &settings).await?;
    for _ in 0..3 {
        let changed = complete(
            &mut state,
            &parsed,
            &catalog,
            &req.inputs,
            &stack,
            &data,
            req.registry,
            &req.run,
            Some(req.address),
        )
        .await?;
        if !changed {
            break;
        }
    }
    let resource = state.resources[req.address].clone();
    let current = crate::state::store::load(&req.files)?
        .ok_or_else(|| OpError::NoSuchStack(req.name.to_owned()))?;
    let recorder = Recorder::open(req.files.clone(), current)?;
    recorder
        .record(crate::state::store::Entry::Applied {
            op: None,
            address: req.address.to_owned(),
            resource: resource.clone(),
        })
        .await?;
    recorder.compact()?;
    Ok(resource)
}
