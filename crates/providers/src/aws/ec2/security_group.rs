//! `aws.ec2.security_group`: ingress rules for the cluster (all egress allowed).

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct SecurityGroup {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl SecurityGroup {
    pub fn new(aws: Arc<Aws>) -> SecurityGroup {
        let schema = ResourceSchema::new("aws.ec2.security_group", "A security group with ingress rules (all egress allowed).")
        .actions(&["ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"])
        .pricing(Pricing::Free)
            .property(PropertySchema::new("name", PropType::String, "The group's name, unique in its VPC.").required().force_new())
            .property(PropertySchema::new("description", PropType::String, "What the group is for.").default("managed by stackform").force_new())
            .property(PropertySchema::new("vpc_id", PropType::String, "The VPC.").required().force_new())
            .property(PropertySchema::new(
                "ingress",
                PropType::list_of(PropType::map_of(PropType::Any)),
                "Ingress rules: `{protocol: tcp, from_port: 443, to_port: 443, cidr: 10.0.0.0/16}`.",
            ).force_new())
            .property(PropertySchema::new("tags", PropType::map_of(PropType::String), "Tags besides stackform's own."));
        SecurityGroup { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: Option<&str>,
        ctx: &OpContext,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let mut req = c.ec2.describe_security_groups();
        req = match id {
            Some(id) => req.group_ids(id),
            None => req.set_filters(Some(ownership_filters(ctx))),
        };
        let Some(out) = unless_missing(req.send().await, "ec2:DescribeSecurityGroups", c)? else {
            return Ok(None);
        };
        Ok(out.security_groups().first().map(|sg| applied(sg, props)))
    }
}

fn applied(sg: &aws_sdk_ec2::types::SecurityGroup, props: &Props) -> Applied {
    done(
        sg.group_id().unwrap_or_default(),
        with_tags(props, tag_map(sg.tags())),
        Props::new(),
    )
}

fn permissions(props: &Props) -> Vec<IpPermission> {
    let Some(Value::List(rules)) = props.get("ingress") else {
        return Vec::new();
    };
    rules
        .iter()
        .filter_map(|r| match r {
            Value::Map(m) => Some(
                IpPermission::builder()
                    .ip_protocol(m.get("protocol").and_then(Value::as_str).unwrap_or("tcp"))
                    .set_from_port(m.get("from_port").and_then(Value::as_int).map(|p| p as i32))
                    .set_to_port(m.get("to_port").and_then(Value::as_int).map(|p| p as i32))
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip(m.get("cidr").and_then(Value::as_str).unwrap_or("0.0.0.0/0"))
                            .build(),
                    )
                    .build(),
            ),
            _ => None,
        })
        .collect()
}

#[async_trait::async_trait]
impl ResourceType for SecurityGroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_security_group()
            .group_name(required(props, "name")?)
            .description(
                string(props, "description").unwrap_or_else(|| "managed by stackform".into()),
            )
            .vpc_id(required(props, "vpc_id")?)
            .tag_specifications(spec(Ec2Type::SecurityGroup, ctx, props))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:CreateSecurityGroup", &c))?;
        let id = out.group_id().unwrap_or_default().to_owned();
        let rules = permissions(props);
        if !rules.is_empty() {
            already(
                c.ec2
                    .authorize_security_group_ingress()
                    .group_id(&id)
                    .set_ip_permissions(Some(rules))
                    .send()
                    .await,
                "ec2:AuthorizeSecurityGroupIngress",
                &c,
                &["InvalidPermission.Duplicate"],
            )?;
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
            describe_security_groups,
            "group-id",
            security_groups,
            group_id,
            "ec2:DescribeSecurityGroups",
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
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DescribeSecurityGroups", &c))?;
        let tags = current
            .security_groups()
            .first()
            .map(|v| tag_map(v.tags()))
            .unwrap_or_default();
        retag(&c, ctx, id, new, &tags).await?;
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
            c.ec2.delete_security_group().group_id(id).send().await,
            "ec2:DeleteSecurityGroup",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
