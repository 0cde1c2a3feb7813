//! The AWS census: everything that carries a stack's ownership tags, for the check after a
//! destroy and for `sweep` when the state is lost.
//!
//! The Resource Groups Tagging API lists S3, EC2 and load balancers by tag in one region. It
//! misses ECR repositories, IAM roles, policies and OIDC providers (global) and EKS clusters and
//! node groups, which are listed through their own services. Every hit is confirmed with its
//! type's own read, since the tagging API can list a resource for a while after its deletion.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use stackform_engine::base::value::Value;
use stackform_engine::provider::{
    Found, Inventory, Marks, OpContext, Ownership, Props, ProviderError, RecoveryKey, ResourceType,
    TAG_ADDRESS, TAG_STACK, TAG_STACK_ID,
};

use super::client::{classify, pages};
use super::{Aws, Clients};

/// What the census calls a tagged resource of a kind stackform has no type for.
pub const UNMANAGED: &str = "aws.unmanaged";

/// Deletion order with no state to go by: lower first. The cluster's own objects go first, the
/// cluster, then what Kubernetes made in its network, then the network from routes to VPC.
pub fn rank(type_name: &str) -> u32 {
    match type_name {
        "aws.eks.access_entry" => 0,
        "aws.eks.nodegroup" => 1,
        "aws.eks.cluster" => 2,
        "aws.iam.role" | "aws.iam.openid_connect_provider" => 3,
        "aws.iam.policy" => 4,
        "aws.elbv2.listener" | "aws.ec2.volume" => 10,
        "aws.elbv2.load_balancer" | "aws.elb.load_balancer" => 11,
        "aws.elbv2.target_group" | "aws.ec2.network_interface" => 12,
        "aws.ec2.route_table" | "aws.ec2.internet_gateway" => 13,
        "aws.ec2.security_group" => 14,
        "aws.ec2.subnet" => 15,
        "aws.ec2.vpc" => 16,
        // Buckets and repositories depend on nothing.
        _ => 0,
    }
}

/// The type and id of a resource the tagging API lists, from its ARN.
fn from_arn(arn: &str) -> Option<(&'static str, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (service, resource) = (*parts.get(2)?, *parts.get(5)?);
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let typed = match (service, kind) {
        ("s3", _) => ("aws.s3.bucket", resource.to_owned()),
        ("ec2", "vpc") => ("aws.ec2.vpc", rest.to_owned()),
        ("ec2", "subnet") => ("aws.ec2.subnet", rest.to_owned()),
        ("ec2", "internet-gateway") => ("aws.ec2.internet_gateway", rest.to_owned()),
        ("ec2", "route-table") => ("aws.ec2.route_table", rest.to_owned()),
        ("ec2", "security-group") => ("aws.ec2.security_group", rest.to_owned()),
        ("ec2", "network-interface") => ("aws.ec2.network_interface", rest.to_owned()),
        ("ec2", "volume") => ("aws.ec2.volume", rest.to_owned()),
        ("elasticloadbalancing", "loadbalancer")
            if rest.starts_with("app/") || rest.starts_with("net/") =>
        {
            ("aws.elbv2.load_balancer", arn.to_owned())
        }
        ("elasticloadbalancing", "loadbalancer") => ("aws.elb.load_balancer", rest.to_owned()),
        ("elasticloadbalancing", "targetgroup") => ("aws.elbv2.target_group", arn.to_owned()),
        ("elasticloadbalancing", "listener") => ("aws.elbv2.listener", arn.to_owned()),
        _ => return None,
    };
    Some(typed)
}

pub struct Census {
    aws: Arc<Aws>,
    types: BTreeMap<String, Arc<dyn ResourceType>>,
}

impl Census {
    pub fn new(aws: Arc<Aws>, types: Vec<Arc<dyn ResourceType>>) -> Census {
        Census {
            aws,
            types: types
                .into_iter()
                .map(|t| (t.schema().type_name.clone(), t))
                .collect(),
        }
    }

