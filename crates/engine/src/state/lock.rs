//! One exclusive lock per stack for the whole of a command.
//!
//! An OS file lock (flock) on `lock` in the stack's directory: the kernel releases it when the
//! holder dies, however it dies, so a crashed run never blocks the next one. The file also
//! records who holds it (pid, host, user, command, time) for the message a waiting user reads.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub command: String,
    pub started_at: String,
}

impl Holder {
    /// This process, running `command`.
    pub fn current(command: &str) -> Holder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "unknown-host".into());
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown-user".into());
        Holder {
            pid: std::process::id(),
            host,
            user,
            command: command.to_owned(),
            started_at: crate::state::now_rfc3339(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` by {}@{} (pid {}) since {}",
            self.command, self.user, self.host, self.pid, self.started_at
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("stack `{stack}` is locked by {}", holder.as_ref().map_or_else(|| "another process".to_owned(), |h| h.to_string()))]
    Held {
        stack: String,
        holder: Option<Holder>,
        /// The lock file or object.
        at: String,
    },
    /// The remote lock could not be read or written.
    #[error("cannot lock the remote state {at}: {detail}")]
    Backend {
        at: String,
        detail: String,
        denied: bool,
    },
    #[error("cannot lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Holding this means holding the stack's lock; dropping it releases the lock (and the remote
/// lease, for a remote-backed stack).
#[derive(Debug)]
pub struct LockGuard {
    // Fields drop in order: the lease, then the file lock.
    lease: Option<crate::state::lease::LeaseGuard>,
    _file: File,
    pub path: PathBuf,
}

impl LockGuard {
    /// Holds `lease` too, until this guard is dropped (the lease goes first).
    pub fn with_lease(mut self, lease: crate::state::lease::LeaseGuard) -> LockGuard {
        self.lease = Some(lease);
        self
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Takes the lock in `dir` (created if needed), waiting up to `wait` for a holder to finish.
pub fn acquire(
    dir: &Path,
    stack: &str,
    holder: &Holder,
    wait: Duration,
) -> Result<LockGuard, LockError> {
    let path = dir.join("lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let deadline = Instant::now() + wait;
    let mut file = loop {
        crate::base::fsio::create_private_dir(dir).map_err(io)?;
        let mut file = open(&path).map_err(io)?;
        match file.try_lock() {
            // A holder that finished may have removed the file (destroy removes the stack's
            // directory): a lock on a file no longer at `path` guards nothing, so start over.
            Ok(()) if same_file(&file, &path) => break file,
            Ok(()) => continue,
            Err(std::fs::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(LockError::Held {
                        stack: stack.to_owned(),
                        holder: read_holder(&mut file),
                        at: path.display().to_string(),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    };
    let record = serde_json::to_vec_pretty(holder).unwrap_or_default();
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&record).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(LockGuard {
        _file: file,
        path,
        lease: None,
    })
}

/// Whether `file` is still the file at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// What `state unlock` found.
#[derive(Debug, PartialEq)]
pub enum UnlockOutcome {
    /// Nobody held it.
    WasFree,
    /// A live holder has it; nothing was done.
    HeldBy(Option<Holder>),
    /// The lock file was removed while held (`force`): the holder keeps a lock on nothing.
    Broken(Option<Holder>),
}

/// Releases a stack's lock for good: when nobody holds it, clears the record; when someone does,
/// only with `force` (for shared filesystems where a dead holder's lock outlives it), by removing
/// the file so the next command locks a new one.
pub fn unlock(dir: &Path, force: bool) -> Result<UnlockOutcome, LockError> {
    let path = dir.join("lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = match File::options().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UnlockOutcome::WasFree),
        Err(e) => return Err(io(e)),
    };
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            Ok(UnlockOutcome::WasFree)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = read_holder(&mut file);
            if force {
                std::fs::remove_file(&path).map_err(io)?;
                Ok(UnlockOutcome::Broken(holder))
            } else {
                Ok(UnlockOutcome::HeldBy(holder))
            }
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_details() {
        let dir = std::env::temp_dir().join(format!("sf-lock-{}", std::process::id()));
        let first = acquire(&dir, "dev", &Holder::current("deploy"), Duration::ZERO).unwrap();
        let err = acquire(
            &dir,
            "dev",
            &Holder::current("destroy"),
            Duration::from_millis(250),
        )
        .unwrap_err();
        match err {
            LockError::Held {
                holder: Some(h), ..
            } => {
                assert_eq!(h.command, "deploy");
                assert_eq!(h.pid, std::process::id());
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(matches!(
            unlock(&dir, false).unwrap(),
            UnlockOutcome::HeldBy(Some(_))
        ));
        drop(first);
        assert!(acquire(&dir, "dev", &Holder::current("destroy"), Duration::ZERO).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
