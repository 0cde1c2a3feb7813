//! Ownership marks as Kubernetes objects hold them. Label values allow at most 63 characters of
//! `[A-Za-z0-9-_.]`, which a stack id and a stack name fit; an address (`nodes[0]`) may not, so
//! it goes in an annotation, as does the expiry (an RFC 3339 time has `:`).
//! https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set

use std::collections::BTreeMap;

use stackform_engine::provider::{OpContext, Ownership};

pub const LABEL_STACK: &str = "stackform.dev/stack";
pub const LABEL_STACK_ID: &str = "stackform.dev/stack-id";
pub const ANNOTATION_ADDRESS: &str = "stackform.dev/address";
pub const ANNOTATION_EXPIRES_AT: &str = "stackform.dev/expires-at";

/// A value as a label can hold it.
fn label_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

pub fn labels(o: &Ownership) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_STACK.to_owned(), label_value(&o.stack)),
        (LABEL_STACK_ID.to_owned(), o.stack_id.to_string()),
    ])
}

pub fn annotations(o: &Ownership) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([(ANNOTATION_ADDRESS.to_owned(), o.address.clone())]);
    if let Some(at) = &o.expires_at {
        out.insert(ANNOTATION_EXPIRES_AT.to_owned(), at.clone());
    }
    out
}

/// Whether an object's labels and annotations mark it as this stack's object at this address.
pub fn owned(
    ctx: &OpContext,
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> bool {
    labels.and_then(|l| l.get(LABEL_STACK_ID)) == Some(&ctx.ownership.stack_id.to_string())
        && annotations.and_then(|a| a.get(ANNOTATION_ADDRESS)) == Some(&ctx.ownership.address)
}

/// The user's labels or annotations, without stackform's own.
pub fn user(all: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    all.into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("stackform.dev/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid_whatever_the_name() {
        assert_eq!(label_value("staging"), "staging");
        assert_eq!(label_value("a b:c"), "a_b_c");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"y".repeat(80)).len(), 63);
    }
}
