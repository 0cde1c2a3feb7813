//! The ground floor: what every other layer uses and that uses nothing of the engine.
//!
//! Located diagnostics and source files, the dynamic `Value`, "did you mean" suggestions, atomic
//! durable file writes and the crash-injection points the reliability tests drive.
//!
//! May import: nothing of the engine.

pub mod crash;
pub mod diagnostic;
pub mod fsio;
pub mod source;
pub mod suggest;
pub mod value;
