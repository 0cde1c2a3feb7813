//! `gcp.container.cluster`: a GKE cluster, the GCP stack's orchestrator.
//!
//! The cluster is created with one small `system` node pool (GKE needs a node pool to create a
//! cluster; the workloads' pool is a `gcp.container.node_pool` of its own) and, by default,
//! workload identity (`PROJECT.svc.id.goog`), so pods act as Google service accounts without
//! keys. Create, label changes and delete are long-running operations, polled by their name
//! without holding an executor slot. The cluster's name is the recovery key; one found under it
//! is adopted only if its resource labels name this stack and address.
//!
//! What Kubernetes made for the cluster in Compute Engine (load balancers' forwarding rules,
//! target pools, backend services and network endpoint groups, firewall rules, PVC disks) is
//! found by `found/leftovers.rs` and deleted after the cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use google_cloud_container_v1::model::{
    Cluster as GkeCluster, NodeConfig, NodePool, Operation, ReleaseChannel, WorkloadIdentityConfig,
    WorkloadMetadataConfig, cluster::Status, release_channel, workload_metadata_config::Mode,
};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::Recorded;
use stackform_engine::provider::{
    Applied, ErrorKind, Leftover, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::super::client::Gcp;
use super::super::client::api::Apis;
use super::super::client::{self, classify, operation, unless_missing};
use super::{Followed, Named, busy, operation_name};
use crate::marks;
use crate::props::{boolean, int, required, string, string_map};

pub struct Cluster {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl Cluster {
    pub fn new(gcp: Arc<Gcp>) -> Cluster {
        let schema = ResourceSchema::new(
            "gcp.container.cluster",
            "A GKE cluster with workload identity and a small system node pool.",
        )
        .actions(&[
            "container.clusters.create",
            "container.clusters.get",
            "container.clusters.update",
            "container.clusters.delete",
            "container.operations.get",
            "compute.forwardingRules.list",
            "compute.forwardingRules.delete",
            "compute.targetPools.list",
            "compute.targetPools.delete",
            "compute.backendServices.list",
            "compute.backendServices.delete",
            "compute.firewalls.list",
            "compute.firewalls.delete",
            "compute.networkEndpointGroups.list",
            "compute.networkEndpointGroups.delete",
            "compute.disks.list",
            "compute.disks.delete",
        ])
        .pricing(Pricing::Usage(
            "GKE's cluster management fee per hour, plus the system pool's nodes".into(),
        ))
        .property(
            PropertySchema::new(
                "name",
                PropType::String,
                "1 to 40 lowercase letters, digits and hyphens, starting with a letter.",
            )
            .required()
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "project",
                PropType::String,
                "The project (default: the provider's `project`, else GOOGLE_CLOUD_PROJECT).",
            )
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "location",
                PropType::String,
                "A region (a regional cluster) or a zone (default: the provider's `region`).",
            )
            .force_new(),
        )
        .property(
            PropertySchema::new("network", PropType::String, "The VPC network.")
                .default("default")
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "release_channel",
                PropType::String,
                "`RAPID`, `REGULAR` or `STABLE`.",
            )
            .default("REGULAR")
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "workload_identity",
                PropType::Boolean,
                "Pods act as Google service accounts through `PROJECT.svc.id.goog`.",
            )
            .default(true)
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "system_node_count",
                PropType::Integer,
                "Nodes of the `system` pool (per zone of a regional cluster).",
            )
            .default(1)
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "system_machine_type",
                PropType::String,
                "Machine type of the `system` pool.",
            )
            .default("e2-small")
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "service_account",
                PropType::String,
                "The email the system pool's nodes run as (default: the Compute Engine default account).",
            )
            .force_new(),
        )
        .property(PropertySchema::new(
            "labels",
            PropType::map_of(PropType::String),
            "Resource labels besides stackform's own.",
        ))
        .output(OutputSchema::new(
            "id",
            PropType::String,
            "`projects/P/locations/L/clusters/NAME`.",
        ))
        .output(OutputSchema::new("name", PropType::String, "The cluster's name."))
        .output(OutputSchema::new(
            "endpoint",
            PropType::String,
            "The control plane's address.",
        ))
        .output(OutputSchema::new(
            "ca_certificate",
            PropType::String,
            "The cluster CA (base64 PEM).",
        ))
        .output(OutputSchema::new(
            "workload_pool",
            PropType::String,
            "`PROJECT.svc.id.goog`, or empty without workload identity.",
        ))
        .output(OutputSchema::new(
            "version",
            PropType::String,
            "The control plane's Kubernetes version.",
        ))
        .output(OutputSchema::new(
            "context",
            PropType::String,
            "The kubeconfig context `gcloud container clusters get-credentials` writes.",
        ))
        .stateful();
        Cluster { schema, gcp }
    }

    fn full_name(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "projects/{}/locations/{}/clusters/{}",
            client::project(ctx, props)?,
            client::location(ctx, props)?,
            required(props, "name")?
        ))
    }

    fn labels(ctx: &OpContext, props: &Props) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = string_map(props, "labels").into_iter().collect();
        labels.extend(marks::gcp_labels(&ctx.ownership));
        labels
    }

    async fn get(&self, apis: &Apis, full: &str) -> Result<Option<GkeCluster>, ProviderError> {
        let gke = apis.clusters().await?;
        let sent = gke.get_cluster().set_name(full).send().await;
        unless_missing(sent, &format!("container.clusters.get {full}"))
    }

    /// Follows a cluster operation; when it is done, the cluster as it is then (`None` for a
    /// delete).
    async fn follow(&self, apis: &Apis, token: &str) -> Result<Outcome, ProviderError> {
        let running = |_: &str, o: &Operation| {
            format!(
                "GKE {} {}",
                o.operation_type.name().unwrap_or("operation"),
                status_word(o)
            )
        };
        let (op, full) = match super::follow(apis, token, &NAMED, running).await? {
            Followed::Outcome(outcome) => return Ok(outcome),
            Followed::Finished { op, full } => (op, full),
        };
        match self.get(apis, full).await? {
            Some(c) if c.status == Status::Error || c.status == Status::Degraded => {
                Err(ProviderError::new(
                    ErrorKind::Other,
                    format!(
                        "GKE cluster {full} is {:?}: see its status in the console",
                        c.status
                    ),
                ))
            }
            Some(c) => Ok(Progress::Done(Some(applied(&c, full, &Props::new())))),
            None => Err(ProviderError::new(
                ErrorKind::Other,
                format!("GKE cluster {full} is missing after its {op} finished"),
            )),
        }
    }

    /// The cluster's drain (its `n`th pass; a node pool's delete did one before, and this
    /// finds what was made since), then its delete.
    async fn drain_then_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        n: u32,
    ) -> Result<Outcome, ProviderError> {
        super::drain::then_delete(&self.gcp, ctx, id, n, || async {
            let apis = self.gcp.apis(ctx).await?;
            self.start_delete(&apis, id, "delete").await
        })
        .await
    }

    /// Deletes the cluster and follows the operation as `op` (`delete`, or `recreate`).
    async fn start_delete(
        &self,
        apis: &Apis,
        id: &str,
        op: &str,
    ) -> Result<Outcome, ProviderError> {
        let gke = apis.clusters().await?;
        let sent = gke.delete_cluster().set_name(id).send().await;
        let what = format!("container.clusters.delete {id}");
        match super::deleting(sent, &what, id, op, &NAMED)? {
            Some(o) => {
                self.follow(apis, &operation::token(op, id, 0, &operation_name(id, &o)))
                    .await
            }
            None => Ok(Progress::Done(None)),
        }
    }
}

