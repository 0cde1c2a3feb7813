//! The `local` provider: resources on this machine, for a stack that needs no cloud account.

mod directory;

use stackform_engine::schema::Catalog;

pub fn register(catalog: &mut Catalog) {
    catalog.add_resource(directory::schema());
}
