//! Teardown that leaves nothing: the leftovers a cluster's controllers made, and the census.
//!
//! Deleting a cluster leaves what Kubernetes made inside it (load balancers, security groups,
//! network interfaces, volumes). No state records them, and they block the network's deletion.
//! Before a destroy is shown, [`leftovers`] asks every resource about to be deleted what it
//! left behind; each leftover becomes a `found` resource of the destroy graph, deleted after
//! its maker and before the maker's dependencies. After the destroy, [`census`] looks for
//! anything still carrying the stack's marks (every provider's [`Inventory`], and the makers'
//! leftovers again); the caller deletes what it finds in a second pass.
//!
//! [`Inventory`]: crate::provider::Inventory

use std::collections::{BTreeMap, BTreeSet};

use crate::exec::{RunConfig, RunError, look};
use crate::provider::{
    Disposition, Found, Marks, OpContext, RecoveryKey, Registry, TAG_ADDRESS, provider_of,
};
use crate::state::{FoundRecord, ResourceState, State, now_rfc3339};

/// Leftovers to delete, by address, and those only reported.
#[derive(Debug, Default)]
pub struct Discovery {
    pub found: BTreeMap<String, ResourceState>,
    /// Each found leftover's rank, for passes without a state to order them.
    pub ranks: BTreeMap<String, u32>,
    /// Possibly the stack's, not marked as such: shown, never deleted.
    pub reported: Vec<String>,
}

fn ctx(state: &State, address: &str, type_name: &str, cfg: &RunConfig) -> OpContext {
    OpContext {
        deleting: Default::default(),
        ownership: state.ownership(address),
        recovery: RecoveryKey::Tags,
        stack_dir: cfg.stack_dir.clone(),
        settings: state
            .providers
            .get(provider_of(type_name))
            .cloned()
            .unwrap_or_default(),
    }
}

/// Whether the state already holds this cloud object (a leftover adopted by an earlier run).
fn recorded(state: &State, type_name: &str, physical_id: &str) -> bool {
    state
        .resources
        .values()
        .any(|r| r.type_name == type_name && r.physical_id == physical_id)
}

/// Asks each of `owners` (resources about to be deleted) what it left in the cloud.
/// With `retain_data`, data (volumes) is kept and reported instead of deleted.
pub async fn leftovers(
    registry: &Registry,
    state: &State,
    owners: &[String],
    retain_data: bool,
    cfg: &RunConfig,
) -> Result<Discovery, RunError> {
    let mut out = Discovery::default();
    for owner in owners {
        let Some(r) = state.resources.get(owner) else {
            continue;
        };
        let t = registry
            .resource(&r.type_name)
            .ok_or_else(|| RunError::UnknownType(r.type_name.clone()))?;
        let ctx = ctx(state, owner, &r.type_name, cfg);
        let list = look(&cfg.retry, || t.leftovers(&ctx, r.recorded()))
            .await
            .map_err(|error| RunError::Provider {
                what: format!("looking for what `{owner}` left behind"),
                error,
            })?;
        for l in list {
            if recorded(state, &l.type_name, &l.physical_id) {
                continue;
            }
            let retain = match &l.disposition {
                Disposition::Report(why) => {
                    out.reported.push(format!(
                        "{} {} ({}) was left alone: {why}",
                        l.type_name, l.physical_id, l.found_by
                    ));
                    continue;
                }
                Disposition::Data => retain_data,
                Disposition::Delete => false,
            };
            let mut dependencies: Vec<String> =
                l.before.iter().map(|k| format!("{owner}/{k}")).collect();
            if l.in_network {
                dependencies.extend(r.dependencies.iter().cloned());
            }
            let address = format!("{owner}/{}", l.key);
            out.ranks.insert(address.clone(), l.rank);
            out.found.insert(
                address,
                ResourceState {
                    type_name: l.type_name,
                    physical_id: l.physical_id,
                    properties: l.properties,
                    outputs: BTreeMap::new(),
                    dependencies,
                    protect: false,
                    created_at: now_rfc3339(),
                    found: Some(FoundRecord {
                        by: l.found_by,
                        after: vec![owner.clone()],
                        retain,
                        external: false,
                    }),
                },
            );
        }
    }
    Ok(out)
}

/// Something the census found that should be gone.
#[derive(Debug, Clone)]
pub struct Hit {
    pub address: String,
    pub label: String,
    /// Deletion order with no state to go by: lower ranks first.
    pub rank: u32,
    pub resource: ResourceState,
}

