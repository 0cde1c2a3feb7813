//! From the YAML tree to a [`Template`]: shape checks with a location for every complaint.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::MovedDef;
use super::{
    ComponentDef, DataDef, InputDef, InputType, OutputDef, PropDef, ProviderDef, RESERVED_NAMES,
    ResourceDef, TValue, Template, When,
};
use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::source::{Located, SourceFile, Span};
use crate::base::suggest::did_you_mean;
use crate::base::value::Value;
use crate::lang::expr;
use crate::lang::yaml::{self, Node, NodeKind};

const TOP_LEVEL: &[&str] = &[
    "name",
    "description",
    "inputs",
    "providers",
    "data",
    "resources",
    "outputs",
    "components",
    "moved",
];
const INPUT_KEYS: &[&str] = &[
    "type",
    "description",
    "default",
    "required",
    "enum",
    "min",
    "max",
    "pattern",
    "sensitive",
];
const RESOURCE_KEYS: &[&str] = &["type", "properties", "depends_on", "protect", "when"];
const DATA_KEYS: &[&str] = &["type", "properties"];
const OUTPUT_KEYS: &[&str] = &["value", "description", "sensitive"];

/// Parses a template file. All shape errors are reported together.
pub fn parse(source: &Arc<SourceFile>) -> Result<Template, Diagnostics> {
    let root = yaml::parse(source)?;
    let mut p = Parser {
        source,
        diags: Diagnostics::default(),
    };
    let template = p.template(&root);
    match template {
        Some(t) if p.diags.is_empty() => Ok(t),
        _ => {
            p.diags.sort();
            Err(p.diags)
        }
    }
}

struct Parser<'a> {
    source: &'a Arc<SourceFile>,
    diags: Diagnostics,
}

/// A map's entries by key, with the key's span.
struct Fields<'n> {
    entries: BTreeMap<String, (Span, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.get(key).map(|(_, n)| *n)
    }
}

