//! Running a plan against providers: the executor (ready queue, limits, retries, outcome-unknown
//! lookups, cancellation), its schedule (critical path first) and call slots, recovery of pending
//! operations, refresh and drift, data sources, and teardown's discovery of leftovers and the
//! census.
//!
//! May import: `base`, `lang`, `provider`, `state`, `plan`.

pub mod apply;
pub mod schedule;
pub mod slots;
pub mod teardown;

#[cfg(test)]
mod tests;
