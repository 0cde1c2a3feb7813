//! `aws.elb.load_balancer`: a classic load balancer the in-tree service controller made for a
//! `type: LoadBalancer` Service. Only ever found; its id is its name.

use super::prelude::*;
use crate::aws::client::classify;

pub struct ClassicLoadBalancer;

impl Kind for ClassicLoadBalancer {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.elb.load_balancer",
            "A classic load balancer Kubernetes made (found, never declared).",
        )
        .actions(&[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DeleteLoadBalancer",
        ])
        .pricing(Pricing::Hourly("aws.elb.load_balancer".into()))
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        let out = unless_missing(
            c.elb
                .describe_load_balancers()
                .load_balancer_names(id)
                .send()
                .await,
            "elasticloadbalancing:DescribeLoadBalancers",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.load_balancer_descriptions().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        // Deleting a classic load balancer that does not exist succeeds.
        c.elb
            .delete_load_balancer()
            .load_balancer_name(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, "elasticloadbalancing:DeleteLoadBalancer", c))
    }
}
