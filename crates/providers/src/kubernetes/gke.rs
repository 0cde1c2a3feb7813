//! Reaching a GKE cluster as the deploying identity: `providers.kubernetes.gke_cluster` (with
//! `project`, `location`, and the gcp connector the stack deploys with, see
//! `credentials_from`) names it; its endpoint and certificate authority come from
//! `container.clusters.get` (`endpoint`, `masterAuth.clusterCaCertificate`), and the bearer
//! token is a Google access token of the same identity, which GKE's API server accepts and
//! authorizes through IAM and RBAC
//! (https://cloud.google.com/kubernetes-engine/docs/how-to/api-server-authentication).
//! The settings can name a cluster the same stack creates (`${stack.name}-${stack.suffix}`),
//! since they are used only when an object is applied.
//!
//! `STACKFORM_KUBERNETES_ENDPOINT` replaces the endpoint GKE reports (`{cluster}` stands for
//! the cluster's name), as `STACKFORM_GCP_ENDPOINT` replaces Google's APIs: for tests against
//! a loopback API server. With the APIs replaced and no endpoint given, the cluster is not
//! dialled: what the replaced API reports is no real address.

use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

use crate::gcp::client::Gcp;
use crate::gcp::client::api::Apis;

/// Where a GKE cluster is, from the kubernetes provider's settings.
pub struct Named {
    pub project: String,
    pub location: String,
    pub name: String,
}

impl Named {
    /// The cluster `settings` name: `gke_cluster` (a name, or the full
    /// `projects/P/locations/L/clusters/N`), in `project` and `location`.
    pub fn from_settings(settings: &Props) -> Result<Named, ProviderError> {
        let get = |k: &str| match settings.get(k) {
            Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
            _ => None,
        };
        let cluster = get("gke_cluster").unwrap_or_default();
        if let Some(named) = Named::from_path(&cluster) {
            return Ok(named);
        }
        let missing = |k: &str| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "providers.kubernetes.gke_cluster `{cluster}` needs providers.kubernetes.{k} (or the cluster's full name, projects/P/locations/L/clusters/N)"
                ),
            )
        };
        Ok(Named {
            project: get("project").ok_or_else(|| missing("project"))?,
            location: get("location").ok_or_else(|| missing("location"))?,
            name: cluster,
        })
    }

    /// `projects/P/locations/L/clusters/N`, as GKE names a cluster (its id in the state).
    pub fn from_path(path: &str) -> Option<Named> {
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["projects", p, "locations", l, "clusters", n] => Some(Named {
                project: (*p).to_owned(),
                location: (*l).to_owned(),
                name: (*n).to_owned(),
            }),
            _ => None,
        }
    }

    fn path(&self) -> String {
        format!(
            "projects/{}/locations/{}/clusters/{}",
            self.project, self.location, self.name
        )
    }
}

/// A kube config for the cluster, as the identity `gcp_settings` name (their `connector`).
pub async fn config(
    gcp: &Gcp,
    gcp_settings: &Props,
    cluster: &Named,
) -> Result<kube::Config, ProviderError> {
    let apis = gcp.apis_for(gcp_settings).await?;
    let path = cluster.path();
    let found = apis
        .clusters()
        .await?
        .get_cluster()
        .set_name(&path)
        .send()
        .await
        .map_err(|e| crate::gcp::client::classify(e, &format!("container.clusters.get {path}")))?;
    let endpoint = match std::env::var("STACKFORM_KUBERNETES_ENDPOINT") {
        Ok(e) if !e.is_empty() => e.replace("{cluster}", &cluster.name),
        _ if Apis::from_env().endpoint.is_some() => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "GKE cluster `{}` is served by a replaced Google API (STACKFORM_GCP_ENDPOINT), whose endpoint is no real address: set STACKFORM_KUBERNETES_ENDPOINT to its API server, or leave the cluster's objects out (the gcp template: --var cluster_workloads=false)",
                    cluster.name
                ),
            ));
        }
        _ if found.endpoint.is_empty() => {
            return Err(ProviderError::new(
                ErrorKind::Retryable,
                format!("GKE cluster `{}` has no endpoint yet", cluster.name),
            ));
        }
        _ => format!("https://{}", found.endpoint),
    };
    let token = gcp.access_token(gcp_settings).await?;
    let mut entry = serde_json::json!({"server": endpoint});
    if let Some(ca) = found
        .master_auth
        .as_ref()
        .map(|m| m.cluster_ca_certificate.clone())
        .filter(|c| !c.is_empty())
    {
        entry["certificate-authority-data"] = ca.into();
    }
    super::client::token_config(&cluster.name, entry, &token).await
}

/// The gcp provider's settings the kubernetes provider's stand for: the identity (`connector`)
/// and `project`.
pub fn gcp_settings(settings: &Props) -> Props {
    let mut out = Props::new();
    for k in ["connector", "project"] {
        if let Some(v @ Value::String(_)) = settings.get(k) {
            out.insert(k.to_owned(), v.clone());
        }
    }
    out
}
