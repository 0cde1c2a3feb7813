//! What Kubernetes made in Compute Engine for a GKE cluster and no state records, and the
//! found-only types that delete it.
//!
//! GKE's controllers name what they make after the cluster or describe it with the cluster's
//! name (`k8s-fw-...` firewall rules, `gke-CLUSTER-...` rules, `k8s1-...` network endpoint
//! groups whose description names the cluster, PVC disks labelled `goog-k8s-cluster-name`).
//! A resource is returned for deletion only if the cluster's name is in its name, its
//! description or one of its label values; nothing else is ever touched. Looked for in the
//! cluster's project: forwarding rules and target pools in its region, backend services and
//! firewall rules (global), network endpoint groups and disks in every zone.
//!
//! Order: forwarding rules before the target pools and backend services they point at, backend
//! services before the network endpoint groups they use. Disks are data: deleted unless destroy
//! keeps volumes. Deleting is a Compute operation, polled by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use stackform_engine::lang::schema::{Pricing, ResourceSchema};
use stackform_engine::provider::{
    Applied, Disposition, ErrorKind, Leftover, OpContext, Outcome, Progress, Props, ProviderError,
    ResourceType,
};

use super::api::{self, Apis, Compute, classify};
use super::reach::Gcp;

/// One Compute collection GKE leaves things in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ForwardingRule,
    TargetPool,
    BackendService,
    Firewall,
    Neg,
    Disk,
}

pub const KINDS: [Kind; 6] = [
    Kind::ForwardingRule,
    Kind::TargetPool,
    Kind::BackendService,
    Kind::Firewall,
    Kind::Neg,
    Kind::Disk,
];

impl Kind {
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::ForwardingRule => "gcp.compute.forwarding_rule",
            Kind::TargetPool => "gcp.compute.target_pool",
            Kind::BackendService => "gcp.compute.backend_service",
            Kind::Firewall => "gcp.compute.firewall",
            Kind::Neg => "gcp.compute.network_endpoint_group",
            Kind::Disk => "gcp.compute.disk",
        }
    }

    /// The REST collection's name in a resource path.
    fn collection(self) -> &'static str {
        match self {
            Kind::ForwardingRule => "forwardingRules",
            Kind::TargetPool => "targetPools",
            Kind::BackendService => "backendServices",
            Kind::Firewall => "firewalls",
            Kind::Neg => "networkEndpointGroups",
            Kind::Disk => "disks",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::ForwardingRule => {
                "A load balancer's forwarding rule that GKE made for a Service."
            }
            Kind::TargetPool => "A network load balancer's target pool that GKE made.",
            Kind::BackendService => {
                "A load balancer's backend service that GKE made for an Ingress."
            }
            Kind::Firewall => {
                "A firewall rule that GKE made for a load balancer or its health checks."
            }
            Kind::Neg => {
                "A network endpoint group that GKE made for container-native load balancing."
            }
            Kind::Disk => "A persistent disk that GKE made for a PersistentVolumeClaim.",
        }
    }

    /// Place in deletion order when there is no state to go by.
    fn rank(self) -> u32 {
        match self {
            Kind::ForwardingRule | Kind::Disk => 10,
            Kind::TargetPool | Kind::BackendService => 11,
            Kind::Neg | Kind::Firewall => 12,
        }
    }
}

/// `projects/P/{regions/R|zones/Z|global}/COLLECTION/NAME` in its parts.
struct Path<'a> {
    project: &'a str,
    scope: Scope<'a>,
    name: &'a str,
}

enum Scope<'a> {
    Region(&'a str),
    Zone(&'a str),
    Global,
}

fn parse(id: &str) -> Result<Path<'_>, ProviderError> {
    let bad = || {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("`{id}` is not a Compute resource path (projects/P/regions/R/COLLECTION/NAME)"),
        )
    };
    let parts: Vec<&str> = id.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "regions", r, _, n] => Ok(Path {
            project: p,
            scope: Scope::Region(r),
            name: n,
        }),
        ["projects", p, "zones", z, _, n] => Ok(Path {
            project: p,
            scope: Scope::Zone(z),
            name: n,
        }),
        ["projects", p, "global", _, n] => Ok(Path {
            project: p,
            scope: Scope::Global,
            name: n,
        }),
        _ => Err(bad()),
    }
}

/// The path part of a self link (`https://www.googleapis.com/compute/v1/projects/...`).
fn path_of(self_link: &str) -> String {
    match self_link.find("/projects/") {
        Some(i) => self_link[i + 1..].to_owned(),
        None => self_link.to_owned(),
    }
}