    /// Confirms a candidate with its type's own read and makes it a [`Found`].
    async fn confirm(
        &self,
        settings: &Props,
        type_name: &str,
        id: &str,
        label: String,
        tags: BTreeMap<String, String>,
    ) -> Result<Option<Found>, ProviderError> {
        let Some(t) = self.types.get(type_name) else {
            return Ok(Some(Found {
                type_name: type_name.to_owned(),
                physical_id: id.to_owned(),
                label,
                tags,
                properties: Props::new(),
                outputs: Props::new(),
                rank: 0,
            }));
        };
        let ctx = OpContext {
            deleting: Default::default(),
            ownership: Ownership {
                stack: tags.get(TAG_STACK).cloned().unwrap_or_default(),
                stack_id: tags
                    .get(TAG_STACK_ID)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default(),
                address: tags.get(TAG_ADDRESS).cloned().unwrap_or_default(),
                suffix: String::new(),
                expires_at: None,
            },
            recovery: RecoveryKey::Tags,
            stack_dir: std::env::temp_dir(),
            settings: settings.clone(),
        };
        let Some(applied) = t.read(&ctx, id, &Props::new()).await? else {
            return Ok(None);
        };
        // Found with no state to say how to delete it: whatever it holds goes with it (the
        // plan warns before anything is deleted).
        let mut properties = applied.properties;
        match type_name {
            "aws.s3.bucket" => {
                properties.insert("force_destroy".into(), Value::Bool(true));
            }
            "aws.ecr.repository" => {
                properties.insert("force_delete".into(), Value::Bool(true));
            }
            _ => {}
        }
        Ok(Some(Found {
            type_name: type_name.to_owned(),
            physical_id: applied.physical_id,
            label,
            tags,
            properties,
            outputs: applied.outputs,
            rank: rank(type_name),
        }))
    }

    /// ARNs and tags the tagging API lists with the marks' tag.
    async fn tagged(
        &self,
        c: &Clients,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, ProviderError> {
        let filter = TagFilter::builder()
            .key(key)
            .set_values(value.map(|v| vec![v.to_owned()]))
            .build();
        pages(|token| {
            let filter = filter.clone();
            async move {
                let page = c
                    .tagging
                    .get_resources()
                    .tag_filters(filter)
                    .set_pagination_token(token)
                    .send()
                    .await
                    .map_err(|e| classify(e, "tag:GetResources", c))?;
                let items = page
                    .resource_tag_mapping_list()
                    .iter()
                    .map(|m| {
                        let tags = m
                            .tags()
                            .iter()
                            .map(|t| (t.key().to_owned(), t.value().to_owned()))
                            .collect();
                        (m.resource_arn().unwrap_or_default().to_owned(), tags)
                    })
                    .collect();
                Ok((items, page.pagination_token().map(str::to_owned)))
            }
        })
        .await
    }

    /// What the tagging API misses, listed through each service: (type, id, label, tags).
    async fn listed(
        &self,
        c: &Clients,
        wants: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Candidate>, ProviderError> {
        let mut out = Vec::new();
        if wants("aws.ecr.repository") {
            self.list_repositories(c, &mut out).await?;
        }
        if wants("aws.iam.role") {
            self.list_roles(c, &mut out).await?;
        }
        if wants("aws.iam.policy") {
            self.list_policies(c, &mut out).await?;
        }
        if wants("aws.iam.openid_connect_provider") {
            self.list_oidc_providers(c, &mut out).await?;
        }
        if wants("aws.eks.cluster") || wants("aws.eks.nodegroup") {
            self.list_clusters(c, &mut out).await?;
        }
        Ok(out)
    }

    async fn list_repositories(
        &self,
        c: &Clients,
        out: &mut Vec<Candidate>,
    ) -> Result<(), ProviderError> {
        let repos = pages(|token| async move {
            let page = c
                .ecr
                .describe_repositories()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(e, "ecr:DescribeRepositories", c))?;
            Ok((
                page.repositories().to_vec(),
                page.next_token().map(str::to_owned),
            ))
        })
        .await?;
        for r in &repos {
            let (Some(name), Some(arn)) = (r.repository_name(), r.repository_arn()) else {
                continue;
            };
            let tags = c
                .ecr
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| classify(e, "ecr:ListTagsForResource", c))?;
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            out.push(("aws.ecr.repository", name.to_owned(), arn.to_owned(), tags));
        }
        Ok(())
    }

    async fn list_roles(&self, c: &Clients, out: &mut Vec<Candidate>) -> Result<(), ProviderError> {
        let roles = pages(|marker| async move {
            let page = c
                .iam
                .list_roles()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListRoles", c))?;
            let next = page.is_truncated.then(|| page.marker().map(str::to_owned));
            Ok((page.roles().to_vec(), next.flatten()))
        })
        .await?;
        for r in &roles {
            let tags = c
                .iam
                .list_role_tags()
                .role_name(r.role_name())
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListRoleTags", c))?;
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            out.push((
                "aws.iam.role",
                r.role_name().to_owned(),
                r.arn().to_owned(),
                tags,
            ));
        }
        Ok(())
    }

