//! `aws.elbv2.listener`: a load balancer's listener, deleted before its load balancer.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

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
        match c.elbv2.describe_listeners().listener_arns(id).send().await {
            Ok(out) => Ok(!out.listeners().is_empty()),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(classify(e, "elasticloadbalancing:DescribeListeners", c)),
        }
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        match c.elbv2.delete_listener().listener_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(classify(e, "elasticloadbalancing:DeleteListener", c)),
        }
    }
}
