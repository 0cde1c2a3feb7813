//! Evaluation of a template with inputs: input validation, `when`, and property values.
//!
//! The same [`Env`] serves the planner (resource attributes known from state or unknown) and,
//! later, the executor (attributes known from the cloud as resources are created), so there is
//! one definition of what `${a.b}` means.

use std::collections::{BTreeMap, HashMap};

use crate::base::diagnostic::{Diagnostic, Diagnostics, a};
use crate::base::source::Span;
use crate::base::suggest::did_you_mean;
use crate::base::value::Value;
use crate::lang::check::{Target, classify};
use crate::lang::expr::{self, ExprError, Reference};
use crate::lang::schema::{Catalog, ResourceSchema};
use crate::lang::template::{InputDef, InputType, ResourceDef, TValue, Template, When};

/// What `stack.*` evaluates to. `None` is unknown (e.g. `template validate` has no stack).
#[derive(Debug, Clone, Default)]
pub struct StackContext {
    pub name: Option<String>,
    pub suffix: Option<String>,
    pub id: Option<String>,
}

/// Input values as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct InputValues {
    /// `--var K=V`, in order; a later one wins.
    pub vars: Vec<(String, String)>,
    /// `--var-file F` contents, already typed by YAML.
    pub file: BTreeMap<String, Value>,
}

/// Turns a `--var` text into a value of the input's type.
pub fn coerce_var(ty: InputType, raw: &str) -> Result<Value, String> {
    match ty {
        InputType::String => Ok(Value::String(raw.to_owned())),
        InputType::Integer => raw
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("expected an integer, got {raw:?}")),
        InputType::Boolean => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        InputType::List | InputType::Map => {
            let json: serde_json::Value = serde_json::from_str(raw)
                .map_err(|e| format!("expected a JSON {}: {e}", ty.name()))?;
            let value = Value::from_json(&json);
            if ty.accepts(&value) {
                Ok(value)
            } else {
                Err(format!(
                    "expected a JSON {}, got {}",
                    ty.name(),
                    value.type_name()
                ))
            }
        }
    }
}

/// Checks and types every input. With `partial`, a missing required input is unknown instead of
/// an error (for `template validate`, which has no values to give).
pub fn resolve_inputs(
    template: &Template,
    given: &InputValues,
    partial: bool,
) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let names = || template.inputs.iter().map(|i| i.name.as_str());
    for name in given.vars.iter().map(|(k, _)| k).chain(given.file.keys()) {
        if template.input(name).is_none() {
            diags.push(
                Diagnostic::new(
                    "input::unknown",
                    format!("template `{}` has no input `{name}`", template.name),
                )
                .help(did_you_mean(name, names(), "inputs")),
            );
        }
    }
    let mut values = BTreeMap::new();
    for def in &template.inputs {
        let from_var = given.vars.iter().rev().find(|(k, _)| *k == def.name);
        let value = if let Some((_, raw)) = from_var {
            match coerce_var(def.ty, raw) {
                Ok(v) => v,
                Err(why) => {
                    diags.push(input_error(
                        template,
                        def,
                        format!("--var {}: {why}", def.name),
                    ));
                    continue;
                }
            }
        } else if let Some(v) = given.file.get(&def.name) {
            v.clone()
        } else if let Some(d) = &def.default {
            d.clone()
        } else if def.required && !partial {
            diags.push(
                Diagnostic::new(
                    "input::missing",
                    format!("input `{}` is required and has no default", def.name),
                )
                .at(template.locate(def.span))
                .label("declared here")
                .help(format!(
                    "pass it with `--var {}=<{}>` or in a `--var-file`",
                    def.name,
                    def.ty.name()
                )),
            );
            continue;
        } else if def.required {
            Value::Unknown
        } else {
            Value::Null
        };
        if let Some(why) = violation(def, &value) {
            let shown = if def.sensitive {
                "(sensitive)".to_owned()
            } else {
                value.to_string()
            };
            diags.push(input_error(
                template,
                def,
                format!("input `{}` = {shown}: {why}", def.name),
            ));
            continue;
        }
        values.insert(def.name.clone(), value);
    }
    diags.into_result().map(|()| values)
}

fn input_error(template: &Template, def: &InputDef, message: String) -> Diagnostic {
    Diagnostic::new("input::invalid", message)
        .at(template.locate(def.span))
        .label("declared here")
        .help(describe_constraints(def))
}

fn describe_constraints(def: &InputDef) -> String {
    let mut parts = vec![format!("`{}` takes {}", def.name, a(def.ty.name()))];
    if let Some(allowed) = &def.allowed {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        parts.push(format!("one of {}", list.join(", ")));
    }
    let measure = if def.ty == InputType::Integer {
        ""
    } else {
        " characters/items"
    };
    if let Some(min) = def.min {
        parts.push(format!("at least {min}{measure}"));
    }
    if let Some(max) = def.max {
        parts.push(format!("at most {max}{measure}"));
    }
    if let Some(p) = &def.pattern {
        let text = p.as_str();
        let text = text
            .strip_prefix("^(?:")
            .and_then(|t| t.strip_suffix(")$"))
            .unwrap_or(text);
        parts.push(format!("matching `{text}`"));
    }
    parts.join(", ")
}

