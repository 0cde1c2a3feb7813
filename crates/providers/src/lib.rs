//! stackform's resource types and built-in templates.
//!
//! One module per provider (`local`, `sim`, and the clouds behind cargo features), one file per
//! resource type. Each type declares its schema to the engine's [`Catalog`]; the engine never
//! depends on this crate.

pub mod local;
pub mod sim;
pub mod templates;

use stackform_engine::schema::Catalog;

/// Every resource type and data source this build knows.
pub fn catalog() -> Catalog {
    let mut catalog = Catalog::new();
    local::register(&mut catalog);
    sim::register(&mut catalog);
    catalog
}
