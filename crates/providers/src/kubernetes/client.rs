//! Clients for the clusters a stack's objects live in, from a kubeconfig.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

/// Clients by kubeconfig path and context, made once per process: a kubeconfig's `exec` user
/// runs its command when a token is needed, not on every call. A client for a cloud cluster
/// (`eks_cluster`) carries a token EKS accepts for 15 minutes: it is made again after 10.
#[derive(Default)]
pub struct Clients {
    made: Mutex<BTreeMap<(PathBuf, Option<String>), kube::Client>>,
    cloud: Mutex<BTreeMap<String, (kube::Client, std::time::Instant)>>,
    #[cfg(feature = "aws")]
    aws: Option<crate::aws::client::Aws>,
    #[cfg(feature = "gcp")]
    gcp: Option<crate::gcp::client::Gcp>,
    #[cfg(feature = "azure")]
    azure: Option<crate::azure::client::Azure>,
}

/// How long a cloud cluster's client (its token) is used.
const TOKEN_USE: std::time::Duration = std::time::Duration::from_secs(600);

impl Clients {
    pub fn new(
        connectors: Option<std::sync::Arc<dyn stackform_engine::ext::connectors::ConnectorSource>>,
    ) -> Clients {
        #[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
        let _ = connectors;
        Clients {
            #[cfg(feature = "aws")]
            aws: Some(crate::aws::client::Aws::new(connectors.clone())),
            #[cfg(feature = "gcp")]
            gcp: Some(crate::gcp::client::Gcp::new(connectors.clone())),
            #[cfg(feature = "azure")]
            azure: Some(crate::azure::client::Azure::new(connectors)),
            ..Clients::default()
        }
    }

    /// Like [`Clients::get`], but a cloud cluster is looked up again rather than taken from the
    /// cache: the census after destroy must learn that the cluster is gone, not call it with
    /// the client made while it ran.
    pub async fn fresh(&self, settings: &Props) -> Result<kube::Client, ProviderError> {
        self.cloud.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.get(settings).await
    }

    /// The client for the cluster the provider `settings` name.
    pub async fn get(&self, settings: &Props) -> Result<kube::Client, ProviderError> {
        if let Some(Value::String(cluster)) = settings.get("eks_cluster")
            && !cluster.is_empty()
        {
            return self.eks(settings, cluster).await;
        }
        if let Some(Value::String(cluster)) = settings.get("gke_cluster")
            && !cluster.is_empty()
        {
            return self.gke(settings).await;
        }
        if let Some(Value::String(cluster)) = settings.get("aks_cluster")
            && !cluster.is_empty()
        {
            return self.aks(settings).await;
        }
        let path = kubeconfig_path(settings)?;
        let context = match settings.get("context") {
            Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
            _ => None,
        };
        let key = (path.clone(), context.clone());
        if let Some(c) = self
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let invalid = |what: String| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{what}; set providers.kubernetes.kubeconfig (and .context) to the cluster's kubeconfig, e.g. the one `stackform connector login NAME --resource-type kubernetes-cluster` writes"
                ),
            )
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(&path)
            .map_err(|e| invalid(format!("cannot read kubeconfig {}: {e}", path.display())))?;
        let options = kube::config::KubeConfigOptions {
            context: context.clone(),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| invalid(format!("kubeconfig {}: {e}", path.display())))?;
        let client = kube::Client::try_from(config)
            .map_err(|e| invalid(format!("kubeconfig {}: {e}", path.display())))?;
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// The client cached under `key` while its token is young, else one made of `config`.
    async fn cloud_client<F>(&self, key: String, config: F) -> Result<kube::Client, ProviderError>
    where
        F: std::future::Future<Output = Result<kube::Config, ProviderError>>,
    {
        if let Some((c, made)) = self
            .cloud
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && made.elapsed() < TOKEN_USE
        {
            return Ok(c.clone());
        }
        let client = kube::Client::try_from(config.await?)
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("cluster {key}: {e}")))?;
        self.cloud
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (client.clone(), std::time::Instant::now()));
        Ok(client)
    }

    #[cfg(feature = "aws")]
    async fn eks(&self, settings: &Props, cluster: &str) -> Result<kube::Client, ProviderError> {
        let region = match settings.get("region") {
            Some(Value::String(r)) => r.clone(),
            _ => String::new(),
        };
        let aws = self
            .aws
            .as_ref()
            .ok_or_else(|| ProviderError::new(ErrorKind::Invalid, "no AWS client pool"))?;
        self.cloud_client(
            format!("eks/{region}/{cluster}"),
            super::eks::config(aws, settings, cluster),
        )
        .await
    }

    #[cfg(feature = "gcp")]
    async fn gke(&self, settings: &Props) -> Result<kube::Client, ProviderError> {
        let named = super::gke::Named::from_settings(settings)?;
        let gcp = self
            .gcp
            .as_ref()
            .ok_or_else(|| ProviderError::new(ErrorKind::Invalid, "no GCP client pool"))?;
        let gcp_settings = super::gke::gcp_settings(settings);
        let connector = crate::connected::named(&gcp_settings).unwrap_or_default();
        let key = format!(
            "gke/{}/{}/{}/{connector}",
            named.project, named.location, named.name
        );
        self.cloud_client(key, super::gke::config(gcp, &gcp_settings, &named))
            .await
    }

    #[cfg(feature = "azure")]
    async fn aks(&self, settings: &Props) -> Result<kube::Client, ProviderError> {
        let named = super::aks::Named::from_settings(settings)?;
        let azure = self
            .azure
            .as_ref()
            .ok_or_else(|| ProviderError::new(ErrorKind::Invalid, "no Azure client pool"))?;
        let azure_settings = super::aks::azure_settings(settings);
        let connector = crate::connected::named(&azure_settings).unwrap_or_default();
        let key = format!("aks/{}/{}/{connector}", named.resource_group, named.name);
        self.cloud_client(key, super::aks::config(azure, &azure_settings, &named))
            .await
    }

    #[cfg(not(feature = "azure"))]
    async fn aks(&self, _settings: &Props) -> Result<kube::Client, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            "providers.kubernetes.aks_cluster needs a stackform built with the azure feature",
        ))
    }

    #[cfg(not(feature = "gcp"))]
    async fn gke(&self, _settings: &Props) -> Result<kube::Client, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            "providers.kubernetes.gke_cluster needs a stackform built with the gcp feature",
        ))
    }

    #[cfg(not(feature = "aws"))]
    async fn eks(&self, _settings: &Props, _cluster: &str) -> Result<kube::Client, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            "providers.kubernetes.eks_cluster needs a stackform built with the aws feature",
        ))
    }
}

