//! `aws.ec2.vpc`: the stack's network.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Vpc {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Vpc {
    pub fn new(aws: Arc<Aws>) -> Vpc {
        let schema = ResourceSchema::new("aws.ec2.vpc", "A VPC.")
            .actions(&[
                "ec2:CreateVpc",
                "ec2:DescribeVpcs",
                "ec2:ModifyVpcAttribute",
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:DeleteVpc",
            ])
            .pricing(Pricing::Free)
            .property(
                PropertySchema::new(
                    "cidr_block",
                    PropType::String,
                    "The VPC's IPv4 range, e.g. 10.0.0.0/16.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "dns_hostnames",
                    PropType::Boolean,
                    "Give instances DNS hostnames (EKS needs it).",
                )
                .default(true),
            )
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ));
        Vpc { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: Option<&str>,
        ctx: &OpContext,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let mut req = c.ec2.describe_vpcs();
        req = match id {
            Some(id) => req.vpc_ids(id),
            None => req.set_filters(Some(ownership_filters(ctx))),
        };
        let Some(out) = unless_missing(req.send().await, "ec2:DescribeVpcs", c)? else {
            return Ok(None);
        };
        Ok(out.vpcs().first().map(|vpc| applied(vpc, props)))
    }
}

fn applied(vpc: &aws_sdk_ec2::types::Vpc, props: &Props) -> Applied {
    let mut properties = with_tags(props, tag_map(vpc.tags()));
    properties.insert("cidr_block".into(), s(vpc.cidr_block().unwrap_or_default()));
    done(vpc.vpc_id().unwrap_or_default(), properties, Props::new())
}

#[async_trait::async_trait]
impl ResourceType for Vpc {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_vpc()
            .cidr_block(required(props, "cidr_block")?)
            .tag_specifications(spec(Ec2Type::Vpc, ctx, props))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:CreateVpc", &c))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_owned();
        let hostnames = boolean(props, "dns_hostnames").unwrap_or(true);
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(&id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(hostnames).build())
            .send()
            .await
            .map_err(|e| classify(e, "ec2:ModifyVpcAttribute", &c))?;
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
            describe_vpcs,
            "vpc-id",
            vpcs,
            vpc_id,
            "ec2:DescribeVpcs",
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
            .describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DescribeVpcs", &c))?;
        let tags = current
            .vpcs()
            .first()
            .map(|v| tag_map(v.tags()))
            .unwrap_or_default();
        retag(&c, ctx, id, new, &tags).await?;
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(
                AttributeBooleanValue::builder()
                    .value(boolean(new, "dns_hostnames").unwrap_or(true))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, "ec2:ModifyVpcAttribute", &c))?;
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
            c.ec2.delete_vpc().vpc_id(id).send().await,
            "ec2:DeleteVpc",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
