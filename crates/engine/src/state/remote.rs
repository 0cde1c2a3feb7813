//! Remote state: a stack's snapshot, journal and lock kept in the team's object storage
//! (`s3://`, `gs://`, `azblob://`), so that two people or CI jobs never both change a stack nor
//! lose each other's updates.
//!
//! The local stack directory stays the working copy: reading a remote-backed stack first pulls
//! the snapshot and the journal objects into it, and the store then works as it does locally.
//! What changes is durability and exclusion:
//! - every journal entry is also written as its own small object, `NAME/journal/<seq>.json`,
//!   created only if absent, before the entry is acknowledged: an intent is in the team's storage
//!   before its provider call starts, and recording costs the same however large the stack;
//! - a new snapshot replaces `NAME/state.json` only if it is still the version this holder last
//!   read or wrote (compare and swap), after the previous one is copied to
//!   `NAME/state.json.backup`; the journal objects it contains are deleted afterwards;
//! - the lock is a lease (see [`crate::state::lease`]): `NAME/lock.json`, created only if absent, renewed
//!   by a heartbeat, fenced: a holder that has not renewed for half the lease writes nothing.
//!
//! The storage clients run on a small runtime of their own, so that the heartbeat keeps beating
//! whatever the command's own runtime is busy with, and so that the store's synchronous steps
//! (compaction, loading) can wait for them without blocking on their own executor.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::base::fsio;
use crate::state::lease::Lease;
use crate::state::store::StackFiles;
use crate::state::{State, StateError};

/// An object's version, as the storage names it: an S3 or Azure ETag, a GCS generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

/// An object as read.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub version: Version,
    /// When the storage last wrote it, by its own clock.
    pub modified: SystemTime,
    /// When the storage answered, by its own clock (its `Date` header): with `modified`, how old
    /// the object is without trusting the local clock.
    pub read_at: SystemTime,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Any,
    /// Only if no object has the key (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`).
    Absent,
    /// Only if the object is still at this version (S3 `If-Match`, GCS generation, Azure ETag).
    Matches(Version),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold: someone else wrote first.
    #[error("{0}")]
    Conflict(String),
    /// The storage refused the credentials or the permission.
    #[error("{0}")]
    Denied(String),
    /// The bucket or container does not exist.
    #[error("{0}")]
    NoContainer(String),
    #[error("{0}")]
    Failed(String),
}

/// Refuses an object larger than any state or journal entry stackform writes, before its
/// body is read: a wrong prefix pointing at a dataset must not exhaust memory.
pub fn check_size(at: &str, len: Option<u64>) -> Result<(), StoreError> {
    let limit = crate::base::fsio::MAX_STATE_BYTES;
    match len {
        Some(n) if n > limit => Err(StoreError::Failed(format!(
            "{at} holds {n} bytes, more than the {} MiB of any state stackform writes: is the backend URL's prefix right?",
            limit >> 20
        ))),
        _ => Ok(()),
    }
}

/// Objects under one prefix of one bucket or container. Keys are relative to the prefix.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where it is, as the user wrote it: `s3://bucket/prefix`.
    fn url(&self) -> String;
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError>;
    /// Writes `bytes` at `key` if `condition` holds; returns the new version.
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Version, StoreError>;
    /// Deletes `key`; a key that is not there is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every key that starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Where a stack's state lives, as `--state-backend` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendUrl {
    /// Files in stackform's home (the default).
    Local,
    /// Files in another directory (a shared filesystem): `file://PATH`.
    File(std::path::PathBuf),
    S3 {
        bucket: String,
        prefix: String,
    },
    Gcs {
        bucket: String,
        prefix: String,
    },
    AzureBlob {
        account: String,
        container: String,
        prefix: String,
    },
}

