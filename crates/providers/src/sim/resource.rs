//! `sim.resource` and `sim.store` (the same, but holding data that a replace destroys).

use stackform_engine::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};

pub fn schema(type_name: &str, stateful: bool) -> ResourceSchema {
    let schema = ResourceSchema::new(
        type_name,
        "A simulated resource (testing aid): configurable latency and failure injection.",
    )
    .property(
        PropertySchema::new(
            "name",
            PropType::String,
            "The resource's name; changing it replaces the resource.",
        )
        .force_new(),
    )
    .property(PropertySchema::new(
        "size",
        PropType::Integer,
        "A number that can change in place.",
    ))
    .property(PropertySchema::new(
        "tags",
        PropType::map_of(PropType::String),
        "Tags, changed in place.",
    ))
    .property(PropertySchema::new(
        "data",
        PropType::Any,
        "Any value, stored as given.",
    ))
    .property(
        PropertySchema::new("secret", PropType::String, "A value never shown in plans.")
            .sensitive(),
    )
    .property(
        PropertySchema::new(
            "latency_ms",
            PropType::Integer,
            "Simulated duration of every operation, in milliseconds.",
        )
        .default(0i64),
    )
    .property(PropertySchema::new(
        "fail",
        PropType::list_of(PropType::String),
        "Failures to inject, as `<operation>:<call number>:<kind>`, e.g. `create:1:retryable`.",
    ))
    .output(OutputSchema::new(
        "arn",
        PropType::String,
        "A unique identifier assigned on create.",
    ))
    .output(OutputSchema::new(
        "endpoint",
        PropType::String,
        "An address assigned on create.",
    ));
    if stateful { schema.stateful() } else { schema }
}
