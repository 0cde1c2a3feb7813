//! Reaching an AKS cluster as the deploying identity: `providers.kubernetes.aks_cluster` (with
//! `resource_group`, `subscription_id`, and the azure connector the stack deploys with, see
//! `credentials_from`) names it; its API server and certificate authority come from ARM's
//! `listClusterUserCredential` (the cluster's entry of the kubeconfig it answers), and the
//! bearer token is an Entra ID token of the same identity for AKS's server application, what
//! kubelogin would fetch (https://learn.microsoft.com/en-us/azure/aks/kubelogin-authentication).
//! The settings can name a cluster the same stack creates, since they are used only when an
//! object is applied.
//!
//! `STACKFORM_KUBERNETES_ENDPOINT` replaces the API server (`{cluster}` stands for the cluster's
//! name), as `STACKFORM_AZURE_ARM_ENDPOINT` replaces ARM: for tests against a loopback API
//! server. With ARM replaced and no endpoint given, the cluster is not dialled.

use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

use crate::azure::client::Azure;

/// Where an AKS cluster is, from the kubernetes provider's settings.
pub struct Named {
    /// `/subscriptions/S/resourceGroups/G/providers/Microsoft.ContainerService/managedClusters/N`
    /// without the subscription, which the identity's ARM client may know.
    pub resource_group: String,
    pub name: String,
    pub subscription: Option<String>,
}

impl Named {
    pub fn from_settings(settings: &Props) -> Result<Named, ProviderError> {
        let get = |k: &str| match settings.get(k) {
            Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
            _ => None,
        };
        let name = get("aks_cluster").unwrap_or_default();
        let resource_group = get("resource_group").ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("providers.kubernetes.aks_cluster `{name}` needs providers.kubernetes.resource_group"),
            )
        })?;
        Ok(Named {
            resource_group,
            name,
            subscription: get("subscription_id"),
        })
    }
}

/// The azure provider's settings the kubernetes provider's stand for: the identity
/// (`connector`) and the subscription.
pub fn azure_settings(settings: &Props) -> Props {
    let mut out = Props::new();
    for k in ["connector", "subscription_id"] {
        if let Some(v @ Value::String(_)) = settings.get(k) {
            out.insert(k.to_owned(), v.clone());
        }
    }
    out
}

/// A kube config for the cluster, as the identity `azure_settings` name.
pub async fn config(
    azure: &Azure,
    azure_settings: &Props,
    cluster: &Named,
) -> Result<kube::Config, ProviderError> {
    let arm = azure.arm_for(azure_settings).await?;
    let subscription = cluster
        .subscription
        .clone()
        .or_else(|| arm.subscription.clone())
        .or_else(|| {
            std::env::var("AZURE_SUBSCRIPTION_ID")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "AKS cluster `{}`: no subscription; set providers.kubernetes.subscription_id or AZURE_SUBSCRIPTION_ID",
                    cluster.name
                ),
            )
        })?;
    let id = format!(
        "/subscriptions/{subscription}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{}",
        cluster.resource_group, cluster.name
    );
    let (server, ca, entra) = match crate::azure::connector::user_kubeconfig(&arm, &id).await {
        Ok(found) => found,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("no AKS cluster `{}`: {}", cluster.name, e.message),
            ));
        }
        Err(e) => return Err(e),
    };
    if !entra {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "AKS cluster `{}` has no Entra ID integration (its users sign in with a local certificate), and stackform signs in with Entra ID: set `entra_id: true` on the cluster (the azure template does), and give the deploying identity `Azure Kubernetes Service RBAC Cluster Admin` on it",
                cluster.name
            ),
        ));
    }
    let server = match std::env::var("STACKFORM_KUBERNETES_ENDPOINT") {
        Ok(e) if !e.is_empty() => e.replace("{cluster}", &cluster.name),
        _ if arm.loopback() => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "AKS cluster `{}` is served by a replaced Azure Resource Manager (STACKFORM_AZURE_ARM_ENDPOINT), whose API server address is no real one: set STACKFORM_KUBERNETES_ENDPOINT to its API server, or leave the cluster's objects out (the azure template: --var cluster_workloads=false)",
                    cluster.name
                ),
            ));
        }
        _ => server,
    };
    let token = azure.aks_token(azure_settings).await?;
    let mut entry = serde_json::json!({"server": server});
    if !ca.is_empty() {
        entry["certificate-authority-data"] = ca.into();
    }
    super::client::token_config(&cluster.name, entry, &token).await
}
