//! What stackform connects to beyond templates: integrations (flavors, plugins, templates),
//! service connectors, secrets and their stores, and Terraform interop.
//!
//! May import: `base`, `lang`, `provider`, `state`, `plan`, `exec`.

pub mod connectors;
pub mod integration;
pub mod secret_store;
pub mod secrets;
pub mod terraform;
