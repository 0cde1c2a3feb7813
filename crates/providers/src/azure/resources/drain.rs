//! An AKS cluster is drained through the Kubernetes API before it is deleted (`drain.rs` and
//! `kubernetes/drain.rs` say what and why). AKS deletes its node resource group with it, and
//! what the cloud provider made there (load balancer rules, public addresses, disks) goes with
//! the group; what it made elsewhere (a public address in another group named by the Service's
//! `service.beta.kubernetes.io/azure-pip-resource-group` annotation, a disk of a storage class
//! with its own `resourceGroup`) does not, and only a drain lets the controllers remove it
//! (https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/).
//!
//! Poll tokens: `drain|ID|N` (the `N`th pass), `undrained|ID` (the warning shown, on with the
//! delete), beside ARM's own JSON tokens.

use std::time::Duration;

use stackform_engine::provider::{OpContext, Outcome, Progress, ProviderError};

use crate::azure::client::Azure;
use crate::drain::{Drain, undrained};

/// What a drain token says: the cluster's id and the pass, or that the delete goes on.
pub enum Token<'t> {
    Pass(&'t str, u32),
    Undrained(&'t str),
}

pub fn parse(token: &str) -> Option<Token<'_>> {
    if let Some(id) = token.strip_prefix("undrained|") {
        return Some(Token::Undrained(id));
    }
    let rest = token.strip_prefix("drain|")?;
    let (id, n) = rest.rsplit_once('|')?;
    Some(Token::Pass(id, n.parse().ok()?))
}

/// The drain's `n`th pass for the delete of cluster `id`, then (drained, or given up on with
/// the warning shown first) `delete`.
pub async fn then_delete<F, Fut>(
    azure: &Azure,
    ctx: &OpContext,
    id: &str,
    n: u32,
    delete: F,
) -> Result<Outcome, ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ProviderError>>,
{
    match step(azure, ctx, id, n).await {
        Drain::Waiting(note) => {
            let ms = std::env::var("STACKFORM_AZURE_POLL_MS")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(2_000 + 1_000 * u64::from(n.min(28)));
            Ok(Progress::Pending {
                token: format!("drain|{id}|{}", n + 1),
                after: Duration::from_millis(ms),
                note,
            })
        }
        Drain::Drained(None) => delete().await,
        Drain::Drained(Some(warning)) => Ok(undrained(format!("undrained|{id}"), warning)),
    }
}

/// One pass of the drain of the cluster `id` (its ARM id), the `n`th.
#[cfg(feature = "kubernetes")]
async fn step(azure: &Azure, ctx: &OpContext, id: &str, n: u32) -> Drain {
    use crate::kubernetes::aks::{Named, config};
    let parts: Vec<&str> = id.split('/').collect();
    let (Some(subscription), Some(group), Some(name)) = (parts.get(2), parts.get(4), parts.last())
    else {
        return Drain::Drained(None);
    };
    let named = Named {
        resource_group: (*group).to_owned(),
        name: (*name).to_owned(),
        subscription: Some((*subscription).to_owned()),
    };
    let config = config(azure, &ctx.settings, &named).await;
    crate::drain::step(config, name, n).await
}

/// Without the kubernetes provider there is no client to drain with: the census does it all.
#[cfg(not(feature = "kubernetes"))]
async fn step(_azure: &Azure, _ctx: &OpContext, _id: &str, _n: u32) -> Drain {
    Drain::Drained(None)
}
