//! End-to-end tests: the real `stackform` binary, run as a user would run it.

mod deploy;
mod errors;
mod plan;
mod reliability;
mod support;
mod template;
