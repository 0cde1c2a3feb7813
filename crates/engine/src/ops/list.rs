//! `stack list`: one row per stack, from a small index instead of every stack's state.
//!
//! Reading and replaying each state (and pricing it) costs tens of microseconds a stack; a team
//! with a thousand stacks, and the dashboard, list often. The index (`stacks/.index.json`) keeps
//! each local stack's row next to a fingerprint of its files (the snapshot's inode, size and
//! modification time, the journal's size and modification time). A row whose files still match
//! is used as it is; any other is read again, so the index is a cache that can be stale or
//! missing without ever being wrong: a writer that crashed before anything touched the index,
//! or an index deleted by hand, costs one full read. Stacks whose state lives in a remote
//! backend are read through their backend every time (their local files say nothing of the
//! team's newest state). A stack whose state cannot be read is one row marked damaged, with the
//! reason and what to do, never a failed list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::fsio;
use crate::plan::cost::Estimate;
use crate::state::store::{self, StackFiles};
use crate::state::{State, StateError};

/// The index file, in the stacks directory (no stack name starts with a dot).
pub const INDEX_FILE: &str = ".index.json";

/// One stack as `stack list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    /// `None` for a damaged stack, whose state could not be read.
    pub id: Option<uuid::Uuid>,
    pub template: String,
    pub resources: usize,
    pub pending: usize,
    pub components: Vec<String>,
    pub updated_at: String,
    pub expires_at: Option<String>,
    pub environment: Option<String>,
    pub cost: Option<Estimate>,
    /// Why the stack's state could not be read, and what to do.
    pub damaged: Option<Damage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Damage {
    pub message: String,
    pub help: String,
}

impl Row {
    fn of(state: &State, cost: Option<Estimate>) -> Row {
        Row {
            name: state.stack.name.clone(),
            id: Some(state.stack.id),
            template: state.template.name.clone(),
            resources: state.resources.len(),
            pending: state.pending.len(),
            components: state.components.iter().map(|c| c.kind.clone()).collect(),
            updated_at: state.updated_at.clone(),
            expires_at: state.stack.expires_at.clone(),
            environment: state.stack.environment.clone(),
            cost,
            damaged: None,
        }
    }

    fn damaged(name: &str, e: &StateError) -> Row {
        Row {
            name: name.to_owned(),
            id: None,
            template: String::new(),
            resources: 0,
            pending: 0,
            components: Vec::new(),
            updated_at: String::new(),
            expires_at: None,
            environment: None,
            cost: None,
            damaged: Some(Damage {
                message: e.to_string(),
                help: e.help(),
            }),
        }
    }
}

/// What identifies the contents of a local stack's files without reading them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    state: Option<(u64, u64, i128)>,
    journal: Option<(u64, i128)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    stacks: BTreeMap<String, (Fingerprint, Row)>,
}

const INDEX_VERSION: u32 = 1;

/// What a list needs from the caller: how to open a remote stack, and how to price a state
/// (both need the providers, which the engine does not know).
pub struct ListRequest<'a> {
    pub stacks_dir: PathBuf,
    /// A remote stack's files (with its backend), by name.
    pub open_remote: &'a mut dyn FnMut(&str) -> Result<StackFiles, StateError>,
    /// What a stack costs now; called only for stacks read again.
    pub price: &'a mut dyn FnMut(&State) -> Option<Estimate>,
}

