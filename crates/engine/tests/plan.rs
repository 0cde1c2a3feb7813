//! Data-driven tests of parsing, checking, expressions, `when`, graph building and planning.
//!
//! Every case goes through one `check(case, expect)` helper that runs the whole pipeline
//! (parse, check, resolve, plan) and renders either the plan or the errors as short text, so an
//! API change touches the helper, not a hundred tests. Update expectations with
//! `UPDATE_EXPECT=1 cargo test`.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use stackform_engine::base::source::SourceFile;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    Catalog, OutputSchema, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{Action, PlanRequest, plan};
use stackform_engine::state::{ResourceState, State, TemplateRecord};

fn catalog() -> Catalog {
    let thing = |name: &str| {
        ResourceSchema::new(name, "test")
            .property(PropertySchema::new("name", PropType::String, "").force_new())
            .property(PropertySchema::new("size", PropType::Integer, ""))
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "",
            ))
            .property(PropertySchema::new(
                "items",
                PropType::list_of(PropType::String),
                "",
            ))
            .property(PropertySchema::new("secret", PropType::String, "").sensitive())
            .property(PropertySchema::new("mode", PropType::String, "").default("fast"))
            .output(OutputSchema::new("arn", PropType::String, ""))
            .output(OutputSchema::new(
                "endpoint",
                PropType::map_of(PropType::String),
                "",
            ))
    };
    let mut c = Catalog::new();
    c.add_resource(thing("test.thing"));
    c.add_resource(thing("test.store").stateful());
    c.add_resource(
        ResourceSchema::new("test.needy", "test")
            .property(PropertySchema::new("target", PropType::String, "").required()),
    );
    c.add_data(
        ResourceSchema::new("test.lookup", "test").output(OutputSchema::new(
            "zones",
            PropType::list_of(PropType::String),
            "",
        )),
    );
    c
}

/// One scenario: a template, optional `--var`s, and optional resources already in state.
#[derive(Default)]
struct Case<'a> {
    template: &'a str,
    vars: &'a [(&'a str, &'a str)],
    /// `address: type {json properties} {json outputs}` per line.
    state: &'a str,
}

fn state_from(text: &str) -> Option<State> {
    if text.trim().is_empty() {
        return None;
    }
    let mut resources = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (address, rest) = line.split_once(": ").unwrap();
        let (ty, rest) = rest.split_once(' ').unwrap();
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let props = stream.next().unwrap().unwrap();
        let outputs = stream
            .next()
            .map(|o| o.unwrap())
            .unwrap_or(serde_json::json!({}));
        let to_map = |j: &serde_json::Value| match Value::from_json(j) {
            Value::Map(m) => m,
            _ => panic!("state properties must be a JSON object"),
        };
        resources.insert(
            address.to_owned(),
            ResourceState {
                type_name: ty.to_owned(),
                physical_id: format!("id-{address}"),
                properties: to_map(&props),
                outputs: to_map(&outputs),
                dependencies: Vec::new(),
                protect: false,
                created_at: String::new(),
                found: None,
            },
        );
    }
    Some(State {
        lineage: uuid::Uuid::nil(),
        serial: 3,
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
    })
}

