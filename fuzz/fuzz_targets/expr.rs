//! Fuzz target: one string of the expression language, evaluated as a plan evaluates it.
//!
//! The bytes are read both as a template string (`name-${inputs.region}`) and as a bare
//! expression (a `when:`), and evaluated by the engine's own scope over a fixed stack: inputs of
//! every type (64-bit extremes among them), resources with known and unknown outputs, one dropped
//! by its `when`, a data source and a secret. So functions, arithmetic and comparisons, indexing,
//! Unknown and every kind of reference run. Nothing may panic or overflow, error spans must lie
//! in the string, and sensitivity must hold: an expression that reads no sensitive value, by the
//! taint analysis, evaluates the same whatever the secret is.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stackform_engine::base::diagnostic::Diagnostic;
use stackform_engine::base::source::{Located, SourceFile, Span};
use stackform_engine::base::value::Value;
use stackform_engine::lang::expr::{self, ExprError, Reference};
use stackform_engine::lang::taint;
use stackform_engine::lang::template::{self, Template};
use stackform_engine::plan::resolve::{Env, ResourceValues, StackContext};
use stackform_fuzz::{catalog, render};

/// The stack the expressions are evaluated in. `gone` is dropped by its `when`, so reading it is
/// the engine's "not part of this stack" error.
const STACK: &str = r#"name: fuzz
inputs:
  region: { type: string, default: eu-west-1 }
  count: { type: integer, default: 3 }
  tok: { type: string, sensitive: true }
  flag: { type: boolean, default: true }
  zones: { type: list, default: [a, b] }
  tags: { type: map, default: { team: ml } }
  later: { type: string, required: false }
data:
  lookup: { type: sim.lookup, properties: { values: { k: v } } }
resources:
  bucket:
    type: sim.store
    properties: { name: b, secret: "${inputs.tok}" }
  cluster:
    type: sim.resource
    properties: { name: c, size: "${inputs.count}", secret: "${inputs.tok}" }
  gone:
    type: sim.resource
    when: ${inputs.count > 100}
    properties: { name: g }
outputs:
  region: ${inputs.region}
"#;

/// Two values for the one secret: what an expression shows must not tell them apart unless it
/// reads the secret.
const SECRETS: [&str; 2] = ["s3cret-A", "other-secret-value"];

fn stack() -> &'static Template {
    static STACK_TEMPLATE: OnceLock<Template> = OnceLock::new();
    STACK_TEMPLATE.get_or_init(|| {
        template::parse(&SourceFile::new("stack.yaml", STACK)).expect("the fixed stack parses")
    })
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// The inputs, with `secret` as the sensitive one. Integers at both ends of 64 bits, so that
/// negation, comparison and indexing meet their edges.
fn inputs(secret: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("region".to_owned(), Value::from("eu-west-1")),
        ("count".to_owned(), Value::Int(i64::MIN)),
        ("tok".to_owned(), Value::from(secret)),
        ("flag".to_owned(), Value::Bool(true)),
        (
            "zones".to_owned(),
            Value::List(vec![
                Value::from("a"),
                Value::Int(i64::MAX),
                Value::Float(f64::NAN),
                Value::Null,
                Value::Unknown,
            ]),
        ),
        (
            "tags".to_owned(),
            map(&[
                ("team", Value::from("ml")),
                (
                    "nested",
                    map(&[("deep", Value::List(vec![Value::Float(-0.0)]))]),
                ),
            ]),
        ),
        ("later".to_owned(), Value::Unknown),
    ])
}

/// `bucket` exists (known outputs, id), `cluster` is to be created (outputs unknown); both hold
/// the secret in their sensitive property.
fn resources(secret: &str) -> HashMap<String, ResourceValues> {
    let props = |name: &str| {
        BTreeMap::from([
            ("name".to_owned(), Value::from(name)),
            ("size".to_owned(), Value::Int(i64::MAX)),
            ("secret".to_owned(), Value::from(secret)),
            ("tags".to_owned(), map(&[("env", Value::from("dev"))])),
            (
                "data".to_owned(),
                map(&[("list", Value::List(vec![Value::Int(1), Value::Float(1.5)]))]),
            ),
        ])
    };
    HashMap::from([
        (
            "bucket".to_owned(),
            ResourceValues {
                properties: props("b"),
                outputs: Some(BTreeMap::from([
                    ("arn".to_owned(), Value::from("sim:store:b")),
                    ("endpoint".to_owned(), Value::from("https://b.sim")),
                ])),
                id: Some("b-123".to_owned()),
            },
        ),
        (
            "cluster".to_owned(),
            ResourceValues {
                properties: props("c"),
                outputs: None,
                id: None,
            },
        ),
    ])
}

/// What evaluating `text` shows, as a template string and as a bare expression, with `secret`.
fn evaluate(text: &str, secret: &str) -> [Result<Value, ExprError>; 2] {
    let inputs = inputs(secret);
    let resources = resources(secret);
    let data = HashMap::from([(
        "lookup".to_owned(),
        BTreeMap::from([("values".to_owned(), map(&[("k", Value::from("v"))]))]),
    )]);
    let stack_context = StackContext {
        name: Some("dev".to_owned()),
        suffix: Some("abc123".to_owned()),
        id: None,
    };
    let env = Env {
        template: stack(),
        catalog: catalog(),
        inputs: &inputs,
        stack: &stack_context,
        resources: &resources,
        data: &data,
    };
    [
        expr::parse_template(text).and_then(|t| expr::render(&t, &env)),
        expr::parse_expr(text).and_then(|e| expr::eval(&e, &env)),
    ]
}

/// Every reference `text` makes, as a template string and as an expression (where it parses).
fn references(text: &str) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    if let Ok(t) = expr::parse_template(text) {
        out.extend(t.references().into_iter().cloned());
    }
    if let Ok(e) = expr::parse_expr(text) {
        out.extend(e.references().into_iter().cloned());
    }
    out
}

/// An error's span must lie in the string, on character boundaries: the template layer maps it
/// to a file position and the renderer quotes it.
fn check_span(text: &str, span: &Range<usize>) {
    assert!(
        span.start <= span.end && span.end <= text.len(),
        "span {span:?} outside a string of {} bytes",
        text.len()
    );
    assert!(
        text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
        "span {span:?} splits a character"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;

    let results = evaluate(text, SECRETS[0]);
    let source = SourceFile::new("fuzz.yaml", text);
    for result in &results {
        match result {
            Ok(value) => {
                // What a plan shows and what state records.
                std::hint::black_box(value.to_string());
                std::hint::black_box(value.to_json());
            }
            Err(e) => {
                check_span(text, &e.span);
                let d = Diagnostic::new("expr::fuzz", e.message.clone())
                    .at(Located::new(&source, Span::new(e.span.start, e.span.end)))
                    .maybe_help(e.help.clone());
                std::hint::black_box(render(&d));
            }
        }
    }

    let reads_secret = references(text)
        .iter()
        .any(|r| taint::source(stack(), catalog(), r).is_some());
    if !reads_secret {
        let other = evaluate(text, SECRETS[1]);
        assert_eq!(
            format!("{results:?}"),
            format!("{other:?}"),
            "an expression that reads no sensitive value depends on the secret"
        );
    }
});