/// How messages name a cluster.
const NAMED: Named = Named {
    object: "",
    subject: "GKE cluster ",
};

fn status_word(o: &Operation) -> String {
    o.status.name().unwrap_or("RUNNING").to_lowercase()
}

fn applied(c: &GkeCluster, full: &str, props: &Props) -> Applied {
    let labels: BTreeMap<String, String> = c
        .resource_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut properties = marks::with_user_marks(props, "labels", &labels);
    properties.insert("name".into(), Value::String(c.name.clone()));
    if !c.network.is_empty() {
        properties.insert("network".into(), Value::String(c.network.clone()));
    }
    let pool = c
        .workload_identity_config
        .as_ref()
        .map(|w| w.workload_pool.clone())
        .unwrap_or_default();
    properties.insert("workload_identity".into(), Value::Bool(!pool.is_empty()));
    if let Some(channel) = c.release_channel.as_ref().and_then(|r| r.channel.name()) {
        properties.insert("release_channel".into(), Value::String(channel.to_owned()));
    }
    let parts: Vec<&str> = full.split('/').collect();
    let (project, location) = match parts.as_slice() {
        [_, p, _, l, ..] => (*p, *l),
        _ => ("", ""),
    };
    Applied {
        physical_id: full.to_owned(),
        properties,
        outputs: Props::from([
            ("id".into(), Value::String(full.to_owned())),
            ("name".into(), Value::String(c.name.clone())),
            ("endpoint".into(), Value::String(c.endpoint.clone())),
            (
                "ca_certificate".into(),
                Value::String(
                    c.master_auth
                        .as_ref()
                        .map(|m| m.cluster_ca_certificate.clone())
                        .unwrap_or_default(),
                ),
            ),
            ("workload_pool".into(), Value::String(pool)),
            (
                "version".into(),
                Value::String(c.current_master_version.clone()),
            ),
            (
                "context".into(),
                Value::String(format!("gke_{project}_{location}_{}", c.name)),
            ),
        ]),
    }
}

