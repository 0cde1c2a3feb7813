//! `destroy`: everything of a stack deleted, dependents first, with what its clusters left
//! behind, then a census that proves nothing carrying its marks remains.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::exec::teardown;
use crate::exec::{self, Desired, Report, RunConfig, RunError};
use crate::plan::resolve::StackContext;
use crate::plan::{self, Plan};
use crate::provider::Registry;
use crate::state::State;
use crate::state::store::{self, Entry, Recorder, StackFiles};

/// How a destroy ended.
#[derive(Debug)]
pub struct DestroyReport {
    pub plan: Plan,
    /// `None` when nothing was applied (declined, or no changes).
    pub report: Option<Report>,
    pub declined: bool,
    /// Resources left on purpose (protected, or what they depend on).
    pub kept: Vec<String>,
    /// The stack and its state are gone.
    pub removed: bool,
    /// What the census after it found.
    pub census: Option<CensusReport>,
    /// Registered resources, deregistered and left as they are.
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
) -> Result<DestroyReport, OpError> {
    let lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    let Some(recorder) = super::open::open_and_refresh(&req.files, req.registry, &req.run).await?
    else {
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
        return Ok(DestroyReport {
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
    let mut report = exec::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
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
    Ok(DestroyReport {
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
pub(crate) async fn census_pass(
    registry: &Registry,
    before: &State,
    recorder: &Recorder,
    desired: &Desired<'_>,
    run: &RunConfig,
    report: &mut exec::Report,
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
    let pass = exec::apply(&second, desired, registry, recorder, run).await?;
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
fn merge(into: &mut exec::Report, pass: exec::Report) {
    into.done.extend(pass.done);
    into.failed.extend(pass.failed);
    into.skipped.extend(pass.skipped);
    into.cancelled |= pass.cancelled;
}
