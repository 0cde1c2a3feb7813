//! `aws.ec2.subnet`: a subnet in one availability zone.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Subnet {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Subnet {
    pub fn new(aws: Arc<Aws>) -> Subnet {
        let schema = ResourceSchema::new("aws.ec2.subnet", "A subnet of a VPC.")
            .actions(&[
                "ec2:CreateSubnet",
                "ec2:DescribeSubnets",
                "ec2:ModifySubnetAttribute",
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:DeleteSubnet",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new("vpc_id", PropType::String, "The VPC.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "cidr_block",
                    PropType::String,
                    "The subnet's range inside the VPC's.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "availability_zone",
                    PropType::String,
                    "The zone, e.g. eu-central-1a.",
                )
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "public_ips",
                    PropType::Boolean,
                    "Give instances launched here a public IP.",
                )
                .default(false),
            )
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ))
            .output(OutputSchema::new(
                "zone",
                PropType::String,
                "The availability zone the subnet is in.",
            ));
        Subnet { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: Option<&str>,
        ctx: &OpContext,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let mut req = c.ec2.describe_subnets();
        req = match id {
            Some(id) => req.subnet_ids(id),
            None => req.set_filters(Some(ownership_filters(ctx))),
        };
        let Some(out) = unless_missing(req.send().await, "ec2:DescribeSubnets", c)? else {
            return Ok(None);
        };
        Ok(out.subnets().first().map(|subnet| applied(subnet, props)))
    }
}

fn applied(subnet: &aws_sdk_ec2::types::Subnet, props: &Props) -> Applied {
    let mut properties = with_tags(props, tag_map(subnet.tags()));
    properties.insert(
        "public_ips".into(),
        Value::Bool(subnet.map_public_ip_on_launch().unwrap_or(false)),
    );
    if let Some(az) = subnet.availability_zone()
        && props
            .get("availability_zone")
            .is_some_and(|v| !matches!(v, Value::Null))
    {
        properties.insert("availability_zone".into(), s(az));
    }
    done(
        subnet.subnet_id().unwrap_or_default(),
        properties,
        Props::from([(
            "zone".into(),
            s(subnet.availability_zone().unwrap_or_default()),
        )]),
    )
}

#[async_trait::async_trait]
impl ResourceType for Subnet {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_subnet()
            .vpc_id(required(props, "vpc_id")?)
            .cidr_block(required(props, "cidr_block")?)
            .set_availability_zone(string(props, "availability_zone"))
            .tag_specifications(spec(Ec2Type::Subnet, ctx, props))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:CreateSubnet", &c))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_owned();
        if boolean(props, "public_ips").unwrap_or(false) {
            c.ec2
                .modify_subnet_attribute()
                .subnet_id(&id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                .send()
                .await
                .map_err(|e| classify(e, "ec2:ModifySubnetAttribute", &c))?;
        }
        Ok(Progress::Done(
            self.describe(&c, Some(&id), ctx, props).await?,
        ))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, Some(id), ctx, props).await
    }

    fn reads_in_bulk(&self) -> bool {
        true
    }

    async fn read_many(
        &self,
        ctx: &OpContext,
        items: &[(String, Props)],
    ) -> Result<Vec<Option<Applied>>, ProviderError> {
        let c = &self.aws.clients(ctx).await?;
        read_by_filter!(
            c,
            items,
            describe_subnets,
            "subnet-id",
            subnets,
            subnet_id,
            "ec2:DescribeSubnets",
            applied
        )
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let current = c
            .ec2
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DescribeSubnets", &c))?;
        let tags = current
            .subnets()
            .first()
            .map(|v| tag_map(v.tags()))
            .unwrap_or_default();
        retag(&c, ctx, id, new, &tags).await?;
        c.ec2
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(
                AttributeBooleanValue::builder()
                    .value(boolean(new, "public_ips").unwrap_or(false))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, "ec2:ModifySubnetAttribute", &c))?;
        Ok(Progress::Done(self.describe(&c, Some(id), ctx, new).await?))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        deleted(
            c.ec2.delete_subnet().subnet_id(id).send().await,
            "ec2:DeleteSubnet",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
