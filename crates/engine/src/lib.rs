//! stackform's engine: templates, expressions, the dependency graph, plans and state.
//!
//! Architecture invariant: no cloud SDK, no terminal, no process-wide state. The CLI turns
//! user input into calls here; providers declare resource types against the engine's types.
//! The flow is `template::parse` -> `check::check` -> `plan::plan` (which resolves inputs,
//! evaluates `when`, builds the `graph` and diffs against `state`).

// Diagnostics are large (location, help, related places) and only travel on cold error paths;
// boxing them would cost every reader of their fields for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod check;
pub mod connectors;
pub mod cost;
pub mod crash;
pub mod diagnostic;
pub mod export;
pub mod expr;
pub mod fsio;
pub mod graph;
pub mod integration;
pub mod lease;
pub mod lock;
pub mod migrate;
pub mod operations;
pub mod plan;
pub mod plan_file;
pub mod provider;
pub mod rebuild;
pub mod register;
pub mod remote;
pub mod resolve;
pub mod schema;
pub mod secret_store;
pub mod secrets;
pub mod source;
pub mod stack;
pub mod state;
pub mod state_edit;
pub mod store;
pub mod suggest;
pub mod teardown;
pub mod template;
pub mod terraform;
pub mod value;
pub mod yaml;
