//! Resource and data-source schemas: what each type accepts and exposes.
//!
//! Schemas live in the engine so that a template validates and plans without any cloud: the
//! providers crate declares its types here through [`Catalog`], and the engine checks
//! property names, required properties, value types and references against them. Which
//! properties force a replacement, which are sensitive and which types hold data (a replace
//! or delete loses it) are schema facts too, because the plan needs them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::base::value::Value;

/// The type of a property or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PropType {
    String,
    Integer,
    Number,
    Boolean,
    List(Box<PropType>),
    Map(Box<PropType>),
    Any,
}

impl PropType {
    pub fn list_of(inner: PropType) -> PropType {
        PropType::List(Box::new(inner))
    }

    pub fn map_of(inner: PropType) -> PropType {
        PropType::Map(Box::new(inner))
    }

    /// Whether `value` fits this type. Unknown fits everything: it is checked after apply.
    /// Integers fit `number`. Strings do not silently become numbers.
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (_, Value::Unknown) | (PropType::Any, _) => true,
            (PropType::String, Value::String(_)) => true,
            (PropType::Integer, Value::Int(_)) => true,
            (PropType::Number, Value::Int(_) | Value::Float(_)) => true,
            (PropType::Boolean, Value::Bool(_)) => true,
            (PropType::List(inner), Value::List(items)) => items.iter().all(|i| inner.accepts(i)),
            (PropType::Map(inner), Value::Map(map)) => map.values().all(|v| inner.accepts(v)),
            _ => false,
        }
    }
}

impl PropType {
    /// Reads the type names that plugins and integration manifests write: `string`, `integer`,
    /// `number`, `boolean`, `any`, `list(T)`, `map(T)`; bare `list` and `map` hold anything.
    pub fn parse(s: &str) -> Option<PropType> {
        Some(match s.trim() {
            "string" => PropType::String,
            "integer" => PropType::Integer,
            "number" => PropType::Number,
            "boolean" => PropType::Boolean,
            "any" => PropType::Any,
            "list" => PropType::list_of(PropType::Any),
            "map" => PropType::map_of(PropType::Any),
            other => {
                if let Some(inner) = other
                    .strip_prefix("list(")
                    .and_then(|r| r.strip_suffix(')'))
                {
                    PropType::list_of(PropType::parse(inner)?)
                } else if let Some(inner) =
                    other.strip_prefix("map(").and_then(|r| r.strip_suffix(')'))
                {
                    PropType::map_of(PropType::parse(inner)?)
                } else {
                    return None;
                }
            }
        })
    }
}

impl fmt::Display for PropType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropType::String => f.write_str("string"),
            PropType::Integer => f.write_str("integer"),
            PropType::Number => f.write_str("number"),
            PropType::Boolean => f.write_str("boolean"),
            PropType::List(inner) => write!(f, "list of {inner}"),
            PropType::Map(inner) => write!(f, "map of {inner}"),
            PropType::Any => f.write_str("any"),
        }
    }
}

/// One property a resource type accepts.
#[derive(Debug, Clone, Serialize)]
pub struct PropertySchema {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: PropType,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Changing it means deleting the resource and creating a new one.
    pub force_new: bool,
    /// Its value is never shown in plans or logs.
    pub sensitive: bool,
    /// Its value must come from a secret (a sensitive input given `{{ name.key }}`, a sensitive
    /// output): text written in the template is refused, since the template is shared and kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_only: bool,
    pub description: String,
}

