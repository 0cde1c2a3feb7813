//! Sensitivity as a property of values: which of a template's values are computed from a secret.
//!
//! A value is sensitive when its expression reads a sensitive input, a sensitive property of a
//! resource, or a sensitive output; every function, operator and condition keeps it so (the
//! analysis is over the references an expression makes, so `${upper(inputs.tok)}` and
//! `${inputs.flag ? inputs.tok : "x"}` are both sensitive). The expression language has no
//! side effects and nothing else reads a secret, so no value can carry one without a reference
//! this finds.
//!
//! What follows from it, decided here once for every command:
//! - a sensitive value where the cloud would show it (a property the type does not declare
//!   sensitive: a name, a tag, a description; a data source's or provider's settings) is an
//!   error at validate time, naming the address and the way out;
//! - a template output computed from one is sensitive, as if it said `sensitive: true`;
//! - a component's configuration field computed from one is sealed in state and masked;
//! - a secret reference `{{ name.key }}` written anywhere but a component's configuration is an
//!   error (it would reach the cloud as literal text): secrets reach resources through a
//!   sensitive input given the reference.

use std::collections::BTreeSet;

use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::source::Span;
use crate::lang::check::{Target, target};
use crate::lang::expr::{Part, Reference};
use crate::lang::schema::Catalog;
use crate::lang::template::{PropDef, TValue, Template, file_span};

/// The sensitive values of one template that are not sensitive by declaration.
#[derive(Debug, Clone, Default)]
pub struct Sensitivity {
    /// Template outputs computed from a sensitive value.
    outputs: BTreeSet<String>,
    /// Component configuration fields computed from one: `(component type, field)`.
    fields: BTreeSet<(String, String)>,
}

impl Sensitivity {
    /// Whether output `name` is sensitive, declared or computed.
    pub fn output(&self, template: &Template, name: &str) -> bool {
        self.outputs.contains(name)
            || template
                .outputs
                .iter()
                .any(|o| o.name == name && o.sensitive)
    }

    /// Whether field `field` of component `kind` is computed from a sensitive value.
    pub fn field(&self, kind: &str, field: &str) -> bool {
        self.fields.contains(&(kind.to_owned(), field.to_owned()))
    }
}

/// Which sensitive value a reference reads, described for an error message; `None` if it reads
/// none.
pub fn source(template: &Template, catalog: &Catalog, reference: &Reference) -> Option<String> {
    let (read, _) = target(template, catalog, reference)?;
    match read {
        Target::Input(i) if i.sensitive => Some(format!("sensitive input `{}`", i.name)),
        Target::Resource(r) => {
            let attr = reference.segments.get(1)?;
            let schema = catalog.resource(&r.type_name)?;
            schema
                .find_property(attr)
                .is_some_and(|p| p.sensitive)
                .then(|| format!("sensitive property `{}.{attr}`", r.address))
        }
        _ => None,
    }
}

/// The first sensitive value `value` reads, and where.
fn reads<'t>(
    template: &'t Template,
    catalog: &Catalog,
    value: &'t TValue,
) -> Option<(String, Span)> {
    value
        .references()
        .into_iter()
        .find_map(|(r, span)| source(template, catalog, r).map(|s| (s, span)))
}

/// The first secret reference written in `value`, as written, and where.
fn secret_reference(value: &TValue) -> Option<(String, Span)> {
    match value {
        TValue::Literal { .. } => None,
        TValue::Text {
            template,
            span,
            direct,
        } => template.parts.iter().find_map(|p| match p {
            Part::Secret {
                name,
                key,
                span: at,
            } => Some((
                format!("{{{{ {name}.{key} }}}}"),
                file_span(*direct, *span, at),
            )),
            _ => None,
        }),
        TValue::List { items, .. } => items.iter().find_map(secret_reference),
        TValue::Map { entries, .. } => entries
            .iter()
            .find_map(|(k, _, v)| secret_reference(k).or_else(|| secret_reference(v))),
    }
}

/// A secret reference written in `value` (owned by `owner`), which would be `verb` (sent, shown)
/// as literal text.
fn misplaced(
    template: &Template,
    value: &TValue,
    owner: &str,
    verb: &str,
    help: &str,
) -> Option<Diagnostic> {
    let (written, span) = secret_reference(value)?;
    Some(
        Diagnostic::new(
            "template::secret_reference_misplaced",
            format!("{owner}: the secret reference {written} would be {verb} as literal text"),
        )
        .at(template.locate(span))
        .help(help.to_owned()),
    )
}

