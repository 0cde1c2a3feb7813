//! Durable state on disk: a snapshot plus an append-only journal, so that recording one
//! operation costs the same however large the stack is.
//!
//! A stack's directory holds `state.json` (the snapshot), `state.json.backup` (the previous
//! snapshot), `journal.ndjson` and `lock`. Every operation appends an entry to the journal and
//! fsyncs it (concurrent entries share one fsync: group commit) before the caller goes on; an
//! intent is durable before its provider call starts. At the end of a command the journal is
//! folded into a new snapshot, written atomically (temp file, fsync, rename, fsync directory)
//! after the old one is copied to the backup, and then emptied. The snapshot records the last
//! journal entry it contains, so a crash between the two steps replays nothing twice. A torn last
//! journal line (a crash mid-append) is an entry that was never acknowledged, and is dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::base::crash::{self, Boundary};
use crate::base::fsio;
use crate::base::value::Value;
use crate::state::remote::Remote;
use crate::state::{
    ComponentRecord, PendingOperation, ResourceState, State, StateError, StoredInput,
    TemplateRecord, now_rfc3339,
};

/// The files of one stack, and its remote state if it has one (the files are then its working
/// copy: see [`crate::state::remote`]).
#[derive(Debug, Clone)]
pub struct StackFiles {
    pub dir: PathBuf,
    pub remote: Option<Arc<Remote>>,
}

impl StackFiles {
    pub fn new(dir: impl Into<PathBuf>) -> StackFiles {
        StackFiles {
            dir: dir.into(),
            remote: None,
        }
    }

