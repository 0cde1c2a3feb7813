//! The `sim` provider: simulated resources for rehearsing plans, latency and failures.
//!
//! A testing aid, built into the default binary and documented as such. Its resources have the
//! kinds of properties real ones have (force-new names, in-place tags and sizes, sensitive
//! values, data that a replace destroys) so the planner can be exercised without a cloud.

mod lookup;
mod resource;

use stackform_engine::schema::Catalog;

pub fn register(catalog: &mut Catalog) {
    catalog.add_resource(resource::schema("sim.resource", false));
    catalog.add_resource(resource::schema("sim.store", true));
    catalog.add_data(lookup::schema());
}
