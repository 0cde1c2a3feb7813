//! `aws.elbv2.target_group`: a target group, deleted once no listener forwards to it.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct TargetGroup;

impl Kind for TargetGroup {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.elbv2.target_group",
            "A target group Kubernetes made (found, never declared).",
        )
        .actions(&[
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DeleteTargetGroup",
        ])
        .pricing(Pricing::Free)
        .property(PropertySchema::new("name", PropType::String, "Its name."))
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        match c
            .elbv2
            .describe_target_groups()
            .target_group_arns(id)
            .send()
            .await
        {
            Ok(out) => Ok(!out.target_groups().is_empty()),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(classify(e, "elasticloadbalancing:DescribeTargetGroups", c)),
        }
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        match c
            .elbv2
            .delete_target_group()
            .target_group_arn(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(classify(e, "elasticloadbalancing:DeleteTargetGroup", c)),
        }
    }
}
