//! The executor: applies a plan by walking its graph concurrently, recording every operation
//! before it starts.
//!
//! A resource starts the moment its own dependencies finish (a ready queue, never level by
//! level), within an overall limit and a per-provider limit. A slot is held only while a provider
//! call runs: waiting for a long operation or a retry backoff gives it back. Ready operations
//! and waiters for a slot go critical path first (`schedule`, `slots`): the one with the longest
//! chain of expected durations still ahead of it; a finished operation's slot goes to the most
//! urgent waiter only once its dependents are queued.
//!
//! Retryable errors are retried with exponential backoff and jitter; a create whose outcome is
//! unknown is looked up by its recovery key before anything else. On a failure, the resource's
//! dependents are not started and independent branches finish. On cancellation nothing new
//! starts and what is in flight finishes and is recorded.
//!
//! The same module resolves operations left pending by a crashed run, refreshes resources from
//! the cloud, and reads data sources.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::schedule::{self, Priority, Ready};
use super::slots::{Permit, Slots, Ticket};
use crate::base::crash::{self, Boundary};
use crate::base::diagnostic::Diagnostics;
use crate::base::value::Value;
use crate::lang::schema::Catalog;
use crate::lang::template::Template;
use crate::plan::resolve::{Env, ResourceValues, StackContext, eval, evaluate_resource};
use crate::plan::{Action, Plan};
use crate::provider::{
    Applied, ErrorKind, OpContext, Progress, Props, ProviderError, RecoveryKey, RecoveryKind,
    Registry, ResourceType, provider_of,
};
use crate::state::store::{Entry, RecordError, Recorder};
use crate::state::{
    ComponentRecord, OpAction, PendingOperation, ResourceState, State, now_rfc3339, seal,
};

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: a random wait up to base * 2^(attempt-1), capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let ceiling = exp.min(self.cap);
        let fraction: f64 = rand::random::<f64>() * 0.5 + 0.5;
        ceiling.mul_f64(fraction)
    }
}

/// Settings of one run.
#[derive(Clone)]
pub struct RunConfig {
    /// Operations in flight at once, over all providers.
    pub parallelism: usize,
    pub retry: RetryPolicy,
    pub cancel: CancellationToken,
    pub events: mpsc::UnboundedSender<Event>,
    /// The stack's directory, for providers that keep local files.
    pub stack_dir: PathBuf,
}

/// What happens during a run, for progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started {
        address: String,
        action: Action,
    },
    Waiting {
        address: String,
        note: String,
    },
    Retrying {
        address: String,
        attempt: u32,
        delay: Duration,
        error: String,
    },
    Finished {
        address: String,
        action: Action,
        elapsed: Duration,
    },
    Failed {
        address: String,
        action: Action,
        error: String,
    },
    Skipped {
        address: String,
        reason: String,
    },
    /// A pending operation from an earlier run was resolved.
    Resolved {
        address: String,
        outcome: String,
    },
    /// A resource was found changed or gone by refresh.
    Refreshed {
        address: String,
        outcome: String,
    },
}

/// A failed operation.
#[derive(Debug, Clone)]
pub struct Failure {
    pub address: String,
    pub action: Action,
    pub error: ProviderError,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<(String, Action)>,
    pub failed: Vec<Failure>,
    /// Not started: a dependency failed, or the run was cancelled.
    pub skipped: Vec<(String, String)>,
    pub cancelled: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

/// Why a run could not go on at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("resource type `{0}` is not built into this stackform")]
    UnknownType(String),
    #[error("{what}: {error}")]
    Provider { what: String, error: ProviderError },
}

/// What the executor needs besides the plan.
pub struct Desired<'a> {
    /// `None` for destroy, which needs no template.
    pub template: Option<&'a Template>,
    pub catalog: &'a Catalog,
    pub inputs: &'a BTreeMap<String, Value>,
    pub stack: &'a StackContext,
    pub data: &'a HashMap<String, Props>,
}

struct Shared<'a> {
    registry: &'a Registry,
    recorder: &'a Recorder,
    cfg: &'a RunConfig,
    /// The call slots: `cfg.parallelism` in all, each provider's limit within that.
    slots: Slots,
}

