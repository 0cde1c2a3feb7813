//! The official Google Cloud clients the GCP types call (Artifact Registry, IAM, Resource
//! Manager, Kubernetes Engine, Compute Engine), built once per identity on first use.
//!
//! Every client reaches its `*.googleapis.com` default with application default credentials.
//! `STACKFORM_GCP_ENDPOINT` sends them all to one other root instead (the generated clients
//! put each service's version in the path, so one server can answer them all): the tests'
//! contract server, or a Private Service Connect endpoint. A loopback endpoint gets anonymous
//! credentials, as an emulator expects; any other keeps application default credentials.

use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::client_builder::ClientBuilder;
use google_cloud_gax::client_builder::internal::ClientFactory;
use stackform_engine::provider::{ErrorKind, ProviderError};
use tokio::sync::OnceCell;

use super::classify;

pub use google_cloud_artifactregistry_v1::client::ArtifactRegistry;
pub use google_cloud_container_v1::client::ClusterManager;
pub use google_cloud_iam_admin_v1::client::Iam;
pub use google_cloud_resourcemanager_v3::client::Projects;

/// The Compute Engine clients leftovers need (one per REST collection, as the crate has them).
pub struct Compute {
    pub forwarding_rules: google_cloud_compute_v1::client::ForwardingRules,
    pub target_pools: google_cloud_compute_v1::client::TargetPools,
    pub backend_services: google_cloud_compute_v1::client::BackendServices,
    pub firewalls: google_cloud_compute_v1::client::Firewalls,
    pub negs: google_cloud_compute_v1::client::NetworkEndpointGroups,
    pub disks: google_cloud_compute_v1::client::Disks,
    pub region_operations: google_cloud_compute_v1::client::RegionOperations,
    pub zone_operations: google_cloud_compute_v1::client::ZoneOperations,
    pub global_operations: google_cloud_compute_v1::client::GlobalOperations,
}

/// Where the Google APIs are, and the clients, made on first use.
pub struct Apis {
    /// `STACKFORM_GCP_ENDPOINT`, if set.
    pub endpoint: Option<String>,
    credentials: OnceCell<Credentials>,
    registry: OnceCell<ArtifactRegistry>,
    iam: OnceCell<Iam>,
    projects: OnceCell<Projects>,
    clusters: OnceCell<ClusterManager>,
    compute: OnceCell<Compute>,
}

impl Apis {
    pub fn from_env() -> Apis {
        Apis {
            endpoint: std::env::var("STACKFORM_GCP_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty())
                .map(|e| e.trim_end_matches('/').to_owned()),
            credentials: OnceCell::new(),
            registry: OnceCell::new(),
            iam: OnceCell::new(),
            projects: OnceCell::new(),
            clusters: OnceCell::new(),
            compute: OnceCell::new(),
        }
    }

    /// Like [`Apis::from_env`], calling as `credentials` (a connector's). `self_signed`
    /// credentials (a service account key's: each request carries a JWT signed here, and the
    /// key itself never leaves the process) are sent to whatever endpoint is set, a loopback
    /// contract server included, which then sees who calls. Others (impersonation) would first
    /// ask Google's IAM Credentials API for a token, so a loopback endpoint gets anonymous
    /// credentials instead: nothing may reach Google from a test.
    pub fn with_credentials(credentials: Credentials, self_signed: bool) -> Apis {
        let apis = Apis::from_env();
        if apis.loopback() && !self_signed {
            return apis;
        }
        Apis {
            credentials: OnceCell::new_with(Some(credentials)),
            ..apis
        }
    }

    /// Whether the endpoint is a loopback server (tests' contract server): nothing that would
    /// reach Google (a token exchange) may happen then.
    pub fn loopback(&self) -> bool {
        self.endpoint.as_deref().is_some_and(|e| {
            let host = e.split("://").nth(1).unwrap_or(e);
            host.starts_with("127.0.0.1")
                || host.starts_with("localhost")
                || host.starts_with("[::1]")
        })
    }

    async fn credentials(&self) -> Result<Credentials, ProviderError> {
        self.credentials
            .get_or_try_init(|| async {
                crate::tls::ensure();
                if self.loopback() {
                    return Ok(google_cloud_auth::credentials::anonymous::Builder::new().build());
                }
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| {
                        ProviderError::new(
                            ErrorKind::Permission,
                            format!("no Google credentials: {e}; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"),
                        )
                    })
            })
            .await
            .cloned()
    }

    async fn build<F, C>(&self, builder: ClientBuilder<F, Credentials>) -> Result<C, ProviderError>
    where
        F: ClientFactory<Client = C, Credentials = Credentials>,
    {
        let mut builder = builder.with_credentials(self.credentials().await?);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder
            .build()
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Other, format!("Google client: {e}")))
    }

    pub async fn registry(&self) -> Result<&ArtifactRegistry, ProviderError> {
        self.registry
            .get_or_try_init(|| self.build(ArtifactRegistry::builder()))
            .await
    }

    /// Every Artifact Registry repository in `parent` (`projects/P/locations/L`), all pages.
    pub async fn repositories(
        &self,
        parent: &str,
    ) -> Result<Vec<google_cloud_artifactregistry_v1::model::Repository>, ProviderError> {
        let client = self.registry().await?;
        let what = format!("artifactregistry.repositories.list {parent}");
        let mut token = String::new();
        let mut out = Vec::new();
        loop {
            let page = client
                .list_repositories()
                .set_parent(parent)
                .set_page_token(&token)
                .send()
                .await
                .map_err(|e| classify(e, &what))?;
            out.extend(page.repositories);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    pub async fn iam(&self) -> Result<&Iam, ProviderError> {
        self.iam
            .get_or_try_init(|| self.build(Iam::builder()))
            .await
    }

    pub async fn projects(&self) -> Result<&Projects, ProviderError> {
        self.projects
            .get_or_try_init(|| self.build(Projects::builder()))
            .await
    }

    pub async fn clusters(&self) -> Result<&ClusterManager, ProviderError> {
        self.clusters
            .get_or_try_init(|| self.build(ClusterManager::builder()))
            .await
    }

    pub async fn compute(&self) -> Result<&Compute, ProviderError> {
        use google_cloud_compute_v1::client as c;
        self.compute
            .get_or_try_init(|| async {
                Ok(Compute {
                    forwarding_rules: self.build(c::ForwardingRules::builder()).await?,
                    target_pools: self.build(c::TargetPools::builder()).await?,
                    backend_services: self.build(c::BackendServices::builder()).await?,
                    firewalls: self.build(c::Firewalls::builder()).await?,
                    negs: self.build(c::NetworkEndpointGroups::builder()).await?,
                    disks: self.build(c::Disks::builder()).await?,
                    region_operations: self.build(c::RegionOperations::builder()).await?,
                    zone_operations: self.build(c::ZoneOperations::builder()).await?,
                    global_operations: self.build(c::GlobalOperations::builder()).await?,
                })
            })
            .await
    }
}
