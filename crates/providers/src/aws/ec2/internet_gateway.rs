//! `aws.ec2.internet_gateway`: the VPC's way out, attached on create and detached before delete.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct InternetGateway {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl InternetGateway {
    pub fn new(aws: Arc<Aws>) -> InternetGateway {
        let schema = ResourceSchema::new(
            "aws.ec2.internet_gateway",
            "An internet gateway attached to a VPC.",
        )
        .actions(&[
            "ec2:CreateInternetGateway",
            "ec2:DescribeInternetGateways",
            "ec2:AttachInternetGateway",
            "ec2:DetachInternetGateway",
            "ec2:CreateTags",
            "ec2:DeleteInternetGateway",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("vpc_id", PropType::String, "The VPC it is attached to.")
                .required()
                .force_new(),
        )
        .property(PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        ));
        InternetGateway { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: Option<&str>,
        ctx: &OpContext,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let mut req = c.ec2.describe_internet_gateways();
        req = match id {
            Some(id) => req.internet_gateway_ids(id),
            None => req.set_filters(Some(ownership_filters(ctx))),
        };
        let Some(out) = unless_missing(req.send().await, "ec2:DescribeInternetGateways", c)? else {
            return Ok(None);
        };
        let Some(igw) = out.internet_gateways().first() else {
            return Ok(None);
        };
        let mut properties = with_tags(props, tag_map(igw.tags()));
        if let Some(vpc) = igw.attachments().first().and_then(|a| a.vpc_id()) {
            properties.insert("vpc_id".into(), s(vpc));
        }
        Ok(Some(done(
            igw.internet_gateway_id().unwrap_or_default(),
            properties,
            Props::new(),
        )))
    }
}

#[async_trait::async_trait]
impl ResourceType for InternetGateway {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_internet_gateway()
            .tag_specifications(spec(Ec2Type::InternetGateway, ctx, props))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:CreateInternetGateway", &c))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned();
        already(
            c.ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(required(props, "vpc_id")?)
                .send()
                .await,
            "ec2:AttachInternetGateway",
            &c,
            &["Resource.AlreadyAssociated"],
        )?;
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
        let current = self.describe(&c, Some(id), ctx, new).await?;
        let tags = match current.as_ref().and_then(|a| a.properties.get("tags")) {
            Some(Value::Map(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        };
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
                .describe_internet_gateways()
                .internet_gateway_ids(id)
                .send()
                .await,
            "ec2:DescribeInternetGateways",
            &c,
        )?
        else {
            return Ok(Progress::Done(None));
        };
        for igw in out.internet_gateways() {
            for a in igw.attachments() {
                if let Some(vpc) = a.vpc_id() {
                    let detached = c
                        .ec2
                        .detach_internet_gateway()
                        .internet_gateway_id(id)
                        .vpc_id(vpc)
                        .send()
                        .await;
                    // Already detached (an earlier attempt whose answer was lost) is what we want.
                    if let Err(e) = detached {
                        let err = classify(e, "ec2:DetachInternetGateway", &c);
                        if !err.message.contains("Gateway.NotAttached")
                            && err.kind != ErrorKind::NotFound
                        {
                            return Err(err);
                        }
                    }
                }
            }
        }
        deleted(
            c.ec2
                .delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await,
            "ec2:DeleteInternetGateway",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
