//! What Kubernetes made for an EKS cluster and no state records, found by the cluster's own
//! marks: load balancers, listeners and target groups tagged `kubernetes.io/cluster/<name>` or
//! `elbv2.k8s.aws/cluster=<name>` in the cluster's VPC, classic load balancers tagged for it,
//! security groups in the VPC tagged for it, network interfaces left `available` in its
//! subnets, and `available` volumes tagged `kubernetes.io/cluster/<name>=owned`. Nothing outside
//! the cluster's VPC, and nothing without the cluster's tag (but free interfaces in its own
//! subnets), is ever returned for deletion; volumes that only a PVC tag ties to a cluster are
//! returned to be reported.
//!
//! Order among them: listeners before their load balancer, load balancers before their target
//! groups and security groups, interfaces before the security groups they use. All but volumes
//! sit in the cluster's network, which the engine deletes after them.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use stackform_engine::base::value::Value;
use stackform_engine::provider::Recorded;
use stackform_engine::provider::{Disposition, Leftover, ProviderError};

use crate::aws::Clients;
use crate::aws::census::rank;
use crate::aws::client::{classify, pages};
use crate::aws::util::strings;

/// The cluster's Kubernetes tag: `kubernetes.io/cluster/<name>`.
fn cluster_tag(cluster: &str) -> String {
    format!("kubernetes.io/cluster/{cluster}")
}

/// Whether tags name the cluster, and by which tag.
fn tagged_for(cluster: &str, tags: &BTreeMap<String, String>) -> Option<String> {
    let k8s = cluster_tag(cluster);
    if tags.contains_key(&k8s) {
        return Some(format!("tag {k8s}"));
    }
    if tags.get("elbv2.k8s.aws/cluster").map(String::as_str) == Some(cluster) {
        return Some(format!("tag elbv2.k8s.aws/cluster={cluster}"));
    }
    None
}

fn leftover(type_name: &str, key: String, id: &str, found_by: String) -> Leftover {
    Leftover {
        key,
        type_name: type_name.to_owned(),
        physical_id: id.to_owned(),
        properties: BTreeMap::new(),
        found_by,
        before: Vec::new(),
        disposition: Disposition::Delete,
        in_network: true,
        rank: rank(type_name),
    }
}

/// Everything the cluster `resource` (its state record) left behind.
pub async fn find(c: &Clients, resource: Recorded<'_>) -> Result<Vec<Leftover>, ProviderError> {
    let cluster = resource.physical_id;
    let mut subnets = strings(resource.properties, "subnet_ids");
    if subnets.is_empty() {
        subnets = strings(resource.outputs, "subnets");
    }
    let vpc = vpc_of(c, cluster, resource, &subnets).await?;
    let mut out = Vec::new();
    let Some(vpc) = vpc else {
        // No network known: only volumes can be found (they are not in a VPC).
        out.extend(volumes(c, cluster, &[]).await?);
        return Ok(out);
    };
    let groups = security_groups(c, cluster, &vpc).await?;
    let group_key = |id: &str| format!("security_group/{id}");
    let (balancers, groups_used) = load_balancers(c, cluster, &vpc).await?;
    for mut l in balancers {
        for sg in groups_used.get(&l.physical_id).into_iter().flatten() {
            if groups.iter().any(|g| &g.physical_id == sg) {
                l.before.push(group_key(sg));
            }
        }
        out.push(l);
    }
    for mut l in classic_load_balancers(c, cluster, &vpc).await? {
        for g in &groups {
            l.before.push(g.key.clone());
        }
        out.push(l);
    }
    let zones = zones_of(c, &subnets).await?;
    for mut l in interfaces(c, &subnets).await? {
        for g in &groups {
            l.before.push(g.key.clone());
        }
        out.push(l);
    }
    out.extend(groups);
    out.extend(volumes(c, cluster, &zones).await?);
    Ok(out)
}

/// The cluster's VPC: from the cluster while it exists, else as recorded, else from its subnets.
async fn vpc_of(
    c: &Clients,
    cluster: &str,
    resource: Recorded<'_>,
    subnets: &[String],
) -> Result<Option<String>, ProviderError> {
    if let Ok(out) = c.eks.describe_cluster().name(cluster).send().await
        && let Some(vpc) = out
            .cluster()
            .and_then(|c| c.resources_vpc_config())
            .and_then(|v| v.vpc_id())
        && !vpc.is_empty()
    {
        return Ok(Some(vpc.to_owned()));
    }
    if let Some(Value::String(vpc)) = resource.outputs.get("vpc_id")
        && !vpc.is_empty()
    {
        return Ok(Some(vpc.clone()));
    }
    if subnets.is_empty() {
        return Ok(None);
    }
    let out = c
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(subnets.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(e, "ec2:DescribeSubnets", c))?;
    Ok(out
        .subnets()
        .first()
        .and_then(|s| s.vpc_id())
        .map(str::to_owned))
}