impl PropertySchema {
    pub fn new(name: &str, ty: PropType, description: &str) -> PropertySchema {
        PropertySchema {
            name: name.to_owned(),
            ty,
            required: false,
            default: None,
            force_new: false,
            sensitive: false,
            secret_only: false,
            description: description.to_owned(),
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Sensitive, and only ever from a secret (see `secret_only`).
    pub fn secret_only(mut self) -> Self {
        self.sensitive = true;
        self.secret_only = true;
        self
    }
}

/// One attribute a resource exposes once it exists (an ARN, a URI, an endpoint).
#[derive(Debug, Clone, Serialize)]
pub struct OutputSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: PropType,
    pub description: String,
}

impl OutputSchema {
    pub fn new(name: &str, ty: PropType, description: &str) -> OutputSchema {
        OutputSchema {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
        }
    }
}

/// The schema of a resource type such as `aws.s3.bucket`, or of a data source.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceSchema {
    /// `<provider>.<service>.<kind>` or `<provider>.<kind>`.
    pub type_name: String,
    pub description: String,
    pub properties: Vec<PropertySchema>,
    pub outputs: Vec<OutputSchema>,
    /// Holds data that a replace or delete destroys (buckets, registries, volumes).
    pub stateful: bool,
    /// Never declared in a template: stackform only finds such resources (what Kubernetes made
    /// inside a cluster) and deletes them with their stack.
    pub found_only: bool,
    /// How the cloud bills it, for cost estimates; `None`: not estimated.
    #[serde(skip)]
    pub pricing: Option<Pricing>,
    /// The cloud permissions its operations need (`s3:CreateBucket`, ...), for `connector verify`.
    #[serde(skip)]
    pub actions: Vec<String>,
    /// How long one operation usually takes (a cluster: many minutes), for the executor's
    /// schedule: the longest chain of expected durations starts first. `None`: a typical call.
    #[serde(skip)]
    pub expected_duration: Option<std::time::Duration>,
}

/// How a resource type is billed, in terms of its provider's price table.
#[derive(Debug, Clone, PartialEq)]
pub enum Pricing {
    /// No charge of its own.
    Free,
    /// Billed by use (storage, requests, transfer): no fixed rate. The text says what is billed.
    Usage(String),
    /// A fixed hourly rate: the price table's entry `key`.
    Hourly(String),
    /// Instances: the rate of `<prefix><type>` (the first of `type_property`, a string or a
    /// list) times `count_property`.
    PerInstance {
        prefix: String,
        type_property: String,
        count_property: String,
    },
    /// Storage: the table's per-GiB-month rate `key` times `size_property` (GiB).
    PerGibMonth { key: String, size_property: String },
}

impl ResourceSchema {
    pub fn new(type_name: &str, description: &str) -> ResourceSchema {
        ResourceSchema {
            type_name: type_name.to_owned(),
            description: description.to_owned(),
            properties: Vec::new(),
            outputs: Vec::new(),
            stateful: false,
            found_only: false,
            pricing: None,
            actions: Vec::new(),
            expected_duration: None,
        }
    }

    pub fn property(mut self, p: PropertySchema) -> Self {
        self.properties.push(p);
        self
    }

    pub fn output(mut self, o: OutputSchema) -> Self {
        self.outputs.push(o);
        self
    }

    pub fn stateful(mut self) -> Self {
        self.stateful = true;
        self
    }

    pub fn actions(mut self, actions: &[&str]) -> Self {
        self.actions = actions.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    pub fn found_only(mut self) -> Self {
        self.found_only = true;
        self
    }

    /// One operation usually takes about `d`, for the executor's schedule.
    pub fn expected_duration(mut self, d: std::time::Duration) -> Self {
        self.expected_duration = Some(d);
        self
    }

    /// The provider part of the type name (`aws` in `aws.s3.bucket`).
    pub fn provider(&self) -> &str {
        self.type_name.split('.').next().unwrap_or("")
    }

    pub fn find_property(&self, name: &str) -> Option<&PropertySchema> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn find_output(&self, name: &str) -> Option<&OutputSchema> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// Every name a reference `resource.<name>` may use: properties, outputs and `id`.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once("id")
            .chain(self.properties.iter().map(|p| p.name.as_str()))
            .chain(self.outputs.iter().map(|o| o.name.as_str()))
    }
}