fn run(case: &Case) -> String {
    let source = SourceFile::new("t.yaml", case.template);
    let parsed = match template::parse(&source) {
        Ok(t) => t,
        Err(diags) => return render_errors(&diags),
    };
    let catalog = catalog();
    let inputs = InputValues {
        vars: case
            .vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        file: BTreeMap::new(),
    };
    let state = state_from(case.state);
    let request = PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &inputs,
        stack: StackContext {
            name: Some("dev".into()),
            suffix: Some("abc123".into()),
            id: None,
        },
        state: state.as_ref(),
        partial: false,
        replace: &[],
        data: &Default::default(),
    };
    match plan(&request) {
        Err(diags) => render_errors(&diags),
        Ok(p) => {
            let mut out = String::new();
            for c in &p.changes {
                out.push_str(&format!(
                    "{} {} ({})",
                    c.action.symbol(),
                    c.address,
                    c.type_name
                ));
                if let Some(r) = &c.reason {
                    out.push_str(&format!(": {r}"));
                }
                if !c.depends_on.is_empty() {
                    out.push_str(&format!(" after [{}]", c.depends_on.join(", ")));
                }
                out.push('\n');
                if c.action == Action::Noop {
                    continue;
                }
                for prop in &c.properties {
                    let v = match (&prop.before, &prop.after) {
                        (None, Some(a)) => a.to_string(),
                        (Some(b), None) => b.to_string(),
                        (Some(b), Some(a)) => format!("{b} -> {a}"),
                        _ => String::new(),
                    };
                    let force = if prop.forces_replacement {
                        " (forces replacement)"
                    } else {
                        ""
                    };
                    out.push_str(&format!("    {} = {v}{force}\n", prop.name));
                }
                if let Some(w) = &c.warning {
                    out.push_str(&format!("    ! {w}\n"));
                }
            }
            for comp in &p.components {
                out.push_str(&format!("component {} {}\n", comp.kind, comp.flavor));
                for (k, v) in &comp.configuration {
                    out.push_str(&format!("    {k} = {v}\n"));
                }
            }
            for (k, v) in &p.outputs {
                out.push_str(&format!("output {k} = {v}\n"));
            }
            let s = p.summary;
            out.push_str(&format!(
                "{} to add, {} to change, {} to replace, {} to destroy, {} unchanged\n",
                s.add, s.change, s.replace, s.destroy, s.unchanged
            ));
            out
        }
    }
}

fn render_errors(diags: &stackform_engine::base::diagnostic::Diagnostics) -> String {
    let mut out = String::new();
    for d in &diags.0 {
        match d.position() {
            Some((_, line, col)) => {
                out.push_str(&format!("error[{}] {line}:{col}: {}", d.code, d.message))
            }
            None => out.push_str(&format!("error[{}]: {}", d.code, d.message)),
        }
        if let Some(h) = &d.help {
            out.push_str(&format!(" (help: {h})"));
        }
        out.push('\n');
    }
    out
}

fn check(case: Case, expect: Expect) {
    expect.assert_eq(&run(&case));
}

#[test]
fn references_become_edges_and_unknown_outputs() {
    check(
        Case {
            template: r#"
name: t
resources:
  b:
    type: test.thing
    properties:
      name: "${a.name}-b"
      tags: { upstream: "${a.arn}" }
  a:
    type: test.thing
    properties:
      name: "${stack.name}-${stack.suffix}"
      size: 3
"#,
            ..Case::default()
        },
        expect![[r#"
            + a (test.thing)
                mode = "fast"
                name = "dev-abc123"
                size = 3
            + b (test.thing) after [a]
                mode = "fast"
                name = "dev-abc123-b"
                tags = (known after apply)
            2 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
}

#[test]
fn unknown_type_property_and_reference_suggest_the_closest_name() {
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thng
  b:
    type: test.thing
    properties:
      sise: 1
      name: ${c.name}
  c:
    type: test.thing
    properties:
      name: ${b.nmae}
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::unknown_type] 5:11: unknown resource type `test.thng` (help: did you mean `test.thing`?)
            error[template::unknown_property] 9:7: `test.thing` has no property `sise` (help: did you mean `size`?)
            error[template::unknown_reference] 14:15: resource `b` (test.thing) has no attribute `nmae` (help: did you mean `name`?)
        "#]],
    );
}

#[test]
fn a_cycle_names_every_resource_on_it() {
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thing
    properties: { name: "${c.arn}" }
  b:
    type: test.thing
    properties: { name: "${a.arn}" }
  c:
    type: test.thing
    depends_on: [b]
  d:
    type: test.thing
    properties: { name: "${c.arn}" }
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::cycle] 4:3: dependency cycle: a -> b -> c -> a (help: break the cycle: one of these resources must not refer to the next (remove a reference or a `depends_on` entry))
        "#]],
    );
}

