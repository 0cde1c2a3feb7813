//! `aws.elbv2.target_group`: a target group, deleted once no listener forwards to it.

use super::prelude::*;

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
        let out = unless_missing(
            c.elbv2
                .describe_target_groups()
                .target_group_arns(id)
                .send()
                .await,
            "elasticloadbalancing:DescribeTargetGroups",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.target_groups().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        gone_is_fine(
            c.elbv2
                .delete_target_group()
                .target_group_arn(id)
                .send()
                .await,
            "elasticloadbalancing:DeleteTargetGroup",
            c,
        )
    }
}
