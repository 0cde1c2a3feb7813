//! `stackform state migrate NAME --to URL`: moves a stack's state to another backend.
//!
//! Under the source's lock and the target's, the state (journal folded in) is written to the
//! target, which must not have one yet; it is read back from the target and compared (lineage,
//! serial, resources, pending operations) before anything else happens. Only then does the caller
//! switch the stack's pointer, and the source copy is removed last: a crash at any point leaves
//! the pointer naming a complete copy.

use std::time::Duration;

use crate::ops::{OpError, take_lock};
use crate::state::store::{self, Recorder, StackFiles};
use crate::state::{State, StateError};

/// What was moved.
#[derive(Debug, Clone)]
pub struct Migrated {
    pub state: State,
}

/// Copies the state of `name` from `from` to `to` and verifies the copy. The caller switches the
/// pointer and then calls [`remove_source`].
pub fn copy(
    from: &StackFiles,
    to: &StackFiles,
    name: &str,
    lock_wait: Duration,
) -> Result<(Migrated, Vec<crate::state::lock::LockGuard>), OpError> {
    let mut guards = vec![take_lock(from, name, "state migrate", lock_wait)?];
    let state = store::load(from)?.ok_or_else(|| OpError::NoSuchStack(name.to_owned()))?;
    // The target's lock too: its own directory's, unless it shares the source's (a remote
    // target's working copy is the local source's directory), plus its lease.
    if to.dir != from.dir {
        guards.push(take_lock(
            &StackFiles::new(&to.dir),
            name,
            "state migrate",
            lock_wait,
        )?);
    }
    let _lease = match &to.remote {
        Some(remote) => {
            let holder = crate::state::lock::Holder::current("state migrate");
            let lease = crate::state::lease::acquire(remote, name, &holder, lock_wait)?;
            Some(crate::state::lease::LeaseGuard::new(
                std::sync::Arc::clone(remote),
                lease,
            ))
        }
        None => None,
    };
    let already = match &to.remote {
        Some(remote) => {
            remote.pull(to)?;
            State::load(&to.state())?.is_some()
        }
        None => State::load(&to.state())?.is_some() && to.dir != from.dir,
    };
    if already {
        return Err(OpError::State(StateError::Remote {
            at: target_name(to),
            detail: format!("a state for stack `{name}` is already there; nothing was copied"),
            denied: false,
        }));
    }
    let recorder = Recorder::create(to.clone(), state.clone())?;
    drop(recorder);
    // Read it back from where it now lives, not from memory.
    let copied = match &to.remote {
        Some(remote) => {
            remote.pull(to)?;
            State::load(&to.state())?
        }
        None => State::load(&to.state())?,
    };
    let same = copied.as_ref().is_some_and(|c| {
        c.lineage == state.lineage
            && c.serial == state.serial
            && c.resources == state.resources
            && c.pending == state.pending
    });
    if !same {
        return Err(OpError::State(StateError::Remote {
            at: target_name(to),
            detail:
                "the copy read back differs from the state: the stack keeps its current backend"
                    .into(),
            denied: false,
        }));
    }
    Ok((Migrated { state }, guards))
}

/// Removes the source copy once the pointer names the target.
pub fn remove_source(from: &StackFiles, to: &StackFiles) -> Result<(), StateError> {
    match &from.remote {
        // Only the remote objects: the local directory is now the target's working copy or
        // the target itself.
        Some(remote) => {
            remote.remove()?;
            if from.dir != to.dir {
                // The target is elsewhere (file://): the working copy here is stale now.
                store::remove_copy(&from.dir)?;
            }
            Ok(())
        }
        None if from.dir != to.dir => store::remove_copy(&from.dir),
        None => Ok(()),
    }
}

fn target_name(to: &StackFiles) -> String {
    to.remote
        .as_ref()
        .map_or_else(|| to.dir.display().to_string(), |r| r.location())
}
