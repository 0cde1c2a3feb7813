//! The executor: applies a plan by walking its graph concurrently, recording every operation
//! before it starts.
//!
//! A resource starts the moment its own dependencies finish (a ready queue, never level by
//! level), within an overall limit and a per-provider limit. A slot is held only while a provider
//! call runs: waiting for a long operation or a retry backoff gives it back. Ready operations
//! and waiters for a slot go critical path first (`schedule`, `slots`): the one with the longest
//! chain of expected durations still ahead of it; a finished operation's slot goes to the most
//! urgent waiter only once its dependents are queued. The calls themselves, with their retries
//! and outcome-unknown lookups, are in `calls`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::calls::{create, delete, update, values_of};
use super::node::{Node, Shared, lock};
use super::run::{Desired, Event, Failure, Report, RunConfig, RunError};
use super::schedule::{self, Ready};
use super::slots::Permit;
use crate::base::value::Value;
use crate::plan::resolve::{Env, ResourceValues, evaluate_resource};
use crate::plan::{Action, Plan};
use crate::provider::{ErrorKind, Props, ProviderError, RecoveryKind, Registry, provider_of};
use crate::state::State;
use crate::state::store::Recorder;

/// Runs one node of the plan. `Ok(Err(..))` is a provider failure; `Err` stops the run.
async fn run_node(
    shared: &Node<'_, '_>,
    desired: &Desired<'_>,
    known: &Mutex<HashMap<String, ResourceValues>>,
    change: &crate::plan::ResourceChange,
) -> Result<Result<(), ProviderError>, RunError> {
    let address = change.address.as_str();
    let prior = shared
        .recorder
        .with_state(|s| s.resources.get(address).cloned());
    let type_name = match change.action {
        Action::Delete => prior
            .as_ref()
            .map_or(change.type_name.clone(), |p| p.type_name.clone()),
        _ => change.type_name.clone(),
    };
    let t = shared
        .registry
        .resource(&type_name)
        .ok_or_else(|| RunError::UnknownType(type_name.clone()))?;

    if change.action == Action::Delete {
        let Some(prior) = prior else {
            return Ok(Ok(()));
        };
        return Ok(delete(shared, t.as_ref(), address, &prior).await?);
    }

    // Evaluate now: the dependencies are done, so their outputs are known.
    let template = desired
        .template
        .ok_or_else(|| RunError::UnknownType(type_name.clone()))?;
    let def = template
        .resource(address)
        .ok_or_else(|| RunError::UnknownType(type_name.clone()))?;
    let deps: HashMap<String, ResourceValues> = {
        let known = known.lock().unwrap_or_else(|p| p.into_inner());
        change
            .depends_on
            .iter()
            .filter_map(|d| known.get(d).map(|v| (d.clone(), v.clone())))
            .collect()
    };
    let env = Env {
        template,
        catalog: desired.catalog,
        inputs: desired.inputs,
        stack: desired.stack,
        resources: &deps,
        data: desired.data,
    };
    let props = match evaluate_resource(def, t.schema(), &env) {
        Ok(p) => p,
        Err(diags) => {
            // A value that only now turns out wrong fails this resource, not the whole run.
            let text: Vec<String> = diags.0.iter().map(|d| d.message.clone()).collect();
            return Ok(Err(ProviderError::new(ErrorKind::Invalid, text.join("; "))));
        }
    };
    if let Some((name, _)) = props.iter().find(|(_, v)| v.contains_unknown()) {
        return Ok(Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("property `{name}` is still unknown after its dependencies finished"),
        )));
    }
    let dependencies: Vec<String> = change
        .depends_on
        .iter()
        .filter(|d| !d.starts_with("data."))
        .cloned()
        .collect();
    // Protection lives in state: what the template asks, what was set before, and everything of
    // a production stack.
    let protect = change.protect || shared.recorder.with_state(State::is_production);
    let result = match (change.action, prior) {
        (Action::Update, Some(prior)) => {
            update(
                shared,
                desired.catalog,
                t.as_ref(),
                address,
                &prior,
                &props,
                dependencies,
                protect,
            )
            .await?
        }
        (Action::Replace, Some(prior)) => {
            if let Err(e) = delete(shared, t.as_ref(), address, &prior).await? {
                return Ok(Err(e));
            }
            create(
                shared,
                desired.catalog,
                t.as_ref(),
                address,
                &props,
                dependencies,
                protect,
            )
            .await?
        }
        _ => {
            create(
                shared,
                desired.catalog,
                t.as_ref(),
                address,
                &props,
                dependencies,
                protect,
            )
            .await?
        }
    };
    Ok(result.map(|resource| {
        known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(address.to_owned(), values_of(&resource));
    }))
}