async fn zones_of(c: &Clients, subnets: &[String]) -> Result<Vec<String>, ProviderError> {
    if subnets.is_empty() {
        return Ok(Vec::new());
    }
    let out = c
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(subnets.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(e, "ec2:DescribeSubnets", c))?;
    Ok(out
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone().map(str::to_owned))
        .collect())
}

/// ELBv2 tags of `arns`, 20 at a time (the API's limit).
async fn elbv2_tags(
    c: &Clients,
    arns: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ProviderError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let tags = c
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeTags", c))?;
        for d in tags.tag_descriptions() {
            let map = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                .collect();
            out.insert(d.resource_arn().unwrap_or_default().to_owned(), map);
        }
    }
    Ok(out)
}

/// Load balancers tagged for the cluster in its VPC, their listeners and target groups; and
/// the security groups each load balancer uses.
async fn load_balancers(
    c: &Clients,
    cluster: &str,
    vpc: &str,
) -> Result<(Vec<Leftover>, BTreeMap<String, Vec<String>>), ProviderError> {
    let lbs: Vec<_> = pages(|marker| async move {
        let page = c
            .elbv2
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeLoadBalancers", c))?;
        Ok((
            page.load_balancers().to_vec(),
            page.next_marker().map(str::to_owned),
        ))
    })
    .await?
    .into_iter()
    .filter(|lb| lb.vpc_id() == Some(vpc))
    .collect();
    let arns: Vec<String> = lbs
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    let tags = elbv2_tags(c, &arns).await?;
    let mut out = Vec::new();
    let mut groups = BTreeMap::new();
    let mut mine = Vec::new();
    for lb in &lbs {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let Some(by) = tags.get(arn).and_then(|t| tagged_for(cluster, t)) else {
            continue;
        };
        let name = lb.load_balancer_name().unwrap_or(arn);
        let key = format!("load_balancer/{name}");
        let mut l = leftover("aws.elbv2.load_balancer", key.clone(), arn, by.clone());
        l.properties
            .insert("name".into(), Value::String(name.to_owned()));
        groups.insert(arn.to_owned(), lb.security_groups().to_vec());
        let listeners = c
            .elbv2
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeListeners", c))?;
        for li in listeners.listeners() {
            let la = li.listener_arn().unwrap_or_default();
            let port = li.port().unwrap_or_default();
            let mut listener = leftover(
                "aws.elbv2.listener",
                format!("listener/{name}:{port}"),
                la,
                format!("its load balancer's {by}"),
            );
            listener
                .properties
                .insert("port".into(), Value::Int(i64::from(port)));
            listener.before.push(key.clone());
            out.push(listener);
        }
        mine.push(l);
    }
    // Target groups: tagged for the cluster in its VPC; after the load balancers that use them.
    let tgs: Vec<_> = pages(|marker| async move {
        let page = c
            .elbv2
            .describe_target_groups()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeTargetGroups", c))?;
        Ok((
            page.target_groups().to_vec(),
            page.next_marker().map(str::to_owned),
        ))
    })
    .await?
    .into_iter()
    .filter(|tg| tg.vpc_id() == Some(vpc))
    .collect();
    let arns: Vec<String> = tgs
        .iter()
        .filter_map(|tg| tg.target_group_arn().map(str::to_owned))
        .collect();
    let tg_tags = elbv2_tags(c, &arns).await?;
    for tg in &tgs {
        let arn = tg.target_group_arn().unwrap_or_default();
        let Some(by) = tg_tags.get(arn).and_then(|t| tagged_for(cluster, t)) else {
            continue;
        };
        let name = tg.target_group_name().unwrap_or(arn);
        let key = format!("target_group/{name}");
        for lb in &mut mine {
            lb.before.push(key.clone());
        }
        let mut l = leftover("aws.elbv2.target_group", key, arn, by);
        l.properties
            .insert("name".into(), Value::String(name.to_owned()));
        out.push(l);
    }
    out.extend(mine);
    Ok((out, groups))
}