impl Parser<'_> {
    fn at(&self, span: Span) -> Located {
        Located::new(self.source, span)
    }

    fn error(&mut self, code: &'static str, span: Span, message: String, help: Option<String>) {
        let d = Diagnostic::new(code, message)
            .at(self.at(span))
            .maybe_help(help);
        self.diags.push(d);
    }

    fn expect_map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            NodeKind::Map(entries) => Some(entries),
            NodeKind::Null => Some(&[]),
            _ => {
                self.error(
                    "template::shape",
                    node.span,
                    format!("{what} must be a map, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// Reads a map whose keys must come from `allowed`, reporting the others with the closest name.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let entries = self.expect_map(node, what)?;
        let mut fields = Fields {
            entries: BTreeMap::new(),
        };
        for (k, v) in entries {
            let key = k.key_text().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                self.error(
                    "template::unknown_key",
                    k.span,
                    format!("unknown key `{key}` in {what}"),
                    Some(did_you_mean(&key, allowed.iter().copied(), "keys")),
                );
                continue;
            }
            fields.entries.insert(key, (k.span, v));
        }
        Some(fields)
    }

    /// `moved:`, a list of `{from: OLD_ADDRESS, to: NEW_ADDRESS}`; `to` must be a resource of
    /// the template and `from` must not be.
    fn moved(&mut self, node: &Node, resources: &[ResourceDef]) -> Vec<MovedDef> {
        let NodeKind::Seq(items) = &node.kind else {
            self.error(
                "template::shape",
                node.span,
                "`moved` must be a list of `{from: OLD_ADDRESS, to: NEW_ADDRESS}`".into(),
                Some("e.g. `moved: [{from: db, to: database}]`".into()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(fields) = self.fields(item, "a `moved` entry", &["from", "to"]) else {
                continue;
            };
            let (Some(from), Some(to)) = (
                fields.get("from").and_then(|n| self.string(n, "`from`")),
                fields.get("to").and_then(|n| self.string(n, "`to`")),
            ) else {
                self.error(
                    "template::missing_key",
                    item.span,
                    "a `moved` entry needs `from` and `to`".into(),
                    Some("write `{from: OLD_ADDRESS, to: NEW_ADDRESS}`".into()),
                );
                continue;
            };
            if !resources.iter().any(|r| r.address == to) {
                self.error(
                    "template::unknown_reference",
                    item.span,
                    format!(
                        "`moved` names `{to}` as the new address, but there is no such resource"
                    ),
                    Some("`to` is the address the resource has now in `resources`".into()),
                );
                continue;
            }
            if resources.iter().any(|r| r.address == from) {
                self.error(
                    "template::moved_conflict",
                    item.span,
                    format!("`moved` moves `{from}`, which is still a resource of the template"),
                    Some("a moved address must be gone from `resources`".into()),
                );
                continue;
            }
            out.push(MovedDef {
                from,
                to,
                span: item.span,
            });
        }
        out
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str { value, .. } => Some(value.clone()),
            _ => {
                self.error(
                    "template::shape",
                    node.span,
                    format!("{what} must be a string, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> bool {
        match node.kind {
            NodeKind::Bool(b) => b,
            _ => {
                self.error(
                    "template::shape",
                    node.span,
                    format!("{what} must be true or false, found {}", node.kind_name()),
                    None,
                );
                false
            }
        }
    }

    fn integer(&mut self, node: &Node, what: &str) -> Option<i64> {
        match node.kind {
            NodeKind::Int(i) => Some(i),
            _ => {
                self.error(
                    "template::shape",
                    node.span,
                    format!("{what} must be an integer, found {}", node.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// Checks that a user-chosen name can be used in references.
    fn name(&mut self, name: &str, span: Span, what: &str) -> bool {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            self.error(
                "template::invalid_name",
                span,
                format!("`{name}` is not a valid {what} name"),
                Some("names start with a letter and hold only letters, digits, `_` and `-`".into()),
            );
        }
        valid
    }

    fn template(&mut self, root: &Node) -> Option<Template> {
        let fields = self.fields(root, "the template", TOP_LEVEL)?;
        let name = match fields.get("name") {
            Some(n) => self.string(n, "`name`").unwrap_or_default(),
            None => {
                self.error(
                    "template::missing_key",
                    Span::new(root.span.start, root.span.start),
                    "the template has no `name`".into(),
                    Some("add `name: <template-name>` at the top of the file".into()),
                );
                String::new()
            }
        };
        let description = fields
            .get("description")
            .and_then(|n| self.string(n, "`description`"))
            .unwrap_or_default();
        let inputs = self.each(fields.get("inputs"), "`inputs`", Self::input);
        let providers = self.each(
            fields.get("providers"),
            "`providers`",
            |p, name, span, node| {
                let settings = p.props(node, &format!("provider `{name}`"));
                Some(ProviderDef {
                    name: name.to_owned(),
                    span,
                    settings,
                })
            },
        );
        let data = self.each(fields.get("data"), "`data`", Self::data);
        let resources = self.each(fields.get("resources"), "`resources`", Self::resource);
        let outputs = self.each(fields.get("outputs"), "`outputs`", Self::output);
        let components = self.each(fields.get("components"), "`components`", Self::component);
        if fields.get("resources").is_none() && fields.get("components").is_none() {
            self.error(
                "template::missing_key",
                Span::new(root.span.start, root.span.start),
                "the template has neither `resources` nor `components`".into(),
                Some("add a `resources:` map with at least one resource".into()),
            );
        }
        let moved = fields
            .get("moved")
            .map(|n| self.moved(n, &resources))
            .unwrap_or_default();
        let mut template = Template::new(
            Arc::clone(self.source),
            name,
            description,
            inputs,
            providers,
            data,
            resources,
            outputs,
            components,
        );
        template.moved = moved;
        Some(template)
    }

    /// Parses each entry of a map section with `f(name, key span, value)`.
    fn each<T>(
        &mut self,
        node: Option<&Node>,
        what: &str,
        mut f: impl FnMut(&mut Self, &str, Span, &Node) -> Option<T>,
    ) -> Vec<T> {
        let Some(node) = node else { return Vec::new() };
        let Some(entries) = self.expect_map(node, what) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|(k, v)| {
                let name = k.key_text().unwrap_or_default();
                f(self, &name, k.span, v)
            })
            .collect()
    }

    fn input(&mut self, name: &str, span: Span, node: &Node) -> Option<InputDef> {
        self.name(name, span, "input");
        let what = format!("input `{name}`");
        let fields = self.fields(node, &what, INPUT_KEYS)?;
        let ty = match fields.get("type") {
            None => InputType::String,
            Some(t) => match t.as_str() {
                Some("string") => InputType::String,
                Some("integer") => InputType::Integer,
                Some("boolean") => InputType::Boolean,
                Some("list") => InputType::List,
                Some("map") => InputType::Map,
                other => {
                    let given = other.unwrap_or("");
                    self.error(
                        "template::input_type",
                        t.span,
                        format!("`{given}` is not an input type"),
                        Some(format!(
                            "{} (input types: string, integer, boolean, list, map)",
                            did_you_mean(
                                given,
                                ["string", "integer", "boolean", "list", "map"],
                                "types"
                            )
                        )),
                    );
                    InputType::String
                }
            },
        };
        let default = fields.get("default").map(|d| {
            let value = d.to_value();
            if !ty.accepts(&value) {
                self.error(
                    "template::input_type",
                    d.span,
                    format!(
                        "the default of {what} must be of type {}, found {}",
                        ty.name(),
                        d.kind_name()
                    ),
                    None,
                );
            }
            value
        });
        let required = match fields.get("required") {
            Some(r) => self.boolean(r, "`required`"),
            None => default.is_none(),
        };
        let allowed = fields.get("enum").and_then(|e| match &e.kind {
            NodeKind::Seq(items) => Some(items.iter().map(Node::to_value).collect()),
            _ => {
                self.error(
                    "template::shape",
                    e.span,
                    format!("`enum` of {what} must be a list of allowed values"),
                    None,
                );
                None
            }
        });
        let min = fields.get("min").and_then(|n| self.integer(n, "`min`"));
        let max = fields.get("max").and_then(|n| self.integer(n, "`max`"));
        let pattern = fields.get("pattern").and_then(|p| {
            let text = self.string(p, "`pattern`")?;
            match regex::Regex::new(&format!("^(?:{text})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    self.error(
                        "template::pattern",
                        p.span,
                        format!("`pattern` of {what} is not a valid regular expression: {e}"),
                        None,
                    );
                    None
                }
            }
        });
        let sensitive = fields
            .get("sensitive")
            .is_some_and(|s| self.boolean(s, "`sensitive`"));
        let description = fields
            .get("description")
            .and_then(|d| self.string(d, "`description`"))
            .unwrap_or_default();
        Some(InputDef {
            name: name.to_owned(),
            span,
            ty,
            description,
            default,
            required,
            allowed,
            min,
            max,
            pattern,
            sensitive,
        })
    }

    fn type_name(&mut self, fields: &Fields, what: &str, span: Span) -> Option<(String, Span)> {
        match fields.entries.get("type") {
            Some((_, t)) => Some((self.string(t, "`type`")?, t.span)),
            None => {
                self.error(
                    "template::missing_key",
                    span,
                    format!("{what} has no `type`"),
                    Some("add `type: <provider>.<kind>`, e.g. `type: local.directory`".into()),
                );
                None
            }
        }
    }

    fn data(&mut self, name: &str, span: Span, node: &Node) -> Option<DataDef> {
        self.name(name, span, "data source");
        let what = format!("data source `{name}`");
        let fields = self.fields(node, &what, DATA_KEYS)?;
        let (type_name, type_span) = self.type_name(&fields, &what, span)?;
        let properties = fields
            .get("properties")
            .map(|p| self.props(p, &format!("properties of {what}")))
            .unwrap_or_default();
        Some(DataDef {
            name: name.to_owned(),
            span,
            type_name,
            type_span,
            properties,
        })
    }

    fn resource(&mut self, address: &str, span: Span, node: &Node) -> Option<ResourceDef> {
        if self.name(address, span, "resource") && RESERVED_NAMES.contains(&address) {
            self.error(
                "template::invalid_name",
                span,
                format!("`{address}` is reserved and cannot name a resource"),
                Some(format!("rename it, e.g. `{address}_resource`")),
            );
        }
        let what = format!("resource `{address}`");
        let fields = self.fields(node, &what, RESOURCE_KEYS)?;
        let (type_name, type_span) = self.type_name(&fields, &what, span)?;
        let properties = fields
            .get("properties")
            .map(|p| self.props(p, &format!("properties of {what}")))
            .unwrap_or_default();
        let depends_on = match fields.get("depends_on") {
            None => Vec::new(),
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items
                .iter()
                .filter_map(|i| Some((self.string(i, "an entry of `depends_on`")?, i.span)))
                .collect(),
            Some(n) => {
                self.error(
                    "template::shape",
                    n.span,
                    "`depends_on` must be a list of resource addresses".into(),
                    Some("write `depends_on: [other_resource]`".into()),
                );
                Vec::new()
            }
        };
        let protect = fields
            .get("protect")
            .is_some_and(|p| self.boolean(p, "`protect`"));
        let when = fields.get("when").and_then(|w| self.when(w));
        Some(ResourceDef {
            address: address.to_owned(),
            span,
            type_name,
            type_span,
            properties,
            depends_on,
            protect,
            when,
        })
    }

    fn output(&mut self, name: &str, span: Span, node: &Node) -> Option<OutputDef> {
        self.name(name, span, "output");
        // `outputs: { x: "${a.b}" }` or `outputs: { x: { value: ..., description: ... } }`.
        let is_long_form = matches!(&node.kind, NodeKind::Map(entries)
            if entries.iter().any(|(k, _)| k.as_str() == Some("value")));
        if !is_long_form {
            return Some(OutputDef {
                name: name.to_owned(),
                span,
                value: self.tvalue(node),
                description: String::new(),
                sensitive: false,
            });
        }
        let fields = self.fields(node, &format!("output `{name}`"), OUTPUT_KEYS)?;
        let value = self.tvalue(fields.get("value")?);
        let description = fields
            .get("description")
            .and_then(|d| self.string(d, "`description`"))
            .unwrap_or_default();
        let sensitive = fields
            .get("sensitive")
            .is_some_and(|s| self.boolean(s, "`sensitive`"));
        Some(OutputDef {
            name: name.to_owned(),
            span,
            value,
            description,
            sensitive,
        })
    }

    fn component(&mut self, kind: &str, span: Span, node: &Node) -> Option<ComponentDef> {
        let what = format!("component `{kind}`");
        let entries = self.expect_map(node, &what)?;
        let mut flavor = None;
        let mut when = None;
        let mut configuration = Vec::new();
        for (k, v) in entries {
            let key = k.key_text().unwrap_or_default();
            match key.as_str() {
                "flavor" => flavor = Some(self.tvalue(v)),
                "when" => when = self.when(v),
                // `configuration:` may also be written out; its keys join the flat ones.
                "configuration" => configuration.extend(self.props(v, &what)),
                _ => configuration.push(PropDef {
                    name: key,
                    span: k.span,
                    value: self.tvalue(v),
                }),
            }
        }
        let Some(flavor) = flavor else {
            self.error(
                "template::missing_key",
                span,
                format!("{what} has no `flavor`"),
                Some("add `flavor: <name>`, e.g. `flavor: s3` or `flavor: local`".into()),
            );
            return None;
        };
        Some(ComponentDef {
            kind: kind.to_owned(),
            span,
            flavor,
            configuration,
            when,
        })
    }

    fn props(&mut self, node: &Node, what: &str) -> Vec<PropDef> {
        let Some(entries) = self.expect_map(node, what) else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|(k, v)| PropDef {
                name: k.key_text().unwrap_or_default(),
                span: k.span,
                value: self.tvalue(v),
            })
            .collect()
    }

    fn tvalue(&mut self, node: &Node) -> TValue {
        match &node.kind {
            NodeKind::Str { value, direct } => {
                if !value.contains("${") && !value.contains("{{") {
                    return TValue::Literal {
                        value: Value::String(value.clone()),
                        span: node.span,
                    };
                }
                match expr::parse_template(value) {
                    Ok(template) => TValue::Text {
                        template,
                        span: node.span,
                        direct: *direct,
                    },
                    Err(e) => {
                        self.expr_error(&e, *direct, node.span);
                        TValue::Literal {
                            value: Value::Unknown,
                            span: node.span,
                        }
                    }
                }
            }
            NodeKind::Seq(items) => TValue::List {
                items: items.iter().map(|i| self.tvalue(i)).collect(),
                span: node.span,
            },
            NodeKind::Map(entries) => TValue::Map {
                entries: entries
                    .iter()
                    .map(|(k, v)| (self.tvalue(k), k.span, self.tvalue(v)))
                    .collect(),
                span: node.span,
            },
            _ => TValue::Literal {
                value: node.to_value(),
                span: node.span,
            },
        }
    }

    fn when(&mut self, node: &Node) -> Option<When> {
        match &node.kind {
            NodeKind::Bool(b) => Some(When {
                // Not text: no range inside a string to point at (`direct` is None).
                expr: expr::Expr::Literal(Value::Bool(*b), 0..0),
                span: node.span,
                direct: None,
            }),
            NodeKind::Str { value, direct } => {
                let parsed = if value.contains("${") {
                    expr::parse_template(value).and_then(|t| match t.parts.as_slice() {
                        [expr::Part::Expr { expr, .. }] => Ok(expr.clone()),
                        _ => Err(expr::ExprError {
                            message: "`when` must be a single expression".into(),
                            span: 0..value.len(),
                            help: Some(
                                "write `when: ${inputs.x == \"y\"}` with nothing around it".into(),
                            ),
                        }),
                    })
                } else {
                    expr::parse_expr(value)
                };
                match parsed {
                    Ok(expr) => Some(When {
                        expr,
                        span: node.span,
                        direct: *direct,
                    }),
                    Err(e) => {
                        self.expr_error(&e, *direct, node.span);
                        None
                    }
                }
            }
            _ => {
                self.error(
                    "template::shape",
                    node.span,
                    format!(
                        "`when` must be a boolean expression, found {}",
                        node.kind_name()
                    ),
                    Some("write `when: ${inputs.enabled}` or `when: true`".into()),
                );
                None
            }
        }
    }

    fn expr_error(&mut self, e: &expr::ExprError, direct: Option<usize>, node: Span) {
        let span = super::file_span(direct, node, &e.span);
        let d = Diagnostic::new("template::expression", e.message.clone())
            .at(self.at(span))
            .maybe_help(e.help.clone());
        self.diags.push(d);
    }
}
