//! The AWS stack's network: `aws.ec2.vpc`, `aws.ec2.subnet`, `aws.ec2.internet_gateway`,
//! `aws.ec2.route_table` and `aws.ec2.security_group`.
//!
//! None of these has a name AWS keeps unique, so the ownership tags, applied inside the create
//! call (TagSpecifications), are the recovery key: an interrupted create is found again by the
//! `stackform:stack-id` and `stackform:address` tags. Where the API takes a client token
//! (CreateRouteTable), the token recorded with the intent is passed too.

mod internet_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use internet_gateway::InternetGateway;
pub use route_table::RouteTable;
pub use security_group::SecurityGroup;
pub use subnet::Subnet;
pub use vpc::Vpc;

/// What every file of this module uses.
mod prelude {
    pub use super::super::client::{
        already, classify, client_token, deleted, gone_is_fine, pages, unless_missing,
    };
    pub use super::super::util::{boolean, required, s, string, strings, tags, with_tags};
    pub use super::super::{Aws, Clients};
    pub use super::*;
    pub use aws_sdk_ec2::types::{
        AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType as Ec2Type, Tag,
        TagSpecification,
    };
    pub use stackform_engine::base::value::Value;
    pub use stackform_engine::lang::schema::{
        OutputSchema, PropType, PropertySchema, ResourceSchema,
    };
    pub use stackform_engine::provider::{
        Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
        ResourceType, TAG_ADDRESS, TAG_STACK_ID,
    };
    pub use std::collections::BTreeMap;
    pub use std::sync::Arc;
}

use prelude::*;

pub(super) fn spec(kind: Ec2Type, ctx: &OpContext, props: &Props) -> TagSpecification {
    let tags: Vec<Tag> = tags(ctx, props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

pub(super) fn ownership_filters(ctx: &OpContext) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK_ID}"))
            .values(ctx.ownership.stack_id.to_string())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_ADDRESS}"))
            .values(ctx.ownership.address.clone())
            .build(),
    ]
}

/// A filter matching any of `ids` (`subnet-id`, `group-id`, `vpc-id`, ...). Bulk reads filter
/// rather than name ids: an id that no longer exists is then simply absent from the answer, where
/// naming it would fail the whole call with `...NotFound`.
pub(super) fn any_of(name: &str, ids: &[(String, Props)]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(ids.iter().map(|(id, _)| id.clone()).collect()))
        .build()
}

/// A bulk read: every object `$describe` returns for the ids of `$items` (through
/// [`any_of`]`($filter)`, all pages), then each item's answer in order through `applied`.
macro_rules! read_by_filter {
    ($c:expr, $items:expr, $describe:ident, $filter:literal, $list:ident, $id:ident, $action:literal, $applied:expr) => {{
        let c = $c;
        let found = pages(|token| {
            let req = c
                .ec2
                .$describe()
                .filters(any_of($filter, $items))
                .set_next_token(token);
            async move {
                let out = req.send().await.map_err(|e| classify(e, $action, c))?;
                let page = out
                    .$list()
                    .iter()
                    .map(|v| (v.$id().unwrap_or_default().to_owned(), v.clone()))
                    .collect();
                Ok((page, out.next_token().map(str::to_owned)))
            }
        })
        .await?;
        Ok(in_order($items, found, $applied))
    }};
}
pub(super) use read_by_filter;

/// Each item's answer, in the order asked, from what a bulk describe returned by id.
pub(super) fn in_order<T>(
    items: &[(String, Props)],
    found: Vec<(String, T)>,
    applied: impl Fn(&T, &Props) -> Applied,
) -> Vec<Option<Applied>> {
    let found: BTreeMap<String, T> = found.into_iter().collect();
    items
        .iter()
        .map(|(id, props)| found.get(id).map(|t| applied(t, props)))
        .collect()
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub(super) async fn retag(
    c: &Clients,
    ctx: &OpContext,
    id: &str,
    props: &Props,
    current: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let wanted = tags(ctx, props);
    let stale: Vec<Tag> = current
        .keys()
        .filter(|k| !wanted.contains_key(*k) && !k.starts_with("aws:"))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !stale.is_empty() {
        c.ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(stale))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DeleteTags", c))?;
    }
    c.ec2
        .create_tags()
        .resources(id)
        .set_tags(Some(
            wanted
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| classify(e, "ec2:CreateTags", c))?;
    Ok(())
}

pub(super) fn done(id: &str, properties: Props, outputs: Props) -> Applied {
    Applied {
        physical_id: id.to_owned(),
        properties,
        outputs,
    }
}