/// Classic load balancers tagged for the cluster in its VPC.
async fn classic_load_balancers(
    c: &Clients,
    cluster: &str,
    vpc: &str,
) -> Result<Vec<Leftover>, ProviderError> {
    let names: Vec<String> = pages(|marker| async move {
        let page = c
            .elb
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeLoadBalancers", c))?;
        let names = page
            .load_balancer_descriptions()
            .iter()
            .filter(|d| d.vpc_id() == Some(vpc))
            .filter_map(|d| d.load_balancer_name().map(str::to_owned))
            .collect();
        Ok((names, page.next_marker().map(str::to_owned)))
    })
    .await?;
    let mut out = Vec::new();
    for chunk in names.chunks(20) {
        let tags = c
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify(e, "elasticloadbalancing:DescribeTags", c))?;
        for d in tags.tag_descriptions() {
            let map: BTreeMap<String, String> = d
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().unwrap_or("").to_owned()))
                .collect();
            let name = d.load_balancer_name().unwrap_or_default();
            if let Some(by) = tagged_for(cluster, &map) {
                out.push(leftover(
                    "aws.elb.load_balancer",
                    format!("classic_load_balancer/{name}"),
                    name,
                    by,
                ));
            }
        }
    }
    Ok(out)
}

/// Security groups in the VPC tagged for the cluster (the controllers' own, the backend group),
/// never one stackform created (those are in the state) nor the VPC's default.
async fn security_groups(
    c: &Clients,
    cluster: &str,
    vpc: &str,
) -> Result<Vec<Leftover>, ProviderError> {
    let out = c
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(|e| classify(e, "ec2:DescribeSecurityGroups", c))?;
    let mut found = Vec::new();
    for sg in out.security_groups() {
        let tags: BTreeMap<String, String> = sg
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
            .collect();
        if sg.group_name() == Some("default")
            || tags.contains_key(stackform_engine::provider::TAG_STACK_ID)
        {
            continue;
        }
        if let Some(by) = tagged_for(cluster, &tags) {
            let id = sg.group_id().unwrap_or_default();
            found.push(leftover(
                "aws.ec2.security_group",
                format!("security_group/{id}"),
                id,
                by,
            ));
        }
    }
    Ok(found)
}

/// Network interfaces left `available` (attached to nothing) in the cluster's subnets.
async fn interfaces(c: &Clients, subnets: &[String]) -> Result<Vec<Leftover>, ProviderError> {
    if subnets.is_empty() {
        return Ok(Vec::new());
    }
    let out = c
        .ec2
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(subnets.to_vec()))
                .build(),
        )
        .filters(Filter::builder().name("status").values("available").build())
        .send()
        .await
        .map_err(|e| classify(e, "ec2:DescribeNetworkInterfaces", c))?;
    Ok(out
        .network_interfaces()
        .iter()
        .map(|eni| {
            let id = eni.network_interface_id().unwrap_or_default();
            let subnet = eni.subnet_id().unwrap_or_default();
            let mut l = leftover(
                "aws.ec2.network_interface",
                format!("network_interface/{id}"),
                id,
                format!("status available in the cluster's subnet {subnet}"),
            );
            l.properties
                .insert("subnet_id".into(), Value::String(subnet.to_owned()));
            l
        })
        .collect())
}

/// `available` volumes: tagged `kubernetes.io/cluster/<name>=owned` (data: deleted unless
/// retained), or in the cluster's zones with only a PVC or CSI tag (reported, never deleted).
async fn volumes(
    c: &Clients,
    cluster: &str,
    zones: &[String],
) -> Result<Vec<Leftover>, ProviderError> {
    let out = c
        .ec2
        .describe_volumes()
        .filters(Filter::builder().name("status").values("available").build())
        .send()
        .await
        .map_err(|e| classify(e, "ec2:DescribeVolumes", c))?;
    let owned_tag = cluster_tag(cluster);
    let mut found = Vec::new();
    for v in out.volumes() {
        let tags: BTreeMap<String, String> = v
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
            .collect();
        let id = v.volume_id().unwrap_or_default();
        let zone = v.availability_zone().unwrap_or_default();
        let disposition = if tags.get(&owned_tag).map(String::as_str) == Some("owned") {
            Disposition::Data
        } else if zones.iter().any(|z| z == zone)
            && !tags.keys().any(|k| k.starts_with("kubernetes.io/cluster/"))
            && (tags.contains_key("ebs.csi.aws.com/cluster")
                || tags.contains_key("kubernetes.io/created-for/pvc/name"))
        {
            Disposition::Report(format!(
                "it carries a Kubernetes volume tag but no `{owned_tag}=owned` tag, so nothing proves it is this cluster's; delete it by hand if it is"
            ))
        } else {
            continue;
        };
        let mut l = leftover(
            "aws.ec2.volume",
            format!("volume/{id}"),
            id,
            match &disposition {
                Disposition::Data => format!("tag {owned_tag}=owned"),
                _ => "a PVC tag".to_owned(),
            },
        );
        l.disposition = disposition;
        l.in_network = false;
        l.properties
            .insert("availability_zone".into(), Value::String(zone.to_owned()));
        if let Some(size) = v.size() {
            l.properties
                .insert("size_gib".into(), Value::Int(i64::from(size)));
        }
        found.push(l);
    }
    Ok(found)
}
