//! Refactoring a stack's state without touching the cloud: `state mv` (a resource changes
//! address, what depended on it follows) and `state rm` (a resource is let go: it stays in the
//! cloud, unmanaged). Each is one journal entry, so a crash leaves the state before or after,
//! never in between.

use std::time::Duration;

use crate::base::diagnostic::Diagnostic;
use crate::ops::{OpError, invalid, take_lock};
use crate::state::State;
use crate::state::store::{self, Entry, Recorder, StackFiles};

/// What to change.
pub enum Edit<'a> {
    Move { from: &'a str, to: &'a str },
    Forget { address: &'a str },
}

/// Applies an edit under the stack's lock and returns the new state.
pub async fn edit(
    files: &StackFiles,
    name: &str,
    edit: Edit<'_>,
    lock_wait: Duration,
    command: &str,
) -> Result<State, OpError> {
    let _lock = take_lock(files, name, command, lock_wait)?;
    store::clean_temp_files(files);
    let Some(state) = store::load(files)? else {
        return Err(OpError::NoSuchStack(name.to_owned()));
    };
    let missing = |address: &str| {
        invalid(
            Diagnostic::new(
                "state::unknown_resource",
                format!("stack `{name}` has no resource `{address}`"),
            )
            .help(crate::base::suggest::did_you_mean(
                address,
                state.resources.keys().map(String::as_str),
                "resources",
            )),
        )
    };
    let entry = match edit {
        Edit::Move { from, to } => {
            if !state.resources.contains_key(from) {
                return Err(missing(from));
            }
            if state.resources.contains_key(to) {
                return Err(invalid(
                    Diagnostic::new(
                        "state::address_taken",
                        format!("stack `{name}` already has a resource at `{to}`"),
                    )
                    .help("move that one first, or pick a free address"),
                ));
            }
            if !valid_address(to) {
                return Err(invalid(
                    Diagnostic::new("state::bad_address", format!("`{to}` is not an address"))
                        .help(
                            "addresses start with a letter and hold letters, digits, `_` and `-`",
                        ),
                ));
            }
            Entry::Moved {
                from: from.to_owned(),
                to: to.to_owned(),
            }
        }
        Edit::Forget { address } => {
            if !state.resources.contains_key(address) {
                return Err(missing(address));
            }
            Entry::Forgot {
                address: address.to_owned(),
            }
        }
    };
    let recorder = Recorder::open(files.clone(), state)?;
    recorder.record(entry).await?;
    recorder.compact()?;
    Ok(recorder.state())
}

fn valid_address(a: &str) -> bool {
    a.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