/// Every stack in `stacks_dir`, by name, from the index where it is current.
pub fn list(req: ListRequest<'_>) -> Vec<Row> {
    let index_path = req.stacks_dir.join(INDEX_FILE);
    let old = read_index(&index_path);
    let mut new = Index {
        version: INDEX_VERSION,
        stacks: BTreeMap::new(),
    };
    let mut rows = Vec::new();
    let mut changed = false;
    let Ok(entries) = std::fs::read_dir(&req.stacks_dir) else {
        return rows;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| crate::state::stack::validate_name(n).is_ok())
        .collect();
    names.sort();
    let stacks = StacksDir::open(&req.stacks_dir);
    for name in names {
        let dir = req.stacks_dir.join(&name);
        if stacks
            .stat(&name, crate::state::remote::BACKEND_FILE)
            .is_some()
        {
            let loaded = (req.open_remote)(&name).and_then(|files| store::load(&files));
            match loaded {
                Ok(Some(state)) => rows.push(Row::of(&state, (req.price)(&state))),
                Ok(None) => {}
                Err(e) => rows.push(Row::damaged(&name, &e)),
            }
            continue;
        }
        let print = fingerprint(&stacks, &name);
        if print.state.is_none() && print.journal.is_none() {
            continue; // A name reserved by a plan, not deployed yet.
        }
        if let Some((was, row)) = old.stacks.get(&name)
            && *was == print
        {
            rows.push(row.clone());
            new.stacks.insert(name, (print, row.clone()));
            continue;
        }
        changed = true;
        let row = match store::load(&StackFiles::new(&dir)) {
            Ok(Some(state)) => Row::of(&state, (req.price)(&state)),
            Ok(None) => continue,
            Err(e) => Row::damaged(&name, &e),
        };
        rows.push(row.clone());
        new.stacks.insert(name, (print, row));
    }
    changed |= new.stacks.len() != old.stacks.len();
    if changed && let Ok(bytes) = serde_json::to_vec(&new) {
        // A cache: failing to write it (a read-only home) costs the next list time, nothing else.
        if let Err(e) = fsio::write_atomic(&index_path, &bytes) {
            tracing::debug!("stack index not written to {}: {e}", index_path.display());
        }
    }
    rows
}

fn read_index(path: &Path) -> Index {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
        .filter(|i| i.version == INDEX_VERSION)
        .unwrap_or_default()
}

/// Looks at files of the stacks directory by their path inside it. A list of 1,000 stacks
/// makes 3,000 of these; resolved from an open directory (`fstatat`), each walks two path
/// components rather than the whole path from `/`, which is most of what a list costs.
struct StacksDir {
    dir: PathBuf,
    #[cfg(unix)]
    handle: Option<std::fs::File>,
}

/// What a fingerprint needs of one file: inode, length, modification time in nanoseconds.
type Seen = (u64, u64, i128);

impl StacksDir {
    fn open(dir: &Path) -> StacksDir {
        StacksDir {
            dir: dir.to_owned(),
            #[cfg(unix)]
            handle: std::fs::File::open(dir).ok(),
        }
    }

    #[cfg(unix)]
    fn stat(&self, name: &str, file: &str) -> Option<Seen> {
        use std::os::fd::AsRawFd;
        let Some(handle) = &self.handle else {
            return stat_path(&self.dir.join(name).join(file));
        };
        let rel = std::ffi::CString::new(format!("{name}/{file}")).ok()?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `rel` is a NUL-terminated path, the descriptor is open for the call's
        // duration, and `st` is written by `fstatat` before it is read (only on success).
        let rc = unsafe { libc::fstatat(handle.as_raw_fd(), rel.as_ptr(), st.as_mut_ptr(), 0) };
        if rc != 0 {
            return None;
        }
        // SAFETY: `fstatat` succeeded, so it filled `st`.
        let st = unsafe { st.assume_init() };
        // `ino_t` is 64 bits here and 32 on some platforms: the conversion is not always useless.
        #[allow(clippy::useless_conversion)]
        let inode = u64::from(st.st_ino);
        let nanos = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
        Some((inode, u64::try_from(st.st_size).unwrap_or(0), nanos))
    }

    #[cfg(not(unix))]
    fn stat(&self, name: &str, file: &str) -> Option<Seen> {
        stat_path(&self.dir.join(name).join(file))
    }
}

/// The same through the whole path (where no directory handle could be opened).
fn stat_path(path: &Path) -> Option<Seen> {
    let m = std::fs::metadata(path).ok()?;
    let nanos = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0u64;
    Some((inode, m.len(), nanos))
}

fn fingerprint(stacks: &StacksDir, name: &str) -> Fingerprint {
    Fingerprint {
        state: stacks.stat(name, STATE_FILE),
        journal: stacks
            .stat(name, JOURNAL_FILE)
            .map(|(_, len, at)| (len, at)),
    }
}