impl BackendUrl {
    pub fn parse(text: &str) -> Result<BackendUrl, String> {
        let text = text.trim();
        if text.is_empty() || text == "local" {
            return Ok(BackendUrl::Local);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "`{text}` is not a state backend URL: expected local, file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or azblob://ACCOUNT/CONTAINER/PREFIX"
            ));
        };
        let mut parts = rest.trim_end_matches('/').splitn(2, '/');
        let first = parts.next().unwrap_or_default().to_owned();
        let rest = parts.next().unwrap_or_default().to_owned();
        let need = |what: &str, v: &str| {
            if v.is_empty() {
                Err(format!("`{text}` names no {what}"))
            } else {
                Ok(())
            }
        };
        match scheme {
            "file" => {
                need("directory", rest_of(text))?;
                Ok(BackendUrl::File(rest_of(text).into()))
            }
            "s3" => {
                need("bucket", &first)?;
                Ok(BackendUrl::S3 {
                    bucket: first,
                    prefix: rest,
                })
            }
            "gs" => {
                need("bucket", &first)?;
                Ok(BackendUrl::Gcs {
                    bucket: first,
                    prefix: rest,
                })
            }
            "azblob" => {
                need("storage account", &first)?;
                let mut parts = rest.splitn(2, '/');
                let container = parts.next().unwrap_or_default().to_owned();
                need("container", &container)?;
                Ok(BackendUrl::AzureBlob {
                    account: first,
                    container,
                    prefix: parts.next().unwrap_or_default().to_owned(),
                })
            }
            other => Err(format!(
                "`{other}://` is not a state backend this stackform knows: use local, file://, s3://, gs:// or azblob://"
            )),
        }
    }
}

fn rest_of(text: &str) -> &str {
    text.split_once("://").map_or("", |(_, r)| r)
}

impl std::fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |p: &str| {
            if p.is_empty() {
                String::new()
            } else {
                format!("/{p}")
            }
        };
        match self {
            BackendUrl::Local => f.write_str("local"),
            BackendUrl::File(p) => write!(f, "file://{}", p.display()),
            BackendUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}{}", join(prefix)),
            BackendUrl::Gcs { bucket, prefix } => write!(f, "gs://{bucket}{}", join(prefix)),
            BackendUrl::AzureBlob {
                account,
                container,
                prefix,
            } => write!(f, "azblob://{account}/{container}{}", join(prefix)),
        }
    }
}

/// A small runtime for storage calls, apart from the command's.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's task would panic; let its threads go.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One stack's remote state: its storage, and what this process holds of it.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    name: String,
    rt: Runtime,
    /// The version of `state.json` this process last read or wrote (`None`: there was none).
    snapshot: Mutex<Option<Version>>,
    /// The lease, while this process holds the stack's lock.
    lease: Mutex<Option<Arc<Lease>>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({}/{})", self.store.url(), self.name)
    }
}

/// What a remote step failed on, for messages: the stack's location and the cause.
fn failed(at: &str, what: &str, e: &StoreError) -> StateError {
    StateError::Remote {
        at: at.to_owned(),
        detail: format!("{what}: {e}"),
        denied: matches!(e, StoreError::Denied(_) | StoreError::NoContainer(_)),
    }
}

