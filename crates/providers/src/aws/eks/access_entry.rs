//! `aws.eks.access_entry`: lets an IAM principal (a team's role, a CI user) use an EKS cluster,
//! with an EKS access policy (cluster admin by default) associated to it.
//!
//! The cluster and principal name the entry, which makes them its recovery key; an entry found
//! there is adopted only if its tags name this stack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, ResourceType,
};

use crate::aws::client::{
    adopt_when, classify, client_token, deleted, gone_is_fine, unless_missing,
};
use crate::aws::util::{owned, required, s, string, strings, tags, with_tags};
use crate::aws::{Aws, Clients};

const CLUSTER_ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

pub struct AccessEntry {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

/// `<cluster>/<principal ARN>`: cluster names hold no `/`, so the first one splits them.
fn split(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

impl AccessEntry {
    pub fn new(aws: Arc<Aws>) -> AccessEntry {
        let schema = ResourceSchema::new(
            "aws.eks.access_entry",
            "Access to an EKS cluster for an IAM principal.",
        )
        .actions(&[
            "eks:CreateAccessEntry",
            "eks:DescribeAccessEntry",
            "eks:AssociateAccessPolicy",
            "eks:ListAssociatedAccessPolicies",
            "eks:DisassociateAccessPolicy",
            "eks:DeleteAccessEntry",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("cluster_name", PropType::String, "The cluster.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "principal_arn",
                PropType::String,
                "The IAM role or user ARN.",
            )
            .required()
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "policy_arn",
                PropType::String,
                "The EKS access policy (default: cluster admin).",
            )
            .default(CLUSTER_ADMIN),
        )
        .property(
            PropertySchema::new(
                "kubernetes_groups",
                PropType::list_of(PropType::String),
                "Kubernetes groups the principal joins.",
            )
            .force_new(),
        )
        .property(PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags besides stackform's own.",
        ))
        .output(OutputSchema::new(
            "arn",
            PropType::String,
            "The access entry's ARN.",
        ));
        AccessEntry { schema, aws }
    }

    async fn describe(
        &self,
        c: &Clients,
        id: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        let (cluster, principal) = split(id);
        let Some(out) = unless_missing(
            c.eks
                .describe_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .send()
                .await,
            "eks:DescribeAccessEntry",
            c,
        )?
        else {
            return Ok(None);
        };
        let Some(entry) = out.access_entry else {
            return Ok(None);
        };
        let all_tags: BTreeMap<String, String> = entry
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut properties = with_tags(props, all_tags.clone());
        let policies = c
            .eks
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
            .map_err(|e| classify(e, "eks:ListAssociatedAccessPolicies", c))?;
        if let Some(p) = policies
            .associated_access_policies()
            .first()
            .and_then(|p| p.policy_arn())
        {
            properties.insert("policy_arn".into(), s(p));
        } else {
            properties.insert("policy_arn".into(), Value::Null);
        }
        Ok(Some((
            Applied {
                physical_id: id.to_owned(),
                properties,
                outputs: Props::from([(
                    "arn".into(),
                    s(entry.access_entry_arn().unwrap_or_default()),
                )]),
            },
            all_tags,
        )))
    }

    async fn associate(
        &self,
        c: &Clients,
        cluster: &str,
        principal: &str,
        policy: &str,
    ) -> Result<(), ProviderError> {
        c.eks
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(policy)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, "eks:AssociateAccessPolicy", c))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for AccessEntry {
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
        let principal = required(props, "principal_arn")?;
        let tags: HashMap<String, String> = tags(ctx, props).into_iter().collect();
        let groups = strings(props, "kubernetes_groups");
        let created = c
            .once
            .eks
            .create_access_entry()
            .cluster_name(&cluster)
            .set_client_request_token(client_token(ctx))
            .principal_arn(&principal)
            .set_kubernetes_groups(Some(groups).filter(|g| !g.is_empty()))
            .set_tags(Some(tags))
            .send()
            .await;
        if let Err(e) = created {
            let err = classify(e, "eks:CreateAccessEntry", &c);
            let taken = err.message.contains("ResourceInUse");
            adopt_when(taken, err, self.find(ctx, props)).await?;
        }
        let policy = string(props, "policy_arn").unwrap_or_else(|| CLUSTER_ADMIN.into());
        self.associate(&c, &cluster, &principal, &policy).await?;
        let id = format!("{cluster}/{principal}");
        Ok(Progress::Done(
            self.describe(&c, &id, props).await?.map(|(a, _)| a),
        ))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        Ok(self.describe(&c, id, props).await?.map(|(a, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let (cluster, principal) = split(id);
        let (before, after) = (string(old, "policy_arn"), string(new, "policy_arn"));
        if before != after {
            if let Some(before) = before {
                gone_is_fine(
                    c.eks
                        .disassociate_access_policy()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .policy_arn(before)
                        .send()
                        .await,
                    "eks:DisassociateAccessPolicy",
                    &c,
                )?;
            }
            self.associate(
                &c,
                cluster,
                principal,
                &after.unwrap_or_else(|| CLUSTER_ADMIN.into()),
            )
            .await?;
        }
        if tags(ctx, old) != tags(ctx, new)
            && let Some((current, _)) = self.describe(&c, id, new).await?
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
        Ok(Progress::Done(
            self.describe(&c, id, new).await?.map(|(a, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let (cluster, principal) = split(id);
        deleted(
            c.eks
                .delete_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .send()
                .await,
            "eks:DeleteAccessEntry",
            &c,
        )
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let c = self.aws.clients(ctx).await?;
        let id = format!(
            "{}/{}",
            required(props, "cluster_name")?,
            required(props, "principal_arn")?
        );
        let Some((applied, tags)) = self.describe(&c, &id, props).await? else {
            return Ok(None);
        };
        Ok(owned(ctx, &tags).then_some(applied))
    }
}
