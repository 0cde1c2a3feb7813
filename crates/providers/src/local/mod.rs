//! The `local` provider: resources on this machine, for a stack that needs no cloud account.

mod directory;

use std::sync::Arc;

use stackform_engine::provider::Registry;

pub fn register(registry: &mut Registry) {
    registry.add(Arc::new(directory::Directory::new()));
    registry.set_limit("local", 16);
}
