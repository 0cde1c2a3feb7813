//! Refresh and drift: every recorded resource read back from the cloud, in bulk where a type
//! can, within each provider's limit. Refresh records what changed or disappeared; drift only
//! reports it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use super::calls::{look, seal_sensitive};
use super::node::{Shared, semaphores};
use super::run::{Event, RunConfig, RunError};
use crate::base::value::Value;
use crate::provider::{
    Applied, OpContext, Props, ProviderError, RecoveryKey, Registry, ResourceType, provider_of,
};
use crate::state::store::{Entry, Recorder};
use crate::state::{ResourceState, State};

/// Reads every resource in state and records what changed or disappeared.
pub async fn refresh(
    registry: &Registry,
    recorder: &Recorder,
    cfg: &RunConfig,
) -> Result<(), RunError> {
    let resources: Vec<(String, ResourceState)> =
        recorder.with_state(|s| s.resources.clone().into_iter().collect());
    let types = || resources.iter().map(|(_, r)| r.type_name.clone());
    let shared = Shared::new(registry, recorder, cfg, types());
    let limits = semaphores(registry, cfg, types());
    let catalog = registry.catalog();
    let stack_id = recorder.with_state(|s| s.stack.id);
    // Reads run concurrently within the providers' limits; results are recorded in order.
    let state = recorder.state();
    let mut results = read_resources(registry, &state, &resources, cfg, &limits).await?;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (address, read) in results {
        let prior = &resources
            .iter()
            .find(|(a, _)| *a == address)
            .expect("read what was listed")
            .1;
        match read.map_err(|error| RunError::Provider {
            what: format!("refreshing `{address}`"),
            error,
        })? {
            None => {
                recorder
                    .record(Entry::Deleted {
                        op: None,
                        address: address.clone(),
                    })
                    .await?;
                shared.emit(Event::Refreshed {
                    address,
                    outcome: "gone: deleted outside stackform".into(),
                });
            }
            Some(applied) => {
                let properties =
                    seal_sensitive(&catalog, &prior.type_name, &stack_id, &applied.properties);
                if properties != prior.properties
                    || applied.outputs != prior.outputs
                    || applied.physical_id != prior.physical_id
                {
                    let resource = ResourceState {
                        physical_id: applied.physical_id,
                        properties,
                        outputs: applied.outputs,
                        ..prior.clone()
                    };
                    recorder
                        .record(Entry::Applied {
                            op: None,
                            address: address.clone(),
                            resource,
                        })
                        .await?;
                    shared.emit(Event::Refreshed {
                        address,
                        outcome: "changed outside stackform".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Resources of one type read together: one request for a bulk type, else one resource.
type Batch<'r> = (Arc<dyn ResourceType>, Vec<&'r (String, ResourceState)>);

/// How many resources one bulk read asks for (describe calls take about this many ids).
const BULK: usize = 100;

/// Reads resources for refresh and drift, concurrently within each provider's limit: types that
/// read in bulk in chunks of [`BULK`], the others one request each.
async fn read_resources(
    registry: &Registry,
    state: &State,
    resources: &[(String, ResourceState)],
    cfg: &RunConfig,
    limits: &HashMap<String, Arc<Semaphore>>,
) -> Result<Vec<(String, Result<Option<Applied>, ProviderError>)>, RunError> {
    let ctx_of = |address: &str, type_name: &str| OpContext {
        deleting: Default::default(),
        ownership: state.ownership(address),
        recovery: RecoveryKey::Tags,
        stack_dir: cfg.stack_dir.clone(),
        settings: state
            .providers
            .get(provider_of(type_name))
            .cloned()
            .unwrap_or_default(),
    };
    let mut by_type: BTreeMap<&str, Vec<&(String, ResourceState)>> = BTreeMap::new();
    for item in resources {
        by_type
            .entry(item.1.type_name.as_str())
            .or_default()
            .push(item);
    }
    let mut batches: Vec<Batch<'_>> = Vec::new();
    for (type_name, items) in by_type {
        let t = registry
            .resource(type_name)
            .ok_or_else(|| RunError::UnknownType(type_name.to_owned()))?;
        if t.reads_in_bulk() {
            for chunk in items.chunks(BULK) {
                batches.push((Arc::clone(t), chunk.to_vec()));
            }
        } else {
            batches.extend(items.into_iter().map(|i| (Arc::clone(t), vec![i])));
        }
    }
    let reads = FuturesUnordered::new();
    for (t, items) in batches {
        let limit = Arc::clone(&limits[provider_of(&t.schema().type_name)]);
        let ctx = ctx_of(&items[0].0, &t.schema().type_name);
        reads.push(async move {
            let _permit = limit.acquire_owned().await.expect("never closed");
            if let [(address, r)] = items.as_slice() {
                let read = look(&cfg.retry, || t.read(&ctx, &r.physical_id, &r.properties)).await;
                return vec![(address.clone(), read)];
            }
            let asked: Vec<(String, Props)> = items
                .iter()
                .map(|(_, r)| (r.physical_id.clone(), r.properties.clone()))
                .collect();
            match look(&cfg.retry, || t.read_many(&ctx, &asked)).await {
                Ok(found) => items
                    .iter()
                    .zip(found)
                    .map(|((address, _), f)| (address.clone(), Ok(f)))
                    .collect(),
                Err(e) => items
                    .iter()
                    .map(|(address, _)| (address.clone(), Err(e.clone())))
                    .collect(),
            }
        });
    }
    Ok(reads
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect())
}

/// How a resource differs from its record, as the cloud reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub address: String,
    pub type_name: String,
    /// Deleted outside stackform.
    pub gone: bool,
    /// Properties the cloud reports differently: (name, recorded, now).
    pub changed: Vec<(String, Value, Value)>,
}

/// Reads every resource of `state` (concurrently within the providers' limits) and reports what
/// changed outside stackform, recording nothing. Only properties a provider reports are
/// compared; sensitive ones as seals.
pub async fn drift(
    registry: &Registry,
    state: &State,
    cfg: &RunConfig,
) -> Result<Vec<Drift>, RunError> {
    let catalog = registry.catalog();
    let limits = semaphores(
        registry,
        cfg,
        state.resources.values().map(|r| r.type_name.clone()),
    );
    let resources: Vec<(String, ResourceState)> = state.resources.clone().into_iter().collect();
    let mut out = Vec::new();
    for (address, read) in read_resources(registry, state, &resources, cfg, &limits).await? {
        let r = &state.resources[&address];
        let read = read.map_err(|error| RunError::Provider {
            what: format!("reading `{address}`"),
            error,
        })?;
        let Some(applied) = read else {
            out.push(Drift {
                address: address.clone(),
                type_name: r.type_name.clone(),
                gone: true,
                changed: Vec::new(),
            });
            continue;
        };
        let now = seal_sensitive(&catalog, &r.type_name, &state.stack.id, &applied.properties);
        let changed: Vec<(String, Value, Value)> = now
            .iter()
            .filter(|(k, v)| r.properties.get(*k).unwrap_or(&Value::Null) != *v)
            .map(|(k, v)| {
                (
                    k.clone(),
                    r.properties.get(k).cloned().unwrap_or(Value::Null),
                    v.clone(),
                )
            })
            .collect();
        if !changed.is_empty() {
            out.push(Drift {
                address: address.clone(),
                type_name: r.type_name.clone(),
                gone: false,
                changed,
            });
        }
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(out)
}
