//! A stack's durable record: the state file's types (`record`), the journal and snapshot store
//! that makes every change durable before it is acknowledged (`store`), the per-stack lock and
//! the remote lease, remote state over an object store, and stack names.
//!
//! May import: `base`, `lang`, `provider`.

pub mod lease;
pub mod lock;
pub mod record;
pub mod remote;
pub mod stack;
pub mod store;

pub use record::*;