impl<'a> Shared<'a> {
    fn new(
        registry: &'a Registry,
        recorder: &'a Recorder,
        cfg: &'a RunConfig,
        types: impl Iterator<Item = String>,
    ) -> Shared<'a> {
        Shared {
            registry,
            recorder,
            cfg,
            slots: Slots::new(cfg.parallelism, limits(registry, cfg, types)),
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.cfg.events.send(e);
    }

    fn ctx(&self, address: &str, type_name: &str, recovery: RecoveryKey) -> OpContext {
        let (ownership, settings) = self.recorder.with_state(|s| {
            (
                s.ownership(address),
                s.providers
                    .get(provider_of(type_name))
                    .cloned()
                    .unwrap_or_default(),
            )
        });
        OpContext {
            ownership,
            recovery,
            stack_dir: self.cfg.stack_dir.clone(),
            settings,
        }
    }
}

/// How many calls each provider of `types` may have in flight: its own limit, within the run's.
fn limits(
    registry: &Registry,
    cfg: &RunConfig,
    types: impl Iterator<Item = String>,
) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for t in types {
        let p = provider_of(&t).to_owned();
        let limit = registry
            .limit(&p)
            .unwrap_or(cfg.parallelism)
            .min(cfg.parallelism)
            .max(1);
        map.insert(p, limit);
    }
    map
}

/// The same limits as semaphores, for reads (which wait in no particular order).
fn semaphores(
    registry: &Registry,
    cfg: &RunConfig,
    types: impl Iterator<Item = String>,
) -> HashMap<String, Arc<Semaphore>> {
    limits(registry, cfg, types)
        .into_iter()
        .map(|(p, n)| (p, Arc::new(Semaphore::new(n))))
        .collect()
}

/// One node of a run: its priority and its claim on the call slots.
struct Node<'s, 'a> {
    shared: &'s Shared<'a>,
    priority: Priority,
    /// The place queued for its first call by the executor's loop, when it became ready.
    first: Mutex<Option<Ticket<'s>>>,
    /// The slot of its last call, held until its dependents are queued: released earlier, it
    /// would go to whatever less urgent waiter was queued before them.
    kept: Mutex<Option<Permit<'s>>>,
}

impl<'a> Deref for Node<'_, 'a> {
    type Target = Shared<'a>;

    fn deref(&self) -> &Shared<'a> {
        self.shared
    }
}