/// Why `value` breaks the input's constraints, if it does.
fn violation(def: &InputDef, value: &Value) -> Option<String> {
    if matches!(value, Value::Unknown) || (matches!(value, Value::Null) && !def.required) {
        return None;
    }
    if !def.ty.accepts(value) {
        return Some(format!(
            "expected {}, got {}",
            def.ty.name(),
            value.type_name()
        ));
    }
    if let Some(allowed) = &def.allowed
        && !allowed.contains(value)
    {
        return Some("not one of the allowed values".into());
    }
    let measure = match value {
        Value::Int(i) => Some(*i),
        Value::String(s) => Some(s.chars().count() as i64),
        Value::List(l) => Some(l.len() as i64),
        Value::Map(m) => Some(m.len() as i64),
        _ => None,
    };
    if let (Some(min), Some(m)) = (def.min, measure)
        && m < min
    {
        return Some(format!("below the minimum of {min}"));
    }
    if let (Some(max), Some(m)) = (def.max, measure)
        && m > max
    {
        return Some(format!("above the maximum of {max}"));
    }
    if let (Some(p), Value::String(s)) = (&def.pattern, value)
        && !p.is_match(s)
    {
        return Some("does not match the pattern".into());
    }
    None
}

/// What other resources' attributes are known to be while evaluating.
#[derive(Debug, Clone, Default)]
pub struct ResourceValues {
    pub properties: BTreeMap<String, Value>,
    /// `None` until the resource exists (unknown outputs).
    pub outputs: Option<BTreeMap<String, Value>>,
    pub id: Option<String>,
}

/// Everything a reference can read.
pub struct Env<'a> {
    pub template: &'a Template,
    pub catalog: &'a Catalog,
    pub inputs: &'a BTreeMap<String, Value>,
    pub stack: &'a StackContext,
    pub resources: &'a HashMap<String, ResourceValues>,
    /// Data sources read so far; one not here is unknown.
    pub data: &'a HashMap<String, BTreeMap<String, Value>>,
}

impl Env<'_> {
    fn attribute(
        &self,
        schema: Option<&ResourceSchema>,
        values: &ResourceValues,
        attr: &str,
    ) -> Value {
        if attr == "id" {
            return values.id.clone().map_or(Value::Unknown, Value::String);
        }
        if schema.is_some_and(|s| s.find_property(attr).is_some()) {
            return values.properties.get(attr).cloned().unwrap_or(Value::Null);
        }
        values.outputs.as_ref().map_or(Value::Unknown, |o| {
            o.get(attr).cloned().unwrap_or(Value::Unknown)
        })
    }
}

impl expr::Scope for Env<'_> {
    fn resolve(&self, reference: &Reference) -> Result<Value, ExprError> {
        let fail = |message: String, help: String| ExprError {
            message,
            span: reference.span.clone(),
            help: Some(help),
        };
        let (target, used) =
            classify(self.template, self.catalog, reference).map_err(|(m, h)| fail(m, h))?;
        let segs = &reference.segments;
        let base = match target {
            Target::Input(def) => self
                .inputs
                .get(&def.name)
                .cloned()
                .unwrap_or(Value::Unknown),
            Target::Stack(attr) => {
                let v = match attr {
                    "name" => self.stack.name.clone(),
                    "suffix" => self.stack.suffix.clone(),
                    "compact_name" => self.stack.name.as_deref().map(compact_name),
                    _ => self.stack.id.clone(),
                };
                v.map_or(Value::Unknown, Value::String)
            }
            Target::Data(d) => self
                .data
                .get(&d.name)
                .and_then(|m| m.get(&segs[2]).cloned())
                .unwrap_or(Value::Unknown),
            Target::Resource(r) => match self.resources.get(&r.address) {
                Some(values) => {
                    self.attribute(self.catalog.resource(&r.type_name), values, &segs[1])
                }
                None => {
                    return Err(fail(
                        format!(
                            "`{}` is not part of this stack (dropped by its `when`)",
                            r.address
                        ),
                        format!(
                            "give the referring resource the same `when` as `{}`, or stop referring to it",
                            r.address
                        ),
                    ));
                }
            },
        };
        // Remaining segments read into maps: `cluster.endpoint.host`.
        let mut value = base;
        for seg in &segs[used..] {
            value = match value {
                Value::Unknown => Value::Unknown,
                Value::Map(mut m) => match m.remove(seg) {
                    Some(v) => v,
                    None => {
                        return Err(fail(
                            format!("no key `{seg}` in `{}`", segs[..used].join(".")),
                            did_you_mean(seg, m.keys().map(String::as_str), "keys"),
                        ));
                    }
                },
                other => {
                    return Err(fail(
                        format!("cannot read `{seg}` from {}", a(other.type_name())),
                        "only maps have attributes".into(),
                    ));
                }
            };
        }
        Ok(value)
    }
}

