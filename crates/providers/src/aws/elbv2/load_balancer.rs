//! `aws.elbv2.load_balancer`: an ALB or NLB made for a Kubernetes Service or Ingress.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

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
        match c
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(id)
            .send()
            .await
        {
            Ok(out) => Ok(!out.load_balancers().is_empty()),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(classify(e, "elasticloadbalancing:DescribeLoadBalancers", c)),
        }
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        match c
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(classify(e, "elasticloadbalancing:DeleteLoadBalancer", c)),
        }
    }
}
