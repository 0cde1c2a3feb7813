//! Which credentials a stack's GCP resources are reached with: the environment's (application
//! default credentials), or those of the gcp connector its provider settings name
//! (`providers.gcp.connector`). One set of clients per connector, made on first use, so that a
//! command that never touches GCP never resolves a connector, and two stacks in one process
//! (the census of a sweep) each call as their own identity.

use std::collections::HashMap;
use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{OpContext, Props, ProviderError};
use tokio::sync::Mutex;

use super::api::Apis;
use super::connector;
use super::json::Gcs;

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
            connector::credentials(&resolved)?
        };
        let clients = Arc::new(Clients {
            apis: Arc::new(connector::apis(own.as_ref())),
            gcs: Arc::new(connector::gcs(own.as_ref())),
        });
        cache.insert(name.to_owned(), Arc::clone(&clients));
        Ok(clients)
    }
}