#[test]
fn inputs_are_typed_validated_and_required() {
    let template = r#"
name: t
inputs:
  count: { type: integer, min: 1, max: 5 }
  env: { type: string, enum: [dev, prod], default: dev }
  prefix: { type: string, pattern: "[a-z]+", default: abc }
resources:
  a:
    type: test.thing
    properties: { size: "${inputs.count}", name: "${inputs.prefix}-${inputs.env}" }
"#;
    check(
        Case {
            template,
            ..Case::default()
        },
        expect![[r#"
            error[input::missing] 4:3: input `count` is required and has no default (help: pass it with `--var count=<integer>` or in a `--var-file`)
        "#]],
    );
    check(
        Case {
            template,
            vars: &[
                ("count", "two"),
                ("env", "qa"),
                ("prefix", "A1"),
                ("colour", "x"),
            ],
            ..Case::default()
        },
        expect![[r#"
            error[input::invalid] 4:3: --var count: expected an integer, got "two" (help: `count` takes an integer, at least 1, at most 5)
            error[input::invalid] 5:3: input `env` = "qa": not one of the allowed values (help: `env` takes a string, one of "dev", "prod")
            error[input::invalid] 6:3: input `prefix` = "A1": does not match the pattern (help: `prefix` takes a string, matching `[a-z]+`)
            error[input::unknown]: template `t` has no input `colour` (help: known inputs: count, env, prefix)
        "#]],
    );
    check(
        Case {
            template,
            vars: &[("count", "9")],
            ..Case::default()
        },
        expect![[r#"
            error[input::invalid] 4:3: input `count` = 9: above the maximum of 5 (help: `count` takes an integer, at least 1, at most 5)
        "#]],
    );
    check(
        Case {
            template,
            vars: &[("count", "2"), ("env", "prod")],
            ..Case::default()
        },
        expect![[r#"
            + a (test.thing)
                mode = "fast"
                name = "abc-prod"
                size = 2
            1 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
}

#[test]
fn when_drops_resources_and_components_and_guards_references() {
    let template = r#"
name: t
inputs:
  orchestrator: { type: string, enum: [kubernetes, none], default: kubernetes }
resources:
  cluster:
    type: test.thing
    when: ${inputs.orchestrator == "kubernetes"}
    properties: { name: cluster }
  bucket:
    type: test.store
    properties: { name: bucket }
components:
  artifact_store: { flavor: s3, path: "s3://${bucket.name}" }
  orchestrator:
    flavor: kubernetes
    cluster: ${cluster.name}
    when: ${inputs.orchestrator == "kubernetes"}
"#;
    check(
        Case {
            template,
            vars: &[("orchestrator", "none")],
            ..Case::default()
        },
        expect![[r#"
            + bucket (test.store)
                mode = "fast"
                name = "bucket"
            component artifact_store "s3"
                path = "s3://bucket"
            1 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
    let broken = template.replace(
        "    when: ${inputs.orchestrator == \"kubernetes\"}\n\"#",
        "\"#",
    );
    let broken = broken.replace(
        "    cluster: ${cluster.name}\n    when: ${inputs.orchestrator == \"kubernetes\"}\n",
        "    cluster: ${cluster.name}\n",
    );
    check(
        Case {
            template: &broken,
            vars: &[("orchestrator", "none")],
            ..Case::default()
        },
        expect![[r#"
            error[template::dropped_reference] 17:16: `cluster` is not part of this stack (dropped by its `when`) (help: give the referring resource the same `when` as `cluster`, or stop referring to it)
        "#]],
    );
}

#[test]
fn plan_against_state_updates_replaces_deletes_and_keeps() {
    check(
        Case {
            template: r#"
name: t
resources:
  same:
    type: test.thing
    properties: { name: same, size: 1 }
  grown:
    type: test.thing
    properties: { name: grown, size: 2, tags: { team: ml } }
  renamed:
    type: test.store
    properties: { name: new-name }
  reader:
    type: test.thing
    properties: { name: reader, tags: { store: "${renamed.arn}" } }
"#,
            state: r#"
                same: test.thing {"name": "same", "size": 1, "mode": "fast"}
                grown: test.thing {"name": "grown", "size": 1, "mode": "fast"}
                renamed: test.store {"name": "old-name", "mode": "fast"} {"arn": "arn:old"}
                reader: test.thing {"name": "reader", "mode": "fast", "tags": {"store": "arn:old"}}
                gone: test.store {"name": "gone", "mode": "fast"}
            "#,
            ..Case::default()
        },
        expect![[r#"
              same (test.thing)
            ~ grown (test.thing)
                size = 1 -> 2
                tags = null -> {team: "ml"}
            -/+ renamed (test.store): changing `name` forces replacement
                name = "old-name" -> "new-name" (forces replacement)
                ! replacing `renamed` (test.store) destroys the data it holds
            ~ reader (test.thing) after [renamed]
                tags = {store: "arn:old"} -> (known after apply)
            - gone (test.store): no longer in the template
                mode = "fast"
                name = "gone"
                ! deleting `gone` (test.store) destroys the data it holds
            0 to add, 2 to change, 1 to replace, 1 to destroy, 1 unchanged
        "#]],
    );
}

#[test]
fn kept_resources_expose_their_recorded_outputs() {
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thing
    properties: { name: a }
  b:
    type: test.thing
    properties: { name: b, tags: { a: "${a.arn}", host: "${a.endpoint.host}", id: "${a.id}" } }
outputs:
  arn: ${a.arn}
"#,
            state: r#"
                a: test.thing {"name": "a", "mode": "fast"} {"arn": "arn:a", "endpoint": {"host": "h"}}
            "#,
            ..Case::default()
        },
        expect![[r#"
              a (test.thing)
            + b (test.thing) after [a]
                mode = "fast"
                name = "b"
                tags = {a: "arn:a", host: "h", id: "id-a"}
            output arn = "arn:a"
            1 to add, 0 to change, 0 to replace, 0 to destroy, 1 unchanged
        "#]],
    );
}

#[test]
fn functions_lists_and_secret_references() {
    check(
        Case {
            template: r#"
name: t
inputs:
  zones: { type: list, default: [eu-a, eu-b] }
resources:
  a:
    type: test.thing
    secret: nope
    properties:
      name: ${lower(format("%s-%d", upper(stack.name), 7))}
      items: ['${inputs.zones[1]}', '${join("+", inputs.zones)}', '${replace(substr("abcdef", 1, 3), "c", "C")}']
      secret: "{{ db.password }}"
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::unknown_key] 8:5: unknown key `secret` in resource `a` (help: known keys: depends_on, properties, protect, type, when)
        "#]],
    );
    check(
        Case {
            template: r#"
name: t
inputs:
  zones: { type: list, default: [eu-a, eu-b] }
  pw: { type: string, sensitive: true }
resources:
  a:
    type: test.thing
    properties:
      name: ${lower(format("%s-%d", upper(stack.name), 7))}
      items: ['${inputs.zones[1]}', '${join("+", inputs.zones)}', '${replace(substr("abcdef", 1, 3), "c", "C")}']
      secret: ${upper(inputs.pw)}
components:
  experiment_tracker: { flavor: mlflow, password: "{{ mlflow.password }}", uri: "x" }
"#,
            vars: &[("pw", "hunter2")],
            ..Case::default()
        },
        expect![[r#"
            + a (test.thing)
                items = ["eu-b", "eu-a+eu-b", "bCd"]
                mode = "fast"
                name = "dev-7"
                secret = (sensitive)
            component experiment_tracker "mlflow"
                password = (sensitive)
                uri = "x"
            1 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
}

#[test]
fn expression_and_type_errors_point_into_the_string() {
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thing
    properties:
      name: "x-${lowr(stack.name)}"
      size: "${stack.name}"
  b:
    type: test.needy
    properties: {}
  c:
    type: test.thing
    depends_on: [zz]
components:
  artefact_store: { flavor: local }
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::expression] 7:18: unknown function `lowr` (help: did you mean `lower`?)
        "#]],
    );
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thing
    properties:
      size: "${stack.name}"
  b:
    type: test.needy
    properties: {}
  c:
    type: test.thing
    depends_on: [zz]
components:
  artefact_store: { flavor: local }
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::missing_property] 8:3: `test.needy` requires property `target` (string) (help: add `target: <value>` under `properties:`)
            error[template::unknown_reference] 13:18: `depends_on` names unknown resource `zz` (help: known resources: a, b, c)
            error[template::unknown_component] 15:3: unknown component type `artefact_store` (help: did you mean `artifact_store`?)
        "#]],
    );
    check(
        Case {
            template: r#"
name: t
resources:
  a:
    type: test.thing
    properties:
      size: "${stack.name}"
"#,
            ..Case::default()
        },
        expect![[r#"
            error[template::property_type] 7:13: property `size` of `a` must be an integer, found a string "dev" (help: `size` takes an integer)
        "#]],
    );
}

#[test]
fn malformed_yaml_and_shapes() {
    check(
        Case {
            template: "name: t\nresources:\n  a: [1, 2\n",
            ..Case::default()
        },
        expect![[r#"
            error[template::yaml] 4:1: malformed YAML: while parsing a flow sequence, expected ',' or ']' (help: fix the YAML syntax at this position (indentation, quotes, a missing `:`))
        "#]],
    );
    check(
        Case {
            template: "name: t\nresource:\n  a: {type: test.thing}\ninputs: [a]\n",
            ..Case::default()
        },
        expect![[r#"
            error[template::missing_key] 1:1: the template has neither `resources` nor `components` (help: add a `resources:` map with at least one resource)
            error[template::unknown_key] 2:1: unknown key `resource` in the template (help: did you mean `resources`?)
            error[template::shape] 4:9: `inputs` must be a map, found a list
        "#]],
    );
}

#[test]
fn data_sources_are_graph_nodes_with_unknown_values() {
    check(
        Case {
            template: r#"
name: t
data:
  zones: { type: test.lookup }
resources:
  subnet:
    type: test.thing
    properties: { name: subnet, items: "${data.zones.zones}" }
"#,
            ..Case::default()
        },
        expect![[r#"
            + subnet (test.thing) after [data.zones]
                items = (known after apply)
                mode = "fast"
                name = "subnet"
            1 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
}

#[test]
fn map_keys_may_hold_expressions() {
    check(
        Case {
            template: r#"
name: t
resources:
  provider:
    type: test.thing
    properties: { name: issuer }
  role:
    type: test.thing
    properties:
      name: role
      tags:
        "${provider.name}:sub": "system:serviceaccount:*:*"
        "${provider.arn}:aud": sts
"#,
            ..Case::default()
        },
        expect![[r#"
            + provider (test.thing)
                mode = "fast"
                name = "issuer"
            + role (test.thing) after [provider]
                mode = "fast"
                name = "role"
                tags = (known after apply)
            2 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
    check(
        Case {
            template: r#"
name: t
resources:
  role:
    type: test.thing
    properties:
      tags:
        "${stack.name}:sub": x
"#,
            ..Case::default()
        },
        expect![[r#"
            + role (test.thing)
                mode = "fast"
                tags = {dev:sub: "x"}
            1 to add, 0 to change, 0 to replace, 0 to destroy, 0 unchanged
        "#]],
    );
}

#[test]
fn a_value_that_doubles_along_references_is_refused_not_built() {
    // Each resource's name is the one before it twice: 8 * 2^40 bytes at the end of 40 lines.
    let mut template = String::from(
        "name: t\nresources:\n  r0:\n    type: test.thing\n    properties: { name: abcdefgh }\n",
    );
    for i in 1..=40 {
        template.push_str(&format!(
            "  r{i}:\n    type: test.thing\n    properties: {{ name: \"${{r{p}.name}}${{r{p}.name}}\" }}\n",
            p = i - 1
        ));
    }
    let started = std::time::Instant::now();
    let out = run(&Case {
        template: &template,
        ..Case::default()
    });
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        out.starts_with("error[template::evaluation]") && out.contains("1048576 bytes"),
        "{}",
        &out[..out.len().min(400)]
    );
}

#[test]
fn a_plan_whose_values_add_up_past_the_bound_is_refused() {
    // r17 is a 1 MiB name (doubled 17 times); a hundred resources each copy it: 100 MiB of
    // values from 7 KB of template, each value within the bound on one value.
    let mut template = String::from(
        "name: t\nresources:\n  r0:\n    type: test.thing\n    properties: { name: abcdefgh }\n",
    );
    for i in 1..=17 {
        template.push_str(&format!(
            "  r{i}:\n    type: test.thing\n    properties: {{ name: \"${{r{p}.name}}${{r{p}.name}}\" }}\n",
            p = i - 1
        ));
    }
    for i in 0..100 {
        template.push_str(&format!(
            "  c{i}: {{ type: test.thing, properties: {{ name: \"${{r17.name}}\" }} }}\n"
        ));
    }
    let out = run(&Case {
        template: &template,
        ..Case::default()
    });
    assert!(
        out.starts_with("error[plan::too_large]") && out.contains("67108864 bytes"),
        "{}",
        &out[..out.len().min(400)]
    );
}