    /// A remote-backed stack's files: `dir` is the working copy of what `remote` holds.
    pub fn remote(dir: impl Into<PathBuf>, remote: Arc<Remote>) -> StackFiles {
        StackFiles {
            dir: dir.into(),
            remote: Some(remote),
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn backup(&self) -> PathBuf {
        self.dir.join("state.json.backup")
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.join("journal.ndjson")
    }
}

/// One journal entry: a change to the state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// An operation is about to call its provider.
    Intent(PendingOperation),
    /// A resource exists with these values (after a create or update, a refresh, or an adoption).
    Applied {
        op: Option<u64>,
        address: String,
        resource: ResourceState,
    },
    /// A resource is gone (deleted, or found missing).
    Deleted { op: Option<u64>, address: String },
    /// An operation definitely did not change anything.
    Failed { op: u64, error: String },
    /// A pending create whose resource was not found: it never happened.
    Dropped { op: u64, reason: String },
    /// The stack's expiry (`deploy --ttl`), or none.
    Expiry { expires_at: Option<String> },
    /// The stack's environment (`deploy --environment`).
    Environment { environment: Option<String> },
    /// A resource's protection changed (`stack protect|unprotect`, or a stack made production).
    Protect { address: String, protect: bool },
    /// `state mv`: the resource at `from` is now at `to`, and what depended on it follows.
    Moved { from: String, to: String },
    /// `state rm`: the resource is no longer managed (it stays in the cloud).
    Forgot { address: String },
    /// The providers' settings the stack's resources live under.
    Providers {
        settings: BTreeMap<String, BTreeMap<String, Value>>,
    },
    /// The stack-level record of a finished deploy.
    Stack {
        template: TemplateRecord,
        inputs: BTreeMap<String, StoredInput>,
        components: Vec<ComponentRecord>,
        outputs: BTreeMap<String, Value>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    seq: u64,
    #[serde(flatten)]
    entry: Entry,
}

/// Applies one entry to a state in memory.
pub fn apply(state: &mut State, entry: &Entry) {
    match entry {
        Entry::Intent(p) => {
            state.next_op = state.next_op.max(p.op + 1);
            state.pending.insert(p.op, p.clone());
        }
        Entry::Applied {
            op,
            address,
            resource,
        } => {
            if let Some(op) = op {
                state.pending.remove(op);
            }
            state.resources.insert(address.clone(), resource.clone());
        }
        Entry::Deleted { op, address } => {
            if let Some(op) = op {
                state.pending.remove(op);
            }
            state.resources.remove(address);
        }
        Entry::Failed { op, .. } | Entry::Dropped { op, .. } => {
            state.pending.remove(op);
        }
        Entry::Providers { settings } => {
            state.providers = settings.clone();
        }
        Entry::Expiry { expires_at } => {
            state.stack.expires_at = expires_at.clone();
        }
        Entry::Environment { environment } => {
            state.stack.environment = environment.clone();
        }
        Entry::Protect { address, protect } => {
            if let Some(r) = state.resources.get_mut(address) {
                r.protect = *protect;
            }
        }
        Entry::Moved { from, to } => {
            if let Some(r) = state.resources.remove(from) {
                state.resources.insert(to.clone(), r);
            }
            for r in state.resources.values_mut() {
                for d in &mut r.dependencies {
                    if d == from {
                        d.clone_from(to);
                    }
                }
                if let Some(f) = &mut r.found {
                    for a in &mut f.after {
                        if a == from {
                            a.clone_from(to);
                        }
                    }
                }
            }
        }
        Entry::Forgot { address } => {
            if let Some(r) = state.resources.remove(address) {
                state.forgotten.insert(
                    address.clone(),
                    crate::state::Forgotten {
                        type_name: r.type_name,
                        physical_id: r.physical_id,
                        at: now_rfc3339(),
                    },
                );
            }
            for r in state.resources.values_mut() {
                r.dependencies.retain(|d| d != address);
            }
        }
        Entry::Stack {
            template,
            inputs,
            components,
            outputs,
        } => {
            state.template = template.clone();
            state.inputs = inputs.clone();
            state.components = components.clone();
            state.outputs = outputs.clone();
            // A full deploy finished: every resource of the template was created or found, so
            // whatever a damaged journal line recorded has been reconciled.
            state.reconcile = false;
        }
    }
}

/// Reads a stack's state: the snapshot with the journal replayed over it. `Ok(None)` when the
/// stack has none.
///
/// A journal line that cannot be read (a disk error, an edit by hand) is skipped with a warning
/// naming the file, the line and the byte, and the rest is replayed: one damaged entry must not
/// lock the user out of the stack, destroy included. What the skipped line recorded is then
/// unknown (it may be the intent of a create that went through), so the state is marked to
/// reconcile: creates look for their resource by the stack's ownership marks first.
pub fn load(files: &StackFiles) -> Result<Option<State>, StateError> {
    // A remote stack is read fresh from its storage, unless this process holds its lease (and
    // its working copy is then the newest there is).
    if let Some(remote) = &files.remote
        && !remote.holds_lease()
    {
        remote.pull(files)?;
    }
    let Some(mut state) = State::load(&files.state())? else {
        if files.journal().exists() {
            return Err(StateError::Corrupt {
                path: files.state(),
                detail: "the journal exists but the snapshot does not".into(),
            });
        }
        return Ok(None);
    };
    let journal = read_journal(&files.journal())?;
    for damage in &journal.damaged {
        tracing::warn!(
            "{}: line {} (byte {}) is damaged and was skipped: {}. The other entries were read; \
             until the next full deploy, creates look for their resource by the stack's ownership \
             tags first, so nothing the lost entry recorded is made twice",
            files.journal().display(),
            damage.line,
            damage.byte,
            damage.detail
        );
    }
    if !journal.damaged.is_empty() {
        state.reconcile = true;
    }
    for (seq, entry) in journal.entries {
        if seq > state.journal_seq {
            apply(&mut state, &entry);
            state.journal_seq = seq;
        }
    }
    Ok(Some(state))
}

/// A journal line that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// 1-based.
    pub line: u64,
    pub byte: u64,
    pub detail: String,
}

/// What a journal file holds.
struct Journal {
    entries: Vec<(u64, Entry)>,
    /// The byte length of the complete lines (a torn tail is excluded).
    complete: u64,
    damaged: Vec<Damage>,
}

/// Reads a journal: its complete entries, skipping (and reporting) damaged lines.
fn read_journal(path: &Path) -> Result<Journal, StateError> {
    use crate::base::fsio::{self, ReadError};
    let bytes = match fsio::read_bounded(path, "journal", fsio::MAX_STATE_BYTES) {
        Ok(b) => b,
        Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Vec::new()
        }
        Err(e) => return Err(StateError::from_read(e)),
    };
    let mut journal = Journal {
        entries: Vec::new(),
        complete: 0,
        damaged: Vec::new(),
    };
    let mut rest = bytes.as_slice();
    let mut line_no = 0u64;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        line_no += 1;
        let line = &rest[..end];
        match serde_json::from_slice::<Line>(line) {
            Ok(parsed) => journal.entries.push((parsed.seq, parsed.entry)),
            // A blank line is no entry (an editor's trailing newline), not damage.
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(e) => journal.damaged.push(Damage {
                line: line_no,
                byte: journal.complete,
                detail: e.to_string(),
            }),
        }
        journal.complete += end as u64 + 1;
        rest = &rest[end + 1..];
    }
    // Whatever follows the last newline was cut short by a crash before it was acknowledged.
    Ok(journal)
}

