//! `sweep`: a stack whose state is lost, found by its ownership tags and deleted in the order
//! its kinds' ranks demand.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::destroy::CensusReport;
use super::*;
use crate::base::diagnostic::Diagnostic;
use crate::exec::teardown;
use crate::exec::{self, Desired, RunConfig, RunError};
use crate::plan::resolve::StackContext;
use crate::plan::{self, Plan};
use crate::provider::Registry;
use crate::state::store::{self, Entry, Recorder, StackFiles};
use crate::state::{State, TemplateRecord};

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
    pub report: Option<exec::Report>,
    pub census: Option<CensusReport>,
}

impl Swept {
    pub fn clean(&self) -> bool {
        self.report.as_ref().is_some_and(exec::Report::ok)
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
        let found = exec::look(&req.run.retry, || {
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
        // The name is a tag in the cloud: only a valid one names a directory here.
        let local = crate::state::stack::StackName::new(&name).ok();
        if let Some(local) = local
            && let Some(existing) = State::load(&local.dir_in(&req.stacks_dir).join("state.json"))?
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
    catalog: &crate::lang::schema::Catalog,
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
        super::open::open_and_refresh(&files, req.registry, &req.run).await?
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
    let mut report = exec::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
    let census = if report.ok() {
        Some(
            super::destroy::census_pass(
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
