//! `aws.elbv2.load_balancer`: an ALB or NLB made for a Kubernetes Service or Ingress.

use super::prelude::*;

pub struct LoadBalancer;

impl Kind for LoadBalancer {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.elbv2.load_balancer",
            "An application or network load balancer Kubernetes made (found, never declared).",
        )
        .actions(&[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DeleteLoadBalancer",
        ])
        .pricing(Pricing::Hourly("aws.elbv2.load_balancer".into()))
        .property(PropertySchema::new("name", PropType::String, "Its name."))
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        let out = unless_missing(
            c.elbv2
                .describe_load_balancers()
                .load_balancer_arns(id)
                .send()
                .await,
            "elasticloadbalancing:DescribeLoadBalancers",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.load_balancers().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        gone_is_fine(
            c.elbv2
                .delete_load_balancer()
                .load_balancer_arn(id)
                .send()
                .await,
            "elasticloadbalancing:DeleteLoadBalancer",
            c,
        )
    }
}