/// Why recording failed: the run must stop, since nothing it does could be recorded.
#[derive(Debug, thiserror::Error)]
#[error("cannot record to the state in {at}: {detail}")]
pub struct RecordError {
    pub at: String,
    pub detail: String,
}

type Ack = oneshot::Sender<Result<(), String>>;

/// The state of a stack during a command: in memory, with every change journaled durably.
pub struct Recorder {
    files: StackFiles,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    seq: u64,
    /// `None` for a recorder that only keeps the state in memory (`in_memory`).
    writer: Option<mpsc::Sender<(Vec<u8>, Ack)>>,
}

impl Recorder {
    /// Opens the journal for appending after `state` (as returned by [`load`]); a torn tail is
    /// cut off first so new entries start on a line of their own.
    pub fn open(files: StackFiles, state: State) -> Result<Recorder, StateError> {
        let path = files.journal();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let journal = read_journal(&path)?;
        let complete = journal.complete;
        let seq = journal
            .entries
            .iter()
            .map(|(s, _)| *s)
            .max()
            .unwrap_or(0)
            .max(state.journal_seq);
        if !journal.damaged.is_empty() {
            // Kept for whoever wants to see what was lost: the journal is emptied at the end of
            // the command.
            let aside = path.with_extension(format!("ndjson.damaged-{seq}"));
            if !aside.exists() {
                std::fs::copy(&path, &aside).map_err(io)?;
                tracing::warn!("the damaged journal is kept as {}", aside.display());
            }
        }
        let mut options = OpenOptions::new();
        options.create(true).read(true).write(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        file.set_len(complete).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Ack)>();
        std::thread::Builder::new()
            .name("stackform-journal".into())
            .spawn(move || write_loop(file, rx))
            .map_err(io)?;
        Ok(Recorder {
            files,
            inner: Mutex::new(Inner {
                state,
                seq,
                writer: Some(tx),
            }),
        })
    }

    /// A recorder that applies entries to the state in memory and writes nothing: what `plan`
    /// refreshes with, so that it sees what a deploy would see without changing the stack.
    pub fn in_memory(files: StackFiles, state: State) -> Recorder {
        let seq = state.journal_seq;
        Recorder {
            files,
            inner: Mutex::new(Inner {
                state,
                seq,
                writer: None,
            }),
        }
    }