/// A component flavor's configuration schema (`experiment_tracker` / `mlflow`), declared by an
/// integration. Components of a declared flavor are checked against it before a plan is shown;
/// flavors nobody declared (the built-in ones) are passed through as written.
#[derive(Debug, Clone, Serialize)]
pub struct FlavorSchema {
    /// The component type, one of [`COMPONENT_TYPES`].
    pub component: String,
    pub flavor: String,
    pub description: String,
    pub fields: Vec<FlavorField>,
    /// The integration that declares it, for messages.
    pub integration: String,
}

/// One configuration field of a flavor.
#[derive(Debug, Clone, Serialize)]
pub struct FlavorField {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: PropType,
    pub required: bool,
    /// May hold, and when written literally must be, a `{{ <secret_name>.<key> }}` reference:
    /// the value is a credential and never belongs in a template in plain text.
    pub secret: bool,
    pub description: String,
}

impl FlavorSchema {
    pub fn field(&self, name: &str) -> Option<&FlavorField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Every resource type and data source the running binary knows, and the component flavors
/// that integrations declare.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    resources: BTreeMap<String, ResourceSchema>,
    data: BTreeMap<String, ResourceSchema>,
    flavors: BTreeMap<(String, String), FlavorSchema>,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog::default()
    }

    pub fn add_resource(&mut self, schema: ResourceSchema) {
        self.resources.insert(schema.type_name.clone(), schema);
    }

    pub fn add_data(&mut self, schema: ResourceSchema) {
        self.data.insert(schema.type_name.clone(), schema);
    }

    pub fn resource(&self, type_name: &str) -> Option<&ResourceSchema> {
        self.resources.get(type_name)
    }

    pub fn add_flavor(&mut self, schema: FlavorSchema) {
        self.flavors
            .insert((schema.component.clone(), schema.flavor.clone()), schema);
    }

    /// The schema of flavor `flavor` of component type `component`, if an integration declared it.
    pub fn flavor(&self, component: &str, flavor: &str) -> Option<&FlavorSchema> {
        self.flavors.get(&(component.to_owned(), flavor.to_owned()))
    }

    /// The declared flavors of one component type.
    pub fn flavors_of<'c>(&'c self, component: &'c str) -> impl Iterator<Item = &'c FlavorSchema> {
        self.flavors
            .values()
            .filter(move |f| f.component == component)
    }

    pub fn data(&self, type_name: &str) -> Option<&ResourceSchema> {
        self.data.get(type_name)
    }

    pub fn resources(&self) -> impl Iterator<Item = &ResourceSchema> {
        self.resources.values()
    }

    pub fn data_sources(&self) -> impl Iterator<Item = &ResourceSchema> {
        self.data.values()
    }

    /// Provider names that have at least one type (`aws`, `local`, ...).
    pub fn providers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .resources
            .values()
            .chain(self.data.values())
            .map(ResourceSchema::provider)
            .collect();
        names.dedup();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// The component types a stack may have, as ZenML names them.
pub const COMPONENT_TYPES: &[&str] = &[
    "alerter",
    "annotator",
    "artifact_store",
    "container_registry",
    "data_validator",
    "deployer",
    "experiment_tracker",
    "feature_store",
    "image_builder",
    "model_deployer",
    "model_registry",
    "orchestrator",
    "step_operator",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_accept_what_they_say() {
        let cases: &[(PropType, Value, bool)] = &[
            (PropType::String, Value::from("x"), true),
            (PropType::String, Value::Int(1), false),
            (PropType::Number, Value::Int(1), true),
            (PropType::Integer, Value::Float(1.5), false),
            (PropType::Integer, Value::Unknown, true),
            (
                PropType::list_of(PropType::String),
                Value::List(vec!["a".into(), Value::Int(2)]),
                false,
            ),
            (
                PropType::map_of(PropType::String),
                Value::Map([("k".to_owned(), Value::from("v"))].into()),
                true,
            ),
        ];
        for (ty, value, expected) in cases {
            assert_eq!(ty.accepts(value), *expected, "{ty} accepts {value}");
        }
    }
}
