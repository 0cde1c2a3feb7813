//! Running a plan against providers: the executor (ready queue, limits, retries, outcome-unknown
//! lookups, cancellation), recovery of pending operations, refresh and drift, data sources, and
//! teardown's discovery of leftovers and the census.
//!
//! May import: `base`, `lang`, `provider`, `state`, `plan`.

pub mod apply;
pub mod teardown;
