//! The AWS stack's network: `aws.ec2.vpc`, `aws.ec2.subnet`, `aws.ec2.internet_gateway`,
//! `aws.ec2.route_table` and `aws.ec2.security_group`.
//!
//! None of these has a name AWS keeps unique, so the ownership tags, applied inside the create
//! call (TagSpecifications), are the recovery key: an interrupted create is found again by the
//! `stackform:stack-id` and `stackform:address` tags. Client tokens are not used: EC2 takes them
//! for instances and gateways but not VPCs, subnets or groups, and one rule is simpler.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType as Ec2Type, Tag,
    TagSpecification,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
    TAG_ADDRESS, TAG_STACK_ID,
};
use stackform_engine::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::value::Value;

use super::error::{classify, is_not_found};
use super::util::{boolean, required, s, string, tags, with_tags};
use super::{Aws, Clients};

fn spec(kind: Ec2Type, ctx: &OpContext, props: &Props) -> TagSpecification {
    let tags: Vec<Tag> = tags(ctx, props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

fn ownership_filters(ctx: &OpContext) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK_ID}"))
            .values(ctx.ownership.stack_id.to_string())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_ADDRESS}"))
            .values(ctx.ownership.address.clone())
            .build(),
    ]
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

async fn retag(
    c: &Clients,
    ctx: &OpContext,
    id: &str,
    props: &Props,
    current: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let wanted = tags(ctx, props);
    let stale: Vec<Tag> = current
        .keys()
        .filter(|k| !wanted.contains_key(*k) && !k.starts_with("aws:"))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !stale.is_empty() {
        c.ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(stale))
            .send()
            .await
            .map_err(|e| classify(e, "ec2:DeleteTags", c))?;
    }
    c.ec2
        .create_tags()
        .resources(id)
        .set_tags(Some(
            wanted
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| classify(e, "ec2:CreateTags", c))?;
    Ok(())
}

/// A step that an earlier attempt (whose answer was lost, then retried by the SDK) may already
/// have done: the "already there" codes in `done_codes` mean success.
fn already<T, E>(
    result: Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
    action: &str,
    c: &Clients,
    done_codes: &[&str],
) -> Result<(), ProviderError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = classify(e, action, c);
            if done_codes.iter().any(|code| err.message.contains(code)) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

fn done(id: &str, properties: Props, outputs: Props) -> Applied {
    Applied {
        physical_id: id.to_owned(),
        properties,
        outputs,
    }
}

// ----- VPC -----

pub struct Vpc {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Vpc {
    pub fn new(aws: Arc<Aws>) -> Vpc {
        let schema = ResourceSchema::new("aws.ec2.vpc", "A VPC.")
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
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify(e, "ec2:DescribeVpcs", c)),
        };
        let Some(vpc) = out.vpcs().first() else {
            return Ok(None);
        };
        let vpc_id = vpc.vpc_id().unwrap_or_default();
        let mut properties = with_tags(props, tag_map(vpc.tags()));
        properties.insert("cidr_block".into(), s(vpc.cidr_block().unwrap_or_default()));
        Ok(Some(done(vpc_id, properties, Props::new())))
    }
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
        match c.ec2.delete_vpc().vpc_id(id).send().await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if is_not_found(&e) => Ok(Progress::Done(None)),
            Err(e) => Err(classify(e, "ec2:DeleteVpc", &c)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}

// ----- Subnet -----

pub struct Subnet {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Subnet {
    pub fn new(aws: Arc<Aws>) -> Subnet {
        let schema = ResourceSchema::new("aws.ec2.subnet", "A subnet of a VPC.")
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
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify(e, "ec2:DescribeSubnets", c)),
        };
        let Some(subnet) = out.subnets().first() else {
            return Ok(None);
        };
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
        Ok(Some(done(
            subnet.subnet_id().unwrap_or_default(),
            properties,
            Props::from([(
                "zone".into(),
                s(subnet.availability_zone().unwrap_or_default()),
            )]),
        )))
    }
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
        match c.ec2.delete_subnet().subnet_id(id).send().await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if is_not_found(&e) => Ok(Progress::Done(None)),
            Err(e) => Err(classify(e, "ec2:DeleteSubnet", &c)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}

// ----- Internet gateway -----

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
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify(e, "ec2:DescribeInternetGateways", c)),
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
        let out = match c
            .ec2
            .describe_internet_gateways()
            .internet_gateway_ids(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(Progress::Done(None)),
            Err(e) => return Err(classify(e, "ec2:DescribeInternetGateways", &c)),
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
        match c
            .ec2
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if is_not_found(&e) => Ok(Progress::Done(None)),
            Err(e) => Err(classify(e, "ec2:DeleteInternetGateway", &c)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}

// ----- Route table -----

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
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify(e, "ec2:DescribeRouteTables", c)),
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

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let out = c
            .once
            .ec2
            .create_route_table()
            .vpc_id(required(props, "vpc_id")?)
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
        for subnet in super::util::strings(props, "subnet_ids") {
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
        let out = match c
            .ec2
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(Progress::Done(None)),
            Err(e) => return Err(classify(e, "ec2:DescribeRouteTables", &c)),
        };
        for rt in out.route_tables() {
            for a in rt.associations().iter().filter(|a| a.main() != Some(true)) {
                if let Some(assoc) = a.route_table_association_id() {
                    match c
                        .ec2
                        .disassociate_route_table()
                        .association_id(assoc)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(classify(e, "ec2:DisassociateRouteTable", &c)),
                    }
                }
            }
        }
        match c.ec2.delete_route_table().route_table_id(id).send().await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if is_not_found(&e) => Ok(Progress::Done(None)),
            Err(e) => Err(classify(e, "ec2:DeleteRouteTable", &c)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}

// ----- Security group -----

pub struct SecurityGroup {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl SecurityGroup {
    pub fn new(aws: Arc<Aws>) -> SecurityGroup {
        let schema = ResourceSchema::new("aws.ec2.security_group", "A security group with ingress rules (all egress allowed).")
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
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify(e, "ec2:DescribeSecurityGroups", c)),
        };
        let Some(sg) = out.security_groups().first() else {
            return Ok(None);
        };
        Ok(Some(done(
            sg.group_id().unwrap_or_default(),
            with_tags(props, tag_map(sg.tags())),
            Props::new(),
        )))
    }
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
        match c.ec2.delete_security_group().group_id(id).send().await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if is_not_found(&e) => Ok(Progress::Done(None)),
            Err(e) => Err(classify(e, "ec2:DeleteSecurityGroup", &c)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        self.describe(&c, None, ctx, props).await
    }
}