impl Remote {
    pub fn new(store: Arc<dyn ObjectStore>, name: &str) -> Result<Arc<Remote>, String> {
        // The name becomes part of object keys (and paths in a `file://` backend).
        let name = crate::state::stack::StackName::new(name).map_err(|d| d.message)?;
        let name = name.as_str();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stackform-remote")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the storage runtime: {e}"))?;
        Ok(Arc::new(Remote {
            store,
            name: name.to_owned(),
            rt: Runtime(Some(rt)),
            snapshot: Mutex::new(None),
            lease: Mutex::new(None),
        }))
    }

    /// `s3://bucket/prefix/NAME`: where this stack's objects are.
    pub fn location(&self) -> String {
        format!("{}/{}", self.store.url().trim_end_matches('/'), self.name)
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub(crate) fn key(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.name)
    }

    fn journal_key(&self, seq: u64) -> String {
        self.key(&format!("journal/{seq:020}.json"))
    }

    /// Runs `fut` on the storage runtime and waits for it, from sync or async code alike.
    pub(crate) fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the storage runtime stopped")
    }

    /// Runs `fut` on the storage runtime; the receiver has its result.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handle().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx
    }

    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        self.rt.0.as_ref().expect("runtime").handle().clone()
    }

    pub(crate) fn set_lease(&self, lease: Option<Arc<Lease>>) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = lease;
    }

    /// Whether this process holds the stack's lease (its working copy is then the truth).
    pub fn holds_lease(&self) -> bool {
        self.lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Refuses to write once the lease is lost or has gone unrenewed for half its length.
    pub fn fence(&self) -> Result<(), String> {
        match &*self.lease.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(lease) => lease.check(),
            None => Ok(()),
        }
    }

    /// Copies the remote snapshot and journal into the local working copy in `files`; a stack
    /// the storage does not have is removed from it.
    pub fn pull(&self, files: &StackFiles) -> Result<(), StateError> {
        let at = self.location();
        let store = Arc::clone(&self.store);
        let (snapshot_key, journal_prefix) = (self.key("state.json"), self.key("journal/"));
        let fetched = self.block(async move {
            let Some(snapshot) = store.get(&snapshot_key).await? else {
                return Ok(None);
            };
            let mut keys = store.list(&journal_prefix).await?;
            keys.sort();
            let mut entries = Vec::new();
            for k in keys {
                if let Some(o) = store.get(&k).await? {
                    entries.push(o.bytes);
                }
            }
            Ok::<_, StoreError>(Some((snapshot, entries)))
        });
        let fetched = fetched.map_err(|e| failed(&at, "cannot read the state", &e))?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        let Some((snapshot, entries)) = fetched else {
            *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
            for p in [files.state(), files.journal()] {
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&p)(e)),
                    _ => {}
                }
            }
            return Ok(());
        };
        let state: State =
            serde_json::from_slice(&snapshot.bytes).map_err(|e| StateError::Corrupt {
                path: files.state(),
                detail: format!("{at}/state.json: {e}"),
            })?;
        let mut journal = Vec::new();
        for bytes in entries {
            let line: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                    path: files.journal(),
                    detail: format!("{at}/journal: {e}"),
                })?;
            if line["seq"].as_u64().unwrap_or(0) > state.journal_seq {
                journal.extend_from_slice(&bytes);
                if !bytes.ends_with(b"\n") {
                    journal.push(b'\n');
                }
            }
        }
        crate::base::fsio::create_private_dir(&files.dir).map_err(io(&files.dir))?;
        fsio::write_atomic(&files.state(), &snapshot.bytes).map_err(io(&files.state()))?;
        fsio::write_atomic(&files.journal(), &journal).map_err(io(&files.journal()))?;
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.version);
        Ok(())
    }

    /// Writes one journal entry as its own object, only if no entry has its number yet.
    pub(crate) fn push_entry(
        self: &Arc<Self>,
        seq: u64,
        bytes: Vec<u8>,
    ) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let fenced = self.fence();
        let (store, key, at) = (
            Arc::clone(&self.store),
            self.journal_key(seq),
            self.location(),
        );
        self.spawn(async move {
            fenced?;
            match store.put(&key, bytes, Condition::Absent).await {
                Ok(_) => Ok(()),
                Err(StoreError::Conflict(_)) => Err(format!(
                    "journal entry {seq} already exists in {at}: another holder is writing this stack's state; this command stops here"
                )),
                Err(e) => Err(format!("cannot write journal entry {seq} to {at}: {e}")),
            }
        })
    }

    /// Replaces the remote snapshot with `bytes` if it is still the version last seen, keeping
    /// the previous one as the backup, then deletes the journal objects it contains.
    pub(crate) fn push_snapshot(
        &self,
        bytes: Vec<u8>,
        previous: Option<Vec<u8>>,
        journal_seq: u64,
    ) -> Result<(), StateError> {
        let at = self.location();
        self.fence().map_err(|detail| StateError::Remote {
            at: at.clone(),
            detail,
            denied: false,
        })?;
        let condition = match &*self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(v) => Condition::Matches(v.clone()),
            None => Condition::Absent,
        };
        let store = Arc::clone(&self.store);
        let (key, backup, journal) = (
            self.key("state.json"),
            self.key("state.json.backup"),
            self.key("journal/"),
        );
        let name = self.name.clone();
        let result = self.block(async move {
            if let Some(previous) = previous {
                store.put(&backup, previous, Condition::Any).await?;
            }
            let version = store.put(&key, bytes, condition).await?;
            let mut keys = store.list(&journal).await?;
            keys.retain(|k| seq_of(&name, k).is_some_and(|s| s <= journal_seq));
            for k in keys {
                store.delete(&k).await?;
            }
            Ok::<_, StoreError>(version)
        });
        match result {
            Ok(version) => {
                *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
                Ok(())
            }
            Err(StoreError::Conflict(_)) => Err(StateError::Remote {
                at,
                detail: "the state changed since this command read it (another holder wrote it): nothing was overwritten".into(),
                denied: false,
            }),
            Err(e) => Err(failed(&at, "cannot write the state", &e)),
        }
    }

    /// Deletes the stack's objects (its snapshot, backup and journal), as a destroy that removed
    /// everything does locally.
    pub fn remove(&self) -> Result<(), StateError> {
        let at = self.location();
        self.fence().map_err(|detail| StateError::Remote {
            at: at.clone(),
            detail,
            denied: false,
        })?;
        let store = Arc::clone(&self.store);
        let keys = [self.key("state.json"), self.key("state.json.backup")];
        let journal = self.key("journal/");
        self.block(async move {
            for k in store.list(&journal).await? {
                store.delete(&k).await?;
            }
            for k in keys {
                store.delete(&k).await?;
            }
            Ok::<_, StoreError>(())
        })
        .map_err(|e| failed(&at, "cannot delete the state", &e))?;
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

/// The sequence number of a journal object's key.
fn seq_of(name: &str, key: &str) -> Option<u64> {
    key.strip_prefix(&format!("{name}/journal/"))?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// The pointer a stack's local directory keeps to its remote state.
pub const BACKEND_FILE: &str = "backend";

/// Records in a stack's local directory where its state lives (none: local).
pub fn write_pointer(dir: &Path, url: &BackendUrl) -> std::io::Result<()> {
    crate::base::fsio::create_private_dir(dir)?;
    let path = dir.join(BACKEND_FILE);
    match url {
        BackendUrl::Local => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        other => fsio::write_atomic(&path, format!("{other}\n").as_bytes()),
    }
}

/// Where a stack's local directory says its state lives, if it says so.
pub fn read_pointer(dir: &Path) -> Option<BackendUrl> {
    let text = std::fs::read_to_string(dir.join(BACKEND_FILE)).ok()?;
    BackendUrl::parse(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls_parse_and_print_back() {
        for text in [
            "s3://team-state/stackform",
            "s3://team-state",
            "gs://bucket/a/b",
            "azblob://acct/state/prefix",
            "azblob://acct/state",
            "file:///mnt/shared/stacks",
            "local",
        ] {
            let url = BackendUrl::parse(text).unwrap();
            assert_eq!(url.to_string(), text);
        }
        assert_eq!(
            BackendUrl::parse("s3://b/p/").unwrap(),
            BackendUrl::S3 {
                bucket: "b".into(),
                prefix: "p".into()
            }
        );
        for bad in ["s3://", "azblob://acct", "ftp://x/y", "bucket/prefix"] {
            assert!(BackendUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn journal_keys_sort_by_sequence() {
        assert_eq!(
            seq_of("dev", "dev/journal/00000000000000000012.json"),
            Some(12)
        );
        assert_eq!(seq_of("dev", "other/journal/1.json"), None);
    }
}
