//! Static checks of a template against the catalog: types, property names, required properties,
//! references and `depends_on`. Nothing here needs input values; what does lives in `resolve`.

use crate::base::diagnostic::{Diagnostic, Diagnostics, a};
use crate::base::source::Span;
use crate::base::suggest::did_you_mean;
use crate::base::value::Value;
use crate::lang::expr::Reference;
use crate::lang::schema::{COMPONENT_TYPES, Catalog, FlavorSchema, ResourceSchema};
use crate::lang::template::{
    ComponentDef, DataDef, InputDef, PropDef, ResourceDef, TValue, Template,
};

/// What a reference points at.
#[derive(Debug, Clone, Copy)]
pub enum Target<'t> {
    Input(&'t InputDef),
    /// `stack.name`, `stack.suffix` or `stack.id`.
    Stack(&'static str),
    Data(&'t DataDef),
    Resource(&'t ResourceDef),
}

/// The attributes of `stack` a template may read.
pub const STACK_ATTRIBUTES: &[&str] = &["name", "suffix", "id", "compact_name"];

/// A reference's target and how many of its leading segments name it (the rest index into the
/// value: `cluster.endpoint.host` reads `host` from the map `cluster.endpoint`).
pub fn classify<'t>(
    template: &'t Template,
    catalog: &Catalog,
    reference: &Reference,
) -> Result<(Target<'t>, usize), (String, String)> {
    // Explained, the error always has its message and help.
    resolve(template, catalog, reference, true).map_err(Option::unwrap_or_default)
}

/// [`classify`]'s target alone, for callers that drop the error: its "did you mean" compares
/// the name with every candidate, which for a template of many broken references costs more
/// than everything else the check does.
pub fn target<'t>(
    template: &'t Template,
    catalog: &Catalog,
    reference: &Reference,
) -> Option<(Target<'t>, usize)> {
    resolve(template, catalog, reference, false).ok()
}

/// Classifies `reference`; on failure, the message and help when `explain`, else `None`.
fn resolve<'t>(
    template: &'t Template,
    catalog: &Catalog,
    reference: &Reference,
    explain: bool,
) -> Result<(Target<'t>, usize), Option<(String, String)>> {
    let segs = &reference.segments;
    let first = segs[0].as_str();
    match first {
        "inputs" => {
            let Some(name) = segs.get(1) else {
                return Err(explain.then(|| {
                    (
                        "`inputs` needs the name of an input".into(),
                        "write `inputs.<name>`".into(),
                    )
                }));
            };
            match template.input(name) {
                Some(i) => Ok((Target::Input(i), 2)),
                None => Err(explain.then(|| {
                    (
                        format!("unknown input `{name}`"),
                        did_you_mean(
                            name,
                            template.inputs.iter().map(|i| i.name.as_str()),
                            "inputs",
                        ),
                    )
                })),
            }
        }
        "stack" => match segs.get(1).map(String::as_str) {
            Some(attr) if STACK_ATTRIBUTES.contains(&attr) => {
                let attr = STACK_ATTRIBUTES
                    .iter()
                    .find(|a| **a == attr)
                    .copied()
                    .unwrap_or("name");
                Ok((Target::Stack(attr), 2))
            }
            other => Err(explain.then(|| {
                (
                    format!("`stack` has no attribute `{}`", other.unwrap_or("")),
                    did_you_mean(
                        other.unwrap_or(""),
                        STACK_ATTRIBUTES.iter().copied(),
                        "attributes",
                    ),
                )
            })),
        },
        "data" => {
            let Some(name) = segs.get(1) else {
                return Err(explain.then(|| {
                    (
                        "`data` needs the name of a data source".into(),
                        "write `data.<name>.<attribute>`".into(),
                    )
                }));
            };
            let Some(d) = template.data_source(name) else {
                return Err(explain.then(|| {
                    (
                        format!("unknown data source `{name}`"),
                        did_you_mean(
                            name,
                            template.data.iter().map(|d| d.name.as_str()),
                            "data sources",
                        ),
                    )
                }));
            };
            let Some(attr) = segs.get(2) else {
                return Err(explain.then(|| {
                    (
                        format!("a reference to data source `{name}` must name an attribute"),
                        format!("write `data.{name}.<attribute>`"),
                    )
                }));
            };
            check_attribute(
                catalog.data(&d.type_name),
                attr,
                &format!("data source `{name}`"),
                explain,
            )?;
            Ok((Target::Data(d), 3))
        }
        address => {
            let Some(r) = template.resource(address) else {
                return Err(explain.then(|| {
                    let help = if template.input(address).is_some() {
                        format!("to read the input, write `inputs.{address}`")
                    } else {
                        did_you_mean(
                            address,
                            template.resources.iter().map(|r| r.address.as_str()),
                            "resources",
                        )
                    };
                    (format!("unknown resource `{address}`"), help)
                }));
            };
            let Some(attr) = segs.get(1) else {
                return Err(explain.then(|| {
                    (
                        format!("a reference to resource `{address}` must name an attribute"),
                        format!("write `{address}.id` or `{address}.<property or output>`"),
                    )
                }));
            };
            check_attribute(
                catalog.resource(&r.type_name),
                attr,
                &format!("resource `{address}`"),
                explain,
            )?;
            Ok((Target::Resource(r), 2))
        }
    }
}

