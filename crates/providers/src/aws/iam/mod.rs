//! IAM: `aws.iam.role`, `aws.iam.policy` and `aws.iam.openid_connect_provider`, one file each.
//!
//! Names are the recovery keys (unique per account). Deleting follows the order IAM demands:
//! a role's managed policies are detached, its inline policies and instance-profile memberships
//! removed, then the role goes; a policy is detached from every role, user and group and its
//! old versions deleted before the policy itself.

mod openid_connect_provider;
mod policy;
mod role;

pub use openid_connect_provider::OpenIdConnectProvider;
pub use policy::Policy;
pub use role::Role;

/// What every file of this module uses.
mod prelude {
    pub use super::super::client::{adopt, classify, deleted, gone_is_fine, unless_missing};
    pub use super::super::util::{document, owned, required, s, strings, tags, with_tags};
    pub use super::super::{Aws, Clients};
    pub use super::*;
    pub use aws_sdk_iam::types::Tag;
    pub use stackform_engine::base::value::Value;
    pub use stackform_engine::lang::schema::{
        OutputSchema, PropType, PropertySchema, ResourceSchema,
    };
    pub use stackform_engine::provider::{
        Applied, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, ResourceType,
    };
    pub use std::collections::BTreeMap;
    pub use std::sync::Arc;
}

use prelude::*;

pub(super) fn tag_list(ctx: &OpContext, props: &Props) -> Vec<Tag> {
    tags(ctx, props)
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

pub(super) fn inline_policies(props: &Props) -> BTreeMap<String, String> {
    match props.get("inline_policies") {
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| {
                let doc = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_json().to_string(),
                };
                (k.clone(), doc)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
