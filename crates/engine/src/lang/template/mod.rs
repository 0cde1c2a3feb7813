//! Templates: the YAML a user writes, as typed definitions that remember their source spans.
//!
//! [`parse`] turns a file into a [`Template`] and reports shape errors (unknown keys, wrong
//! types, malformed expressions). It knows nothing of resource types: [`crate::lang::check`] validates
//! a template against the [`crate::lang::schema::Catalog`], and [`crate::plan::resolve`] evaluates it with
//! inputs.

mod parse;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::base::source::{Located, SourceFile, Span};
use crate::base::value::Value;
use crate::lang::expr::{self, Reference};

pub use parse::parse;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub source: Arc<SourceFile>,
    pub name: String,
    pub description: String,
    pub inputs: Vec<InputDef>,
    pub providers: Vec<ProviderDef>,
    pub data: Vec<DataDef>,
    pub resources: Vec<ResourceDef>,
    pub outputs: Vec<OutputDef>,
    pub components: Vec<ComponentDef>,
    /// `moved:` entries: a resource now at `to` was at `from`, and keeps its cloud object.
    pub moved: Vec<MovedDef>,
    /// Positions by name, so lookups stay O(1) in templates with thousands of resources.
    index: Index,
}

/// One `moved:` entry.
#[derive(Debug, Clone)]
pub struct MovedDef {
    pub from: String,
    pub to: String,
    pub span: Span,
}

#[derive(Debug, Clone, Default)]
struct Index {
    resources: HashMap<String, usize>,
    inputs: HashMap<String, usize>,
    data: HashMap<String, usize>,
}

impl Template {
    /// Builds a template from its parts (the parser's job; also handy for generated templates).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: Arc<SourceFile>,
        name: String,
        description: String,
        inputs: Vec<InputDef>,
        providers: Vec<ProviderDef>,
        data: Vec<DataDef>,
        resources: Vec<ResourceDef>,
        outputs: Vec<OutputDef>,
        components: Vec<ComponentDef>,
    ) -> Template {
        // The first definition wins; YAML duplicate keys are rejected earlier anyway.
        let positions = |names: Vec<&String>| {
            let mut map = HashMap::with_capacity(names.len());
            for (i, n) in names.into_iter().enumerate() {
                map.entry(n.clone()).or_insert(i);
            }
            map
        };
        let index = Index {
            resources: positions(resources.iter().map(|r| &r.address).collect()),
            inputs: positions(inputs.iter().map(|i| &i.name).collect()),
            data: positions(data.iter().map(|d| &d.name).collect()),
        };
        Template {
            source,
            name,
            description,
            inputs,
            providers,
            data,
            resources,
            outputs,
            components,
            moved: Vec::new(),
            index,
        }
    }

    pub fn resource(&self, address: &str) -> Option<&ResourceDef> {
        self.index
            .resources
            .get(address)
            .map(|i| &self.resources[*i])
    }

    pub fn input(&self, name: &str) -> Option<&InputDef> {
        self.index.inputs.get(name).map(|i| &self.inputs[*i])
    }

    pub fn data_source(&self, name: &str) -> Option<&DataDef> {
        self.index.data.get(name).map(|i| &self.data[*i])
    }

    pub fn locate(&self, span: Span) -> Located {
        Located::new(&self.source, span)
    }
}

/// The type of a template input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Integer,
    Boolean,
    List,
    Map,
}

impl InputType {
    pub fn name(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::List => "list",
            InputType::Map => "map",
        }
    }

    pub fn accepts(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (_, Value::Unknown)
                | (InputType::String, Value::String(_))
                | (InputType::Integer, Value::Int(_))
                | (InputType::Boolean, Value::Bool(_))
                | (InputType::List, Value::List(_))
                | (InputType::Map, Value::Map(_))
        )
    }
}

/// `inputs.<name>`: a value the user gives with `--var` or `--var-file`.
#[derive(Debug, Clone)]
pub struct InputDef {
    pub name: String,
    pub span: Span,
    pub ty: InputType,
    pub description: String,
    pub default: Option<Value>,
    pub required: bool,
    pub allowed: Option<Vec<Value>>,
    /// For integers, the value; for strings and lists, the length.
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<regex::Regex>,
    /// Never shown, never stored in plain text.
    pub sensitive: bool,
}

