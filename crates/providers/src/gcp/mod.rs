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
//! `client/api.rs` for where they are pointed. No emulator exists for these services: they are
//! contract-tested against a loopback server implementing their documented REST contract.

//! The folders, as in every cloud of this crate:
//! - `client/`: the client pool per identity ([`client::Gcp`]: the environment's, or a
//!   connector's), the generated clients, the GCS JSON API, a connector's own credentials,
//!   long-running operations as poll tokens, and the error classification.
//! - one file per resource type: `bucket.rs`, `repository.rs` (Artifact Registry),
//!   `service_account.rs`, `iam_member.rs` (project and service-account IAM members), and `container/` (GKE: `cluster.rs`,
//!   `node_pool.rs`; its `mod.rs` follows the operations both share).
//! - `found/`: the kinds stackform only finds and deletes (what GKE made in Compute Engine),
//!   one file each, and `found/leftovers.rs`, which finds them by the cluster's name.
//! - `census.rs`: what carries a stack's marks, for the census, sweep and reap.
//! - `connector.rs`: the `gcp` connector kind (verify, list, logins, tokens).
//! - `state_store.rs`: the `gs://` state backend.

mod bucket;
mod census;
pub(crate) mod client;
pub mod connector;
mod container;
mod found;
mod iam_member;
mod repository;
mod service_account;
pub mod state_store;

use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{Registry, ResourceType};

pub use client::json::Gcs;

/// Registers the GCP types; `connectors` resolves `providers.gcp.connector` (see
/// [`client::Gcp`]).
pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let gcp = Arc::new(client::Gcp::new(connectors));
    let mut types: Vec<Arc<dyn ResourceType>> = vec![
        Arc::new(bucket::Bucket::new(gcp.clone())),
        Arc::new(repository::Repository::new(gcp.clone())),
        Arc::new(service_account::ServiceAccount::new(gcp.clone())),
        Arc::new(iam_member::IamMember::on_project(gcp.clone())),
        Arc::new(iam_member::IamMember::on_service_account(gcp.clone())),
        Arc::new(container::Cluster::new(gcp.clone())),
        Arc::new(container::NodePool::new(gcp.clone())),
    ];
    for kind in found::KINDS {
        types.push(Arc::new(found::Found::new(kind, gcp.clone())));
    }
    for t in types {
        registry.add(t);
    }
    registry.add_inventory("gcp", Arc::new(census::Census::new(gcp)));
    registry.add_connector_kind(Arc::new(connector::Kind));
    // Cloud Storage's per-project limits are far above this for bucket operations.
    registry.set_limit("gcp", 10);
}