/// The region of a location: a region as it is, a zone (`europe-west1-b`) without its letter.
pub fn region_of(location: &str) -> &str {
    let parts: Vec<&str> = location.split('-').collect();
    if parts.len() == 3 && parts[2].len() == 1 {
        return &location[..location.len() - 2];
    }
    location
}

/// Items as JSON (one shape for every kind), each with its scope (`regions/R`, `zones/Z`,
/// `global`; aggregated lists key their items by it).
fn scoped<T: serde::Serialize>(
    scope: &str,
    items: impl IntoIterator<Item = T>,
) -> Vec<(String, Json)> {
    items
        .into_iter()
        .filter_map(|i| Some((scope.to_owned(), serde_json::to_value(i).ok()?)))
        .collect()
}

/// Every resource of a kind in the project (and region), as its path and its JSON.
async fn list(
    c: &Compute,
    kind: Kind,
    project: &str,
    region: &str,
) -> Result<Vec<(String, Json)>, ProviderError> {
    let what = format!("compute.{}.list {project}", kind.collection());
    let err = |e| classify(e, &what);
    let regional = format!("regions/{region}");
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let t = token.clone().unwrap_or_default();
        let (items, next) = match kind {
            Kind::ForwardingRule => {
                let l = c
                    .forwarding_rules
                    .list()
                    .set_project(project)
                    .set_region(region)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                (scoped(&regional, l.items), l.next_page_token)
            }
            Kind::TargetPool => {
                let l = c
                    .target_pools
                    .list()
                    .set_project(project)
                    .set_region(region)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                (scoped(&regional, l.items), l.next_page_token)
            }
            Kind::BackendService => {
                let l = c
                    .backend_services
                    .list()
                    .set_project(project)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                (scoped("global", l.items), l.next_page_token)
            }
            Kind::Firewall => {
                let l = c
                    .firewalls
                    .list()
                    .set_project(project)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                (scoped("global", l.items), l.next_page_token)
            }
            Kind::Neg => {
                let l = c
                    .negs
                    .aggregated_list()
                    .set_project(project)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                let items = l
                    .items
                    .into_iter()
                    .flat_map(|(scope, s)| scoped(&scope, s.network_endpoint_groups))
                    .collect();
                (items, l.next_page_token)
            }
            Kind::Disk => {
                let l = c
                    .disks
                    .aggregated_list()
                    .set_project(project)
                    .set_page_token(t)
                    .send()
                    .await
                    .map_err(err)?;
                let items = l
                    .items
                    .into_iter()
                    .flat_map(|(scope, s)| scoped(&scope, s.disks))
                    .collect();
                (items, l.next_page_token)
            }
        };
        let collection = kind.collection();
        out.extend(items.into_iter().map(|(scope, item): (String, Json)| {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            (
                format!("projects/{project}/{scope}/{collection}/{name}"),
                item,
            )
        }));
        match next {
            Some(n) if !n.is_empty() => token = Some(n),
            _ => return Ok(out),
        }
    }
}

/// How the cluster's name marks an item, if it does.
fn marked(cluster: &str, item: &Json) -> Option<String> {
    if item["name"].as_str().is_some_and(|n| n.contains(cluster)) {
        return Some(format!("the cluster's name {cluster} in its name"));
    }
    if item["description"]
        .as_str()
        .is_some_and(|d| d.contains(cluster))
    {
        return Some(format!("the cluster's name {cluster} in its description"));
    }
    item["labels"].as_object().and_then(|labels| {
        labels
            .iter()
            .find(|(_, v)| v.as_str() == Some(cluster))
            .map(|(k, _)| format!("label {k}={cluster}"))
    })
}