#[async_trait::async_trait]
impl ResourceType for Cluster {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let project = client::project(ctx, props)?;
        let full = Self::full_name(ctx, props)?;
        let parent = full
            .split("/clusters/")
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut config = NodeConfig::new()
            .set_machine_type(
                string(props, "system_machine_type").unwrap_or_else(|| "e2-small".into()),
            )
            .set_oauth_scopes(["https://www.googleapis.com/auth/cloud-platform"])
            .set_resource_labels(Self::labels(ctx, props));
        if let Some(sa) = string(props, "service_account") {
            config = config.set_service_account(sa);
        }
        let workload_identity = boolean(props, "workload_identity").unwrap_or(true);
        if workload_identity {
            config = config.set_workload_metadata_config(
                WorkloadMetadataConfig::new().set_mode(Mode::GkeMetadata),
            );
        }
        let system = NodePool::new()
            .set_name("system")
            .set_initial_node_count(int(props, "system_node_count").unwrap_or(1) as i32)
            .set_config(config);
        let channel = string(props, "release_channel").unwrap_or_else(|| "REGULAR".into());
        let mut cluster = GkeCluster::new()
            .set_name(required(props, "name")?)
            .set_network(string(props, "network").unwrap_or_else(|| "default".into()))
            .set_node_pools([system])
            .set_resource_labels(Self::labels(ctx, props))
            .set_release_channel(
                ReleaseChannel::new().set_channel(release_channel::Channel::from(channel.as_str())),
            );
        if workload_identity {
            cluster = cluster.set_workload_identity_config(
                WorkloadIdentityConfig::new().set_workload_pool(format!("{project}.svc.id.goog")),
            );
        }
        let gke = apis.clusters().await?;
        let sent = gke
            .create_cluster()
            .set_parent(&parent)
            .set_cluster(cluster)
            .send()
            .await;
        match sent {
            Ok(o) => {
                self.follow(
                    &apis,
                    &operation::token("create", &full, 0, &operation_name(&full, &o)),
                )
                .await
            }
            Err(e) => {
                let err = busy(classify(e, &format!("container.clusters.create {full}")));
                if !client::exists(&err) {
                    return Err(err);
                }
                match self.get(&apis, &full).await? {
                    Some(c)
                        if marks::owned(
                            ctx,
                            &c.resource_labels
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                            marks::gcp_value,
                        ) =>
                    {
                        if c.status == Status::Error {
                            // Left in ERROR by a failed create of ours: delete it, create again.
                            return self.start_delete(&apis, &full, "recreate").await;
                        }
                        if c.status == Status::Provisioning {
                            // An earlier attempt's create is still running: wait for the cluster.
                            return Ok(operation::pending(
                                "wait",
                                &full,
                                0,
                                "",
                                "cluster is provisioning".into(),
                            ));
                        }
                        Ok(Progress::Done(Some(applied(&c, &full, props))))
                    }
                    _ => Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!(
                            "GKE cluster {full} exists and is not this stack's: choose another name, or `stackform import` it"
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
        if op == "wait" {
            // No operation to follow (found provisioning after a lost answer): watch the cluster.
            return match self.get(&apis, full).await? {
                Some(c) if c.status == Status::Provisioning => Ok(operation::pending(
                    "wait",
                    full,
                    n,
                    "",
                    "cluster is provisioning".into(),
                )),
                Some(c) => Ok(Progress::Done(Some(applied(&c, full, &Props::new())))),
                None => Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("GKE cluster {full} vanished while provisioning"),
                )),
            };
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
        Ok(self.get(&apis, id).await?.map(|c| applied(&c, id, props)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let Some(current) = self.get(&apis, id).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("GKE cluster {id} is gone"),
            ));
        };
        let wanted = Self::labels(ctx, new);
        if current.resource_labels == wanted {
            return Ok(Progress::Done(Some(applied(&current, id, new))));
        }
        let gke = apis.clusters().await?;
        let o = gke
            .set_labels()
            .set_name(id)
            .set_resource_labels(wanted)
            .set_label_fingerprint(current.label_fingerprint.clone())
            .send()
            .await
            .map_err(|e| {
                busy(classify(
                    e,
                    &format!("container.clusters.setResourceLabels {id}"),
                ))
            })?;
        self.follow(
            &apis,
            &operation::token("update", id, 0, &operation_name(id, &o)),
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
        let full = Self::full_name(ctx, props)?;
        // One left in ERROR by a failed create is not adopted: create deletes and remakes it.
        let Some(c) = self
            .get(&apis, &full)
            .await?
            .filter(|c| c.status != Status::Error)
        else {
            return Ok(None);
        };
        let labels: BTreeMap<String, String> = c
            .resource_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(marks::owned(ctx, &labels, marks::gcp_value).then(|| applied(&c, &full, props)))
    }

    async fn leftovers(
        &self,
        ctx: &OpContext,
        resource: Recorded<'_>,
    ) -> Result<Vec<Leftover>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        crate::gcp::found::leftovers::find(&apis, resource.physical_id).await
    }
}
