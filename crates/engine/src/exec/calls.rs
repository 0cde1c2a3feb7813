//! One provider call driven to completion, and the three operations built on it: each records
//! its intent before the call and its result after. Polling never holds a slot; retryable errors
//! are retried with exponential backoff and jitter; a create whose outcome is unknown is looked
//! up by its recovery key before it is tried again. Lookups (`look`) retry on their own terms,
//! since looking changes nothing.

use super::node::Node;
use super::run::{Event, RetryPolicy};
use crate::base::crash::{self, Boundary};
use crate::base::value::Value;
use crate::lang::schema::Catalog;
use crate::plan::resolve::ResourceValues;
use crate::provider::{
    Applied, ErrorKind, OpContext, Progress, Props, ProviderError, RecoveryKey, RecoveryKind,
    ResourceType, provider_of,
};
use crate::state::store::{Entry, RecordError};
use crate::state::{OpAction, PendingOperation, ResourceState, now_rfc3339, seal};

/// One provider call, driven to completion: polls without holding a slot, retries what is
/// retryable, and looks up an unknown-outcome create before trying again.
enum Call<'p> {
    Create(&'p Props),
    Update {
        id: &'p str,
        old: &'p Props,
        new: &'p Props,
    },
    Delete {
        id: &'p str,
        props: &'p Props,
    },
}

async fn drive(
    shared: &Node<'_, '_>,
    t: &dyn ResourceType,
    ctx: &OpContext,
    call: Call<'_>,
) -> Result<Option<Applied>, ProviderError> {
    let provider = provider_of(&t.schema().type_name).to_owned();
    let address = &ctx.ownership.address;
    let mut attempt = 0u32;
    let mut poll: Option<String> = None;
    loop {
        attempt += 1;
        let permits = shared.acquire(&provider).await;
        let result = match (&poll, &call) {
            (Some(token), _) => t.poll(ctx, token).await,
            (None, Call::Create(props)) => t.create(ctx, props).await,
            (None, Call::Update { id, old, new }) => t.update(ctx, id, old, new).await,
            (None, Call::Delete { id, props }) => t.delete(ctx, id, props).await,
        };
        crash::point(Boundary::Call);
        let error = match result {
            Ok(Progress::Done(applied)) => {
                shared.keep(permits);
                return Ok(applied);
            }
            Ok(Progress::Pending { token, after, note }) => {
                drop(permits);
                shared.emit(Event::Waiting {
                    address: address.clone(),
                    note,
                });
                tokio::time::sleep(after).await;
                poll = Some(token);
                attempt = 0;
                continue;
            }
            Err(e) => {
                drop(permits);
                e
            }
        };
        match error.kind {
            ErrorKind::OutcomeUnknown => {
                if let Call::Create(props) = &call {
                    // Never create twice: the first request may have gone through.
                    let permits = shared.acquire(&provider).await;
                    let found = look(&shared.cfg.retry, || t.find(ctx, props)).await;
                    drop(permits);
                    if let Ok(Some(applied)) = found {
                        return Ok(Some(applied));
                    }
                    if found.is_err() {
                        return Err(error);
                    }
                }
            }
            ErrorKind::Retryable => {}
            _ => return Err(error),
        }
        if attempt >= shared.cfg.retry.max_attempts {
            return Err(error);
        }
        let delay = shared.cfg.retry.delay(attempt);
        shared.emit(Event::Retrying {
            address: address.clone(),
            attempt,
            delay,
            error: error.message.clone(),
        });
        tokio::time::sleep(delay).await;
        poll = None;
    }
}

