//! `aws.ec2.network_interface`: an interface left `available` in the stack's subnets (the VPC
//! CNI's, a deleted load balancer's). Only ever found: it blocks deleting its subnet.

use super::prelude::*;

pub struct NetworkInterface;

impl Kind for NetworkInterface {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.ec2.network_interface",
            "A network interface left available in a stack's subnet (found, never declared).",
        )
        .actions(&[
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
        ])
        .pricing(Pricing::Free)
        .property(PropertySchema::new(
            "subnet_id",
            PropType::String,
            "The subnet it sits in.",
        ))
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        let out = unless_missing(
            c.ec2
                .describe_network_interfaces()
                .network_interface_ids(id)
                .send()
                .await,
            "ec2:DescribeNetworkInterfaces",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.network_interfaces().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        gone_is_fine(
            c.ec2
                .delete_network_interface()
                .network_interface_id(id)
                .send()
                .await,
            "ec2:DeleteNetworkInterface",
            c,
        )
    }
}
