//! `stack protect` and `stack unprotect`: protection recorded in state, no cloud call.

use std::time::Duration;

use super::*;
use crate::base::diagnostic::Diagnostic;
use crate::state::store::{self, Entry, Recorder, StackFiles};

/// Which resources `stack protect|unprotect` changes.
pub struct ProtectRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    /// One resource, or every resource of the stack.
    pub address: Option<&'a str>,
    pub protect: bool,
    pub lock_wait: Duration,
    pub command: &'a str,
}

/// Protects or unprotects resources in state (no cloud call): protected resources are kept by
/// destroy and refused by any plan that would delete or replace them. Returns what changed.
pub async fn protect(req: ProtectRequest<'_>) -> Result<Vec<String>, OpError> {
    let _lock = take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    store::clean_temp_files(&req.files);
    let Some(state) = store::load(&req.files)? else {
        return Err(OpError::NoSuchStack(req.name.to_owned()));
    };
    if let Some(address) = req.address
        && !state.resources.contains_key(address)
    {
        return Err(invalid(
            Diagnostic::new(
                "stack::unknown_resource",
                format!("stack `{}` has no resource `{address}`", req.name),
            )
            .help(crate::base::suggest::did_you_mean(
                address,
                state.resources.keys().map(String::as_str),
                "resources",
            )),
        ));
    }
    let changed: Vec<String> = state
        .resources
        .iter()
        .filter(|(a, r)| {
            req.address.is_none_or(|want| want == a.as_str()) && r.protect != req.protect
        })
        .map(|(a, _)| a.clone())
        .collect();
    let recorder = Recorder::open(req.files.clone(), state)?;
    for address in &changed {
        recorder
            .record(Entry::Protect {
                address: address.clone(),
                protect: req.protect,
            })
            .await?;
    }
    recorder.compact()?;
    Ok(changed)
}