/// The names `StackFiles` gives a local stack's files.
const STATE_FILE: &str = "state.json";
const JOURNAL_FILE: &str = "journal.ndjson";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_looked_at_are_the_ones_a_stack_has_and_seen_as_through_their_path() {
        let files = StackFiles::new("d");
        assert_eq!(files.state().file_name().unwrap(), STATE_FILE);
        assert_eq!(files.journal().file_name().unwrap(), JOURNAL_FILE);
        let stacks = home();
        make(&stacks, "a");
        let dir = StacksDir::open(&stacks);
        // Rows indexed before read the same as after: the fingerprint did not change form.
        assert_eq!(
            dir.stat("a", STATE_FILE),
            stat_path(&stacks.join("a").join(STATE_FILE))
        );
        assert!(dir.stat("a", STATE_FILE).is_some());
        assert_eq!(dir.stat("a", "nothing-here"), None);
    }
    use crate::state::TemplateRecord;
    use crate::state::store::Recorder;

    fn home() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "stackform-list-{}",
            crate::state::stack::new_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn make(stacks: &Path, name: &str) {
        let state = State::new(
            name,
            "abc123",
            TemplateRecord {
                name: "local".into(),
                hash: String::new(),
                source: String::new(),
            },
        );
        Recorder::create(StackFiles::new(stacks.join(name)), state).unwrap();
    }

    fn list_of(stacks: &Path, priced: &mut usize) -> Vec<Row> {
        list(ListRequest {
            stacks_dir: stacks.to_owned(),
            open_remote: &mut |n| {
                Err(StateError::Corrupt {
                    path: PathBuf::from(n),
                    detail: "no remote in this test".into(),
                })
            },
            price: &mut |_| {
                *priced += 1;
                None
            },
        })
    }

    #[test]
    fn rows_come_from_the_index_until_a_stack_changes() {
        let stacks = home();
        make(&stacks, "one");
        make(&stacks, "two");
        let mut priced = 0;
        let first = list_of(&stacks, &mut priced);
        assert_eq!(first.len(), 2);
        assert_eq!(priced, 2, "both read and priced once");
        let again = list_of(&stacks, &mut priced);
        assert_eq!(again, first);
        assert_eq!(
            priced, 2,
            "nothing read again while the files are unchanged"
        );
        // A new snapshot of `two` (a deploy) is seen at once.
        std::fs::remove_dir_all(stacks.join("two")).unwrap();
        make(&stacks, "two");
        let after = list_of(&stacks, &mut priced);
        assert_eq!(priced, 3, "only the changed stack is read again");
        assert_ne!(
            after[1].id, first[1].id,
            "the new state's row, not the cached one"
        );
        std::fs::remove_dir_all(&stacks).unwrap();
    }

    #[test]
    fn a_damaged_stack_is_one_row_and_the_others_are_listed() {
        let stacks = home();
        make(&stacks, "good");
        make(&stacks, "bad");
        std::fs::write(stacks.join("bad/state.json"), "{ not json").unwrap();
        // A name reserved by a plan only, and something that is no stack at all.
        std::fs::create_dir_all(stacks.join("later")).unwrap();
        std::fs::write(stacks.join("later/suffix"), "abc123").unwrap();
        std::fs::create_dir_all(stacks.join("Not A Stack")).unwrap();
        let mut priced = 0;
        let rows = list_of(&stacks, &mut priced);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["bad", "good"]);
        let bad = &rows[0];
        let damage = bad.damaged.as_ref().expect("marked damaged");
        assert!(damage.message.contains("state.json"), "{damage:?}");
        assert!(!damage.help.is_empty());
        assert!(rows[1].damaged.is_none());
        // A deleted or garbled index is only a slower list.
        std::fs::write(stacks.join(INDEX_FILE), "garbage").unwrap();
        assert_eq!(list_of(&stacks, &mut priced), rows);
        std::fs::remove_dir_all(&stacks).unwrap();
    }
}
