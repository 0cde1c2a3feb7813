//! stackform's engine: templates, expressions, the dependency graph, plans and state.
//!
//! Architecture invariant: no cloud SDK, no terminal, no process-wide state. The CLI turns
//! user input into calls here; providers declare resource types against the engine's types.
//! The flow is `template::parse` -> `check::check` -> `plan::plan` (which resolves inputs,
//! evaluates `when`, builds the `graph` and diffs against `state`).

// Diagnostics are large (location, help, related places) and only travel on cold error paths;
// boxing them would cost every reader of their fields for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod base;
pub mod exec;
pub mod ext;
pub mod lang;
pub mod ops;
pub mod plan;
pub mod provider;
pub mod state;
