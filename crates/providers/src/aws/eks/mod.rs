//! EKS: `aws.eks.cluster`, `aws.eks.nodegroup` and `aws.eks.access_entry`, one file each.
//!
//! Creating and deleting take minutes on AWS: both answer "still running" and are polled by the
//! executor with a growing interval, without holding an executor slot, until the final status
//! (or a failed status, which is an error). Names are the recovery keys.
//!
//! Deleting a node group or a cluster first drains the cluster through the Kubernetes API
//! (`drain`): polled the same way, with tokens `drain:ID:N`.

mod access_entry;
mod cluster;
mod drain;
mod nodegroup;

pub use access_entry::AccessEntry;
pub use cluster::Cluster;
pub use nodegroup::Nodegroup;

/// What every file of this module uses.
mod prelude {
    pub use super::super::client::{classify, client_token, unless_missing};
    pub use super::super::util::{
        boolean, int, owned, required, s, string, strings, tags, with_tags,
    };
    pub use super::super::{Aws, Clients};
    pub use super::*;
    pub use aws_sdk_eks::types::{
        AuthenticationMode, ClusterStatus, CreateAccessConfigRequest, NodegroupScalingConfig,
        NodegroupStatus, VpcConfigRequest,
    };
    pub use stackform_engine::base::value::Value;
    pub use stackform_engine::lang::schema::{
        OutputSchema, PropType, PropertySchema, ResourceSchema,
    };
    pub use stackform_engine::provider::{
        Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
        ResourceType,
    };
    pub use std::collections::{BTreeMap, HashMap};
    pub use std::sync::Arc;
    pub use std::time::Duration;
}

use prelude::*;

/// How long to wait before asking again: 2 s, doubling to 30 s.
pub(super) fn backoff(token: &str) -> (u32, Duration) {
    let n: u32 = token
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (n, Duration::from_secs((2u64 << n.min(4)).min(30)))
}

pub(super) fn pending(op: &str, id: &str, n: u32, note: String) -> Outcome {
    let token = format!("{op}:{id}:{n}");
    let (_, after) = backoff(&token);
    Progress::Pending { token, after, note }
}

pub(super) fn split(token: &str) -> (&str, &str, u32) {
    let mut parts = token.splitn(2, ':');
    let op = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let (id, n) = rest.rsplit_once(':').unwrap_or((rest, "0"));
    (op, id, n.parse().unwrap_or(0))
}
