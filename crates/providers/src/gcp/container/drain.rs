//! A GKE cluster is drained through the Kubernetes API before its node pools and itself are
//! deleted (`drain.rs` and `kubernetes/drain.rs` say what and why). GKE's service controller
//! names what it makes for a `LoadBalancer` Service after the Service's UID (forwarding rule and
//! target pool `a` + the UID without dashes, firewall rule `k8s-fw-` + that), and describes it
//! with the Service's namespace and name, never the cluster's
//! (kubernetes/cloud-provider-gcp, `gce_loadbalancer_external.go`, `makeServiceDescription`): once
//! the cluster is gone nothing ties them to it, so only a drain while the cluster runs lets the
//! controller remove them.

use stackform_engine::provider::{OpContext, Outcome, ProviderError};

use crate::drain::{Drain, undrained};
use crate::gcp::client::{Gcp, operation};

/// The drain's `n`th pass for the delete of `id` (the cluster or one of its node pools), then
/// (drained, or given up on with the warning shown first) `delete`.
pub async fn then_delete<F, Fut>(
    gcp: &Gcp,
    ctx: &OpContext,
    id: &str,
    n: u32,
    delete: F,
) -> Result<Outcome, ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ProviderError>>,
{
    let cluster = id.split("/nodePools/").next().unwrap_or(id);
    match step(gcp, ctx, cluster, n).await {
        Drain::Waiting(note) => Ok(operation::pending("drain", id, n, "", note)),
        Drain::Drained(None) => delete().await,
        Drain::Drained(Some(warning)) => {
            Ok(undrained(operation::token("undrained", id, 0, ""), warning))
        }
    }
}

/// One pass of the drain of `cluster` (its full name), the `n`th.
#[cfg(feature = "kubernetes")]
async fn step(gcp: &Gcp, ctx: &OpContext, cluster: &str, n: u32) -> Drain {
    use crate::kubernetes::gke::{Named, config};
    let Some(named) = Named::from_path(cluster) else {
        return Drain::Drained(None);
    };
    let config = config(gcp, &ctx.settings, &named).await;
    crate::drain::step(config, &named.name, n).await
}

/// Without the kubernetes provider there is no client to drain with: the census does it all.
#[cfg(not(feature = "kubernetes"))]
async fn step(_gcp: &Gcp, _ctx: &OpContext, _cluster: &str, _n: u32) -> Drain {
    Drain::Drained(None)
}