impl<'s> Node<'s, '_> {
    /// A call slot of `provider`: the one kept from this node's last call, the one queued for
    /// it, or a new place in the queue at its priority.
    async fn acquire(&self, provider: &str) -> Permit<'s> {
        if let Some(kept) = lock(&self.kept).take() {
            return kept;
        }
        let first = lock(&self.first).take();
        match first {
            Some(ticket) => ticket.wait().await,
            None => self.shared.slots.acquire(provider, self.priority).await,
        }
    }

    /// Holds the slot of a call that finished the node's work (see `kept`).
    fn keep(&self, permit: Permit<'s>) {
        *lock(&self.kept) = Some(permit);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

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

fn seal_sensitive(
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
async fn create(
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
                    Ok(Some(applied)) => Entry::Applied {
                        op: Some(op),
                        address: address.to_owned(),
                        // Only what the cloud reports: whatever the failed steps did not set
                        // shows as a change in the next plan.
                        resource: ResourceState {
                            type_name: type_name.clone(),
                            physical_id: applied.physical_id,
                            properties: seal_sensitive(
                                catalog,
                                &type_name,
                                &stack_id,
                                &applied.properties,
                            ),
                            outputs: applied.outputs,
                            dependencies,
                            protect,
                            created_at: now_rfc3339(),
                            found: None,
                        },
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

/// A refusal rather than a failure along the way: the credentials, or the request or its
/// configuration, were turned down before anything was made.
fn refused(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Permission | ErrorKind::Invalid)
}

/// Deletes a resource recorded in state.
async fn delete(
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
async fn update(
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

fn values_of(r: &ResourceState) -> ResourceValues {
    ResourceValues {
        properties: r.properties.clone(),
        outputs: Some(r.outputs.clone()),
        id: Some(r.physical_id.clone()),
    }
}

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
    let shared = Shared::new(registry, recorder, cfg, types);
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
    report.cancelled = cfg.cancel.is_cancelled();
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

/// A lookup (read or find), retried on throttling and lost answers: looking changes nothing,
/// so trying again is always safe.
pub(crate) async fn look<T, F, Fut>(retry: &RetryPolicy, mut call: F) -> Result<T, ProviderError>
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

/// Evaluates the template's `providers:` settings. They may use only inputs and stack.
pub fn provider_settings(
    template: &Template,
    catalog: &Catalog,
    inputs: &BTreeMap<String, Value>,
    stack: &StackContext,
) -> Result<BTreeMap<String, Props>, RunError> {
    let none = HashMap::new();
    let no_data = HashMap::new();
    let env = Env {
        template,
        catalog,
        inputs,
        stack,
        resources: &none,
        data: &no_data,
    };
    let mut out = BTreeMap::new();
    for p in &template.providers {
        let mut settings = Props::new();
        for s in &p.settings {
            let v = eval(&s.value, &env).map_err(|e| RunError::Invalid(e.into()))?;
            settings.insert(s.name.clone(), v);
        }
        out.insert(p.name.clone(), settings);
    }
    Ok(out)
}

/// Reads every data source of a template with the providers' `settings`. Their properties may
/// use only inputs and stack.
pub async fn read_data(
    template: &Template,
    catalog: &Catalog,
    registry: &Registry,
    inputs: &BTreeMap<String, Value>,
    stack: &StackContext,
    settings: &BTreeMap<String, Props>,
) -> Result<HashMap<String, Props>, RunError> {
    let mut out = HashMap::new();
    let none = HashMap::new();
    let no_data = HashMap::new();
    let env = Env {
        template,
        catalog,
        inputs,
        stack,
        resources: &none,
        data: &no_data,
    };
    for d in &template.data {
        let source = registry
            .data_source(&d.type_name)
            .ok_or_else(|| RunError::UnknownType(d.type_name.clone()))?;
        let mut props = Props::new();
        for p in &d.properties {
            let v = eval(&p.value, &env).map_err(|e| RunError::Invalid(e.into()))?;
            props.insert(p.name.clone(), v);
        }
        if props.values().any(Value::contains_unknown) {
            continue; // Read at apply time once known (validate has no inputs).
        }
        let provider = settings
            .get(provider_of(&d.type_name))
            .cloned()
            .unwrap_or_default();
        let values = source
            .read(&provider, &props)
            .await
            .map_err(|error| RunError::Provider {
                what: format!("reading data source `{}`", d.name),
                error,
            })?;
        out.insert(d.name.clone(), values);
    }
    Ok(out)
}

/// The stack's components and outputs, evaluated once every resource exists.
pub fn stack_record(
    desired: &Desired<'_>,
    state: &State,
) -> Result<(Vec<ComponentRecord>, BTreeMap<String, Value>), Diagnostics> {
    let Some(template) = desired.template else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let known: HashMap<String, ResourceValues> = state
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), values_of(r)))
        .collect();
    let env = Env {
        template,
        catalog: desired.catalog,
        inputs: desired.inputs,
        stack: desired.stack,
        resources: &known,
        data: desired.data,
    };
    let mut diags = Diagnostics::default();
    let mut components = Vec::new();
    for c in &template.components {
        if let Some(w) = &c.when {
            match crate::plan::resolve::eval_when(w, &env) {
                Ok(Some(false)) => continue,
                Ok(_) => {}
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            }
        }
        let flavor = match eval(&c.flavor, &env) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let mut configuration = BTreeMap::new();
        for p in &c.configuration {
            match eval(&p.value, &env) {
                Ok(v) => {
                    configuration.insert(p.name.clone(), v);
                }
                Err(d) => diags.push(d),
            }
        }
        components.push(ComponentRecord {
            secrets: BTreeMap::new(),
            kind: c.kind.clone(),
            flavor,
            configuration,
        });
    }
    let mut outputs = BTreeMap::new();
    for o in template.outputs.iter().filter(|o| !o.sensitive) {
        match eval(&o.value, &env) {
            Ok(v) => {
                outputs.insert(o.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    diags.into_result().map(|()| (components, outputs))
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
