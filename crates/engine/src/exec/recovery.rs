//! Operations a crashed run left pending, resolved before anything else runs: each resource
//! is looked up, and its record follows what the cloud holds.

use super::calls::{look, seal_sensitive};
use super::node::Shared;
use super::run::{Event, RunConfig, RunError};
use crate::provider::Registry;
use crate::state::store::{Entry, Recorder};
use crate::state::{OpAction, PendingOperation, ResourceState, now_rfc3339};

/// Resolves operations a previous run left pending, by looking each resource up: a create is
/// adopted if found (it carries this stack's marks) and dropped if not; an update is refreshed;
/// a delete is finished if the resource is gone.
pub async fn resolve_pending(
    registry: &Registry,
    recorder: &Recorder,
    cfg: &RunConfig,
) -> Result<(), RunError> {
    let pending: Vec<PendingOperation> =
        recorder.with_state(|s| s.pending.values().cloned().collect());
    let shared = Shared::new(
        registry,
        recorder,
        cfg,
        pending.iter().map(|p| p.type_name.clone()),
    );
    let catalog = registry.catalog();
    for p in pending {
        let t = registry
            .resource(&p.type_name)
            .ok_or_else(|| RunError::UnknownType(p.type_name.clone()))?;
        let ctx = shared.ctx(&p.address, &p.type_name, p.recovery.clone());
        let stack_id = recorder.with_state(|s| s.stack.id);
        let provider_err = |error| RunError::Provider {
            what: format!(
                "resolving the interrupted {:?} of `{}`",
                p.action, p.address
            )
            .to_lowercase(),
            error,
        };
        let found = match (&p.action, &p.physical_id) {
            (OpAction::Create, _) => look(&cfg.retry, || t.find(&ctx, &p.properties))
                .await
                .map_err(provider_err)?,
            (_, Some(id)) => look(&cfg.retry, || t.read(&ctx, id, &p.properties))
                .await
                .map_err(provider_err)?,
            (_, None) => None,
        };
        let (entry, outcome) = match found {
            Some(applied) => {
                let prior = recorder.with_state(|s| s.resources.get(&p.address).cloned());
                let resource = ResourceState {
                    type_name: p.type_name.clone(),
                    physical_id: applied.physical_id,
                    properties: seal_sensitive(
                        &catalog,
                        &p.type_name,
                        &stack_id,
                        &applied.properties,
                    ),
                    outputs: applied.outputs,
                    dependencies: p.dependencies.clone(),
                    protect: prior.as_ref().is_some_and(|r| r.protect),
                    found: prior.as_ref().and_then(|r| r.found.clone()),
                    created_at: prior.map_or_else(now_rfc3339, |r| r.created_at),
                };
                let outcome = match p.action {
                    OpAction::Create => "adopted: the interrupted create had gone through",
                    OpAction::Update => "refreshed after an interrupted update",
                    OpAction::Delete => "still exists after an interrupted delete",
                };
                (
                    Entry::Applied {
                        op: Some(p.op),
                        address: p.address.clone(),
                        resource,
                    },
                    outcome,
                )
            }
            None => match p.action {
                OpAction::Create => (
                    Entry::Dropped {
                        op: p.op,
                        reason: "not found by its recovery key".into(),
                    },
                    "dropped: the interrupted create never happened",
                ),
                _ => (
                    Entry::Deleted {
                        op: Some(p.op),
                        address: p.address.clone(),
                    },
                    "gone",
                ),
            },
        };
        recorder.record(entry).await?;
        shared.emit(Event::Resolved {
            address: p.address.clone(),
            outcome: outcome.to_owned(),
        });
    }
    Ok(())
}
