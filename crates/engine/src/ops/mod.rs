//! The use cases, one file each: what a command does from taking the lock to the final snapshot.
//! The CLI gathers arguments, confirms and prints; everything it asks of the engine starts here
//! or in the layers below.
//!
//! `prepare` is the one planning pipeline: `plan` and `deploy` both call it, so a saved plan is
//! what a deploy would do by construction.
//!
//! May import: every other layer.

pub mod deploy;
pub mod destroy;
pub mod error;
pub mod export;
pub mod list;
pub mod migrate;
pub mod open;
pub mod prepare;
pub mod protect;
pub mod reap;
pub mod rebuild;
pub mod register;
pub mod state_edit;
pub mod sweep;

pub use error::{Confirm, OpError, invalid};
pub use open::take_lock;
