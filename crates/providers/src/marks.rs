//! Ownership marks as each cloud can hold them.
//!
//! AWS tags take the engine's marks as they are (`stackform:stack-id`, ...). GCP labels allow
//! only lowercase letters, digits, `_` and `-` in keys and values (at most 63 characters), and
//! Azure metadata names must be C# identifiers, so both use `stackform_` keys; GCP values are
//! lowercased with anything else turned into `_`, and the expiry is epoch seconds (an RFC 3339
//! time has `:`). ARCHITECTURE.md has the table.

use std::collections::BTreeMap;

use stackform_engine::provider::{OpContext, Ownership};

pub const KEY_STACK: &str = "stackform_stack";
pub const KEY_STACK_ID: &str = "stackform_stack_id";
pub const KEY_ADDRESS: &str = "stackform_address";
pub const KEY_EXPIRES_AT: &str = "stackform_expires_at";

/// A value as a GCP label can hold it.
pub fn gcp_value(v: &str) -> String {
    v.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        })
        .take(63)
        .collect()
}

/// The ownership labels of a GCP resource.
pub fn gcp_labels(o: &Ownership) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (KEY_STACK.to_owned(), gcp_value(&o.stack)),
        (KEY_STACK_ID.to_owned(), gcp_value(&o.stack_id.to_string())),
        (KEY_ADDRESS.to_owned(), gcp_value(&o.address)),
    ]);
    if let Some(at) = o
        .expires_at
        .as_deref()
        .and_then(crate::time::rfc3339_seconds)
    {
        labels.insert(KEY_EXPIRES_AT.to_owned(), at.to_string());
    }
    labels
}

/// The ownership metadata of an Azure resource (values as they are).
pub fn azure_metadata(o: &Ownership) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::from([
        (KEY_STACK.to_owned(), o.stack.clone()),
        (KEY_STACK_ID.to_owned(), o.stack_id.to_string()),
        (KEY_ADDRESS.to_owned(), o.address.clone()),
    ]);
    if let Some(at) = &o.expires_at {
        meta.insert(KEY_EXPIRES_AT.to_owned(), at.clone());
    }
    meta
}

/// Whether labels or metadata (`encode`d as this cloud does) mark a resource as this stack's
/// and this address's.
pub fn owned(
    ctx: &OpContext,
    marks: &BTreeMap<String, String>,
    encode: fn(&str) -> String,
) -> bool {
    marks.get(KEY_STACK_ID) == Some(&encode(&ctx.ownership.stack_id.to_string()))
        && marks.get(KEY_ADDRESS) == Some(&encode(&ctx.ownership.address))
}

/// Azure metadata's marks under the engine's tag names (`stackform:stack-id`, ...), as the
/// census and sweep compare them.
pub fn azure_to_tags(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    use stackform_engine::provider::{TAG_ADDRESS, TAG_EXPIRES_AT, TAG_STACK, TAG_STACK_ID};
    [
        (KEY_STACK, TAG_STACK),
        (KEY_STACK_ID, TAG_STACK_ID),
        (KEY_ADDRESS, TAG_ADDRESS),
        (KEY_EXPIRES_AT, TAG_EXPIRES_AT),
    ]
    .into_iter()
    .filter_map(|(ours, engine)| Some((engine.to_owned(), metadata.get(ours)?.clone())))
    .collect()
}

/// `props` with `field` (labels, metadata) replaced by the user's part of what the cloud
/// reports; an empty report for a field the template does not set leaves it unset.
pub fn with_user_marks(
    props: &stackform_engine::provider::Props,
    field: &str,
    reported: &BTreeMap<String, String>,
) -> stackform_engine::provider::Props {
    use stackform_engine::base::value::Value;
    let mut out = props.clone();
    let user = user_marks(reported);
    if !(user.is_empty() && matches!(props.get(field), None | Some(Value::Null))) {
        out.insert(
            field.to_owned(),
            Value::Map(
                user.into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
    }
    out
}

/// The user's labels or metadata, without stackform's own.
pub fn user_marks(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| !k.starts_with("stackform_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_labels_hold_only_what_gcp_allows() {
        let o = Ownership {
            stack: "ml-staging".into(),
            stack_id: uuid::Uuid::nil(),
            address: "Artifacts.Store".into(),
            suffix: String::new(),
            expires_at: Some("2026-12-01T10:00:00Z".into()),
        };
        let labels = gcp_labels(&o);
        for (k, v) in &labels {
            for c in k.chars().chain(v.chars()) {
                assert!(matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'), "{k}={v}");
            }
        }
        assert_eq!(labels[KEY_ADDRESS], "artifacts_store");
        assert_eq!(labels[KEY_EXPIRES_AT], "1796119200");
        let meta = azure_metadata(&o);
        assert!(
            meta.keys()
                .all(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        );
        assert_eq!(meta[KEY_EXPIRES_AT], "2026-12-01T10:00:00Z");
    }
}
