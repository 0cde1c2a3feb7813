//! `reap`: the stacks whose TTL has passed, from local state or found by their expiry tags.

use std::collections::BTreeMap;

use super::*;
use crate::exec::{self, RunConfig, RunError};
use crate::provider::Registry;
use crate::state::State;

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
        let found = exec::look(&run.retry, || {
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
