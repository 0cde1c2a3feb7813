//! A cluster is drained through the Kubernetes API before its node groups and itself are
//! deleted (`kubernetes/drain.rs` says what and why): the controllers that remove load
//! balancers and volumes run there, the AWS Load Balancer Controller on the nodes themselves.
//! A cluster that cannot be reached is not drained, with a warning: the census after the
//! cluster finds what Kubernetes left by its tags.

use super::prelude::*;

/// Passes before a drain is given up on: about fifteen minutes at the polls' pace (30 s
/// apart after the first few), time for a cloud load balancer to go.
const MAX_PASSES: u32 = 32;

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
        Drain::Drained(Some(warning)) => Ok(undrained(id, warning)),
    }
}

/// Where a drain stands.
enum Drain {
    /// Nothing left to wait for; with a warning when the cluster was not (fully) drained.
    Drained(Option<String>),
    /// Objects are still being deleted: ask again.
    Waiting(String),
}

/// One pass of the drain of `cluster`, the `n`th.
#[cfg(feature = "kubernetes")]
async fn step(aws: &Aws, ctx: &OpContext, cluster: &str, n: u32) -> Drain {
    use crate::kubernetes::drain::{pass, unreachable};
    let config = match crate::kubernetes::eks::config(aws, &ctx.settings, cluster).await {
        Ok(c) => c,
        // Already gone (deleted outside stackform): nothing runs in it any more.
        Err(e) if e.kind == ErrorKind::NotFound => return Drain::Drained(None),
        Err(e) => return Drain::Drained(Some(unreachable(cluster, &e))),
    };
    let client = match kube::Client::try_from(config) {
        Ok(c) => c,
        Err(e) => {
            let e = ProviderError::new(ErrorKind::Invalid, e.to_string());
            return Drain::Drained(Some(unreachable(cluster, &e)));
        }
    };
    match pass(&client).await {
        Ok(left) if left.is_empty() => Drain::Drained(None),
        Ok(left) if n >= MAX_PASSES => Drain::Drained(Some(format!(
            "cluster {cluster}: still deleting {} after {n} checks ({}): what they made is left to the census after the cluster",
            left.len(),
            left.join(", ")
        ))),
        Ok(left) => Drain::Waiting(format!(
            "draining cluster {cluster}: waiting for {} to go ({}), so that their load balancers and volumes go with them",
            left.len(),
            left.join(", ")
        )),
        Err(e) => Drain::Drained(Some(unreachable(cluster, &e))),
    }
}

/// Without the kubernetes provider there is no client to drain with: the census does it all.
#[cfg(not(feature = "kubernetes"))]
async fn step(_aws: &Aws, _ctx: &OpContext, _cluster: &str, _n: u32) -> Drain {
    Drain::Drained(None)
}

/// The answer that shows why a cluster was not drained, as the delete's progress (a warning
/// every output shows), then goes on with the delete (token `undrained:ID:0`).
fn undrained(id: &str, warning: String) -> Outcome {
    Progress::Pending {
        token: format!("undrained:{id}:0"),
        after: Duration::ZERO,
        note: format!("warning: {warning}"),
    }
}
