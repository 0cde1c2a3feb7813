//! The `gcp` provider: Cloud Storage, Artifact Registry, IAM, GKE, and what GKE leaves in
//! Compute Engine.
//!
//! Buckets are created, read, changed and deleted over the GCS JSON API with reqwest, authorized
//! with google-cloud-auth's headers: the official `google-cloud-storage` crate's bucket calls
//! (`StorageControl`) speak gRPC only, and no installable emulator does. Objects (the remote
//! state backend) go through the crate's HTTP `Storage` client. `STORAGE_EMULATOR_HOST`
//! (`http://127.0.0.1:PORT`) points both at an emulator, with anonymous credentials; otherwise
//! they reach `https://storage.googleapis.com` with application default credentials.
//!
//! Everything else goes through the official generated clients (google-cloud-artifactregistry-v1,
//! -iam-admin-v1, -resourcemanager-v3, -container-v1, -compute-v1), which speak HTTP/JSON; see
//! [`api`] for where they are pointed. No emulator exists for these services: they are
//! contract-tested against a loopback server implementing their documented REST contract.

mod api;
mod bucket;
mod cluster;
pub mod connector;
mod inventory;
mod json;
mod leftovers;
mod node_pool;
mod project_iam;
mod reach;
mod repository;
mod service_account;
pub mod state_store;

use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{Registry, ResourceType};

pub use json::Gcs;

/// Registers the GCP types; `connectors` resolves `providers.gcp.connector` (see [`reach`]).
pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let gcp = Arc::new(reach::Gcp::new(connectors));
    let types: Vec<Arc<dyn ResourceType>> = vec![
        Arc::new(bucket::Bucket::new(gcp.clone())),
        Arc::new(repository::Repository::new(gcp.clone())),
        Arc::new(service_account::ServiceAccount::new(gcp.clone())),
        Arc::new(project_iam::ProjectIamMember::new(gcp.clone())),
        Arc::new(cluster::Cluster::new(gcp.clone())),
        Arc::new(node_pool::NodePool::new(gcp.clone())),
    ];
    let mut types = types;
    for kind in leftovers::KINDS {
        types.push(Arc::new(leftovers::Found::new(kind, gcp.clone())));
    }
    for t in types {
        registry.add(t);
    }
    registry.add_inventory("gcp", Arc::new(inventory::Census::new(gcp)));
    // Cloud Storage's per-project limits are far above this for bucket operations.
    registry.set_limit("gcp", 10);
}
