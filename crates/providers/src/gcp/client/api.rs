//! The official Google Cloud clients the GCP types call (Artifact Registry, IAM, Resource
//! Manager, Kubernetes Engine, Compute Engine), built once per process on first use, and what
//! their errors mean to the executor.
//!
//! Every client reaches its `*.googleapis.com` default with application default credentials.
//! `STACKFORM_GCP_ENDPOINT` sends them all to one other root instead (the generated clients
//! put each service's version in the path, so one server can answer them all): the tests'
//! contract server, or a Private Service Connect endpoint. A loopback endpoint gets anonymous
//! credentials, as an emulator expects; any other keeps application default credentials.

use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::client_builder::ClientBuilder;
use google_cloud_gax::client_builder::internal::ClientFactory;
use google_cloud_gax::error::rpc::Code;
use stackform_engine::provider::{ErrorKind, OpContext, Progress, Props, ProviderError};
use tokio::sync::OnceCell;

use crate::props::string;

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

    fn loopback(&self) -> bool {
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

/// What a failed call means: `what` names the call and its target, e.g.
/// `container.clusters.create projects/p/locations/l/clusters/c`.
pub fn classify(e: google_cloud_gax::error::Error, what: &str) -> ProviderError {
    let code = e.status().map(|s| s.code);
    let message = e
        .status()
        .map(|s| s.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| e.to_string());
    let kind = match (e.http_status_code(), code) {
        (Some(404), _) | (_, Some(Code::NotFound)) => ErrorKind::NotFound,
        (Some(409), _) | (_, Some(Code::AlreadyExists | Code::Aborted)) => ErrorKind::Conflict,
        (Some(401 | 403), _) | (_, Some(Code::PermissionDenied | Code::Unauthenticated)) => {
            ErrorKind::Permission
        }
        (Some(429 | 500..=599), _)
        | (_, Some(Code::ResourceExhausted | Code::Unavailable | Code::Internal)) => {
            ErrorKind::Retryable
        }
        (Some(400), _) | (_, Some(Code::InvalidArgument | Code::FailedPrecondition)) => {
            ErrorKind::Invalid
        }
        _ if e.is_timeout() || e.is_io() || e.is_connect() || e.is_transport() => {
            if e.is_transient_and_before_rpc() {
                ErrorKind::Retryable
            } else {
                ErrorKind::OutcomeUnknown
            }
        }
        _ if e.is_authentication() => ErrorKind::Permission,
        _ => ErrorKind::Other,
    };
    let hint = match kind {
        ErrorKind::Permission => {
            "; check the Google credentials (application default credentials or GOOGLE_APPLICATION_CREDENTIALS) and their roles on the project"
        }
        _ => "",
    };
    ProviderError::new(kind, format!("{what}: {message}{hint}"))
}

/// Whether an error is "already exists" (a create that an earlier attempt made).
pub fn exists(e: &ProviderError) -> bool {
    e.kind == ErrorKind::Conflict
}

/// The project: the resource's `project`, else the provider's, else GOOGLE_CLOUD_PROJECT.
pub fn project(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
    string(props, "project")
        .or_else(|| string(&ctx.settings, "project"))
        .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok().filter(|p| !p.is_empty()))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "no GCP project: set `providers.gcp.project` in the template, `project` on the resource, or GOOGLE_CLOUD_PROJECT",
            )
        })
}

/// The location (region or zone): the resource's `location`, else the provider's `region`.
pub fn location(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
    string(props, "location")
        .or_else(|| string(&ctx.settings, "region"))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "no GCP location: set `location` on the resource or `providers.gcp.region` in the template",
            )
        })
}

/// How long to wait between polls of a long-running operation: GKE takes minutes, Artifact
/// Registry seconds; a contract server in tests answers at once.
pub fn poll_delay(n: u32) -> Duration {
    let ms = std::env::var("STACKFORM_GCP_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(2_000 + 1_000 * u64::from(n.min(8)));
    Duration::from_millis(ms)
}

/// A poll token: `OP|NAME|ATTEMPT|OPERATION`, the operation's full name last so that nothing
/// in it can shift the other fields.
pub fn token(op: &str, name: &str, n: u32, operation: &str) -> String {
    format!("{op}|{name}|{n}|{operation}")
}

pub fn split(token: &str) -> (&str, &str, u32, &str) {
    let mut parts = token.splitn(4, '|');
    let op = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");
    let n = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    (op, name, n, parts.next().unwrap_or(""))
}

/// Still running: poll again with the next attempt number.
pub fn pending<T>(op: &str, name: &str, n: u32, operation: &str, note: String) -> Progress<T> {
    Progress::Pending {
        token: token(op, name, n + 1, operation),
        after: poll_delay(n),
        note,
    }
}

/// A poll that hit a transient error keeps polling the same operation (the executor would
/// otherwise start the call again from the top).
pub fn transient<T>(e: ProviderError, token_now: &str) -> Result<Progress<T>, ProviderError> {
    if e.kind == ErrorKind::Retryable {
        let (op, name, n, operation) = split(token_now);
        return Ok(pending(
            op,
            name,
            n,
            operation,
            format!("retrying: {}", e.message),
        ));
    }
    Err(e)
}
