//! The `sim` provider: simulated resources for rehearsing plans, latency and failures.
//!
//! A testing aid, built into the default binary and documented as such. Its world lives on
//! disk (one file per resource, created with O_EXCL), so it survives a SIGKILL of stackform and
//! a duplicate create shows up as a conflict; tests read the same files to check that state and
//! world agree.

mod census;
mod lookup;
mod resource;
mod world;

use std::path::Path;
use std::sync::Arc;

use stackform_engine::provider::Registry;

pub use world::{World, WorldResource};

pub fn register(registry: &mut Registry, dir: &Path) {
    let world = Arc::new(World::new(dir));
    registry.add(Arc::new(resource::SimResource::new(
        "sim.resource",
        false,
        Arc::clone(&world),
    )));
    registry.add(Arc::new(resource::SimResource::new(
        "sim.store",
        true,
        Arc::clone(&world),
    )));
    registry.add_inventory("sim", Arc::new(census::Census::new(world)));
    registry.add_data(Arc::new(lookup::Lookup::new()));
}
