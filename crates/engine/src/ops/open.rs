//! Taking a stack's lock (and, for a remote stack, its lease and newest state) and opening its
//! state with what an interrupted run left pending resolved and the resources refreshed.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::exec::{self, RunConfig};
use crate::provider::Registry;
use crate::state::lock::{self, Holder};
use crate::state::store::{self, Recorder, StackFiles};

pub fn take_lock(
    files: &StackFiles,
    name: &str,
    command: &str,
    wait: Duration,
) -> Result<lock::LockGuard, OpError> {
    let holder = Holder::current(command);
    let guard = lock::acquire(&files.dir, name, &holder, wait)?;
    let Some(remote) = &files.remote else {
        return Ok(guard);
    };
    // A remote stack: the lease in the team's storage, then its newest state into the working
    // copy (which, while the lease is held, is the truth).
    let lease = crate::state::lease::acquire(remote, name, &holder, wait)?;
    let guard = guard.with_lease(crate::state::lease::LeaseGuard::new(
        Arc::clone(remote),
        lease,
    ));
    remote.pull(files)?;
    Ok(guard)
}

/// Opens the stack's state (if any), resolves pending operations and refreshes it.
pub(crate) async fn open_and_refresh(
    files: &StackFiles,
    registry: &Registry,
    run: &RunConfig,
) -> Result<Option<Recorder>, OpError> {
    store::clean_temp_files(files);
    let Some(state) = store::load(files)? else {
        return Ok(None);
    };
    let recorder = Recorder::open(files.clone(), state)?;
    exec::resolve_pending(registry, &recorder, run).await?;
    exec::refresh(registry, &recorder, run).await?;
    Ok(Some(recorder))
}
