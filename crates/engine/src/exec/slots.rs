//! The executor's call slots: at most `global` provider calls at once, and at most a provider's
//! own limit of that provider's calls, handed out by [`Priority`] rather than in the order they
//! were asked for.
//!
//! A slot is held only during a call (a pending operation's wait or a retry's backoff gives it
//! back), so the order in which operations become ready is not the order in which they call:
//! the priority has to be applied where slots are granted. A waiter is granted a slot as soon as
//! both its provider and the whole run have one free, the most urgent waiter first; a waiter whose
//! provider is full never holds back one of another provider.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::schedule::Priority;

/// Who waits, in grant order: the most urgent first, then first come.
type Key = (Reverse<Priority>, u64);

struct Lane {
    free: usize,
    waiting: BTreeMap<Key, oneshot::Sender<()>>,
}

struct Inner {
    /// The overall limit.
    limit: usize,
    free: usize,
    lanes: HashMap<String, Lane>,
    seq: u64,
}

pub struct Slots {
    inner: Mutex<Inner>,
}

/// One held slot, given back when dropped.
pub struct Permit<'s> {
    slots: &'s Slots,
    provider: String,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.slots.release(&self.provider);
    }
}

impl Slots {
    /// `global` slots in all, and each provider's own limit (capped by `global`).
    pub fn new(global: usize, providers: impl IntoIterator<Item = (String, usize)>) -> Slots {
        let global = global.max(1);
        let lanes = providers
            .into_iter()
            .map(|(p, limit)| {
                (
                    p,
                    Lane {
                        free: limit.clamp(1, global),
                        waiting: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Slots {
            inner: Mutex::new(Inner {
                limit: global,
                free: global,
                lanes,
                seq: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues for a slot of `provider` (one unknown to these slots is limited by `global`
    /// alone), granted at once if one is free. The place in the queue is taken now, so a node
    /// queued by the executor's loop outranks whatever asks later with a lower priority.
    pub fn enqueue(&self, provider: &str, priority: Priority) -> Ticket<'_> {
        let mut inner = self.lock();
        let (limit, global) = (inner.limit, inner.free);
        let lane = inner.lanes.entry(provider.to_owned()).or_insert(Lane {
            free: limit,
            waiting: BTreeMap::new(),
        });
        // Whoever waits could not be granted (every grant is made at once), so a free slot
        // here is nobody else's.
        if lane.free > 0 && global > 0 {
            lane.free -= 1;
            inner.free -= 1;
            return Ticket::Granted(Permit {
                slots: self,
                provider: provider.to_owned(),
            });
        }
        inner.seq += 1;
        let key = (Reverse(priority), inner.seq);
        let (tx, rx) = oneshot::channel();
        inner
            .lanes
            .get_mut(provider)
            .expect("inserted above")
            .waiting
            .insert(key, tx);
        Ticket::Waiting(Waiter {
            slots: self,
            provider: provider.to_owned(),
            key,
            rx,
            granted: false,
        })
    }

    /// Waits for a slot of `provider`. Dropping the future before it is granted leaves the
    /// queue as if it never asked.
    pub async fn acquire(&self, provider: &str, priority: Priority) -> Permit<'_> {
        self.enqueue(provider, priority).wait().await
    }

    fn release(&self, provider: &str) {
        let mut inner = self.lock();
        inner.free += 1;
        if let Some(lane) = inner.lanes.get_mut(provider) {
            lane.free += 1;
        }
        Self::grant(&mut inner);
    }

    /// Grants free slots to waiters, the most urgent first among the lanes that have one free.
    fn grant(inner: &mut Inner) {
        while inner.free > 0 {
            let next = inner
                .lanes
                .iter()
                .filter(|(_, l)| l.free > 0)
                .filter_map(|(p, l)| l.waiting.keys().next().map(|k| (*k, p.clone())))
                .min();
            let Some((key, provider)) = next else { break };
            let lane = inner.lanes.get_mut(&provider).expect("just seen");
            let tx = lane.waiting.remove(&key).expect("just seen");
            if tx.send(()).is_ok() {
                lane.free -= 1;
                inner.free -= 1;
            }
        }
    }

    /// Slots free now, overall.
    pub fn free(&self) -> usize {
        self.lock().free
    }
}

/// A place in the queue for a slot, or the slot itself.
pub enum Ticket<'s> {
    Granted(Permit<'s>),
    Waiting(Waiter<'s>),
}

impl<'s> Ticket<'s> {
    /// The slot, once granted.
    pub async fn wait(self) -> Permit<'s> {
        match self {
            Ticket::Granted(p) => p,
            Ticket::Waiting(mut w) => {
                // A sender is dropped unsent only with its waiter, which is this one.
                let _ = (&mut w.rx).await;
                w.granted = true;
                Permit {
                    slots: w.slots,
                    provider: std::mem::take(&mut w.provider),
                }
            }
        }
    }
}

/// A waiter's place in its lane until granted: dropped before that (the caller gave up), it
/// leaves the queue, or gives back the slot granted in the meantime.
pub struct Waiter<'s> {
    slots: &'s Slots,
    provider: String,
    key: Key,
    rx: oneshot::Receiver<()>,
    granted: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut inner = self.slots.lock();
        let still_waiting = inner
            .lanes
            .get_mut(&self.provider)
            .and_then(|l| l.waiting.remove(&self.key))
            .is_some();
        // Grants are sent under the lock, so a slot granted before the caller gave up is here.
        if !still_waiting && self.rx.try_recv().is_ok() {
            drop(inner);
            self.slots.release(&self.provider);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn prio(remaining_ms: u64, order: usize) -> Priority {
        Priority {
            remaining: Duration::from_millis(remaining_ms),
            order,
        }
    }

    #[tokio::test]
    async fn grants_the_most_urgent_waiter_first() {
        let slots = Arc::new(Slots::new(1, [("sim".to_owned(), 1)]));
        let held = slots.acquire("sim", prio(0, 0)).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (remaining, order_) in [(10, 1), (30, 2), (20, 3), (30, 0)] {
            let slots = Arc::clone(&slots);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let _p = slots.acquire("sim", prio(remaining, order_)).await;
                order.lock().unwrap().push(order_);
            }));
            tokio::task::yield_now().await;
        }
        // Everyone is queued behind the held slot.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 2, 3, 1]);
    }

    #[tokio::test]
    async fn never_more_than_the_limits() {
        let slots = Arc::new(Slots::new(3, [("a".to_owned(), 2), ("b".to_owned(), 3)]));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let in_a = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let max_a = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let provider = if i % 2 == 0 { "a" } else { "b" };
            let (slots, in_flight, in_a, max, max_a) = (
                Arc::clone(&slots),
                Arc::clone(&in_flight),
                Arc::clone(&in_a),
                Arc::clone(&max),
                Arc::clone(&max_a),
            );
            tasks.push(tokio::spawn(async move {
                let _p = slots.acquire(provider, prio(i, i as usize)).await;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                if provider == "a" {
                    let a = in_a.fetch_add(1, Ordering::SeqCst) + 1;
                    max_a.fetch_max(a, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                if provider == "a" {
                    in_a.fetch_sub(1, Ordering::SeqCst);
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 3);
        assert_eq!(max_a.load(Ordering::SeqCst), 2);
        assert_eq!(slots.free(), 3);
    }

    #[tokio::test]
    async fn a_full_provider_does_not_hold_back_another() {
        let slots = Slots::new(2, [("slow".to_owned(), 1), ("fast".to_owned(), 2)]);
        let held = slots.acquire("slow", prio(0, 0)).await;
        // The urgent waiter of the full provider waits; a less urgent one of another goes.
        let urgent = slots.acquire("slow", prio(100, 1));
        tokio::pin!(urgent);
        assert!(urgent.as_mut().now_or_never().is_none());
        let other = slots.acquire("fast", prio(1, 2)).await;
        drop(other);
        drop(held);
        let _granted = urgent.await;
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_trace() {
        let slots = Slots::new(1, [("sim".to_owned(), 1)]);
        let held = slots.acquire("sim", prio(0, 0)).await;
        {
            let gave_up = slots.acquire("sim", prio(5, 1));
            tokio::pin!(gave_up);
            assert!(gave_up.as_mut().now_or_never().is_none());
        }
        drop(held);
        assert_eq!(slots.free(), 1);
        let _again = slots.acquire("sim", prio(0, 2)).await;
        assert_eq!(slots.free(), 0);
    }

    #[tokio::test]
    async fn a_waiter_granted_then_dropped_gives_the_slot_back() {
        let slots = Slots::new(1, [("sim".to_owned(), 1)]);
        let held = slots.acquire("sim", prio(0, 0)).await;
        let mut granted_unseen = Box::pin(slots.acquire("sim", prio(5, 1)));
        assert!(granted_unseen.as_mut().now_or_never().is_none());
        drop(held); // granted to the waiter, which never looks
        assert_eq!(slots.free(), 0);
        drop(granted_unseen);
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn a_ticket_holds_its_place_before_it_is_awaited() {
        let slots = Slots::new(1, [("sim".to_owned(), 1)]);
        let held = slots.acquire("sim", prio(0, 0)).await;
        let ticket = slots.enqueue("sim", prio(10, 1));
        let mut later = Box::pin(slots.acquire("sim", prio(1, 2)));
        assert!(later.as_mut().now_or_never().is_none());
        drop(held);
        let first = ticket.wait().await;
        assert!(later.as_mut().now_or_never().is_none());
        drop(first);
        let _second = later.await;
        assert_eq!(slots.free(), 0);
    }
}
