//! `aws.eks.nodegroup`: managed nodes, polled until ACTIVE or gone; scaling changes in place.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Nodegroup {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Nodegroup {
    pub fn new(aws: Arc<Aws>) -> Nodegroup {
        let schema = ResourceSchema::new("aws.eks.nodegroup", "A managed EKS node group.")
            .actions(&[
                "eks:CreateNodegroup",
                "eks:DescribeNodegroup",
                "eks:ListNodegroups",
                "eks:UpdateNodegroupConfig",
                "eks:TagResource",
                "eks:DeleteNodegroup",
                "iam:PassRole",
            ])
            .pricing(Pricing::PerInstance {
                prefix: "aws.ec2.instance/".into(),
                type_property: "instance_types".into(),
                count_property: "desired_size".into(),
            })
            .property(
                PropertySchema::new("cluster_name", PropType::String, "The cluster.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new("name", PropType::String, "The node group's name.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new("node_role_arn", PropType::String, "The nodes' IAM role.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "subnet_ids",
                    PropType::list_of(PropType::String),
                    "Where nodes run.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "instance_types",
                    PropType::list_of(PropType::String),
                    "EC2 instance types, e.g. [t3.medium].",
                )
                .force_new(),
            )
            .property(
                PropertySchema::new("desired_size", PropType::Integer, "Nodes to run.")
                    .default(2i64),
            )
            .property(
                PropertySchema::new("min_size", PropType::Integer, "Fewest nodes.").default(1i64),
            )
            .property(
                PropertySchema::new("max_size", PropType::Integer, "Most nodes.").default(3i64),
            )
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ))
            .output(OutputSchema::new(
                "arn",
                PropType::String,
                "The node group's ARN.",
            ))
            .output(OutputSchema::new(
                "status",
                PropType::String,
                "The node group's status.",
            ));
        Nodegroup { schema, aws }
    }

    fn id(cluster: &str, name: &str) -> String {
        format!("{cluster}/{name}")
    }

    async fn describe(
        &self,
        c: &Clients,
        id: &str,
        props: &Props,
    ) -> Result<Option<(Applied, NodegroupStatus, BTreeMap<String, String>)>, ProviderError> {
        let (cluster, name) = id.split_once('/').unwrap_or((id, ""));
        let Some(out) = unless_missing(
            c.eks
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await,
            "eks:DescribeNodegroup",
            c,
        )?
        else {
            return Ok(None);
        };
        let Some(ng) = out.nodegroup else {
            return Ok(None);
        };
        let all_tags: BTreeMap<String, String> = ng
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut properties = with_tags(props, all_tags.clone());
        if let Some(scaling) = ng.scaling_config() {
            for (k, v) in [
                ("desired_size", scaling.desired_size()),
                ("min_size", scaling.min_size()),
                ("max_size", scaling.max_size()),
            ] {
                if let Some(v) = v {
                    properties.insert(k.into(), Value::Int(v as i64));
                }
            }
        }
        let status = ng.status().cloned().unwrap_or(NodegroupStatus::Creating);
        Ok(Some((
            Applied {
                physical_id: id.to_owned(),
                properties,
                outputs: Props::from([
                    ("arn".into(), s(ng.nodegroup_arn().unwrap_or_default())),
                    ("status".into(), s(status.as_str())),
                ]),
            },
            status,
            all_tags,
        )))
    }

    fn scaling(props: &Props) -> NodegroupScalingConfig {
        NodegroupScalingConfig::builder()
            .desired_size(int(props, "desired_size").unwrap_or(2) as i32)
            .min_size(int(props, "min_size").unwrap_or(1) as i32)
            .max_size(int(props, "max_size").unwrap_or(3) as i32)
            .build()
    }
}

