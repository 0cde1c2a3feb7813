//! From a template, inputs and a state to a plan: input resolution and `Env` (`resolve`), the
//! dependency graph (`graph`), the diff (`planner`), the bound on what a plan's values add up to
//! (`budget`), targeting, cost estimates and the saved plan file.
//!
//! Nothing here calls a provider: what must be read from the cloud before planning (data
//! sources, a refresh) is read by `exec` and handed in.
//!
//! May import: `base`, `lang`, `provider`, `state`.

pub mod budget;
pub mod cost;
pub mod graph;
pub mod plan_file;
pub mod planner;
pub mod resolve;

pub use planner::*;
