//! Property test: any random DAG template validates and plans with the right counts and order.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use stackform_engine::base::source::SourceFile;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{Catalog, PropType, PropertySchema, ResourceSchema};
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{Action, PlanRequest, plan};
use stackform_engine::state::{ResourceState, State, TemplateRecord};

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.add_resource(
        ResourceSchema::new("test.node", "test")
            .property(PropertySchema::new("name", PropType::String, "").force_new())
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "",
            )),
    );
    c
}

/// A random DAG: for node i, the set of earlier nodes it references; a random declaration
/// order; which nodes are already in state; and how many stale extras state holds.
fn dag() -> impl Strategy<Value = (Vec<BTreeSet<usize>>, Vec<usize>, Vec<bool>, usize)> {
    (1usize..40).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                proptest::collection::btree_set(0..i.max(1), 0..=i.min(4)).prop_map(move |s| {
                    s.into_iter()
                        .filter(|d| *d < i)
                        .collect::<BTreeSet<usize>>()
                })
            })
            .collect::<Vec<_>>();
        let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        let in_state = proptest::collection::vec(any::<bool>(), n);
        (deps, order, in_state, 0usize..5)
    })
}

fn render(deps: &[BTreeSet<usize>], order: &[usize]) -> String {
    let mut t = String::from("name: random\nresources:\n");
    for &i in order {
        t.push_str(&format!(
            "  r{i}:\n    type: test.node\n    properties:\n      name: n{i}\n"
        ));
        if !deps[i].is_empty() {
            t.push_str("      tags:\n");
            for d in &deps[i] {
                t.push_str(&format!("        d{d}: \"${{r{d}.name}}\"\n"));
            }
        }
    }
    t
}

fn recorded(i: usize, deps: &BTreeSet<usize>) -> ResourceState {
    let mut props = BTreeMap::from([("name".to_owned(), Value::String(format!("n{i}")))]);
    if !deps.is_empty() {
        let tags = deps
            .iter()
            .map(|d| (format!("d{d}"), Value::String(format!("n{d}"))))
            .collect();
        props.insert("tags".to_owned(), Value::Map(tags));
    }
    ResourceState {
        type_name: "test.node".into(),
        physical_id: format!("p{i}"),
        properties: props,
        outputs: BTreeMap::new(),
        dependencies: deps.iter().map(|d| format!("r{d}")).collect(),
        protect: false,
        created_at: String::new(),
        found: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_dags_plan_with_the_right_counts((deps, order, in_state, extras) in dag()) {
        let source = SourceFile::new("random.yaml", render(&deps, &order));
        let parsed = template::parse(&source).expect("the template parses");
        let catalog = catalog();
        let mut resources = BTreeMap::new();
        for (i, present) in in_state.iter().enumerate() {
            if *present {
                resources.insert(format!("r{i}"), recorded(i, &deps[i]));
            }
        }
        for e in 0..extras {
            resources.insert(format!("stale{e}"), recorded(1000 + e, &BTreeSet::new()));
        }
        let state = State {
            lineage: uuid::Uuid::nil(),
            serial: 1,
            resources,
            ..State::new(
                "dev",
                "abc123",
                TemplateRecord {
                    name: "t".into(),
                    hash: String::new(),
                    source: String::new(),
                },
            )
        };
        let p = plan(&PlanRequest {
            template: &parsed,
            catalog: &catalog,
            inputs: &InputValues::default(),
            stack: StackContext { name: Some("r".into()), suffix: Some("aaaaaa".into()), id: None },
            state: Some(&state),
            partial: false,
            replace: &[],
            data: &Default::default(),
        }).expect("a DAG always plans");

        let present = in_state.iter().filter(|p| **p).count();
        prop_assert_eq!(p.summary.add, deps.len() - present);
        prop_assert_eq!(p.summary.unchanged, present);
        prop_assert_eq!(p.summary.destroy, extras);
        prop_assert_eq!(p.summary.change + p.summary.replace, 0);
        // Every resource comes after everything it depends on.
        let position: BTreeMap<&str, usize> =
            p.changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
        for c in p.changes.iter().filter(|c| c.action != Action::Delete) {
            let i: usize = c.address[1..].parse().unwrap();
            let expected: Vec<String> = deps[i].iter().map(|d| format!("r{d}")).collect();
            let mut got = c.depends_on.clone();
            got.sort_by_key(|a| a[1..].parse::<usize>().unwrap());
            prop_assert_eq!(&got, &expected);
            for d in &c.depends_on {
                prop_assert!(position[d.as_str()] < position[c.address.as_str()], "{} before {}", d, c.address);
            }
        }
    }
}
