//! Running a plan against providers: the executor (`apply`: ready queue and limits; `calls`:
//! retries, outcome-unknown lookups; `node`: what a run shares and one node's claim on the
//! slots), its schedule (critical path first) and call slots, recovery of pending operations,
//! refresh and drift, data sources and the stack record, and teardown's discovery of leftovers
//! and the census.
//!
//! May import: `base`, `lang`, `provider`, `state`, `plan`.

pub mod apply;
mod calls;
pub mod data;
mod node;
pub mod recovery;
pub mod refresh;
pub mod run;
pub mod schedule;
pub mod slots;
pub mod teardown;

#[cfg(test)]
mod tests;

pub use apply::apply;
pub use calls::look;
pub use data::{provider_settings, read_data, stack_record};
pub use recovery::resolve_pending;
pub use refresh::{Drift, drift, refresh};
pub use run::{Desired, Event, Failure, Report, RetryPolicy, RunConfig, RunError};
