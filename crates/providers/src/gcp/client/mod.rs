//! The GCP clients, and which credentials a stack's GCP resources are reached with: the
//! environment's (application default credentials), or those of the gcp connector its provider
//! settings name (`providers.gcp.connector`). One set of clients per connector, made on first
//! use, so that a command that never touches GCP never resolves a connector, and two stacks in
//! one process (the census of a sweep) each call as their own identity.
//!
//! `mod.rs` holds the pool ([`Gcp`]) and where a resource is (project, location); `api.rs` the
//! official generated clients; `json.rs` the GCS JSON API; `identity.rs` a connector's own
//! credentials; `operation.rs` long-running operations as poll tokens; `error.rs` what the
//! errors mean to the executor.

pub mod api;
mod error;
pub mod identity;
pub mod json;
pub mod operation;

use std::collections::HashMap;
use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{ErrorKind, OpContext, Props, ProviderError};
use tokio::sync::Mutex;

use crate::props::string;
use api::Apis;
use json::Gcs;

pub use error::{classify, error, exists, unless_missing};

/// The clients of one identity.
struct Clients {
    apis: Arc<Apis>,
    gcs: Arc<Gcs>,
}

/// The clients for every identity the process has used, by connector name (`""`: the
/// environment's).
pub struct Gcp {
    connectors: Option<Arc<dyn ConnectorSource>>,
    clients: Mutex<HashMap<String, Arc<Clients>>>,
}

impl Gcp {
    pub fn new(connectors: Option<Arc<dyn ConnectorSource>>) -> Gcp {
        Gcp {
            connectors,
            clients: Mutex::default(),
        }
    }

    /// The Google API clients for an operation.
    pub async fn apis(&self, ctx: &OpContext) -> Result<Arc<Apis>, ProviderError> {
        self.apis_for(&ctx.settings).await
    }

    /// The Google API clients for a provider's `settings`.
    pub async fn apis_for(&self, settings: &Props) -> Result<Arc<Apis>, ProviderError> {
        Ok(Arc::clone(&self.clients(settings).await?.apis))
    }

    /// Cloud Storage for a provider's `settings`.
    pub async fn gcs_for(&self, settings: &Props) -> Result<Arc<Gcs>, ProviderError> {
        Ok(Arc::clone(&self.clients(settings).await?.gcs))
    }

    /// A bearer token of the identity `settings` name (the connector's, else application
    /// default credentials'), for what takes Google tokens but is no Google API: a GKE cluster's
    /// Kubernetes API server.
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
    pub async fn access_token(&self, settings: &Props) -> Result<String, ProviderError> {
        if let Some(name) = crate::connected::named(settings) {
            let resolved = crate::connected::resolve(self.connectors.as_ref(), name, "gcp").await?;
            return Ok(crate::gcp::connector::access_token(&resolved).await?.token);
        }
        // Application default credentials may exchange a refresh token with Google: never
        // while the APIs are a loopback server's.
        if Apis::from_env().loopback() {
            return Err(ProviderError::new(
                ErrorKind::Permission,
                "the Google APIs are a loopback server's (STACKFORM_GCP_ENDPOINT): sign in to the cluster through a gcp connector (`deploy --connector NAME`) instead of application default credentials",
            ));
        }
        crate::tls::ensure();
        let refused = |e: &dyn std::fmt::Display| {
            ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "no Google access token: {e}; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
                ),
            )
        };
        let credentials = google_cloud_auth::credentials::Builder::default()
            .build_access_token_credentials()
            .map_err(|e| refused(&e))?;
        Ok(credentials
            .access_token()
            .await
            .map_err(|e| refused(&e))?
            .token)
    }

    async fn clients(&self, settings: &Props) -> Result<Arc<Clients>, ProviderError> {
        let name = crate::connected::named(settings).unwrap_or_default();
        let mut cache = self.clients.lock().await;
        if let Some(c) = cache.get(name) {
            return Ok(Arc::clone(c));
        }
        let own = if name.is_empty() {
            None
        } else {
            let resolved = crate::connected::resolve(self.connectors.as_ref(), name, "gcp").await?;
            identity::credentials(&resolved)?
        };
        let clients = Arc::new(Clients {
            apis: Arc::new(identity::apis(own.as_ref())),
            gcs: Arc::new(identity::gcs(own.as_ref())),
        });
        cache.insert(name.to_owned(), Arc::clone(&clients));
        Ok(clients)
    }
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
