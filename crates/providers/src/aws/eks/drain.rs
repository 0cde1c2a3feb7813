//! An EKS cluster is drained through the Kubernetes API before its node groups and itself are
//! deleted (`drain.rs` and `kubernetes/drain.rs` say what and why): the controllers that remove
//! load balancers and volumes run there, the AWS Load Balancer Controller on the nodes
//! themselves. The census after the cluster finds what Kubernetes left by its tags.

use super::prelude::*;
use crate::drain::{Drain, undrained};

/// The drain's `n`th pass for the delete of `id`, then (drained, or given up on with the
/// warning shown first) `delete`: the node group's and the cluster's deletes begin alike.
pub(super) async fn then_delete<F, Fut>(
    aws: &Aws,
    ctx: &OpContext,
    cluster: &str,
    id: &str,
    n: u32,
    delete: F,
) -> Result<Outcome, ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ProviderError>>,
{
    match step(aws, ctx, cluster, n).await {
        Drain::Waiting(note) => Ok(pending("drain", id, n + 1, note)),
        Drain::Drained(None) => delete().await,
        // Shown as the delete's progress before it goes on.
        Drain::Drained(Some(warning)) => Ok(undrained(format!("undrained:{id}:0"), warning)),
    }
}

/// One pass of the drain of `cluster`, the `n`th.
#[cfg(feature = "kubernetes")]
async fn step(aws: &Aws, ctx: &OpContext, cluster: &str, n: u32) -> Drain {
    let config = crate::kubernetes::eks::config(aws, &ctx.settings, cluster).await;
    crate::drain::step(config, cluster, n).await
}

/// Without the kubernetes provider there is no client to drain with: the census does it all.
#[cfg(not(feature = "kubernetes"))]
async fn step(_aws: &Aws, _ctx: &OpContext, _cluster: &str, _n: u32) -> Drain {
    Drain::Drained(None)
}
