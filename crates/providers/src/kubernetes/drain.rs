//! Draining a cluster before it is deleted: what Kubernetes made in the cloud for objects of
//! the cluster (a Service of type `LoadBalancer` gets a load balancer, its target groups and
//! firewall rules; an Ingress a load balancer; a PersistentVolumeClaim a disk) is removed by
//! the cloud's own controllers when those objects are deleted, and only while the cluster runs.
//! Deleting them through the API first, and waiting until they are gone, lets the controllers
//! remove what they made; the census after the cluster is the safety net for what they did not.
//!
//! A Service of type `LoadBalancer` carries the `service.kubernetes.io/load-balancer-cleanup`
//! finalizer: it stays (with a `deletionTimestamp`) until the service controller has deleted its
//! cloud load balancer (https://kubernetes.io/docs/concepts/services-networking/service/#loadbalancer,
//! "Garbage collecting load balancers"), so "the Service is gone" means "its load balancer is".
//! A claim's bound volume goes with it when its reclaim policy is `Delete`, through the
//! `kubernetes.io/pv-protection` and `pvc-protection` finalizers alike
//! (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#reclaiming). A claim a pod
//! still uses stays (`kubernetes.io/pvc-protection`) until no pod does
//! (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#storage-object-in-use-protection):
//! that happens only when the nodes go, after the drain, so such a claim is deleted but not
//! waited for (waiting would take the drain's whole bound for nothing); its volume goes with
//! the pods, or is the census's.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use serde::de::DeserializeOwned;
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::client::classify;

/// What one pass leaves: objects still being deleted (waited for), and claims pods still use
/// (deleted, not waited for).
#[derive(Default)]
pub struct Left {
    pub deleting: Vec<String>,
    pub held: Vec<String>,
}

/// One pass over the cluster: deletes (foreground) every `LoadBalancer` Service, Ingress and
/// PersistentVolumeClaim not already being deleted, in every namespace, and names those still
/// there (`services/NS/NAME`, ...), the ones just deleted included. Nothing deleting: drained.
pub async fn pass(client: &kube::Client) -> Result<Left, ProviderError> {
    let mut left = Left::default();
    let services: Api<Service> = Api::all(client.clone());
    for s in list(&services, "services").await? {
        let load_balancer = s
            .spec
            .as_ref()
            .and_then(|spec| spec.type_.as_deref())
            .is_some_and(|t| t == "LoadBalancer");
        if load_balancer {
            left.deleting.push(delete(client, &s, "services").await?);
        }
    }
    let ingresses: Api<Ingress> = Api::all(client.clone());
    for i in list(&ingresses, "ingresses").await? {
        left.deleting.push(delete(client, &i, "ingresses").await?);
    }
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let claims = list(&claims, "persistentvolumeclaims").await?;
    if claims.is_empty() {
        return Ok(left);
    }
    // The claims pods use, as `NS/NAME`.
    let pods: Api<Pod> = Api::all(client.clone());
    let used: BTreeSet<String> = list(&pods, "pods")
        .await?
        .iter()
        .flat_map(|p| {
            let namespace = p.metadata.namespace.clone().unwrap_or_default();
            p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(move |c| format!("{namespace}/{}", c.claim_name))
                .collect::<Vec<_>>()
        })
        .collect();
    for c in &claims {
        let shown = delete(client, c, "persistentvolumeclaims").await?;
        let name = format!(
            "{}/{}",
            c.metadata.namespace.as_deref().unwrap_or_default(),
            c.metadata.name.as_deref().unwrap_or_default()
        );
        if used.contains(&name) {
            left.held.push(shown);
        } else {
            left.deleting.push(shown);
        }
    }
    Ok(left)
}

/// Every object of a kind, across namespaces.
async fn list<K>(api: &Api<K>, plural: &str) -> Result<Vec<K>, ProviderError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(|e| classify(&format!("list {plural}"), e))?
        .items)
}

/// Deletes `object` unless its deletion has begun, and names it.
async fn delete<K>(client: &kube::Client, object: &K, plural: &str) -> Result<String, ProviderError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let meta = object.meta();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let shown = format!("{plural}/{namespace}/{name}");
    if meta.deletion_timestamp.is_none() {
        let api: Api<K> = Api::namespaced(client.clone(), &namespace);
        match api.delete(&name, &DeleteParams::foreground()).await {
            Ok(_) => {}
            // Gone between the list and the delete: what a drain wants.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(classify(&format!("delete {shown}"), e)),
        }
    }
    Ok(shown)
}

/// Why a drain is given up on: the text of the warning that says the census takes over.
pub fn unreachable(cluster: &str, e: &ProviderError) -> String {
    let cause = match e.kind {
        ErrorKind::Permission => "the deploying identity may not use its API",
        _ => "its API cannot be reached",
    };
    format!(
        "cluster {cluster} was not drained ({cause}: {}): its load balancers and volumes are left to the census after it is deleted",
        e.message
    )
}
