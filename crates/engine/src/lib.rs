//! stackform's engine: templates, expressions, the dependency graph, plans and state.
//!
//! Architecture invariant: no cloud SDK, no terminal, no process-wide state. The CLI turns
//! user input into calls here; providers implement resource types against the engine's types.

pub mod diagnostic;
pub mod source;
pub mod value;
pub mod yaml;