/// Applies a plan. Returns what was done; a provider failure is in the report, not an error.
pub async fn apply(
    plan: &Plan,
    desired: &Desired<'_>,
    registry: &Registry,
    recorder: &Recorder,
    cfg: &RunConfig,
) -> Result<Report, RunError> {
    let state = recorder.state();
    let nodes: Vec<&crate::plan::ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop)
        .collect();
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.as_str(), i))
        .collect();

    // Edges: template dependencies for what is created or changed; for deletes, dependents go
    // first (including resources that used to depend on them and are being changed).
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, c) in nodes.iter().enumerate() {
        if c.action != Action::Delete {
            for d in &c.depends_on {
                if let Some(&j) = index.get(d.as_str())
                    && nodes[j].action != Action::Delete
                {
                    after[i].push(j);
                }
            }
        }
        if let Some(prior) = state.resources.get(&c.address) {
            for d in &prior.dependencies {
                if let Some(&j) = index.get(d.as_str())
                    && nodes[j].action == Action::Delete
                {
                    after[j].push(i);
                }
            }
            // A found resource goes after its maker (no controller left to recreate it).
            if c.action == Action::Delete
                && let Some(found) = &prior.found
            {
                for a in &found.after {
                    if let Some(&j) = index.get(a.as_str())
                        && nodes[j].action == Action::Delete
                    {
                        after[i].push(j);
                    }
                }
            }
        }
    }
    // A create that takes the name of a resource being deleted (the same role under another
    // address, after a `when` switched) must wait for that delete, or the names collide.
    let name_of = |c: &crate::plan::ResourceChange| -> Option<(String, Value)> {
        let RecoveryKind::Name(prop) = registry.resource(&c.type_name)?.recovery() else {
            return None;
        };
        let value = c.properties.iter().find(|p| p.name == prop)?;
        let planned = if c.action == Action::Delete {
            value.before.as_ref()
        } else {
            value.after.as_ref()
        };
        match planned? {
            crate::plan::PlannedValue::Known(v) => Some((c.type_name.clone(), v.clone())),
            _ => None,
        }
    };
    let deleted_names: Vec<(usize, (String, Value))> = nodes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.action == Action::Delete)
        .filter_map(|(j, c)| Some((j, name_of(c)?)))
        .collect();
    for (i, c) in nodes.iter().enumerate() {
        if c.action != Action::Create {
            continue;
        }
        if let Some(name) = name_of(c) {
            for (j, taken) in &deleted_names {
                if *taken == name {
                    after[i].push(*j);
                }
            }
        }
    }
    let mut waiting: Vec<usize> = after.iter().map(|a| a.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, a) in after.iter().enumerate() {
        for &j in a {
            dependents[j].push(i);
        }
    }

    // Critical path first: each node ranked by the longest chain of expected durations from
    // its start to the end of the graph; it queues for its first slot under its provider.
    let type_of = |c: &crate::plan::ResourceChange| -> String {
        match (c.action, state.resources.get(&c.address)) {
            (Action::Delete, Some(prior)) => prior.type_name.clone(),
            _ => c.type_name.clone(),
        }
    };
    let weights: Vec<Duration> = nodes
        .iter()
        .map(|c| {
            let props = match (c.action, state.resources.get(&c.address)) {
                (Action::Delete, Some(prior)) => prior.properties.clone(),
                _ => planned_properties(c),
            };
            schedule::weight(registry.expected_duration(&type_of(c), &props), c.action)
        })
        .collect();
    let priority = schedule::priorities(&weights, &dependents);
    let provider: Vec<String> = nodes
        .iter()
        .map(|c| provider_of(&type_of(c)).to_owned())
        .collect();

    let types = nodes
        .iter()
        .map(|c| c.type_name.clone())
        .chain(state.resources.values().map(|r| r.type_name.clone()));
    let mut shared = Shared::new(registry, recorder, cfg, types);
    shared.deleting = std::sync::Arc::new(
        nodes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .filter_map(|c| state.resources.get(&c.address))
            .map(|r| r.physical_id.clone())
            .collect(),
    );
    let known: Mutex<HashMap<String, ResourceValues>> = Mutex::new(
        state
            .resources
            .iter()
            .map(|(a, r)| (a.clone(), values_of(r)))
            .collect(),
    );

    let mut report = Report::default();
    let mut ready = Ready::default();
    for (i, p) in priority.iter().enumerate() {
        if waiting[i] == 0 {
            ready.push(*p);
        }
    }
    let mut blocked: HashSet<usize> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut started = vec![false; nodes.len()];
    // The slot of the node that finished last, given back once what it made ready is queued.
    let mut handoff: Option<Permit<'_>> = None;
    loop {
        while !cfg.cancel.is_cancelled() {
            let Some(i) = ready.pop() else { break };
            started[i] = true;
            let change = nodes[i];
            shared.emit(Event::Started {
                address: change.address.clone(),
                action: change.action,
            });
            let node = Node {
                shared: &shared,
                priority: priority[i],
                first: Mutex::new(Some(shared.slots.enqueue(&provider[i], priority[i]))),
                kept: Mutex::new(None),
            };
            let known = &known;
            running.push(async move {
                let t0 = Instant::now();
                let result = run_node(&node, desired, known, change).await;
                let kept = lock(&node.kept).take();
                (i, result, t0.elapsed(), kept)
            });
        }
        drop(handoff.take());
        let Some((i, result, elapsed, kept)) = running.next().await else {
            break;
        };
        handoff = kept;
        let change = nodes[i];
        match result? {
            Ok(()) => {
                shared.emit(Event::Finished {
                    address: change.address.clone(),
                    action: change.action,
                    elapsed,
                });
                report.done.push((change.address.clone(), change.action));
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 && !blocked.contains(&d) {
                        ready.push(priority[d]);
                    }
                }
            }
            Err(error) => {
                shared.emit(Event::Failed {
                    address: change.address.clone(),
                    action: change.action,
                    error: error.message.clone(),
                });
                report.failed.push(Failure {
                    address: change.address.clone(),
                    action: change.action,
                    error,
                });
                // Everything downstream is blocked.
                let mut todo = dependents[i].clone();
                while let Some(d) = todo.pop() {
                    if blocked.insert(d) {
                        todo.extend(dependents[d].iter().copied());
                    }
                }
            }
        }
    }
    // Cancelled only if the cancellation kept something from starting: Ctrl-C while the last
    // operation finishes leaves a complete run, and it is reported as one.
    report.cancelled =
        cfg.cancel.is_cancelled() && (0..nodes.len()).any(|i| !started[i] && !blocked.contains(&i));
    for (i, c) in nodes.iter().enumerate() {
        if !started[i] {
            let reason = if blocked.contains(&i) {
                "a dependency failed".to_owned()
            } else {
                "cancelled".to_owned()
            };
            shared.emit(Event::Skipped {
                address: c.address.clone(),
                reason: reason.clone(),
            });
            report.skipped.push((c.address.clone(), reason));
        }
    }
    Ok(report)
}

/// The values a change will be applied with, as far as the plan knows them (for the schedule's
/// duration hints).
fn planned_properties(c: &crate::plan::ResourceChange) -> Props {
    c.properties
        .iter()
        .filter_map(|p| match &p.after {
            Some(crate::plan::PlannedValue::Known(v)) => Some((p.name.clone(), v.clone())),
            _ => None,
        })
        .collect()
}