    async fn list_policies(
        &self,
        c: &Clients,
        out: &mut Vec<Candidate>,
    ) -> Result<(), ProviderError> {
        let policies = pages(|marker| async move {
            let page = c
                .iam
                .list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListPolicies", c))?;
            let next = page.is_truncated.then(|| page.marker().map(str::to_owned));
            Ok((page.policies().to_vec(), next.flatten()))
        })
        .await?;
        for p in &policies {
            let Some(arn) = p.arn() else { continue };
            let tags = c
                .iam
                .list_policy_tags()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListPolicyTags", c))?;
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            out.push(("aws.iam.policy", arn.to_owned(), arn.to_owned(), tags));
        }
        Ok(())
    }

    async fn list_oidc_providers(
        &self,
        c: &Clients,
        out: &mut Vec<Candidate>,
    ) -> Result<(), ProviderError> {
        let providers = c
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| classify(e, "iam:ListOpenIDConnectProviders", c))?;
        for p in providers.open_id_connect_provider_list() {
            let Some(arn) = p.arn() else { continue };
            let tags = c
                .iam
                .list_open_id_connect_provider_tags()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .map_err(|e| classify(e, "iam:ListOpenIDConnectProviderTags", c))?;
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            out.push((
                "aws.iam.openid_connect_provider",
                arn.to_owned(),
                arn.to_owned(),
                tags,
            ));
        }
        Ok(())
    }

    async fn list_clusters(
        &self,
        c: &Clients,
        out: &mut Vec<Candidate>,
    ) -> Result<(), ProviderError> {
        let clusters = pages(|token| async move {
            let page = c
                .eks
                .list_clusters()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(e, "eks:ListClusters", c))?;
            Ok((
                page.clusters().to_vec(),
                page.next_token().map(str::to_owned),
            ))
        })
        .await?;
        for name in &clusters {
            let Ok(described) = c.eks.describe_cluster().name(name).send().await else {
                continue;
            };
            let Some(cluster) = described.cluster() else {
                continue;
            };
            let tags = cluster
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let arn = cluster.arn().unwrap_or(name).to_owned();
            out.push(("aws.eks.cluster", name.clone(), arn, tags));
            let groups = c
                .eks
                .list_nodegroups()
                .cluster_name(name)
                .send()
                .await
                .map_err(|e| classify(e, "eks:ListNodegroups", c))?;
            for g in groups.nodegroups() {
                let Ok(described) = c
                    .eks
                    .describe_nodegroup()
                    .cluster_name(name)
                    .nodegroup_name(g)
                    .send()
                    .await
                else {
                    continue;
                };
                let Some(ng) = described.nodegroup() else {
                    continue;
                };
                let tags = ng
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let arn = ng.nodegroup_arn().unwrap_or(g).to_owned();
                out.push(("aws.eks.nodegroup", format!("{name}/{g}"), arn, tags));
            }
        }
        Ok(())
    }
}

/// (type, id, label, tags) of a resource that may carry the marks.
type Candidate = (&'static str, String, String, BTreeMap<String, String>);

#[async_trait::async_trait]
impl Inventory for Census {
    async fn owned(
        &self,
        settings: &Props,
        marks: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        let c = self.aws.clients_for(settings).await?;
        let (key, value) = marks.tag();
        let mut candidates: Vec<Candidate> = Vec::new();
        for (arn, tags) in self.tagged(&c, key, value.as_deref()).await? {
            match from_arn(&arn) {
                Some((type_name, id)) => candidates.push((type_name, id, arn, tags)),
                // A kind stackform has no type for (made by hand with the stack's tags): it
                // cannot be deleted here, but a census must not call the stack gone.
                None => candidates.push((UNMANAGED, arn.clone(), arn, tags)),
            }
        }
        let wants = |t: &str| kinds.is_none_or(|k| k.contains(t));
        candidates.extend(
            self.listed(&c, &wants)
                .await?
                .into_iter()
                .filter(|(_, _, _, tags)| marks.matches(tags)),
        );
        let mut found = Vec::new();
        for (type_name, id, label, tags) in candidates {
            if found
                .iter()
                .any(|f: &Found| f.type_name == type_name && f.physical_id == id)
            {
                continue;
            }
            if let Some(f) = self.confirm(settings, type_name, &id, label, tags).await? {
                found.push(f);
            }
        }
        Ok(found)
    }
}
