//! Small helpers shared by the AWS resource types: building and comparing tags, policy
//! documents; reading properties comes from `crate::props`.

use std::collections::BTreeMap;

use stackform_engine::base::value::Value;
use stackform_engine::provider::{OpContext, Props};

pub use crate::props::{boolean, int, required, string, string_map, strings};

/// A policy document: a JSON string as given, or a map turned into JSON.
pub fn document(props: &Props, name: &str) -> Option<String> {
    match props.get(name)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_json().to_string()),
    }
}

/// The user's tags plus the ownership tags (which win).
pub fn tags(ctx: &OpContext, props: &Props) -> BTreeMap<String, String> {
    let mut t = string_map(props, "tags");
    t.extend(ctx.ownership.tags());
    t
}

/// Whether tags mark the resource as this stack's and this address's.
pub fn owned(ctx: &OpContext, tags: &BTreeMap<String, String>) -> bool {
    tags.get(stackform_engine::provider::TAG_STACK_ID)
        .map(String::as_str)
        == Some(&ctx.ownership.stack_id.to_string())
        && tags
            .get(stackform_engine::provider::TAG_ADDRESS)
            .map(String::as_str)
            == Some(ctx.ownership.address.as_str())
}

/// User tags only (ownership tags removed), for comparing with the template.
pub fn user_tags(all: BTreeMap<String, String>) -> Value {
    Value::Map(
        all.into_iter()
            .filter(|(k, _)| !k.starts_with("stackform:"))
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// `props` with `tags` replaced by what the cloud reports (a missing map stays missing).
pub fn with_tags(props: &Props, reported: BTreeMap<String, String>) -> Props {
    let mut out = props.clone();
    let user = user_tags(reported);
    let empty = matches!(&user, Value::Map(m) if m.is_empty());
    if empty && !props.contains_key("tags") {
        return out;
    }
    if empty && matches!(props.get("tags"), Some(Value::Null) | None) {
        return out;
    }
    out.insert("tags".into(), user);
    out
}

pub fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}