fn check_attribute(
    schema: Option<&ResourceSchema>,
    attr: &str,
    what: &str,
    explain: bool,
) -> Result<(), Option<(String, String)>> {
    // An unknown type is reported on its own; its attributes cannot be checked.
    let Some(schema) = schema else { return Ok(()) };
    if schema.attribute_names().any(|a| a == attr) {
        Ok(())
    } else {
        Err(explain.then(|| {
            (
                format!("{what} ({}) has no attribute `{attr}`", schema.type_name),
                did_you_mean(attr, schema.attribute_names(), "attributes"),
            )
        }))
    }
}

/// Runs every static check and returns all problems found.
pub fn check(template: &Template, catalog: &Catalog) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut err = |code: &'static str, span: Span, message: String, help: String| {
        diags.push(
            Diagnostic::new(code, message)
                .at(template.locate(span))
                .help(help),
        );
    };

    let providers = catalog.providers();
    for p in &template.providers {
        if !providers.contains(&p.name.as_str()) {
            err(
                "template::unknown_provider",
                p.span,
                format!("unknown provider `{}`", p.name),
                did_you_mean(&p.name, providers.iter().copied(), "providers"),
            );
        }
    }

    for d in &template.data {
        match catalog.data(&d.type_name) {
            None => err(
                "template::unknown_type",
                d.type_span,
                format!("unknown data source type `{}`", d.type_name),
                did_you_mean(
                    &d.type_name,
                    catalog.data_sources().map(|s| s.type_name.as_str()),
                    "data source types",
                ),
            ),
            Some(schema) => check_properties(template, schema, d.span, &d.properties, &mut err),
        }
    }

    for r in &template.resources {
        match catalog.resource(&r.type_name) {
            None => err(
                "template::unknown_type",
                r.type_span,
                format!("unknown resource type `{}`", r.type_name),
                did_you_mean(
                    &r.type_name,
                    catalog.resources().map(|s| s.type_name.as_str()),
                    "resource types",
                ),
            ),
            Some(schema) if schema.found_only => err(
                "template::found_only_type",
                r.type_span,
                format!(
                    "`{}` cannot be declared: stackform only finds these (what Kubernetes made inside a cluster) and deletes them with their stack",
                    r.type_name
                ),
                "remove this resource; `stackform destroy` finds and deletes such resources by their cluster's tags".into(),
            ),
            Some(schema) => check_properties(template, schema, r.span, &r.properties, &mut err),
        }
        for (dep, span) in &r.depends_on {
            if template.resource(dep).is_none() {
                err(
                    "template::unknown_reference",
                    *span,
                    format!("`depends_on` names unknown resource `{dep}`"),
                    did_you_mean(
                        dep,
                        template.resources.iter().map(|r| r.address.as_str()),
                        "resources",
                    ),
                );
            }
        }
    }

    for c in &template.components {
        if !COMPONENT_TYPES.contains(&c.kind.as_str()) {
            err(
                "template::unknown_component",
                c.span,
                format!("unknown component type `{}`", c.kind),
                did_you_mean(&c.kind, COMPONENT_TYPES.iter().copied(), "component types"),
            );
        } else if let TValue::Literal {
            value: Value::String(flavor),
            ..
        } = &c.flavor
            && let Some(schema) = catalog.flavor(&c.kind, flavor)
        {
            check_flavor(schema, c, &mut err);
        }
    }

    for (reference, span) in all_references(template) {
        if let Err((message, help)) = classify(template, catalog, reference) {
            err("template::unknown_reference", span, message, help);
        }
    }
    diags.extend(crate::lang::taint::analyse(template, catalog).1);
    diags.sort();
    diags
}

