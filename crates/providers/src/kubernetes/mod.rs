//! The `kubernetes` provider: objects inside a cluster, over kube-rs with the typed objects of
//! `k8s-openapi` (field names come from the Kubernetes OpenAPI spec, not from memory).
//!
//! - `client`: one client per kubeconfig and context (`providers.kubernetes.kubeconfig` and
//!   `.context`; default `$KUBECONFIG`, then `~/.kube/config`). A kubeconfig written by
//!   `stackform connector login --resource-type kubernetes-cluster` reaches EKS, GKE and AKS
//!   through the connector's credentials (its user is an `exec` entry), so no token is ever
//!   in a template or the state.
//! - `eks` (feature `aws`): `providers.kubernetes.eks_cluster` (and `region`, `connector`)
//!   reaches an EKS cluster as the deploying identity, the cluster possibly made by the same
//!   stack: its endpoint from `eks:DescribeCluster`, a presigned STS token.
//! - `gke` (feature `gcp`): `providers.kubernetes.gke_cluster` (and `project`, `location`)
//!   reaches a GKE cluster the same way: `container.clusters.get`, a Google access token.
//!   `credentials_from: gcp` (or `aws`) has the stack's connector of that cloud used here too.
//! - `aks` (feature `azure`): `providers.kubernetes.aks_cluster` (and `resource_group`)
//!   reaches an AKS cluster: ARM's `listClusterUserCredential`, an Entra ID token.
//! - `marks`: ownership as labels (`stackform.dev/stack-id`, `stackform.dev/stack`) and
//!   annotations (`stackform.dev/address`, `stackform.dev/expires-at`).
//! - `object`: what every type does the same way: server-side apply with the field manager
//!   `stackform`, reads that tell ours from someone else's, deletes with foreground propagation
//!   that wait (polling, without an executor slot) until the object is gone.
//! - `drain`: before an EKS cluster or its node groups are deleted, its LoadBalancer Services,
//!   Ingresses and PersistentVolumeClaims are, so the cloud's controllers remove what they made.
//! - `census`: the cluster's objects carrying a stack's marks, for destroy's census and `sweep`.
//! - `namespace`, `service_account`, `secret`, `manifest` (any object, its kind found through
//!   discovery, readiness waited for): the resource types.

#[cfg(feature = "azure")]
pub(crate) mod aks;
mod census;
mod client;
pub(crate) mod drain;
#[cfg(feature = "aws")]
pub(crate) mod eks;
#[cfg(feature = "gcp")]
pub(crate) mod gke;
mod manifest;
mod marks;
mod namespace;
mod object;
mod secret;
mod service_account;

use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::Registry;

pub use marks::{LABEL_STACK, LABEL_STACK_ID};

pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let clients = Arc::new(client::Clients::new(connectors));
    registry.add(Arc::new(namespace::Namespace::new(Arc::clone(&clients))));
    registry.add(Arc::new(service_account::ServiceAccount::new(Arc::clone(
        &clients,
    ))));
    registry.add(Arc::new(secret::Secret::new(Arc::clone(&clients))));
    registry.add(Arc::new(manifest::Manifest::new(Arc::clone(&clients))));
    registry.add_inventory("kubernetes", Arc::new(census::Census::new(clients)));
}
