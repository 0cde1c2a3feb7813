//! `aws.ec2.route_table`: the default route through the gateway and its subnet associations.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct RouteTable {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl RouteTable {
    pub fn new(aws: Arc<Aws>) -> RouteTable {
        let schema = ResourceSchema::new(
            "aws.ec2.route_table",
            "A route table with a default route and its subnet associations.",
        )
        .actions(&[
            "ec2:CreateRouteTable",
            "ec2:DescribeRouteTables",
            "ec2:CreateRoute",
            "ec2:AssociateRouteTable",
            "ec2:DisassociateRouteTable",
            "ec2:CreateTags",
            "ec2:DeleteRouteTable",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("vpc_id", PropType::String, "The VPC.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "gateway_id",
                PropType::String,
                "Where 0.0.0.0/0 goes (an internet gateway).",
            )
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "subnet_ids",
                PropType::list_of(PropType::String),
                "Subnets that use this table.",
            )
            .force_new(),
        )
        .property(PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        ));
        RouteTable { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: Option<&str>,
        ctx: &OpContext,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let mut req = c.ec2.describe_route_tables();
        req = match id {
            Some(id) => req.route_table_ids(id),
            None => req.set_filters(Some(ownership_filters(ctx))),
        };
        let Some(out) = unless_missing(req.send().await, "ec2:DescribeRouteTables", c)? else {
            return Ok(None);
        };
        let Some(rt) = out.route_tables().first() else {
            return Ok(None);
        };
        Ok(Some(done(
            rt.route_table_id().unwrap_or_default(),
            with_tags(props, tag_map(rt.tags())),
            Props::new(),
        )))
    }
}

#[async_trait::async_trait]
impl ResourceType for RouteTable {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// CreateRouteTable takes a client token: recorded with the intent, it makes a repeated
    /// create return the same table. The tags still find it again after a crash.
    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Token
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_route_table()
            .vpc_id(required(props, "vpc_id")?)
            .set_client_token(client_token(ctx))
            .tag_specifications(spec(Ec2Type::RouteTable, ctx, props))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:CreateRouteTable", &c))?;
        let id = out
            .route_table()
            .and_then(|r| r.route_table_id())
            .unwrap_or_default()
            .to_owned();
        if let Some(gw) = string(props, "gateway_id") {
            already(
                c.ec2
                    .create_route()
                    .route_table_id(&id)
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id(gw)
                    .send()
                    .await,
                "ec2:CreateRoute",
                &c,
                &["RouteAlreadyExists"],
            )?;
        }
        for subnet in strings(props, "subnet_ids") {
            already(
                c.ec2
                    .associate_route_table()
                    .route_table_id(&id)
                    .subnet_id(subnet)
                    .send()
                    .await,
                "ec2:AssociateRouteTable",
                &c,
                &["Resource.AlreadyAssociated"],
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
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DescribeRouteTables", &c))?;
        let tags = current
            .route_tables()
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
        let Some(out) = unless_missing(
            c.ec2
                .describe_route_tables()
                .route_table_ids(id)
                .send()
                .await,
            "ec2:DescribeRouteTables",
            &c,
        )?
        else {
            return Ok(Progress::Done(None));
        };
        for rt in out.route_tables() {
            for a in rt.associations().iter().filter(|a| a.main() != Some(true)) {
                if let Some(assoc) = a.route_table_association_id() {
                    gone_is_fine(
                        c.ec2
                            .disassociate_route_table()
                            .association_id(assoc)
                            .send()
                            .await,
                        "ec2:DisassociateRouteTable",
                        &c,
                    )?;
                }
            }
        }
        deleted(
            c.ec2.delete_route_table().route_table_id(id).send().await,
            "ec2:DeleteRouteTable",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
