//! Resource types that stackform only ever finds (what Kubernetes made in Compute Engine for a
//! GKE cluster) and deletes: never declared in a template, never created or updated. Each kind
//! (one file each: forwarding rules, target pools, backend services, firewall rules, network
//! endpoint groups, disks) says where it lives, how it is listed, read and deleted, and what it
//! points at; [`Found`] makes it a resource type, read and deleted by its path
//! (`projects/P/{regions/R|zones/Z|global}/COLLECTION/NAME`). `leftovers.rs` finds them for a
//! cluster by its name. Deleting is a Compute operation, polled by name.

mod backend_service;
mod disk;
mod firewall;
mod forwarding_rule;
pub mod leftovers;
mod network_endpoint_group;
mod target_pool;

use std::sync::Arc;

use google_cloud_compute_v1::model::Operation;
use serde_json::Value as Json;
use stackform_engine::lang::schema::{Pricing, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
};

use super::client::api::{Apis, Compute};
use super::client::{Gcp, classify, operation, unless_missing};

/// Every kind, in the order the finder lists them.
pub static KINDS: [&dyn Kind; 6] = [
    &forwarding_rule::ForwardingRule,
    &target_pool::TargetPool,
    &backend_service::BackendService,
    &firewall::Firewall,
    &network_endpoint_group::NetworkEndpointGroup,
    &disk::Disk,
];

/// Where a kind's objects live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lives {
    Region,
    Zone,
    Global,
}

/// A page of a listing: each item with its scope (`regions/R`, `zones/Z`, `global`), and the
/// next page's token.
pub type Page = (Vec<(String, Json)>, Option<String>);

/// The result of one Compute call.
pub type Sent<T> = Result<T, google_cloud_gax::error::Error>;

/// One Compute collection GKE leaves things in.
#[async_trait::async_trait]
pub trait Kind: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The REST collection's name in a resource path.
    fn collection(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    /// Place in deletion order when there is no state to go by.
    fn rank(&self) -> u32;
    fn lives(&self) -> Lives;
    /// Data (a disk): deleted unless destroy keeps volumes, and outside the cluster's network.
    fn data(&self) -> bool {
        false
    }
    /// Whether an item found is in use by something else, whatever its name says.
    fn in_use(&self, _item: &Json) -> bool {
        false
    }
    /// The paths of what an item points at, which go only once it is gone.
    fn targets(&self, _item: &Json) -> Vec<String> {
        Vec::new()
    }
    /// One page of the project's items (in `region`, for regional kinds).
    async fn page(&self, c: &Compute, project: &str, region: &str, token: String) -> Sent<Page>;
    /// Reads one; `scope` is its region or zone (empty for global ones).
    async fn get(&self, c: &Compute, project: &str, scope: &str, name: &str) -> Sent<()>;
    /// Starts deleting one.
    async fn delete(&self, c: &Compute, project: &str, scope: &str, name: &str) -> Sent<Operation>;
}

/// Items as JSON (one shape for every kind), each with its scope (`regions/R`, `zones/Z`,
/// `global`; aggregated lists key their items by it).
pub fn scoped<T: serde::Serialize>(
    scope: &str,
    items: impl IntoIterator<Item = T>,
) -> Vec<(String, Json)> {
    items
        .into_iter()
        .filter_map(|i| Some((scope.to_owned(), serde_json::to_value(i).ok()?)))
        .collect()
}

/// The path part of a self link (`https://www.googleapis.com/compute/v1/projects/...`).
pub fn path_of(self_link: &str) -> String {
    match self_link.find("/projects/") {
        Some(i) => self_link[i + 1..].to_owned(),
        None => self_link.to_owned(),
    }
}

/// `projects/P/{regions/R|zones/Z|global}/COLLECTION/NAME` in its parts.
struct Path<'a> {
    project: &'a str,
    lives: Lives,
    /// The region or zone; empty for global ones.
    scope: &'a str,
    name: &'a str,
}

fn parse(id: &str) -> Result<Path<'_>, ProviderError> {
    let parts: Vec<&str> = id.split('/').collect();
    let (project, lives, scope, name) = match parts.as_slice() {
        ["projects", p, "regions", r, _, n] => (*p, Lives::Region, *r, *n),
        ["projects", p, "zones", z, _, n] => (*p, Lives::Zone, *z, *n),
        ["projects", p, "global", _, n] => (*p, Lives::Global, "", *n),
        _ => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "`{id}` is not a Compute resource path (projects/P/regions/R/COLLECTION/NAME)"
                ),
            ));
        }
    };
    Ok(Path {
        project,
        lives,
        scope,
        name,
    })
}

/// A found-only Compute type: never declared in a template, read and deleted by its path.
pub struct Found {
    kind: &'static dyn Kind,
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl Found {
    pub fn new(kind: &'static dyn Kind, gcp: Arc<Gcp>) -> Found {
        let mut schema = ResourceSchema::new(kind.type_name(), kind.describe())
            .actions(&[])
            .found_only();
        schema = if kind.data() {
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

    /// The path of `id`, which must be where this kind lives.
    fn path<'a>(&self, id: &'a str) -> Result<Path<'a>, ProviderError> {
        let p = parse(id)?;
        if p.lives != self.kind.lives() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("`{id}` is not where a {} lives", self.kind.type_name()),
            ));
        }
        Ok(p)
    }

    async fn exists(&self, apis: &Apis, id: &str) -> Result<bool, ProviderError> {
        let p = self.path(id)?;
        let c = apis.compute().await?;
        let what = format!("compute.{}.get {id}", self.kind.collection());
        let got = self.kind.get(c, p.project, p.scope, p.name).await;
        Ok(unless_missing(got, &what)?.is_some())
    }

    /// Starts the delete; the operation's name, or `None` if it was gone already.
    async fn remove(&self, apis: &Apis, id: &str) -> Result<Option<String>, ProviderError> {
        let p = self.path(id)?;
        let c = apis.compute().await?;
        let what = format!("compute.{}.delete {id}", self.kind.collection());
        match self.kind.delete(c, p.project, p.scope, p.name).await {
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
        let o = match p.lives {
            Lives::Region => {
                c.region_operations
                    .get()
                    .set_project(p.project)
                    .set_region(p.scope)
                    .set_operation(operation)
                    .send()
                    .await
            }
            Lives::Zone => {
                c.zone_operations
                    .get()
                    .set_project(p.project)
                    .set_zone(p.scope)
                    .set_operation(operation)
                    .send()
                    .await
            }
            Lives::Global => {
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
            Some(op) => {
                self.poll(ctx, &operation::token("delete", id, 0, &op))
                    .await
            }
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (op, id, n, name) = operation::split(token);
        match self.done(&apis, id, name).await {
            Ok(true) => Ok(Progress::Done(None)),
            Ok(false) => Ok(operation::pending(op, id, n, name, "deleting".into())),
            Err(e) => operation::transient(e, token),
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