pub(super) fn seal_sensitive(
    catalog: &Catalog,
    type_name: &str,
    stack_id: &uuid::Uuid,
    props: &Props,
) -> Props {
    let schema = catalog.resource(type_name);
    props
        .iter()
        .map(|(k, v)| {
            let sensitive = schema
                .and_then(|s| s.find_property(k))
                .is_some_and(|p| p.sensitive);
            (
                k.clone(),
                if sensitive {
                    seal(stack_id, v)
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

fn recovery_key(t: &dyn ResourceType, props: &Props) -> RecoveryKey {
    match t.recovery() {
        RecoveryKind::Name(prop) => match props.get(prop) {
            Some(Value::String(name)) => RecoveryKey::Name { name: name.clone() },
            _ => RecoveryKey::Tags,
        },
        RecoveryKind::Token => RecoveryKey::Token {
            token: uuid::Uuid::new_v4().to_string(),
        },
        RecoveryKind::Tags => RecoveryKey::Tags,
    }
}

/// Creates a resource: intent, call, result.
pub(super) async fn create(
    shared: &Node<'_, '_>,
    catalog: &Catalog,
    t: &dyn ResourceType,
    address: &str,
    props: &Props,
    dependencies: Vec<String>,
    protect: bool,
) -> Result<Result<ResourceState, ProviderError>, RecordError> {
    let type_name = t.schema().type_name.clone();
    let recovery = recovery_key(t, props);
    let stack_id = shared.recorder.with_state(|s| s.stack.id);
    let op = shared.recorder.next_op();
    shared
        .recorder
        .record(Entry::Intent(PendingOperation {
            op,
            action: OpAction::Create,
            address: address.to_owned(),
            type_name: type_name.clone(),
            recovery: recovery.clone(),
            physical_id: None,
            properties: seal_sensitive(catalog, &type_name, &stack_id, props),
            dependencies: dependencies.clone(),
            started_at: now_rfc3339(),
        }))
        .await?;
    crash::point(Boundary::Intent);
    let ctx = shared.ctx(address, &type_name, recovery);
    // A damaged journal may have lost the record of this very create: look before making it.
    if shared.recorder.with_state(|s| s.reconcile) {
        let provider = provider_of(&type_name).to_owned();
        let permits = shared.acquire(&provider).await;
        let found = look(&shared.cfg.retry, || t.find(&ctx, props)).await;
        drop(permits);
        if let Ok(Some(applied)) = found {
            let resource = adopted(
                catalog,
                &type_name,
                &stack_id,
                applied,
                dependencies,
                protect,
            );
            return adopt(shared, op, address, resource, "it exists with this stack's ownership tags; the journal entry that recorded it was damaged").await;
        }
    }
    match drive(shared, t, &ctx, Call::Create(props)).await {
        Ok(Some(applied)) => {
            // What the provider did not report keeps the value asked for.
            let mut properties = props.clone();
            properties.extend(applied.properties);
            let resource = ResourceState {
                type_name: type_name.clone(),
                physical_id: applied.physical_id,
                properties: seal_sensitive(catalog, &type_name, &stack_id, &properties),
                outputs: applied.outputs,
                dependencies,
                protect,
                created_at: now_rfc3339(),
                found: None,
            };
            shared
                .recorder
                .record(Entry::Applied {
                    op: Some(op),
                    address: address.to_owned(),
                    resource: resource.clone(),
                })
                .await?;
            Ok(Ok(resource))
        }
        Ok(None) => {
            let e =
                ProviderError::new(ErrorKind::Other, "the provider created nothing and said so");
            shared
                .recorder
                .record(Entry::Failed {
                    op,
                    error: e.message.clone(),
                })
                .await?;
            Ok(Err(e))
        }
        Err(e) => {
            // An unknown outcome stays pending: the next run looks it up. Any other failure may
            // still have left something behind (a create is often several calls: the gateway
            // exists, attaching it failed), so look before recording that nothing happened.
            if e.kind != ErrorKind::OutcomeUnknown {
                let provider = provider_of(&type_name).to_owned();
                let permits = shared.acquire(&provider).await;
                let found = look(&shared.cfg.retry, || t.find(&ctx, props)).await;
                drop(permits);
                let entry = match found {
                    // "Already exists", and what exists carries this stack's marks: made by an
                    // earlier run whose record was lost (an emptied journal). It is this
                    // resource; adopting it is the only way a deploy can ever succeed again.
                    Ok(Some(applied)) if e.kind == ErrorKind::Conflict => {
                        let resource = adopted(
                            catalog,
                            &type_name,
                            &stack_id,
                            applied,
                            dependencies,
                            protect,
                        );
                        return adopt(
                            shared,
                            op,
                            address,
                            resource,
                            "it already existed with this stack's ownership tags (its record was lost)",
                        )
                        .await;
                    }
                    // Only what the cloud reports: whatever the failed steps did not set shows
                    // as a change in the next plan.
                    Ok(Some(applied)) => Entry::Applied {
                        op: Some(op),
                        address: address.to_owned(),
                        resource: adopted(
                            catalog,
                            &type_name,
                            &stack_id,
                            applied,
                            dependencies,
                            protect,
                        ),
                    },
                    Ok(None) => Entry::Failed {
                        op,
                        error: e.message.clone(),
                    },
                    // Refused to look as it was refused to create (wrong credentials, or no
                    // account configured to call at all): a create that was refused made
                    // nothing, and a lookup refused the same way cannot say otherwise.
                    Err(lookup) if refused(lookup.kind) && refused(e.kind) => Entry::Failed {
                        op,
                        error: e.message.clone(),
                    },
                    // Cannot tell: leave the intent pending for the next run to resolve.
                    Err(_) => return Ok(Err(e)),
                };
                shared.recorder.record(entry).await?;
            }
            Ok(Err(e))
        }
    }
}

/// The record of a resource found in the cloud rather than made by this call.
fn adopted(
    catalog: &Catalog,
    type_name: &str,
    stack_id: &uuid::Uuid,
    applied: Applied,
    dependencies: Vec<String>,
    protect: bool,
) -> ResourceState {
    ResourceState {
        type_name: type_name.to_owned(),
        physical_id: applied.physical_id,
        properties: seal_sensitive(catalog, type_name, stack_id, &applied.properties),
        outputs: applied.outputs,
        dependencies,
        protect,
        created_at: now_rfc3339(),
        found: None,
    }
}

/// Records a create's resource as found (`why`) and reports it: the create succeeded.
async fn adopt(
    shared: &Node<'_, '_>,
    op: u64,
    address: &str,
    resource: ResourceState,
    why: &str,
) -> Result<Result<ResourceState, ProviderError>, RecordError> {
    shared
        .recorder
        .record(Entry::Applied {
            op: Some(op),
            address: address.to_owned(),
            resource: resource.clone(),
        })
        .await?;
    shared.emit(Event::Resolved {
        address: address.to_owned(),
        outcome: format!("adopted: {why}"),
    });
    Ok(Ok(resource))
}

/// A refusal rather than a failure along the way: the credentials, or the request or its
/// configuration, were turned down before anything was made.
fn refused(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Permission | ErrorKind::Invalid)
}

/// Deletes a resource recorded in state.
pub(super) async fn delete(
    shared: &Node<'_, '_>,
    t: &dyn ResourceType,
    address: &str,
    prior: &ResourceState,
) -> Result<Result<(), ProviderError>, RecordError> {
    let op = shared.recorder.next_op();
    shared
        .recorder
        .record(Entry::Intent(PendingOperation {
            op,
            action: OpAction::Delete,
            address: address.to_owned(),
            type_name: prior.type_name.clone(),
            recovery: RecoveryKey::Tags,
            physical_id: Some(prior.physical_id.clone()),
            properties: prior.properties.clone(),
            dependencies: prior.dependencies.clone(),
            started_at: now_rfc3339(),
        }))
        .await?;
    crash::point(Boundary::Intent);
    let ctx = shared.ctx(address, &prior.type_name, RecoveryKey::Tags);
    let call = Call::Delete {
        id: &prior.physical_id,
        props: &prior.properties,
    };
    match drive(shared, t, &ctx, call).await {
        Ok(_) => {
            shared
                .recorder
                .record(Entry::Deleted {
                    op: Some(op),
                    address: address.to_owned(),
                })
                .await?;
            Ok(Ok(()))
        }
        Err(e) => {
            if e.kind != ErrorKind::OutcomeUnknown {
                shared
                    .recorder
                    .record(Entry::Failed {
                        op,
                        error: e.message.clone(),
                    })
                    .await?;
            }
            Ok(Err(e))
        }
    }
}

/// Updates a resource in place.
#[allow(clippy::too_many_arguments)]
pub(super) async fn update(
    shared: &Node<'_, '_>,
    catalog: &Catalog,
    t: &dyn ResourceType,
    address: &str,
    prior: &ResourceState,
    props: &Props,
    dependencies: Vec<String>,
    protect: bool,
) -> Result<Result<ResourceState, ProviderError>, RecordError> {
    let type_name = prior.type_name.clone();
    let stack_id = shared.recorder.with_state(|s| s.stack.id);
    let op = shared.recorder.next_op();
    shared
        .recorder
        .record(Entry::Intent(PendingOperation {
            op,
            action: OpAction::Update,
            address: address.to_owned(),
            type_name: type_name.clone(),
            recovery: RecoveryKey::Tags,
            physical_id: Some(prior.physical_id.clone()),
            properties: seal_sensitive(catalog, &type_name, &stack_id, props),
            dependencies: dependencies.clone(),
            started_at: now_rfc3339(),
        }))
        .await?;
    crash::point(Boundary::Intent);
    let ctx = shared.ctx(address, &type_name, RecoveryKey::Tags);
    let call = Call::Update {
        id: &prior.physical_id,
        old: &prior.properties,
        new: props,
    };
    match drive(shared, t, &ctx, call).await {
        Ok(applied) => {
            let applied = applied.unwrap_or_else(|| Applied {
                physical_id: prior.physical_id.clone(),
                properties: props.clone(),
                outputs: prior.outputs.clone(),
            });
            let mut properties = props.clone();
            properties.extend(applied.properties);
            let resource = ResourceState {
                type_name: type_name.clone(),
                physical_id: applied.physical_id,
                properties: seal_sensitive(catalog, &type_name, &stack_id, &properties),
                outputs: applied.outputs,
                dependencies,
                protect,
                created_at: prior.created_at.clone(),
                found: prior.found.clone(),
            };
            shared
                .recorder
                .record(Entry::Applied {
                    op: Some(op),
                    address: address.to_owned(),
                    resource: resource.clone(),
                })
                .await?;
            Ok(Ok(resource))
        }
        Err(e) => {
            if e.kind != ErrorKind::OutcomeUnknown {
                shared
                    .recorder
                    .record(Entry::Failed {
                        op,
                        error: e.message.clone(),
                    })
                    .await?;
            }
            Ok(Err(e))
        }
    }
}

pub(super) fn values_of(r: &ResourceState) -> ResourceValues {
    ResourceValues {
        properties: r.properties.clone(),
        outputs: Some(r.outputs.clone()),
        id: Some(r.physical_id.clone()),
    }
}

/// A lookup (read or find), retried on throttling and lost answers: looking changes nothing,
/// so trying again is always safe.
pub async fn look<T, F, Fut>(retry: &RetryPolicy, mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e)
                if matches!(e.kind, ErrorKind::Retryable | ErrorKind::OutcomeUnknown)
                    && attempt < retry.max_attempts =>
            {
                tokio::time::sleep(retry.delay(attempt)).await;
            }
            other => return other,
        }
    }
}
