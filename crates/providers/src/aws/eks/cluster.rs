//! `aws.eks.cluster`: the control plane, polled until ACTIVE or gone.

use super::prelude::*;
use stackform_engine::lang::schema::Pricing;

pub struct Cluster {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl Cluster {
    pub fn new(aws: Arc<Aws>) -> Cluster {
        let schema = ResourceSchema::new("aws.eks.cluster", "An EKS Kubernetes control plane.")
            .actions(&[
                "eks:CreateCluster",
                "eks:DescribeCluster",
                "eks:ListClusters",
                "eks:TagResource",
                "eks:UntagResource",
                "eks:UpdateClusterVersion",
                "eks:DeleteCluster",
                "iam:PassRole",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeTargetGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVolumes",
                "ec2:DescribeSubnets",
            ])
            .pricing(Pricing::Hourly("aws.eks.cluster".into()))
            .property(
                PropertySchema::new("name", PropType::String, "The cluster's name.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new("role_arn", PropType::String, "The cluster's IAM role.")
                    .required()
                    .force_new(),
            )
            .property(
                PropertySchema::new(
                    "subnet_ids",
                    PropType::list_of(PropType::String),
                    "Subnets in at least two zones.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "security_group_ids",
                    PropType::list_of(PropType::String),
                    "Extra security groups for the control plane.",
                )
                .force_new(),
            )
            .property(PropertySchema::new(
                "version",
                PropType::String,
                "Kubernetes version, e.g. 1.31.",
            ))
            .property(
                PropertySchema::new(
                    "endpoint_public_access",
                    PropType::Boolean,
                    "Reach the API from the internet.",
                )
                .default(true),
            )
            .property(
                PropertySchema::new(
                    "endpoint_private_access",
                    PropType::Boolean,
                    "Reach the API from inside the VPC.",
                )
                .default(true),
            )
            .property(PropertySchema::new(
                "tags",
                PropType::map_of(PropType::String),
                "Tags besides stackform's own.",
            ))
            .output(OutputSchema::new(
                "arn",
                PropType::String,
                "The cluster's ARN.",
            ))
            .output(OutputSchema::new(
                "endpoint",
                PropType::String,
                "The Kubernetes API endpoint.",
            ))
            .output(OutputSchema::new(
                "certificate_authority",
                PropType::String,
                "The API's CA certificate (base64).",
            ))
            .output(OutputSchema::new(
                "oidc_issuer",
                PropType::String,
                "The OIDC issuer URL for IAM roles for service accounts.",
            ))
            .output(OutputSchema::new(
                "status",
                PropType::String,
                "The cluster's status.",
            ))
            .output(OutputSchema::new(
                "vpc_id",
                PropType::String,
                "The VPC of the cluster's subnets, where its load balancers go.",
            ))
            .output(OutputSchema::new(
                "subnets",
                PropType::list_of(PropType::String),
                "The subnets the cluster reports (found again without a state, for its leftovers).",
            ));
        Cluster { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, ClusterStatus, BTreeMap<String, String>)>, ProviderError> {
        let Some(out) = unless_missing(
            c.eks.describe_cluster().name(name).send().await,
            "eks:DescribeCluster",
            c,
        )?
        else {
            return Ok(None);
        };
        let Some(cluster) = out.cluster else {
            return Ok(None);
        };
        let all_tags: BTreeMap<String, String> = cluster
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut properties = with_tags(props, all_tags.clone());
        if let Some(v) = cluster.version()
            && props
                .get("version")
                .is_some_and(|p| !matches!(p, Value::Null))
        {
            properties.insert("version".into(), s(v));
        }
        let status = cluster.status().cloned().unwrap_or(ClusterStatus::Creating);
        let outputs = Props::from([
            ("arn".into(), s(cluster.arn().unwrap_or_default())),
            ("endpoint".into(), s(cluster.endpoint().unwrap_or_default())),
            (
                "certificate_authority".into(),
                s(cluster
                    .certificate_authority()
                    .and_then(|c| c.data())
                    .unwrap_or_default()),
            ),
            (
                "oidc_issuer".into(),
                s(cluster
                    .identity()
                    .and_then(|i| i.oidc())
                    .and_then(|o| o.issuer())
                    .unwrap_or_default()),
            ),
            ("status".into(), s(status.as_str())),
            (
                "subnets".into(),
                Value::List(
                    cluster
                        .resources_vpc_config()
                        .map(|v| v.subnet_ids().iter().map(|id| s(id.as_str())).collect())
                        .unwrap_or_default(),
                ),
            ),
            (
                "vpc_id".into(),
                s(cluster
                    .resources_vpc_config()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()),
            ),
        ]);
        Ok(Some((
            Applied {
                physical_id: name.to_owned(),
                properties,
                outputs,
            },
            status,
            all_tags,
        )))
    }
}

#[async_trait::async_trait]
impl ResourceType for Cluster {
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
        let name = required(props, "name")?;
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(strings(props, "subnet_ids")))
            .set_security_group_ids(Some(strings(props, "security_group_ids")))
            .endpoint_public_access(boolean(props, "endpoint_public_access").unwrap_or(true))
            .endpoint_private_access(boolean(props, "endpoint_private_access").unwrap_or(true))
            .build();
        let tags: HashMap<String, String> = tags(ctx, props).into_iter().collect();
        let created = c
            .once
            .eks
            .create_cluster()
            .name(&name)
            .set_client_request_token(client_token(ctx))
            .role_arn(required(props, "role_arn")?)
            .resources_vpc_config(vpc)
            // Access entries (API) and the creator as admin: whoever deploys can use the cluster.
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(true)
                    .build(),
            )
            .set_version(string(props, "version"))
            .set_tags(Some(tags))
            .send()
            .await;
        if let Err(e) = created {
            let err = classify(e, "eks:CreateCluster", &c);
            // ResourceInUse: an earlier attempt went through; wait for it if it is ours.
            if !err.message.contains("ResourceInUse") || self.find(ctx, props).await?.is_none() {
                return Err(err);
            }
        }
        self.poll(ctx, &format!("create:{name}:0")).await
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let (op, name, n) = split(token);
        match op {
            "drain" => return self.drain_then_delete(ctx, name, n).await,
            // The drain's warning was shown: on with the delete.
            "undrained" => return self.delete_now(ctx, name).await,
            _ => {}
        }
        let c = self.aws.clients(ctx).await?;
        let found = self.describe(&c, name, &ctx_props(ctx)).await?;
        match (op, found) {
            ("delete", None) => Ok(Progress::Done(None)),
            ("delete", Some(_)) => Ok(pending(
                "delete",
                name,
                n + 1,
                "deleting the cluster".into(),
            )),
            (_, Some((applied, ClusterStatus::Active, _))) => Ok(Progress::Done(Some(applied))),
            (_, Some((_, ClusterStatus::Failed, _))) => Err(ProviderError::new(
                ErrorKind::Other,
                format!("EKS cluster {name} failed to create; see its events in the EKS console"),
            )),
            (_, Some((_, status, _))) => Ok(pending(
                op,
                name,
                n + 1,
                format!("cluster is {}", status.as_str().to_lowercase()),
            )),
            (_, None) => Err(ProviderError::new(
                ErrorKind::Other,
                format!("EKS cluster {name} vanished while {op}ing"),
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
        let Some((current, _, _)) = self.describe(&c, id, new).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("EKS cluster {id} does not exist"),
            ));
        };
        let arn = current
            .outputs
            .get("arn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if tags(ctx, old) != tags(ctx, new) {
            let tags: HashMap<String, String> = tags(ctx, new).into_iter().collect();
            c.eks
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify(e, "eks:TagResource", &c))?;
        }
        if string(old, "version") != string(new, "version")
            && let Some(version) = string(new, "version")
        {
            c.eks
                .update_cluster_version()
                .name(id)
                .version(version)
                .send()
                .await
                .map_err(|e| classify(e, "eks:UpdateClusterVersion", &c))?;
            return self.poll(ctx, &format!("update:{id}:0")).await;
        }
        Ok(Progress::Done(
            self.describe(&c, id, new).await?.map(|(a, _, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        self.drain_then_delete(ctx, id, 0).await
    }

    /// What Kubernetes made for this cluster: see `found/leftovers.rs`.
    async fn leftovers(
        &self,
        ctx: &OpContext,
        resource: stackform_engine::provider::Recorded<'_>,
    ) -> Result<Vec<stackform_engine::provider::Leftover>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        crate::aws::found::leftovers::find(&c, resource).await
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let name = required(props, "name")?;
        let Some((applied, _, tags)) = self.describe(&c, &name, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}

impl Cluster {
    /// The cluster's drain (its `n`th pass; a node group's delete did one before, and this
    /// finds what was made since or where there is no node group), then its delete.
    async fn drain_then_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        n: u32,
    ) -> Result<Outcome, ProviderError> {
        super::drain::then_delete(&self.aws, ctx, id, id, n, || self.delete_now(ctx, id)).await
    }

    async fn delete_now(&self, ctx: &OpContext, id: &str) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        if unless_missing(
            c.eks.delete_cluster().name(id).send().await,
            "eks:DeleteCluster",
            &c,
        )?
        .is_none()
        {
            return Ok(Progress::Done(None));
        }
        self.poll(ctx, &format!("delete:{id}:0")).await
    }
}

/// Polls know only the token; the properties that shape a description are not needed there.
fn ctx_props(_ctx: &OpContext) -> Props {
    Props::new()
}
