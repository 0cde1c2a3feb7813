//! What every operation of one run shares (registry, recorder, call slots) and one node's claim
//! on the slots: its priority, its place queued when it became ready, and the slot of its last
//! call, kept until its dependents are queued.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::run::{Event, RunConfig};
use super::schedule::Priority;
use super::slots::{Permit, Slots, Ticket};
use crate::provider::{OpContext, RecoveryKey, Registry, provider_of};
use crate::state::store::Recorder;

pub(super) struct Shared<'a> {
    pub(super) registry: &'a Registry,
    pub(super) recorder: &'a Recorder,
    pub(super) cfg: &'a RunConfig,
    /// The call slots: `cfg.parallelism` in all, each provider's limit within that.
    pub(super) slots: Slots,
    /// What the run deletes for good (see [`OpContext::deleting`]).
    pub(super) deleting: std::sync::Arc<std::collections::BTreeSet<String>>,
}

impl<'a> Shared<'a> {
    pub(super) fn new(
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
            deleting: Default::default(),
        }
    }

    pub(super) fn emit(&self, e: Event) {
        let _ = self.cfg.events.send(e);
    }

    pub(super) fn ctx(&self, address: &str, type_name: &str, recovery: RecoveryKey) -> OpContext {
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
            deleting: std::sync::Arc::clone(&self.deleting),
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
pub(super) fn semaphores(
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
pub(super) struct Node<'s, 'a> {
    pub(super) shared: &'s Shared<'a>,
    pub(super) priority: Priority,
    /// The place queued for its first call by the executor's loop, when it became ready.
    pub(super) first: Mutex<Option<Ticket<'s>>>,
    /// The slot of its last call, held until its dependents are queued: released earlier, it
    /// would go to whatever less urgent waiter was queued before them.
    pub(super) kept: Mutex<Option<Permit<'s>>>,
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
    pub(super) async fn acquire(&self, provider: &str) -> Permit<'s> {
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
    pub(super) fn keep(&self, permit: Permit<'s>) {
        *lock(&self.kept) = Some(permit);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
