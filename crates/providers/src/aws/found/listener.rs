//! `aws.elbv2.listener`: a load balancer's listener, deleted before its load balancer.

use super::prelude::*;

pub struct Listener;

impl Kind for Listener {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.elbv2.listener",
            "A listener of a load balancer Kubernetes made (found, never declared).",
        )
        .actions(&[
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DeleteListener",
        ])
        .pricing(Pricing::Free)
        .property(PropertySchema::new(
            "port",
            PropType::Integer,
            "The port it listens on.",
        ))
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        let out = unless_missing(
            c.elbv2.describe_listeners().listener_arns(id).send().await,
            "elasticloadbalancing:DescribeListeners",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.listeners().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        gone_is_fine(
            c.elbv2.delete_listener().listener_arn(id).send().await,
            "elasticloadbalancing:DeleteListener",
            c,
        )
    }
}