/// Looks for anything of the stack that is still in the cloud: everything carrying its
/// ownership tags, and what `owners` (the resources the stack had before the destroy) left
/// behind. What `remaining` still records (kept on purpose) is not a hit.
pub async fn census(
    registry: &Registry,
    before: &State,
    remaining: &State,
    cfg: &RunConfig,
) -> Result<Vec<Hit>, RunError> {
    let marks = Marks::StackId(before.stack.id);
    let used = census_providers(registry, before);
    let mut hits: Vec<Hit> = Vec::new();
    let mut taken: BTreeSet<String> = remaining.resources.keys().cloned().collect();
    for (provider, inventory) in registry.inventories() {
        if !used.iter().any(|p| p == provider) {
            continue;
        }
        let settings = before.providers.get(provider).cloned().unwrap_or_default();
        let kinds: BTreeSet<String> = before
            .resources
            .values()
            .map(|r| r.type_name.clone())
            .collect();
        let found = look(&cfg.retry, || {
            inventory.owned(&settings, &marks, Some(&kinds))
        })
        .await
        .map_err(|error| RunError::Provider {
            what: format!("taking the census of `{provider}` resources"),
            error,
        })?;
        for f in found {
            if recorded(remaining, &f.type_name, &f.physical_id) || forgotten(before, &f) {
                continue;
            }
            let address = unique_address(&mut taken, &f);
            hits.push(Hit {
                address,
                label: f.label.clone(),
                rank: f.rank,
                resource: adopted(f, "census: tag stackform:stack-id"),
            });
        }
    }
    let owners: Vec<String> = before
        .resources
        .iter()
        .filter(|(_, r)| r.found.is_none())
        .map(|(a, _)| a.clone())
        .collect();
    let again = leftovers(registry, before, &owners, false, cfg).await?;
    for (address, r) in again.found {
        if recorded(remaining, &r.type_name, &r.physical_id)
            || hits.iter().any(|h| h.resource.physical_id == r.physical_id)
        {
            continue;
        }
        taken.insert(address.clone());
        hits.push(Hit {
            label: r.physical_id.clone(),
            rank: again.ranks.get(&address).copied().unwrap_or(0),
            address,
            resource: ResourceState {
                found: r.found.map(|f| FoundRecord {
                    after: Vec::new(),
                    ..f
                }),
                ..r
            },
        });
    }
    // Without state, dependencies come from ranks: each waits for every lower rank.
    order_by_rank(&mut hits);
    Ok(hits)
}

/// Whether `state rm` let this resource go: it is unmanaged now, never the census's to delete.
fn forgotten(state: &State, f: &Found) -> bool {
    state
        .forgotten
        .values()
        .any(|r| r.type_name == f.type_name && r.physical_id == f.physical_id)
}

/// The providers a census of the stack asks: those with an inventory that the stack used.
pub fn census_providers(registry: &Registry, state: &State) -> Vec<String> {
    let used: BTreeSet<&str> = state
        .resources
        .values()
        .map(|r| provider_of(&r.type_name))
        .chain(state.providers.keys().map(String::as_str))
        .collect();
    registry
        .inventories()
        .map(|(p, _)| p)
        .filter(|p| used.contains(p))
        .map(str::to_owned)
        .collect()
}

/// The address a found resource gets: its `stackform:address` tag unless taken.
pub fn unique_address(taken: &mut BTreeSet<String>, f: &Found) -> String {
    let base = f
        .tags
        .get(TAG_ADDRESS)
        .cloned()
        .unwrap_or_else(|| f.type_name.clone());
    let address = if taken.contains(&base) {
        format!("{base}/{}", f.physical_id)
    } else {
        base
    };
    taken.insert(address.clone());
    address
}

/// A found resource as a state record.
pub fn adopted(f: Found, by: &str) -> ResourceState {
    ResourceState {
        type_name: f.type_name,
        physical_id: f.physical_id,
        properties: f.properties,
        outputs: f.outputs,
        dependencies: Vec::new(),
        protect: false,
        created_at: now_rfc3339(),
        found: Some(FoundRecord {
            by: by.to_owned(),
            after: Vec::new(),
            retain: false,
            external: false,
        }),
    }
}

/// Orders resources found without a state: a resource depends on (is deleted before) every
/// resource of the next higher rank, so node groups go before clusters and subnets before VPCs.
pub fn order_by_rank(hits: &mut [Hit]) {
    let mut by_rank: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for h in hits.iter() {
        by_rank.entry(h.rank).or_default().push(h.address.clone());
    }
    for h in hits.iter_mut() {
        h.resource.dependencies = by_rank
            .range(h.rank + 1..)
            .next()
            .map(|(_, next)| next.clone())
            .unwrap_or_default();
    }
}