fn expr_diag(e: ExprError, span: Span, template: &Template) -> Diagnostic {
    let code = if e.message.contains("dropped by its `when`") {
        "template::dropped_reference"
    } else if e.message.starts_with("unknown ") {
        "template::unknown_reference"
    } else {
        "template::evaluation"
    };
    Diagnostic::new(code, e.message)
        .at(template.locate(span))
        .maybe_help(e.help)
}

/// Evaluates a template value.
pub fn eval(tv: &TValue, env: &Env) -> Result<Value, Diagnostic> {
    match tv {
        TValue::Literal { value, .. } => Ok(value.clone()),
        TValue::Text { template, .. } => expr::render(template, env).map_err(|e| {
            let span = tv.file_span(&e.span);
            expr_diag(e, span, env.template)
        }),
        TValue::List { items, .. } => items
            .iter()
            .map(|i| eval(i, env))
            .collect::<Result<_, _>>()
            .map(Value::List),
        TValue::Map { entries, .. } => {
            let mut map = std::collections::BTreeMap::new();
            for (k, span, v) in entries {
                let key = match eval(k, env)? {
                    // A key known only after apply makes the whole map unknown until then.
                    Value::Unknown => return Ok(Value::Unknown),
                    other => other.interpolated().ok_or_else(|| {
                        Diagnostic::new(
                            "template::evaluation",
                            format!("a map key must be text, found {}", a(other.type_name())),
                        )
                        .at(env.template.locate(*span))
                    })?,
                };
                map.insert(key, eval(v, env)?);
            }
            Ok(Value::Map(map))
        }
    }
}

/// Evaluates a `when`: `Some(true/false)`, or `None` when it cannot be known yet.
pub fn eval_when(when: &When, env: &Env) -> Result<Option<bool>, Diagnostic> {
    for (r, span) in when.references() {
        if !matches!(r.segments[0].as_str(), "inputs" | "stack") {
            return Err(Diagnostic::new(
                "template::when",
                "`when` may only use `inputs` and `stack`",
            )
            .at(env.template.locate(span))
            .help("whether a resource exists must be known before anything is created"));
        }
    }
    match expr::eval(&when.expr, env) {
        Ok(Value::Bool(b)) => Ok(Some(b)),
        Ok(Value::Unknown) => Ok(None),
        Ok(other) => Err(Diagnostic::new(
            "template::when",
            format!(
                "`when` must be true or false, found {}",
                a(other.type_name())
            ),
        )
        .at(env.template.locate(when.span))
        .help("compare with `==`, e.g. `when: ${inputs.orchestrator == \"kubernetes\"}`")),
        Err(e) => Err(expr_diag(e.clone(), when.file_span(&e.span), env.template)),
    }
}

/// Evaluates a resource's properties, fills schema defaults and checks types. Properties the
/// schema knows but the template leaves out are `null`.
pub fn evaluate_resource(
    def: &ResourceDef,
    schema: &ResourceSchema,
    env: &Env,
) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let template = env.template;
    let mut diags = Diagnostics::default();
    let mut props = BTreeMap::new();
    for p in &def.properties {
        match eval(&p.value, env) {
            Ok(v) => {
                props.insert(p.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    for ps in &schema.properties {
        let value = props
            .entry(ps.name.clone())
            .or_insert_with(|| ps.default.clone().unwrap_or(Value::Null));
        let written = def.properties.iter().find(|p| p.name == ps.name);
        let at = written.map_or(def.span, |p| p.value.span());
        if matches!(value, Value::Null) {
            if ps.required {
                diags.push(
                    Diagnostic::new(
                        "template::missing_property",
                        format!(
                            "property `{}` of `{}` is required but evaluates to null",
                            ps.name, def.address
                        ),
                    )
                    .at(template.locate(at))
                    .help("give it a value, or an input with a default"),
                );
            }
        } else if !ps.ty.accepts(value) {
            let shown = if ps.sensitive {
                "(sensitive)".to_owned()
            } else {
                value.to_string()
            };
            diags.push(
                Diagnostic::new(
                    "template::property_type",
                    format!(
                        "property `{}` of `{}` must be {}, found {} {shown}",
                        ps.name,
                        def.address,
                        a(&ps.ty.to_string()),
                        a(value.type_name())
                    ),
                )
                .at(template.locate(at))
                .help(format!("`{}` takes {}", ps.name, a(&ps.ty.to_string()))),
            );
        }
    }
    diags.into_result().map(|()| props)
}

/// `stack.compact_name`: the stack's name as names that allow only lowercase letters and digits
/// can hold it (Azure storage accounts and registries), at most 12 characters so that a
/// prefix and the suffix still fit in 24.
pub fn compact_name(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::compact_name;

    #[test]
    fn compact_names_fit_storage_account_rules() {
        assert_eq!(compact_name("ML-Staging_2"), "mlstaging2");
        assert_eq!(compact_name("a-very-long-stack-name"), "averylongsta");
        assert!(
            compact_name("prod")
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
