//! A cluster's drain before its delete, as every cloud's cluster types do it (what and why:
//! `kubernetes/drain.rs`): passes that delete what made cloud resources and wait for it to go,
//! bounded; a cluster that cannot be reached is not drained, with a warning, and the census
//! after the cluster finds what Kubernetes left.

use std::time::Duration;

#[cfg(feature = "kubernetes")]
use stackform_engine::provider::{ErrorKind, ProviderError};
use stackform_engine::provider::{Outcome, Progress};

/// Passes before a drain is given up on: about fifteen minutes at the polls' pace (30 s apart
/// after the first few), time for a cloud load balancer to go.
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
pub const MAX_PASSES: u32 = 32;

/// Where a drain stands.
pub enum Drain {
    /// Nothing left to wait for; with a warning when the cluster was not (fully) drained.
    Drained(Option<String>),
    /// Objects are still being deleted: ask again.
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
    Waiting(String),
}

/// One pass of the drain of `cluster` (the `n`th), reached with `config`.
#[cfg(feature = "kubernetes")]
pub async fn step(config: Result<kube::Config, ProviderError>, cluster: &str, n: u32) -> Drain {
    use crate::kubernetes::drain::{pass, unreachable};
    let config = match config {
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
        Ok(left) if left.deleting.is_empty() && left.held.is_empty() => Drain::Drained(None),
        Ok(left) if left.deleting.is_empty() => Drain::Drained(Some(format!(
            "cluster {cluster}: {} still used by pods ({}): their volumes go when the pods do, with the nodes; any that stay are the census's",
            left.held.len(),
            left.held.join(", ")
        ))),
        Ok(left) if n >= MAX_PASSES => Drain::Drained(Some(format!(
            "cluster {cluster}: still deleting {} after {n} checks ({}): what they made is left to the census after the cluster",
            left.deleting.len(),
            left.deleting.join(", ")
        ))),
        Ok(left) => Drain::Waiting(format!(
            "draining cluster {cluster}: waiting for {} to go ({}), so that their load balancers and volumes go with them",
            left.deleting.len(),
            left.deleting.join(", ")
        )),
        Err(e) => Drain::Drained(Some(unreachable(cluster, &e))),
    }
}

/// The answer that shows why a cluster was not drained, as the delete's progress (a warning
/// every output shows), then goes on with the delete through `token`.
pub fn undrained(token: String, warning: String) -> Outcome {
    Progress::Pending {
        token,
        after: Duration::ZERO,
        note: format!("warning: {warning}"),
    }
}