/// Everything the cluster `cluster_id` (`projects/P/locations/L/clusters/NAME`) left behind.
pub async fn find(apis: &Apis, cluster_id: &str) -> Result<Vec<Leftover>, ProviderError> {
    let parts: Vec<&str> = cluster_id.split('/').collect();
    let [_, project, _, location, _, cluster] = parts.as_slice() else {
        return Ok(Vec::new());
    };
    let region = region_of(location);
    let c = apis.compute().await?;
    let mut found: Vec<(Kind, String, Json, String)> = Vec::new();
    for kind in KINDS {
        for (path, item) in list(c, kind, project, region).await? {
            // A disk still attached to something is in use, whatever its name says.
            if kind == Kind::Disk && item["users"].as_array().is_some_and(|u| !u.is_empty()) {
                continue;
            }
            if let Some(how) = marked(cluster, &item) {
                found.push((kind, path, item, how));
            }
        }
    }
    let mut out: Vec<Leftover> = found
        .iter()
        .map(|(kind, path, _, how)| Leftover {
            key: path.clone(),
            type_name: kind.type_name().to_owned(),
            physical_id: path.clone(),
            properties: Props::new(),
            found_by: how.clone(),
            before: Vec::new(),
            in_network: *kind != Kind::Disk,
            rank: kind.rank(),
            disposition: if *kind == Kind::Disk {
                Disposition::Data
            } else {
                Disposition::Delete
            },
        })
        .collect();
    // What points at what: a rule at its target pool or backend service, a backend service at
    // its network endpoint groups.
    let names: BTreeMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, l)| (l.physical_id.clone(), i))
        .collect();
    for (i, (kind, _, item, _)) in found.iter().enumerate() {
        let mut targets: Vec<String> = Vec::new();
        match kind {
            Kind::ForwardingRule => {
                for field in ["target", "backendService"] {
                    if let Some(t) = item[field].as_str() {
                        targets.push(path_of(t));
                    }
                }
            }
            Kind::BackendService => {
                for b in item["backends"].as_array().into_iter().flatten() {
                    if let Some(g) = b["group"].as_str() {
                        targets.push(path_of(g));
                    }
                }
            }
            _ => {}
        }
        for t in targets {
            if let Some(&j) = names.get(&t) {
                let k = out[j].key.clone();
                out[i].before.push(k);
            }
        }
    }
    Ok(out)
}

