//! End-to-end tests: the real `stackform` binary, run as a user would run it.

mod errors;
mod plan;
mod support;
mod template;
