//! `aws.ec2.volume`: an EBS volume in state `available` that a cluster's storage driver made
//! and tagged `kubernetes.io/cluster/<cluster>=owned`. Only ever found; it holds data, so
//! `destroy --retain-volumes` keeps it.

use super::prelude::*;

pub struct Volume;

impl Kind for Volume {
    fn schema() -> ResourceSchema {
        ResourceSchema::new(
            "aws.ec2.volume",
            "An EBS volume a cluster's storage driver left behind (found, never declared).",
        )
        .actions(&["ec2:DescribeVolumes", "ec2:DeleteVolume"])
        .pricing(Pricing::PerGibMonth {
            key: "aws.ec2.volume/gp3".into(),
            size_property: "size_gib".into(),
        })
        .property(PropertySchema::new(
            "availability_zone",
            PropType::String,
            "Where it is.",
        ))
        .property(PropertySchema::new(
            "size_gib",
            PropType::Integer,
            "Its size.",
        ))
        .stateful()
    }

    async fn exists(c: &Clients, id: &str) -> Result<bool, ProviderError> {
        let out = unless_missing(
            c.ec2.describe_volumes().volume_ids(id).send().await,
            "ec2:DescribeVolumes",
            c,
        )?;
        Ok(out.is_some_and(|out| !out.volumes().is_empty()))
    }

    async fn remove(c: &Clients, id: &str) -> Result<(), ProviderError> {
        gone_is_fine(
            c.ec2.delete_volume().volume_id(id).send().await,
            "ec2:DeleteVolume",
            c,
        )
    }
}