/// Whether `settings` (or the environment, as for kubectl) name a cluster at all: a census run
/// without a template (sweep, reap) has nothing to look inside when none is named.
pub fn configured(settings: &Props) -> bool {
    let set = |k: &str| matches!(settings.get(k), Some(Value::String(v)) if !v.is_empty());
    set("eks_cluster")
        || set("gke_cluster")
        || set("aks_cluster")
        || set("kubeconfig")
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || kubeconfig_path(settings).is_ok_and(|p| p.exists())
}

/// `providers.kubernetes.kubeconfig`, else `$KUBECONFIG` (its first path), else
/// `~/.kube/config`: where kubectl looks.
fn kubeconfig_path(settings: &Props) -> Result<PathBuf, ProviderError> {
    if let Some(Value::String(p)) = settings.get("kubeconfig")
        && !p.is_empty()
    {
        return Ok(PathBuf::from(p));
    }
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .as_ref()
        .and_then(|v| std::env::split_paths(v).next())
    {
        return Ok(first);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "no kubeconfig: set providers.kubernetes.kubeconfig or KUBECONFIG",
            )
        })
}

/// A kube config reaching `server` (with its `certificate-authority-data`, if any, in
/// `cluster_entry`) with a bearer `token`: what a cloud cluster's access comes down to.
pub async fn token_config(
    cluster: &str,
    cluster_entry: serde_json::Value,
    token: &str,
) -> Result<kube::Config, ProviderError> {
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": "deployer", "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "deployer"}}],
        "current-context": cluster,
    });
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).map_err(|e| {
        ProviderError::new(ErrorKind::Other, format!("kubeconfig for {cluster}: {e}"))
    })?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("cluster `{cluster}`: {e}")))
}

/// A kube-rs error as the executor handles it: by the API's status code where there is one.
pub fn classify(what: &str, e: kube::Error) -> ProviderError {
    let kind = match &e {
        kube::Error::Api(status) => match status.code {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            401 | 403 => ErrorKind::Permission,
            400 | 422 => ErrorKind::Invalid,
            429 | 500..=599 => ErrorKind::Retryable,
            _ => ErrorKind::Other,
        },
        // The connection failed before an answer: nothing was applied, or an apply may have
        // been (apply is idempotent, so trying again is safe either way).
        kube::Error::HyperError(_) | kube::Error::Service(_) => ErrorKind::Retryable,
        kube::Error::Auth(_) => ErrorKind::Permission,
        _ => ErrorKind::Other,
    };
    ProviderError::new(kind, format!("{what}: {e}"))
}
