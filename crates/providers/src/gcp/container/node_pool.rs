//! `gcp.container.node_pool`: the nodes a GKE cluster's workloads run on.
//!
//! Nodes run as the given service account with the `cloud-platform` scope (what they may do is
//! the account's IAM roles), and with workload identity's GKE metadata server, so pods see only
//! their own Kubernetes service account's Google identity. Create, resize and delete are
//! long-running operations polled by name. A pool found under its name is adopted only if its
//! nodes' resource labels name this stack and address.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use google_cloud_container_v1::model::{
    NodeConfig, NodePool as GkeNodePool, Operation, WorkloadMetadataConfig, node_pool::Status,
    workload_metadata_config::Mode,
};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::super::client::Gcp;
use super::super::client::api::Apis;
use super::super::client::{self, classify, operation, unless_missing};
use super::{Followed, Named, busy, operation_name};
use crate::marks;
use crate::props::{boolean, int, required, string};

pub struct NodePool {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl NodePool {
    pub fn new(gcp: Arc<Gcp>) -> NodePool {
        let schema = ResourceSchema::new(
            "gcp.container.node_pool",
            "A GKE node pool (workload identity's metadata server on every node).",
        )
        .actions(&[
            "container.clusters.update",
            "container.clusters.get",
            "container.operations.get",
            "iam.serviceAccounts.actAs",
        ])
        .pricing(Pricing::Usage(
            "the nodes' machine type per hour, and their disks".into(),
        ))
        .property(
            PropertySchema::new(
                "cluster",
                PropType::String,
                "The cluster's id (`projects/P/locations/L/clusters/NAME`).",
            )
            .required()
            .force_new(),
        )
        .property(
            PropertySchema::new("name", PropType::String, "The pool's name.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "node_count",
                PropType::Integer,
                "Nodes (per zone of a regional cluster).",
            )
            .default(1),
        )
        .property(
            PropertySchema::new("machine_type", PropType::String, "The nodes' machine type.")
                .default("e2-standard-4")
                .force_new(),
        )
        .property(
            PropertySchema::new("disk_size_gb", PropType::Integer, "Boot disk size.")
                .default(100)
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "spot",
                PropType::Boolean,
                "Spot VMs (cheaper, preemptible).",
            )
            .default(false)
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "service_account",
                PropType::String,
                "The email the nodes run as.",
            )
            .force_new(),
        )
        .output(OutputSchema::new(
            "id",
            PropType::String,
            "`projects/P/locations/L/clusters/C/nodePools/NAME`.",
        ))
        .output(OutputSchema::new(
            "name",
            PropType::String,
            "The pool's name.",
        ));
        NodePool { schema, gcp }
    }

    fn full_name(props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/nodePools/{}",
            required(props, "cluster")?,
            required(props, "name")?
        ))
    }

    async fn get(&self, apis: &Apis, full: &str) -> Result<Option<GkeNodePool>, ProviderError> {
        let gke = apis.clusters().await?;
        let sent = gke.get_node_pool().set_name(full).send().await;
        unless_missing(sent, &format!("container.nodePools.get {full}"))
    }

    async fn follow(&self, apis: &Apis, token: &str) -> Result<Outcome, ProviderError> {
        let running = |op: &str, _: &Operation| format!("node pool {op} running");
        let (op, full) = match super::follow(apis, token, &NAMED, running).await? {
            Followed::Outcome(outcome) => return Ok(outcome),
            Followed::Finished { op, full } => (op, full),
        };
        match self.get(apis, full).await? {
            Some(p) if p.status == Status::Error => Err(ProviderError::new(
                ErrorKind::Other,
                format!(
                    "GKE node pool {full} is in error: {}",
                    p.conditions
                        .iter()
                        .map(|c| c.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )),
            Some(p) => Ok(Progress::Done(Some(applied(&p, full, &Props::new())))),
            None => Err(ProviderError::new(
                ErrorKind::Other,
                format!("GKE node pool {full} is missing after its {op} finished"),
            )),
        }
    }
}

/// How messages name a node pool.
const NAMED: Named = Named {
    object: "node pool ",
    subject: "node pool ",
};

fn applied(p: &GkeNodePool, full: &str, props: &Props) -> Applied {
    let mut properties = props.clone();
    properties.insert("name".into(), Value::String(p.name.clone()));
    properties.insert(
        "node_count".into(),
        Value::Int(i64::from(p.initial_node_count)),
    );
    if let Some(c) = &p.config {
        if !c.machine_type.is_empty() {
            properties.insert("machine_type".into(), Value::String(c.machine_type.clone()));
        }
        if c.disk_size_gb > 0 {
            properties.insert("disk_size_gb".into(), Value::Int(i64::from(c.disk_size_gb)));
        }
        properties.insert("spot".into(), Value::Bool(c.spot));
        if !c.service_account.is_empty() {
            properties.insert(
                "service_account".into(),
                Value::String(c.service_account.clone()),
            );
        }
    }
    if let Some((cluster, _)) = full.split_once("/nodePools/") {
        properties.insert("cluster".into(), Value::String(cluster.to_owned()));
    }
    Applied {
        physical_id: full.to_owned(),
        properties,
        outputs: Props::from([
            ("id".into(), Value::String(full.to_owned())),
            ("name".into(), Value::String(p.name.clone())),
        ]),
    }
}

fn labels_of(p: &GkeNodePool) -> BTreeMap<String, String> {
    p.config
        .as_ref()
        .map(|c| {
            c.resource_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl ResourceType for NodePool {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let cluster = required(props, "cluster")?;
        let full = Self::full_name(props)?;
        let labels: HashMap<String, String> =
            marks::gcp_labels(&ctx.ownership).into_iter().collect();
        let mut config = NodeConfig::new()
            .set_machine_type(
                string(props, "machine_type").unwrap_or_else(|| "e2-standard-4".into()),
            )
            .set_disk_size_gb(int(props, "disk_size_gb").unwrap_or(100) as i32)
            .set_spot(boolean(props, "spot").unwrap_or(false))
            .set_oauth_scopes(["https://www.googleapis.com/auth/cloud-platform"])
            .set_workload_metadata_config(WorkloadMetadataConfig::new().set_mode(Mode::GkeMetadata))
            .set_resource_labels(labels);
        if let Some(sa) = string(props, "service_account") {
            config = config.set_service_account(sa);
        }
        let pool = GkeNodePool::new()
            .set_name(required(props, "name")?)
            .set_initial_node_count(int(props, "node_count").unwrap_or(1) as i32)
            .set_config(config);
        let gke = apis.clusters().await?;
        let sent = gke
            .create_node_pool()
            .set_parent(&cluster)
            .set_node_pool(pool)
            .send()
            .await;
        match sent {
            Ok(o) => {
                self.follow(
                    &apis,
                    &operation::token("create", &full, 0, &operation_name(&cluster, &o)),
                )
                .await
            }
            Err(e) => {
                let err = busy(classify(e, &format!("container.nodePools.create {full}")));
                if !client::exists(&err) {
                    return Err(err);
                }
                if let Some(p) = self.get(&apis, &full).await?
                    && p.status == Status::Error
                    && marks::owned(ctx, &labels_of(&p), marks::gcp_value)
                {
                    // Left in ERROR by a failed create of ours: delete it, then create again.
                    return self.start_delete(&apis, &full, "recreate").await;
                }
                match self.find(ctx, props).await? {
                    Some(found) => Ok(Progress::Done(Some(found))),
                    None => Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!(
                            "node pool {full} exists and is not this stack's: choose another name, or `stackform import` it"
                        ),
                    )),
                }
            }
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let (op, full, n, _) = operation::split(token);
        match op {
            "drain" => return self.drain_then_delete(ctx, full, n).await,
            // The drain's warning was shown: on with the delete.
            "undrained" => return self.start_delete(&apis, full, "delete").await,
            _ => {}
        }
        self.follow(&apis, token).await
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        Ok(self.get(&apis, id).await?.map(|p| applied(&p, id, props)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let count = int(new, "node_count").unwrap_or(1) as i32;
        let gke = apis.clusters().await?;
        let cluster = id.split("/nodePools/").next().unwrap_or(id);
        let o = gke
            .set_node_pool_size()
            .set_name(id)
            .set_node_count(count)
            .send()
            .await
            .map_err(|e| busy(classify(e, &format!("container.nodePools.setSize {id}"))))?;
        self.follow(
            &apis,
            &operation::token("resize", id, 0, &operation_name(cluster, &o)),
        )
        .await
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
        let apis = self.gcp.apis(ctx).await?;
        let full = Self::full_name(props)?;
        // One left in ERROR by a failed create is not adopted: create deletes and remakes it.
        let Some(p) = self
            .get(&apis, &full)
            .await?
            .filter(|p| p.status != Status::Error)
        else {
            return Ok(None);
        };
        Ok(marks::owned(ctx, &labels_of(&p), marks::gcp_value).then(|| applied(&p, &full, props)))
    }
}

impl NodePool {
    /// The cluster's drain (its `n`th pass), then the pool's delete: the drain's controllers
    /// may run on this pool's nodes. Only when the cluster goes too: a pool replaced under a
    /// running cluster leaves its workloads alone.
    async fn drain_then_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        n: u32,
    ) -> Result<Outcome, ProviderError> {
        let cluster = id.split("/nodePools/").next().unwrap_or(id);
        if !ctx.deleting.contains(cluster) {
            let apis = self.gcp.apis(ctx).await?;
            return self.start_delete(&apis, id, "delete").await;
        }
        super::drain::then_delete(&self.gcp, ctx, id, n, || async {
            let apis = self.gcp.apis(ctx).await?;
            self.start_delete(&apis, id, "delete").await
        })
        .await
    }

    /// Deletes the pool and follows the operation as `op` (`delete`, or `recreate`).
    async fn start_delete(
        &self,
        apis: &Apis,
        id: &str,
        op: &str,
    ) -> Result<Outcome, ProviderError> {
        let gke = apis.clusters().await?;
        let cluster = id.split("/nodePools/").next().unwrap_or(id);
        let sent = gke.delete_node_pool().set_name(id).send().await;
        let what = format!("container.nodePools.delete {id}");
        match super::deleting(sent, &what, id, op, &NAMED)? {
            Some(o) => {
                self.follow(
                    apis,
                    &operation::token(op, id, 0, &operation_name(cluster, &o)),
                )
                .await
            }
            None => Ok(Progress::Done(None)),
        }
    }
}
