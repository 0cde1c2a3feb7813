//! Shared by the benchmarks and the scale example: a large sim-like template and its state.
// Each bench uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    Catalog, OutputSchema, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::state::{ResourceState, State, TemplateRecord};

/// The schema of `sim.resource`, without the provider crate (the engine must not depend on it).
pub fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.add_resource(
        ResourceSchema::new("sim.resource", "bench")
            .property(PropertySchema::new("name", PropType::String, "").force_new())
            .property(PropertySchema::new("size", PropType::Integer, ""))
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "",
            ))
            .property(PropertySchema::new("latency_ms", PropType::Integer, "").default(0i64))
            .output(OutputSchema::new("arn", PropType::String, "")),
    );
    c
}

/// `n` resources; resource i reads the names of i/2 and i/3.
pub fn template(n: usize) -> String {
    let mut t = String::with_capacity(n * 120);
    t.push_str("name: scale\nresources:\n");
    for i in 0..n {
        t.push_str(&format!(
            "  r{i}:\n    type: sim.resource\n    properties:\n      name: n{i}\n      size: {i}\n"
        ));
        let mut deps: Vec<usize> = [i / 2, i / 3].into_iter().filter(|d| *d != i).collect();
        deps.dedup();
        if !deps.is_empty() {
            t.push_str("      tags:\n");
            for d in deps {
                t.push_str(&format!("        d{d}: \"${{r{d}.name}}\"\n"));
            }
        }
    }
    t
}

/// The state that template leaves once applied.
pub fn state(n: usize) -> State {
    let mut resources = BTreeMap::new();
    for i in 0..n {
        let mut deps: Vec<usize> = [i / 2, i / 3].into_iter().filter(|d| *d != i).collect();
        deps.dedup();
        let mut props = BTreeMap::from([
            ("name".to_owned(), Value::String(format!("n{i}"))),
            ("size".to_owned(), Value::Int(i as i64)),
            ("latency_ms".to_owned(), Value::Int(0)),
        ]);
        if !deps.is_empty() {
            let tags = deps
                .iter()
                .map(|d| (format!("d{d}"), Value::String(format!("n{d}"))))
                .collect();
            props.insert("tags".to_owned(), Value::Map(tags));
        }
        resources.insert(
            format!("r{i}"),
            ResourceState {
                type_name: "sim.resource".into(),
                physical_id: format!("n{i}"),
                properties: props,
                outputs: BTreeMap::from([("arn".to_owned(), Value::String(format!("sim:n{i}")))]),
                dependencies: deps.iter().map(|d| format!("r{d}")).collect(),
                protect: false,
                created_at: String::new(),
                found: None,
            },
        );
    }
    State {
        resources,
        ..State::new(
            "scale",
            "aaaaaa",
            TemplateRecord {
                name: "scale".into(),
                hash: String::new(),
                source: String::new(),
            },
        )
    }
}