/// `providers.<cloud>`: region, connector and other settings shared by a cloud's resources.
#[derive(Debug, Clone)]
pub struct ProviderDef {
    pub name: String,
    pub span: Span,
    pub settings: Vec<PropDef>,
}

/// A named value whose right-hand side may hold expressions.
#[derive(Debug, Clone)]
pub struct PropDef {
    pub name: String,
    pub span: Span,
    pub value: TValue,
}

/// `data.<name>`: a read-only lookup (for example the availability zones of a region).
#[derive(Debug, Clone)]
pub struct DataDef {
    pub name: String,
    pub span: Span,
    pub type_name: String,
    pub type_span: Span,
    pub properties: Vec<PropDef>,
}

/// `resources.<address>`.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub address: String,
    pub span: Span,
    pub type_name: String,
    pub type_span: Span,
    pub properties: Vec<PropDef>,
    pub depends_on: Vec<(String, Span)>,
    pub protect: bool,
    pub when: Option<When>,
}

/// `outputs.<name>`.
#[derive(Debug, Clone)]
pub struct OutputDef {
    pub name: String,
    pub span: Span,
    pub value: TValue,
    pub description: String,
    pub sensitive: bool,
}

/// `components.<component_type>`: what the stack registers (artifact store, registry, ...).
#[derive(Debug, Clone)]
pub struct ComponentDef {
    pub kind: String,
    pub span: Span,
    pub flavor: TValue,
    pub configuration: Vec<PropDef>,
    pub when: Option<When>,
}

/// A `when:` condition. A literal `true`/`false` is kept as an expression too.
#[derive(Debug, Clone)]
pub struct When {
    pub expr: expr::Expr,
    pub span: Span,
    /// File offset of the expression text's first byte, when it maps one to one.
    pub direct: Option<usize>,
}

impl When {
    pub fn references(&self) -> Vec<(&Reference, Span)> {
        self.expr
            .references()
            .into_iter()
            .map(|r| (r, file_span(self.direct, self.span, &r.span)))
            .collect()
    }

    pub fn file_span(&self, r: &Range<usize>) -> Span {
        file_span(self.direct, self.span, r)
    }
}

/// A value in a template: plain data, or text with `${...}` expressions, nested in lists and maps.
#[derive(Debug, Clone)]
pub enum TValue {
    Literal {
        value: Value,
        span: Span,
    },
    Text {
        template: expr::Template,
        span: Span,
        direct: Option<usize>,
    },
    List {
        items: Vec<TValue>,
        span: Span,
    },
    /// Keys may hold expressions too (`"${oidc.issuer_host_path}:sub": ...` in a policy).
    Map {
        entries: Vec<(TValue, Span, TValue)>,
        span: Span,
    },
}

impl TValue {
    pub fn span(&self) -> Span {
        match self {
            TValue::Literal { span, .. }
            | TValue::Text { span, .. }
            | TValue::List { span, .. }
            | TValue::Map { span, .. } => *span,
        }
    }

    /// Every reference inside, with the file span it was written at.
    pub fn references(&self) -> Vec<(&Reference, Span)> {
        let mut out = Vec::new();
        self.collect_references(&mut out);
        out
    }

    fn collect_references<'a>(&'a self, out: &mut Vec<(&'a Reference, Span)>) {
        match self {
            TValue::Literal { .. } => {}
            TValue::Text {
                template,
                span,
                direct,
            } => {
                for r in template.references() {
                    out.push((r, file_span(*direct, *span, &r.span)));
                }
            }
            TValue::List { items, .. } => items.iter().for_each(|i| i.collect_references(out)),
            TValue::Map { entries, .. } => entries.iter().for_each(|(k, _, v)| {
                k.collect_references(out);
                v.collect_references(out);
            }),
        }
    }

    /// Maps a byte range inside this value's text to the file.
    pub fn file_span(&self, r: &Range<usize>) -> Span {
        match self {
            TValue::Text { span, direct, .. } => file_span(*direct, *span, r),
            other => other.span(),
        }
    }
}

/// A range inside a string's content, as a span in the file; the whole node when the string's
/// characters do not map one to one (escapes, folded lines).
pub fn file_span(direct: Option<usize>, node: Span, r: &Range<usize>) -> Span {
    match direct {
        Some(base) => Span::new(base + r.start, base + r.end),
        None => node,
    }
}

/// Words that cannot name a resource because references starting with them mean something else.
pub const RESERVED_NAMES: &[&str] = &["inputs", "stack", "data", "self", "providers", "outputs"];