#[async_trait::async_trait]
impl ResourceType for Nodegroup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// A client request token recorded with the intent makes a repeated create harmless;
    /// the resource is still found again by its name and tags.
    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Token
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let cluster = required(props, "cluster_name")?;
        let name = required(props, "name")?;
        let tags: HashMap<String, String> = tags(ctx, props).into_iter().collect();
        let created = c
            .once
            .eks
            .create_nodegroup()
            .cluster_name(&cluster)
            .set_client_request_token(client_token(ctx))
            .nodegroup_name(&name)
            .node_role(required(props, "node_role_arn")?)
            .set_subnets(Some(strings(props, "subnet_ids")))
            .set_instance_types(Some(strings(props, "instance_types")).filter(|t| !t.is_empty()))
            .scaling_config(Self::scaling(props))
            .set_tags(Some(tags))
            .send()
            .await;
        if let Err(e) = created {
            let err = classify(e, "eks:CreateNodegroup", &c);
            if !err.message.contains("ResourceInUse") || self.find(ctx, props).await?.is_none() {
                return Err(err);
            }
        }
        self.poll(ctx, &format!("create:{}:0", Self::id(&cluster, &name)))
            .await
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let (op, id, n) = split(token);
        match op {
            "drain" => return self.drain_then_delete(ctx, id, n).await,
            // The drain's warning was shown: on with the delete.
            "undrained" => return self.delete_now(ctx, id).await,
            _ => {}
        }
        let c = self.aws.clients(ctx).await?;
        match (op, self.describe(&c, id, &Props::new()).await?) {
            ("delete", None) => Ok(Progress::Done(None)),
            ("delete", Some(_)) => Ok(pending(
                "delete",
                id,
                n + 1,
                "deleting the node group".into(),
            )),
            (_, Some((applied, NodegroupStatus::Active, _))) => Ok(Progress::Done(Some(applied))),
            (_, Some((_, NodegroupStatus::CreateFailed | NodegroupStatus::Degraded, _))) => {
                Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("EKS node group {id} failed; see its health issues in the EKS console"),
                ))
            }
            (_, Some((_, status, _))) => Ok(pending(
                op,
                id,
                n + 1,
                format!("node group is {}", status.as_str().to_lowercase()),
            )),
            (_, None) => Err(ProviderError::new(
                ErrorKind::Other,
                format!("EKS node group {id} vanished while {op}ing"),
            )),
        }
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        Ok(self.describe(&c, id, props).await?.map(|(a, _, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let (cluster, name) = id.split_once('/').unwrap_or((id, ""));
        c.eks
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .scaling_config(Self::scaling(new))
            .send()
            .await
            .map_err(|e| classify(e, "eks:UpdateNodegroupConfig", &c))?;
        // Tags only when they change: a needless call is one more way to fail.
        if tags(ctx, old) != tags(ctx, new)
            && let Some((current, _, _)) = self.describe(&c, id, new).await?
        {
            let arn = current
                .outputs
                .get("arn")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let tags: HashMap<String, String> = tags(ctx, new).into_iter().collect();
            c.eks
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify(e, "eks:TagResource", &c))?;
        }
        self.poll(ctx, &format!("update:{id}:0"))
            .await
            .map(|outcome| match outcome {
                Progress::Done(Some(mut a)) => {
                    a.properties = merge(new, a.properties);
                    Progress::Done(Some(a))
                }
                other => other,
            })
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        self.drain_then_delete(ctx, id, 0).await
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let id = Self::id(&required(props, "cluster_name")?, &required(props, "name")?);
        let Some((applied, _, tags)) = self.describe(&c, &id, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}

impl Nodegroup {
    /// The cluster's drain (its `n`th pass), then the node group's delete: the drain's
    /// controllers may run on these very nodes. Only when the cluster goes too: a node group
    /// replaced under a running cluster leaves its workloads alone.
    async fn drain_then_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        n: u32,
    ) -> Result<Outcome, ProviderError> {
        let cluster = id.split_once('/').map_or(id, |(c, _)| c);
        if !ctx.deleting.contains(cluster) {
            return self.delete_now(ctx, id).await;
        }
        super::drain::then_delete(&self.aws, ctx, cluster, id, n, || self.delete_now(ctx, id)).await
    }

    async fn delete_now(&self, ctx: &OpContext, id: &str) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let (cluster, name) = id.split_once('/').unwrap_or((id, ""));
        if unless_missing(
            c.eks
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await,
            "eks:DeleteNodegroup",
            &c,
        )?
        .is_none()
        {
            return Ok(Progress::Done(None));
        }
        self.poll(ctx, &format!("delete:{id}:0")).await
    }
}

/// The template's properties overlaid with what the cloud reported.
fn merge(template: &Props, reported: Props) -> Props {
    let mut out = template.clone();
    out.extend(reported);
    out
}