fn check_properties(
    template: &Template,
    schema: &ResourceSchema,
    owner_span: Span,
    props: &[PropDef],
    err: &mut impl FnMut(&'static str, Span, String, String),
) {
    for p in props {
        if schema.find_property(&p.name).is_none() {
            err(
                "template::unknown_property",
                p.span,
                format!("`{}` has no property `{}`", schema.type_name, p.name),
                did_you_mean(
                    &p.name,
                    schema.properties.iter().map(|p| p.name.as_str()),
                    "properties",
                ),
            );
        }
    }
    for required in schema
        .properties
        .iter()
        .filter(|p| p.required && p.default.is_none())
    {
        if !props.iter().any(|p| p.name == required.name) {
            err(
                "template::missing_property",
                owner_span,
                format!(
                    "`{}` requires property `{}` ({})",
                    schema.type_name, required.name, required.ty
                ),
                format!("add `{}: <value>` under `properties:`", required.name),
            );
        }
    }
    let _ = template;
}

/// A component of a declared flavor: known fields only, required ones present, literal values of
/// the declared type, secret references only in secret fields and never a credential in plain
/// text.
fn check_flavor(
    schema: &FlavorSchema,
    c: &ComponentDef,
    err: &mut impl FnMut(&'static str, Span, String, String),
) {
    let what = format!(
        "flavor `{}` of `{}` (integration `{}`)",
        schema.flavor, schema.component, schema.integration
    );
    let secret_fields: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| f.secret)
        .map(|f| f.name.as_str())
        .collect();
    for p in &c.configuration {
        let Some(field) = schema.field(&p.name) else {
            err(
                "template::unknown_field",
                p.span,
                format!("{what} has no field `{}`", p.name),
                did_you_mean(
                    &p.name,
                    schema.fields.iter().map(|f| f.name.as_str()),
                    "fields",
                ),
            );
            continue;
        };
        let holds_secret = has_secret(&p.value);
        if holds_secret && !field.secret {
            err(
                "template::secret_not_allowed",
                p.value.span(),
                format!("`{}` of {what} may not hold a secret reference", p.name),
                if secret_fields.is_empty() {
                    "this flavor declares no secret fields: write the value itself".into()
                } else {
                    format!(
                        "secret references belong in its secret fields: {}",
                        secret_fields.join(", ")
                    )
                },
            );
        }
        match &p.value {
            TValue::Literal {
                value: Value::String(text),
                span,
            } if field.secret && !text.is_empty() => err(
                "template::plain_secret",
                *span,
                format!(
                    "`{}` of {what} is a credential written in plain text",
                    p.name
                ),
                format!(
                    "keep it in a secret (`stackform secret create NAME`, KEY=VALUE on stdin) and write `{}: {{{{ NAME.KEY }}}}`",
                    p.name
                ),
            ),
            TValue::Literal { value, span } if !field.ty.accepts(value) => err(
                "template::type_mismatch",
                *span,
                format!(
                    "`{}` of {what} must be {}, found {}",
                    p.name,
                    a(&field.ty.to_string()),
                    value.type_name()
                ),
                field.description.clone(),
            ),
            _ => {}
        }
    }
    for required in schema.fields.iter().filter(|f| f.required) {
        if !c.configuration.iter().any(|p| p.name == required.name) {
            err(
                "template::missing_field",
                c.span,
                format!(
                    "{what} requires field `{}` ({})",
                    required.name, required.ty
                ),
                if required.description.is_empty() {
                    format!("add `{}: <value>` to component `{}`", required.name, c.kind)
                } else {
                    format!(
                        "add `{}: <value>` to component `{}`: {}",
                        required.name, c.kind, required.description
                    )
                },
            );
        }
    }
}

/// Whether a value holds a `{{ name.key }}` anywhere.
fn has_secret(v: &TValue) -> bool {
    match v {
        TValue::Literal { .. } => false,
        TValue::Text { template, .. } => template
            .parts
            .iter()
            .any(|p| matches!(p, crate::lang::expr::Part::Secret { .. })),
        TValue::List { items, .. } => items.iter().any(has_secret),
        TValue::Map { entries, .. } => entries.iter().any(|(_, _, v)| has_secret(v)),
    }
}

/// Every reference in the template, with where it is written.
pub fn all_references(template: &Template) -> Vec<(&Reference, Span)> {
    let mut out = Vec::new();
    for p in &template.providers {
        p.settings
            .iter()
            .for_each(|s| out.extend(s.value.references()));
    }
    for d in &template.data {
        d.properties
            .iter()
            .for_each(|p| out.extend(p.value.references()));
    }
    for r in &template.resources {
        r.properties
            .iter()
            .for_each(|p| out.extend(p.value.references()));
        if let Some(w) = &r.when {
            out.extend(w.references());
        }
    }
    for o in &template.outputs {
        out.extend(o.value.references());
    }
    for c in &template.components {
        out.extend(c.flavor.references());
        c.configuration
            .iter()
            .for_each(|p| out.extend(p.value.references()));
        if let Some(w) = &c.when {
            out.extend(w.references());
        }
    }
    out
}
