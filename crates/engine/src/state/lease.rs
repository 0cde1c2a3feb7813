//! The lock of a remote-backed stack: a lease in the team's storage.
//!
//! `NAME/lock.json` is created only if absent and holds the holder's details, the lease's length
//! and a fresh nonce (S3 ETags are body hashes: two identical bodies would repeat an ETag, and a
//! compare-and-swap on it would not tell two holders apart). While the command runs, a heartbeat
//! rewrites it every third of the lease, each time only if it is still the version this holder
//! wrote. Whether a lease has expired is judged by the storage's clock (the object's modification
//! time against the `Date` of the answer), never the local one, and taking over an expired lease
//! is itself a conditional write on the version that was read: of two contenders, one wins.
//!
//! Fencing: a holder whose last successful renewal started more than half a lease ago may be
//! taken over any moment without knowing it, so [`Lease::check`] then refuses every further
//! write. A renewal that finds the lock rewritten by someone else marks the lease lost for good.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::state::lock::{Holder, LockError};
use crate::state::remote::{Condition, Remote, StoreError, Version};

/// How long a lease lasts unless `STACKFORM_LOCK_LEASE` (seconds) says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The lease length to use: `STACKFORM_LOCK_LEASE` seconds (at least 2), else the default.
pub fn lease_length() -> Duration {
    std::env::var("STACKFORM_LOCK_LEASE")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_LEASE, |s| Duration::from_secs(s.max(2)))
}

/// What `lock.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRecord {
    pub holder: Holder,
    pub lease_seconds: u64,
    pub nonce: String,
}