/// The template's computed sensitivity, and a diagnostic for every sensitive value or secret
/// reference written where it would be visible.
pub fn analyse(template: &Template, catalog: &Catalog) -> (Sensitivity, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out = Sensitivity::default();
    let exposed = |diags: &mut Diagnostics, owner: &str, p: &PropDef, kind: Exposure| {
        if let Some(d) = misplaced(
            template,
            &p.value,
            &format!("{owner}, `{}`", p.name),
            "sent",
            "secret references are resolved only in a component's configuration and as the value \
             of a sensitive input: declare an input with `sensitive: true`, give it \
             `--var <input>='{{ name.key }}'`, and use `${inputs.<input>}` in a sensitive property",
        ) {
            diags.push(d);
            return;
        }
        let Some((what, span)) = reads(template, catalog, &p.value) else {
            return;
        };
        let (visible, help) = match kind {
            Exposure::Property { type_name, sensitive } => {
                if sensitive.is_empty() {
                    (
                        format!("`{type_name}` declares no sensitive property, so its value would be visible in the cloud and in state"),
                        "do not pass a secret to this resource; if the input is not a secret, declare it without `sensitive: true`".to_owned(),
                    )
                } else {
                    (
                        format!("`{}` is not a sensitive property of `{type_name}`, so its value would be visible in the cloud and in state", p.name),
                        format!(
                            "use it only in a sensitive property of `{type_name}` ({}); if the input is not a secret, declare it without `sensitive: true`",
                            sensitive.join(", ")
                        ),
                    )
                }
            }
            Exposure::Settings => (
                "settings are recorded in state and sent with every request in plain text".to_owned(),
                "give this setting a value that is not secret; credentials belong in a service connector (`stackform connector register`)".to_owned(),
            ),
        };
        diags.push(
            Diagnostic::new(
                "template::sensitive_exposed",
                format!("{owner}, `{}`, is computed from {what}: {visible}", p.name),
            )
            .at(template.locate(span))
            .help(help),
        );
    };
    for provider in &template.providers {
        for s in &provider.settings {
            exposed(
                &mut diags,
                &format!("provider `{}`", provider.name),
                s,
                Exposure::Settings,
            );
        }
    }
    for d in &template.data {
        let sensitive = catalog
            .data(&d.type_name)
            .map(sensitive_properties)
            .unwrap_or_default();
        for p in &d.properties {
            if sensitive.contains(&p.name.as_str()) {
                continue;
            }
            exposed(
                &mut diags,
                &format!("data source `{}`", d.name),
                p,
                Exposure::Property {
                    type_name: &d.type_name,
                    sensitive: &sensitive,
                },
            );
        }
    }
    for r in &template.resources {
        // An unknown type is reported by `check`; its properties cannot be judged.
        let Some(schema) = catalog.resource(&r.type_name) else {
            continue;
        };
        let sensitive = sensitive_properties(schema);
        for p in &r.properties {
            if sensitive.contains(&p.name.as_str()) {
                if schema.find_property(&p.name).is_some_and(|s| s.secret_only)
                    && let Some((key, span)) = plain(template, catalog, &p.value)
                {
                    diags.push(
                        Diagnostic::new(
                            "template::plain_secret",
                            format!(
                                "resource `{}`, `{}{key}`, is written in the template, not taken from a secret: `{}` holds only secrets",
                                r.address, p.name, r.type_name
                            ),
                        )
                        .at(template.locate(span))
                        .help(format!(
                            "keep the value in a secret (`stackform secret create NAME`, KEY=VALUE on stdin), declare an input with `sensitive: true`, give it `--var <input>='{{{{ NAME.KEY }}}}'`, and write `${{inputs.<input>}}` as `{}{key}`",
                            p.name
                        )),
                    );
                }
                if let Some(d) = misplaced(
                    template,
                    &p.value,
                    &format!("resource `{}`, `{}`", r.address, p.name),
                    "sent",
                    "declare an input with `sensitive: true`, give it `--var <input>='{{ name.key }}'`, and write `${inputs.<input>}` here",
                ) {
                    diags.push(d);
                }
                continue;
            }
            exposed(
                &mut diags,
                &format!("resource `{}`", r.address),
                p,
                Exposure::Property {
                    type_name: &r.type_name,
                    sensitive: &sensitive,
                },
            );
        }
    }
    for o in &template.outputs {
        if let Some(d) = misplaced(
            template,
            &o.value,
            &format!("output `{}`", o.name),
            "shown",
            "outputs show values, not references: remove it, or read a sensitive input given the reference (the output is then sensitive)",
        ) {
            diags.push(d);
        }
        if reads(template, catalog, &o.value).is_some() {
            out.outputs.insert(o.name.clone());
        }
    }
    for c in &template.components {
        for p in &c.configuration {
            if reads(template, catalog, &p.value).is_some() {
                out.fields.insert((c.kind.clone(), p.name.clone()));
            }
        }
    }
    diags.sort();
    (out, diags)
}

/// The first part of `value` that reads no sensitive value (a map's entry, by `.key`, or the
/// whole value), and where: text that would be a secret written in the template.
fn plain(template: &Template, catalog: &Catalog, value: &TValue) -> Option<(String, Span)> {
    match value {
        TValue::Map { entries, .. } => entries.iter().find_map(|(k, _, v)| {
            let key = match k {
                TValue::Literal {
                    value: crate::base::value::Value::String(s),
                    ..
                } => format!(".{s}"),
                _ => String::new(),
            };
            plain(template, catalog, v).map(|(inner, span)| (format!("{key}{inner}"), span))
        }),
        TValue::List { items, .. } => items.iter().find_map(|v| plain(template, catalog, v)),
        _ if reads(template, catalog, value).is_some() || secret_reference(value).is_some() => None,
        _ => Some((String::new(), value.span())),
    }
}

/// Where a value would be shown if it were sensitive.
enum Exposure<'a> {
    /// A property the type does not declare sensitive (the type's sensitive ones listed).
    Property {
        type_name: &'a str,
        sensitive: &'a [&'a str],
    },
    /// A provider's settings.
    Settings,
}

fn sensitive_properties(schema: &crate::lang::schema::ResourceSchema) -> Vec<&str> {
    schema
        .properties
        .iter()
        .filter(|p| p.sensitive)
        .map(|p| p.name.as_str())
        .collect()
}
