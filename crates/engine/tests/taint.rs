//! Sensitivity through expressions, as a property: whatever expression a template computes from
//! a sensitive input, either the value is marked sensitive (masked in the plan) or refused where
//! the cloud would show it, or it does not depend on the secret at all (non-interference: two
//! plans that differ only in the secret show the same thing).

use std::collections::BTreeMap;

use proptest::prelude::*;
use stackform_engine::base::source::SourceFile;
use stackform_engine::lang::schema::{Catalog, PropType, PropertySchema, ResourceSchema};
use stackform_engine::lang::template;
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{PlanRequest, plan};

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.add_resource(
        ResourceSchema::new("test.thing", "test")
            .property(PropertySchema::new("name", PropType::String, ""))
            .property(PropertySchema::new("secret", PropType::String, "").sensitive()),
    );
    c
}

/// Expressions over a secret, a plain input, the stack's name and literals, through the
/// language's string functions, comparisons and conditions.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("inputs.tok".to_owned()),
        Just("inputs.plain".to_owned()),
        Just("stack.name".to_owned()),
        "[a-z]{0,4}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| format!("upper({x})")),
            inner.clone().prop_map(|x| format!("lower({x})")),
            inner.clone().prop_map(|x| format!("tostring(length({x}))")),
            inner.clone().prop_map(|x| format!("substr({x}, 0, 2)")),
            inner
                .clone()
                .prop_map(|x| format!("replace({x}, \"s\", \"z\")")),
            (inner.clone(), inner.clone())
                .prop_map(|(x, y)| format!("format(\"%s-%s\", {x}, {y})")),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("join(\"/\", [{x}, {y}])")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, x, y)| format!("({c} == \"s3cret\" ? {x} : {y})")),
            (inner.clone(), inner)
                .prop_map(|(x, y)| format!("(length({x}) > length({y}) ? \"long\" : \"short\")")),
        ]
    })
}

/// The plan of `template` with the secret `tok`, rendered as a user reads it; or its errors.
fn planned(template: &str, tok: &str) -> Result<String, String> {
    let source = SourceFile::new("t.yaml", template);
    let parsed = template::parse(&source).map_err(|d| format!("{d:?}"))?;
    let catalog = catalog();
    let inputs = InputValues {
        vars: vec![
            ("tok".to_owned(), tok.to_owned()),
            ("plain".to_owned(), "plain".to_owned()),
        ],
        file: BTreeMap::new(),
    };
    let request = PlanRequest {
        template: &parsed,
        catalog: &catalog,
        inputs: &inputs,
        stack: StackContext {
            name: Some("dev".into()),
            suffix: Some("abc123".into()),
            id: None,
        },
        state: None,
        partial: false,
        replace: &[],
        data: &Default::default(),
    };
    let p = plan(&request).map_err(|d| {
        d.0.iter()
            .map(|d| d.code.to_string())
            .collect::<Vec<_>>()
            .join(",")
    })?;
    let mut out = String::new();
    for c in &p.changes {
        for prop in &c.properties {
            out.push_str(&format!(
                "{}.{} = {:?}\n",
                c.address,
                prop.name,
                prop.after.as_ref().map(ToString::to_string)
            ));
        }
    }
    for (k, v) in &p.outputs {
        out.push_str(&format!("output {k} = {v}\n"));
    }
    Ok(out)
}

const HEAD: &str = "name: t
inputs:
  tok: { type: string, sensitive: true }
  plain: { type: string }
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An output computed from the secret is masked; one that is not masked shows the same
    /// value whatever the secret is.
    #[test]
    fn an_output_never_shows_what_depends_on_the_secret(e in expr()) {
        let t = format!("{HEAD}resources:\n  r: {{ type: test.thing, properties: {{ name: x }} }}\noutputs:\n  o: '${{{e}}}'\n");
        let a = planned(&t, "s3cret");
        let b = planned(&t, "other-value");
        match (a, b) {
            (Ok(a), Ok(b)) => {
                prop_assert!(!a.contains("s3cret") && !a.contains("S3CRET"), "{e}: {a}");
                if !a.contains("(sensitive)") {
                    prop_assert_eq!(a, b, "{} leaks through an unmasked output", e);
                } else {
                    prop_assert!(e.contains("inputs.tok"), "{e} masked without reading the secret");
                }
            }
            // The language's own errors (a type mismatch) come for both or neither; the template
            // around the expression is always valid.
            (a, b) => {
                prop_assert_eq!(a.is_err(), b.is_err(), "{}", e);
                let codes = a.err().unwrap_or_default();
                prop_assert!(codes.starts_with("expr::"), "{e}: {codes}");
            }
        }
    }

    /// A property the cloud shows is refused when computed from the secret, and otherwise
    /// never depends on it; a sensitive property takes it, masked.
    #[test]
    fn a_visible_property_never_carries_the_secret(e in expr()) {
        let t = format!("{HEAD}resources:\n  r:\n    type: test.thing\n    properties:\n      name: '${{{e}}}'\n      secret: '${{{e}}}'\n");
        let a = planned(&t, "s3cret");
        let b = planned(&t, "other-value");
        if e.contains("inputs.tok") {
            prop_assert!(matches!(&a, Err(codes) if codes.contains("template::sensitive_exposed")), "{e}: {a:?}");
        } else if let (Ok(a), Ok(b)) = (&a, &b) {
            prop_assert_eq!(a, b);
        }
        if let Ok(a) = &a {
            prop_assert!(!a.contains("s3cret") && !a.contains("S3CRET"), "{e}: {a}");
        }
    }
}