impl LockRecord {
    fn new(holder: &Holder, lease: Duration) -> LockRecord {
        let nonce: [u8; 16] = rand::random();
        LockRecord {
            holder: holder.clone(),
            lease_seconds: lease.as_secs(),
            nonce: hex::encode(nonce),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// A held lease.
#[derive(Debug)]
pub struct Lease {
    length: Duration,
    version: Mutex<Version>,
    /// When the last successful write of the lock was sent (the lease runs from no earlier).
    renewed: Mutex<Instant>,
    lost: Mutex<Option<String>>,
    stopped: AtomicBool,
    at: String,
}

impl Lease {
    /// Whether this holder may still write: not lost, and renewed within half the lease.
    pub fn check(&self) -> Result<(), String> {
        if let Some(why) = &*self.lost.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(why.clone());
        }
        let since = self
            .renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if since > self.length / 2 {
            return Err(format!(
                "the lease on {} was last renewed {}s ago, more than half its {}s: another holder may have taken it over, so this command stops before writing anything more",
                self.at,
                since.as_secs(),
                self.length.as_secs()
            ));
        }
        Ok(())
    }

    fn version(&self) -> Version {
        self.version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn backend_error(at: &str, e: &StoreError) -> LockError {
    LockError::Backend {
        at: at.to_owned(),
        detail: e.to_string(),
        denied: matches!(e, StoreError::Denied(_) | StoreError::NoContainer(_)),
    }
}

/// Takes the stack's lease, waiting up to `wait` for a live holder to finish or its lease to
/// expire, and starts its heartbeat.
pub fn acquire(
    remote: &Arc<Remote>,
    stack: &str,
    holder: &Holder,
    wait: Duration,
) -> Result<Arc<Lease>, LockError> {
    let length = lease_length();
    let at = remote.location();
    let key = remote.key("lock.json");
    let store = Arc::clone(remote.store());
    let deadline = Instant::now() + wait;
    loop {
        let record = LockRecord::new(holder, length);
        let sent = Instant::now();
        let (s, k, b) = (Arc::clone(&store), key.clone(), record.bytes());
        let created = remote.block(async move { s.put(&k, b, Condition::Absent).await });
        let version = match created {
            Ok(v) => v,
            Err(StoreError::Conflict(_)) => {
                let (s, k) = (Arc::clone(&store), key.clone());
                let current = remote
                    .block(async move { s.get(&k).await })
                    .map_err(|e| backend_error(&at, &e))?;
                let Some(current) = current else {
                    continue; // Released in between: try again at once.
                };
                let theirs: Option<LockRecord> = serde_json::from_slice(&current.bytes).ok();
                let their_lease = Duration::from_secs(
                    theirs
                        .as_ref()
                        .map_or(length.as_secs(), |r| r.lease_seconds),
                );
                let age = current
                    .read_at
                    .duration_since(current.modified)
                    .unwrap_or_default();
                if age > their_lease {
                    // Expired by the storage's clock: take it over, only if nobody else has.
                    let (s, k, b) = (Arc::clone(&store), key.clone(), record.bytes());
                    let sent = Instant::now();
                    let version = current.version.clone();
                    match remote
                        .block(async move { s.put(&k, b, Condition::Matches(version)).await })
                    {
                        Ok(v) => {
                            tracing::warn!(
                                "took over the expired lease on {at} from {}",
                                theirs.map_or_else(
                                    || "an unknown holder".into(),
                                    |t| t.holder.to_string()
                                )
                            );
                            return Ok(start(remote, v, sent, length, at, holder));
                        }
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => return Err(backend_error(&at, &e)),
                    }
                }
                if Instant::now() >= deadline {
                    return Err(LockError::Held {
                        stack: stack.to_owned(),
                        holder: theirs.map(|t| t.holder),
                        at: format!("{at}/lock.json"),
                    });
                }
                std::thread::sleep(Duration::from_millis(500).min(length / 4));
                continue;
            }
            Err(e) => return Err(backend_error(&at, &e)),
        };
        return Ok(start(remote, version, sent, length, at, holder));
    }
}

/// Records the lease on `remote` and starts its heartbeat.
fn start(
    remote: &Arc<Remote>,
    version: Version,
    sent: Instant,
    length: Duration,
    at: String,
    holder: &Holder,
) -> Arc<Lease> {
    let lease = Arc::new(Lease {
        length,
        version: Mutex::new(version),
        renewed: Mutex::new(sent),
        lost: Mutex::new(None),
        stopped: AtomicBool::new(false),
        at,
    });
    remote.set_lease(Some(Arc::clone(&lease)));
    let (beat, store, key) = (
        Arc::clone(&lease),
        Arc::clone(remote.store()),
        remote.key("lock.json"),
    );
    let holder = holder.clone();
    remote.handle().spawn(async move {
        loop {
            tokio::time::sleep(beat.length / 3).await;
            if beat.stopped.load(Ordering::SeqCst) {
                return;
            }
            let record = LockRecord::new(&holder, beat.length);
            let sent = Instant::now();
            match store
                .put(&key, record.bytes(), Condition::Matches(beat.version()))
                .await
            {
                Ok(v) => {
                    *beat.version.lock().unwrap_or_else(|p| p.into_inner()) = v;
                    *beat.renewed.lock().unwrap_or_else(|p| p.into_inner()) = sent;
                }
                Err(StoreError::Conflict(_)) => {
                    let by = match store.get(&key).await {
                        Ok(Some(o)) => serde_json::from_slice::<LockRecord>(&o.bytes)
                            .map_or_else(|_| "someone else".into(), |r| r.holder.to_string()),
                        _ => "nobody (it was removed)".into(),
                    };
                    *beat.lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
                        "the lease on {} was taken over by {by}: this command stops before writing anything more",
                        beat.at
                    ));
                    return;
                }
                // A failed renewal is tried again; fencing stops writes if it keeps failing.
                Err(e) => tracing::warn!("cannot renew the lease on {}: {e}", beat.at),
            }
        }
    });
    lease
}

/// Holding this means holding a lease; dropping it releases it.
#[derive(Debug)]
pub struct LeaseGuard {
    remote: Arc<Remote>,
    lease: Arc<Lease>,
}

impl LeaseGuard {
    pub fn new(remote: Arc<Remote>, lease: Arc<Lease>) -> LeaseGuard {
        LeaseGuard { remote, lease }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        release(&self.remote, &self.lease);
    }
}

/// Ends the heartbeat and deletes the lock, if it is still this holder's.
pub fn release(remote: &Arc<Remote>, lease: &Arc<Lease>) {
    lease.stopped.store(true, Ordering::SeqCst);
    remote.set_lease(None);
    if lease
        .lost
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some()
    {
        return;
    }
    let (store, key, mine) = (
        Arc::clone(remote.store()),
        remote.key("lock.json"),
        lease.version(),
    );
    remote.block(async move {
        if let Ok(Some(current)) = store.get(&key).await
            && current.version == mine
        {
            let _ = store.delete(&key).await;
        }
    });
}

/// Who holds a remote stack's lock, if anyone.
pub fn holder(remote: &Arc<Remote>) -> Result<Option<LockRecord>, LockError> {
    let (store, key, at) = (
        Arc::clone(remote.store()),
        remote.key("lock.json"),
        remote.location(),
    );
    let current = remote
        .block(async move { store.get(&key).await })
        .map_err(|e| backend_error(&at, &e))?;
    Ok(current.and_then(|o| serde_json::from_slice(&o.bytes).ok()))
}

/// Removes a remote stack's lock whoever holds it (`state unlock --force`).
pub fn break_lock(remote: &Arc<Remote>) -> Result<(), LockError> {
    let (store, key, at) = (
        Arc::clone(remote.store()),
        remote.key("lock.json"),
        remote.location(),
    );
    remote
        .block(async move { store.delete(&key).await })
        .map_err(|e| backend_error(&at, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::remote::{Object, ObjectStore};
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    /// An object's bytes, version and modification time.
    type Stored = (Vec<u8>, u64, SystemTime);

    /// Objects in memory, with conditional writes checked atomically and a clock of its own.
    #[derive(Default)]
    struct Memory {
        objects: Mutex<BTreeMap<String, Stored>>,
        clock: Mutex<Option<SystemTime>>,
        next: std::sync::atomic::AtomicU64,
    }

    impl Memory {
        fn now(&self) -> SystemTime {
            self.clock.lock().unwrap().unwrap_or(SystemTime::UNIX_EPOCH)
        }
        fn advance(&self, by: Duration) {
            let mut c = self.clock.lock().unwrap();
            *c = Some(c.unwrap_or(SystemTime::UNIX_EPOCH) + by);
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Memory {
        fn url(&self) -> String {
            "mem://test".into()
        }
        async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .get(key)
                .map(|(b, v, m)| Object {
                    bytes: b.clone(),
                    version: Version(v.to_string()),
                    modified: *m,
                    read_at: self.now(),
                }))
        }
        async fn put(
            &self,
            key: &str,
            bytes: Vec<u8>,
            condition: Condition,
        ) -> Result<Version, StoreError> {
            let mut objects = self.objects.lock().unwrap();
            let current = objects.get(key).map(|(_, v, _)| v.to_string());
            let ok = match &condition {
                Condition::Any => true,
                Condition::Absent => current.is_none(),
                Condition::Matches(v) => current.as_deref() == Some(v.0.as_str()),
            };
            if !ok {
                return Err(StoreError::Conflict(format!("{key}: precondition failed")));
            }
            let v = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            objects.insert(key.to_owned(), (bytes, v, self.now()));
            Ok(Version(v.to_string()))
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.objects.lock().unwrap().remove(key);
            Ok(())
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }
    }

    fn remote(store: &Arc<Memory>) -> Arc<Remote> {
        Remote::new(Arc::clone(store) as Arc<dyn ObjectStore>, "dev").unwrap()
    }

    #[test]
    fn expiry_is_judged_by_the_storages_clock_and_a_takeover_fences_the_old_holder() {
        // SAFETY: tests in this module are the only readers of this variable.
        unsafe { std::env::set_var("STACKFORM_LOCK_LEASE", "30") };
        let store = Arc::new(Memory::default());
        let (a, b) = (remote(&store), remote(&store));
        let first = acquire(&a, "dev", &Holder::current("deploy"), Duration::ZERO).unwrap();
        assert!(first.check().is_ok());

        // However long the contender waits by its own clock, the storage says the lease runs.
        let refused = acquire(
            &b,
            "dev",
            &Holder::current("destroy"),
            Duration::from_secs(1),
        );
        match refused {
            Err(LockError::Held {
                holder: Some(h), ..
            }) => assert_eq!(h.command, "deploy"),
            other => panic!("expected Held, got {other:?}"),
        }

        // Once the storage's clock is past the lease, the contender takes it over...
        store.advance(Duration::from_secs(31));
        let second = acquire(&b, "dev", &Holder::current("destroy"), Duration::ZERO).unwrap();
        assert!(second.check().is_ok());
        // ...and the first holder's renewal finds a lock that is no longer its own.
        let (s, k, v) = (
            Arc::clone(&store),
            "dev/lock.json".to_owned(),
            first.version(),
        );
        let renewed =
            a.block(async move { s.put(&k, b"{}".to_vec(), Condition::Matches(v)).await });
        assert!(matches!(renewed, Err(StoreError::Conflict(_))));
        // Releasing the first lease leaves the second holder's lock alone.
        release(&a, &first);
        let record = holder(&b).unwrap().expect("the second holder's lock");
        assert_eq!(record.holder.command, "destroy");
        release(&b, &second);
        assert!(holder(&b).unwrap().is_none());
    }

    #[test]
    fn a_lease_not_renewed_for_half_its_length_refuses_writes() {
        let lease = Lease {
            length: Duration::from_secs(2),
            version: Mutex::new(Version("1".into())),
            renewed: Mutex::new(Instant::now() - Duration::from_millis(1100)),
            lost: Mutex::new(None),
            stopped: AtomicBool::new(true),
            at: "mem://test/dev".into(),
        };
        let refused = lease.check().unwrap_err();
        assert!(refused.contains("more than half"), "{refused}");
        *lease.renewed.lock().unwrap() = Instant::now();
        assert!(lease.check().is_ok());
    }
}