/// A found-only Compute type: never declared in a template, read and deleted by its path.
pub struct Found {
    kind: Kind,
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl Found {
    pub fn new(kind: Kind, gcp: Arc<Gcp>) -> Found {
        let mut schema = ResourceSchema::new(kind.type_name(), kind.describe())
            .actions(&[])
            .found_only();
        schema = if kind == Kind::Disk {
            schema.pricing(Pricing::Usage("disk size per month".into()))
        } else {
            schema.pricing(Pricing::Usage(
                "load balancing rules per hour and data processed".into(),
            ))
        };
        Found { kind, schema, gcp }
    }

    fn never(&self) -> ProviderError {
        ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} is never created by stackform: it is found by its cluster's name and deleted",
                self.kind.type_name()
            ),
        )
    }

    async fn exists(&self, apis: &Apis, id: &str) -> Result<bool, ProviderError> {
        let p = parse(id)?;
        let c = apis.compute().await?;
        let what = format!("compute.{}.get {id}", self.kind.collection());
        let got = match (self.kind, &p.scope) {
            (Kind::ForwardingRule, Scope::Region(r)) => c
                .forwarding_rules
                .get()
                .set_project(p.project)
                .set_region(*r)
                .set_forwarding_rule(p.name)
                .send()
                .await
                .map(|_| ()),
            (Kind::TargetPool, Scope::Region(r)) => c
                .target_pools
                .get()
                .set_project(p.project)
                .set_region(*r)
                .set_target_pool(p.name)
                .send()
                .await
                .map(|_| ()),
            (Kind::BackendService, Scope::Global) => c
                .backend_services
                .get()
                .set_project(p.project)
                .set_backend_service(p.name)
                .send()
                .await
                .map(|_| ()),
            (Kind::Firewall, Scope::Global) => c
                .firewalls
                .get()
                .set_project(p.project)
                .set_firewall(p.name)
                .send()
                .await
                .map(|_| ()),
            (Kind::Neg, Scope::Zone(z)) => c
                .negs
                .get()
                .set_project(p.project)
                .set_zone(*z)
                .set_network_endpoint_group(p.name)
                .send()
                .await
                .map(|_| ()),
            (Kind::Disk, Scope::Zone(z)) => c
                .disks
                .get()
                .set_project(p.project)
                .set_zone(*z)
                .set_disk(p.name)
                .send()
                .await
                .map(|_| ()),
            _ => {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("`{id}` is not where a {} lives", self.kind.type_name()),
                ));
            }
        };
        match got {
            Ok(()) => Ok(true),
            Err(e) => {
                let err = classify(e, &what);
                if err.kind == ErrorKind::NotFound {
                    return Ok(false);
                }
                Err(err)
            }
        }
    }

    /// Starts the delete; the operation's name, or `None` if it was gone already.
    async fn remove(&self, apis: &Apis, id: &str) -> Result<Option<String>, ProviderError> {
        let p = parse(id)?;
        let c = apis.compute().await?;
        let what = format!("compute.{}.delete {id}", self.kind.collection());
        let sent = match (self.kind, &p.scope) {
            (Kind::ForwardingRule, Scope::Region(r)) => {
                c.forwarding_rules
                    .delete()
                    .set_project(p.project)
                    .set_region(*r)
                    .set_forwarding_rule(p.name)
                    .send()
                    .await
            }
            (Kind::TargetPool, Scope::Region(r)) => {
                c.target_pools
                    .delete()
                    .set_project(p.project)
                    .set_region(*r)
                    .set_target_pool(p.name)
                    .send()
                    .await
            }
            (Kind::BackendService, Scope::Global) => {
                c.backend_services
                    .delete()
                    .set_project(p.project)
                    .set_backend_service(p.name)
                    .send()
                    .await
            }
            (Kind::Firewall, Scope::Global) => {
                c.firewalls
                    .delete()
                    .set_project(p.project)
                    .set_firewall(p.name)
                    .send()
                    .await
            }
            (Kind::Neg, Scope::Zone(z)) => {
                c.negs
                    .delete()
                    .set_project(p.project)
                    .set_zone(*z)
                    .set_network_endpoint_group(p.name)
                    .send()
                    .await
            }
            (Kind::Disk, Scope::Zone(z)) => {
                c.disks
                    .delete()
                    .set_project(p.project)
                    .set_zone(*z)
                    .set_disk(p.name)
                    .send()
                    .await
            }
            _ => {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("`{id}` is not where a {} lives", self.kind.type_name()),
                ));
            }
        };
        match sent {
            Ok(o) => Ok(Some(o.name.unwrap_or_default())),
            Err(e) => {
                let err = classify(e, &what);
                if err.kind == ErrorKind::NotFound {
                    return Ok(None);
                }
                // In use by something not deleted yet (its forwarding rule): wait for it.
                if err.message.contains("resourceInUseByAnotherResource")
                    || err.message.contains("already being used")
                {
                    return Err(ProviderError::new(ErrorKind::Retryable, err.message));
                }
                Err(err)
            }
        }
    }

    /// Whether a delete operation is done (an error in it is the delete's error).
    async fn done(&self, apis: &Apis, id: &str, operation: &str) -> Result<bool, ProviderError> {
        let p = parse(id)?;
        let c = apis.compute().await?;
        let what = format!("compute operations.get {operation}");
        let o = match &p.scope {
            Scope::Region(r) => {
                c.region_operations
                    .get()
                    .set_project(p.project)
                    .set_region(*r)
                    .set_operation(operation)
                    .send()
                    .await
            }
            Scope::Zone(z) => {
                c.zone_operations
                    .get()
                    .set_project(p.project)
                    .set_zone(*z)
                    .set_operation(operation)
                    .send()
                    .await
            }
            Scope::Global => {
                c.global_operations
                    .get()
                    .set_project(p.project)
                    .set_operation(operation)
                    .send()
                    .await
            }
        }
        .map_err(|e| classify(e, &what))?;
        let status = o
            .status
            .as_ref()
            .and_then(|s| s.name())
            .unwrap_or("RUNNING");
        if status != "DONE" {
            return Ok(false);
        }
        if let Some(errors) = o
            .error
            .as_ref()
            .map(|e| &e.errors)
            .filter(|e| !e.is_empty())
        {
            let text: Vec<String> = errors.iter().filter_map(|e| e.message.clone()).collect();
            return Err(ProviderError::new(
                ErrorKind::Other,
                format!("deleting {id} failed: {}", text.join("; ")),
            ));
        }
        Ok(true)
    }
}

#[async_trait::async_trait]
impl ResourceType for Found {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, _ctx: &OpContext, _props: &Props) -> Result<Outcome, ProviderError> {
        Err(self.never())
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        Ok(self.exists(&apis, id).await?.then(|| Applied {
            physical_id: id.to_owned(),
            properties: props.clone(),
            outputs: Props::new(),
        }))
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        _id: &str,
        _old: &Props,
        _new: &Props,
    ) -> Result<Outcome, ProviderError> {
        Err(self.never())
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        match self.remove(&apis, id).await? {
            None => Ok(Progress::Done(None)),
            Some(op) => self.poll(ctx, &api::token("delete", id, 0, &op)).await,
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (op, id, n, operation) = api::split(token);
        match self.done(&apis, id, operation).await {
            Ok(true) => Ok(Progress::Done(None)),
            Ok(false) => Ok(api::pending(op, id, n, operation, "deleting".into())),
            Err(e) => api::transient(e, token),
        }
    }

    async fn find(
        &self,
        _ctx: &OpContext,
        _props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        Ok(None)
    }
}