    /// Creates a new stack's directory with its first snapshot, before anything is created, so
    /// that the stack's id (in every ownership tag) is durable first.
    pub fn create(files: StackFiles, state: State) -> Result<Recorder, StateError> {
        crate::base::fsio::create_private_dir(&files.dir).map_err(|source| StateError::Io {
            path: files.dir.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(files.journal());
        let (bytes, _) = write_snapshot(&files, &state)?;
        if let Some(remote) = &files.remote {
            remote.push_snapshot(bytes, None, state.journal_seq)?;
        }
        Recorder::open(files, state)
    }

    pub fn files(&self) -> &StackFiles {
        &self.files
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current state.
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    /// Reads the current state without copying it.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// Allocates the id of a new operation.
    pub fn next_op(&self) -> u64 {
        let mut inner = self.lock();
        let op = inner.state.next_op.max(1);
        inner.state.next_op = op + 1;
        op
    }

    /// Records an entry; returns once it is on disk.
    pub async fn record(&self, entry: Entry) -> Result<(), RecordError> {
        let rx = {
            let mut inner = self.lock();
            if inner.writer.is_none() {
                inner.seq += 1;
                apply(&mut inner.state, &entry);
                inner.state.journal_seq = inner.seq;
                return Ok(());
            }
            inner.seq += 1;
            let line = Line {
                seq: inner.seq,
                entry,
            };
            let mut bytes = serde_json::to_vec(&line).map_err(|e| self.error(e.to_string()))?;
            bytes.push(b'\n');
            apply(&mut inner.state, &line.entry);
            inner.state.journal_seq = inner.seq;
            // A remote stack's entry is also its own object in the team's storage: the entry is
            // acknowledged once both hold it.
            let remote = self
                .files
                .remote
                .as_ref()
                .map(|r| r.push_entry(inner.seq, bytes.clone()));
            let (ack, rx) = oneshot::channel();
            inner
                .writer
                .as_ref()
                .expect("a writing recorder")
                .send((bytes, ack))
                .map_err(|_| self.error("the journal writer stopped".into()))?;
            (rx, remote)
        };
        let (local, remote) = rx;
        if let Some(remote) = remote {
            match remote.await {
                Ok(Ok(())) => {}
                Ok(Err(detail)) => return Err(self.error(detail)),
                Err(_) => return Err(self.error("the storage runtime stopped".into())),
            }
        }
        match local.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(detail)) => Err(self.error(detail)),
            Err(_) => Err(self.error("the journal writer stopped".into())),
        }
    }

    fn error(&self, detail: String) -> RecordError {
        RecordError {
            at: self
                .files
                .remote
                .as_ref()
                .map_or_else(|| self.files.dir.display().to_string(), |r| r.location()),
            detail,
        }
    }

    /// Folds the journal into a new snapshot and empties the journal.
    pub fn compact(&self) -> Result<(), StateError> {
        let mut inner = self.lock();
        if inner.writer.is_none() {
            return Ok(()); // In memory only: nothing was written, nothing to fold.
        }
        inner.state.serial += 1;
        inner.state.updated_at = now_rfc3339();
        inner.state.journal_seq = inner.seq;
        let (bytes, previous) = write_snapshot(&self.files, &inner.state)?;
        if let Some(remote) = &self.files.remote {
            remote.push_snapshot(bytes, previous, inner.seq)?;
        }
        // The snapshot now holds every entry; the journal can go. New entries keep counting up.
        let path = self.files.journal();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let f = OpenOptions::new().write(true).open(&path).map_err(io)?;
        f.set_len(0).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }
}

/// Writes `state` as the new snapshot, keeping the previous one as the backup; returns both.
type Snapshots = (Vec<u8>, Option<Vec<u8>>);
fn write_snapshot(files: &StackFiles, state: &State) -> Result<Snapshots, StateError> {
    let path = files.state();
    let io = |source| StateError::Io {
        path: path.clone(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Corrupt {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let previous = std::fs::read(&path).ok();
    if let Some(previous) = &previous {
        fsio::write_atomic(&files.backup(), previous).map_err(io)?;
    }
    let tmp = files
        .dir
        .join(format!(".state.json.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io)?;
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half]).map_err(io)?;
    crash::point(Boundary::Snapshot);
    f.write_all(&bytes[half..]).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io)?;
    fsio::sync_dir(&files.dir).map_err(io)?;
    Ok((bytes, previous))
}

/// Writes queued entries, one fsync per batch, and acknowledges each once it is durable.
fn write_loop(mut file: File, rx: mpsc::Receiver<(Vec<u8>, Ack)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut bytes = Vec::with_capacity(batch.iter().map(|(b, _)| b.len()).sum());
        for (b, _) in &batch {
            bytes.extend_from_slice(b);
        }
        let result = file
            .write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

/// Removes the state files in `dir` (snapshot, backup, journal), leaving the backend pointer:
/// a copy that another backend now holds.
pub fn remove_copy(dir: &Path) -> Result<(), StateError> {
    let files = StackFiles::new(dir);
    for path in [files.state(), files.backup(), files.journal()] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Io { path, source }),
        }
    }
    fsio::sync_dir(dir).map_err(|source| StateError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Removes a stack's files once nothing of it remains (the lock file goes with its guard).
pub fn remove(files: &StackFiles) -> Result<(), StateError> {
    if let Some(remote) = &files.remote {
        remote.remove()?;
    }
    let io = |source| StateError::Io {
        path: files.dir.clone(),
        source,
    };
    let pointer = files.dir.join(crate::state::remote::BACKEND_FILE);
    let reserved = files.dir.join(crate::state::stack::SUFFIX_FILE);
    for path in [
        files.state(),
        files.backup(),
        files.journal(),
        pointer,
        reserved,
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    fsio::sync_dir(&files.dir).map_err(io)
}

/// Removes temp files a crash may have left behind.
pub fn clean_temp_files(files: &StackFiles) {
    if let Ok(entries) = std::fs::read_dir(&files.dir) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".state.json.tmp-")
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::RecoveryKey;
    use crate::state::OpAction;

    fn dir(name: &str) -> StackFiles {
        let d = std::env::temp_dir().join(format!("sf-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        StackFiles::new(d)
    }

    fn intent(op: u64, address: &str) -> Entry {
        Entry::Intent(PendingOperation {
            op,
            action: OpAction::Create,
            address: address.into(),
            type_name: "sim.resource".into(),
            recovery: RecoveryKey::Tags,
            physical_id: None,
            properties: BTreeMap::new(),
            dependencies: Vec::new(),
            started_at: String::new(),
        })
    }

    fn resource(id: &str) -> ResourceState {
        ResourceState {
            type_name: "sim.resource".into(),
            physical_id: id.into(),
            properties: BTreeMap::new(),
            outputs: BTreeMap::new(),
            dependencies: Vec::new(),
            protect: false,
            created_at: String::new(),
            found: None,
        }
    }

    fn new_state() -> State {
        State::new(
            "dev",
            "abc123",
            TemplateRecord {
                name: "t".into(),
                hash: String::new(),
                source: String::new(),
            },
        )
    }

    #[tokio::test]
    async fn journal_replays_over_the_snapshot_and_survives_compaction() {
        let files = dir("replay");
        let rec = Recorder::create(files.clone(), new_state()).unwrap();
        rec.record(intent(1, "a")).await.unwrap();
        rec.record(Entry::Applied {
            op: Some(1),
            address: "a".into(),
            resource: resource("p-a"),
        })
        .await
        .unwrap();
        rec.record(intent(2, "b")).await.unwrap();
        // A crash now: the snapshot is the empty first one, the journal has three entries.
        let loaded = load(&files).unwrap().unwrap();
        assert_eq!(loaded.resources.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(loaded.pending.keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(loaded.next_op, 3);

        rec.compact().unwrap();
        assert_eq!(std::fs::metadata(files.journal()).unwrap().len(), 0);
        let after = load(&files).unwrap().unwrap();
        assert_eq!(after.resources, loaded.resources);
        assert_eq!(after.pending, loaded.pending);
        assert_eq!(after.serial, 1);
        assert!(files.backup().exists());
        std::fs::remove_dir_all(&files.dir).unwrap();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_and_the_next_entry_starts_clean() {
        let files = dir("torn");
        let rec = Recorder::create(files.clone(), new_state()).unwrap();
        rec.record(intent(1, "a")).await.unwrap();
        drop(rec);
        let mut f = OpenOptions::new()
            .append(true)
            .open(files.journal())
            .unwrap();
        f.write_all(br#"{"seq":2,"entry":"appl"#).unwrap();
        drop(f);
        let state = load(&files).unwrap().unwrap();
        assert_eq!(state.pending.len(), 1);
        let rec = Recorder::open(files.clone(), state).unwrap();
        rec.record(Entry::Dropped {
            op: 1,
            reason: "gone".into(),
        })
        .await
        .unwrap();
        let state = load(&files).unwrap().unwrap();
        assert!(state.pending.is_empty());
        std::fs::remove_dir_all(&files.dir).unwrap();
    }

    #[tokio::test]
    async fn a_damaged_line_is_skipped_the_rest_read_and_the_state_marked_to_reconcile() {
        let files = dir("corrupt");
        let rec = Recorder::create(files.clone(), new_state()).unwrap();
        rec.record(intent(1, "a")).await.unwrap();
        rec.record(intent(2, "b")).await.unwrap();
        drop(rec);
        let text = std::fs::read_to_string(files.journal()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[0] = "{\"seq\":1,\"entry\":\"int\u{0}ent\"";
        let mut damaged = lines.join("\n");
        damaged.push('\n');
        let mut bytes = vec![0xff, 0xfe, b'\n'];
        bytes.extend_from_slice(damaged.as_bytes());
        std::fs::write(files.journal(), bytes).unwrap();
        let journal = read_journal(&files.journal()).unwrap();
        assert_eq!(
            journal.damaged.iter().map(|d| d.line).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(journal.damaged[1].byte, 3);
        let state = load(&files).unwrap().unwrap();
        assert_eq!(state.pending.keys().copied().collect::<Vec<_>>(), [2]);
        assert!(state.reconcile);
        // Compaction keeps the mark (and a copy of the damaged journal) until a full deploy.
        let rec = Recorder::open(files.clone(), state).unwrap();
        rec.compact().unwrap();
        let after = load(&files).unwrap().unwrap();
        assert!(after.reconcile);
        assert_eq!(after.pending.keys().copied().collect::<Vec<_>>(), [2]);
        let kept: Vec<_> = std::fs::read_dir(&files.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("damaged"))
            .collect();
        assert_eq!(kept.len(), 1);
        std::fs::remove_dir_all(&files.dir).unwrap();
    }

    #[tokio::test]
    async fn a_journal_larger_than_any_stackform_writes_is_refused_unread() {
        let files = dir("huge");
        Recorder::create(files.clone(), new_state()).unwrap();
        // Sparse: 2 GiB that take no disk, and must not be read into memory.
        let f = OpenOptions::new()
            .write(true)
            .open(files.journal())
            .unwrap();
        f.set_len(2 << 30).unwrap();
        drop(f);
        match load(&files) {
            Err(StateError::Corrupt { detail, .. }) => {
                assert!(detail.contains("larger than"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&files.dir).unwrap();
    }
}
