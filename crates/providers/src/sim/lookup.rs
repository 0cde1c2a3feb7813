//! `sim.lookup`: a data source that returns what it is given, for testing references to data.

use stackform_engine::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};

pub fn schema() -> ResourceSchema {
    ResourceSchema::new("sim.lookup", "A simulated read-only lookup (testing aid).")
        .property(PropertySchema::new(
            "values",
            PropType::map_of(PropType::Any),
            "What the lookup returns.",
        ))
        .output(OutputSchema::new(
            "values",
            PropType::map_of(PropType::Any),
            "The values given.",
        ))
}
