//! The `azure` provider: Blob Storage containers over the official `azure_storage_blob`
//! client, and the Azure stack's ARM resources (resource groups, storage accounts, blob
//! containers, container registries, AKS clusters, role assignments) over Azure Resource
//! Manager's REST API.
//!
//! The folders, as in every cloud of this crate:
//! - `client/`: the client pool per identity ([`client::Azure`]: the environment's, or a
//!   connector's), a storage account and its Blob clients (signed with its key or an Entra ID
//!   token), ARM over azure_core's pipeline with its long-running operations, and the error
//!   classification.
//! - one file per resource type: `container.rs` (`azure.storage.container`, over the Blob
//!   service) and `resources/`, the ARM types, one file each behind one [`resources::ArmKind`]
//!   trait, with ARM's verbs shared in its `mod.rs`.
//! - no `found/`: nothing Azure makes for a stack is left behind; AKS deletes its node resource
//!   group itself, and a cluster's delete waits for it.
//! - `census.rs`: what carries a stack's marks, for the census, sweep and reap.
//! - `connector.rs`: the `azure` connector kind (verify, list, find, logins, tokens).
//! - `state_store.rs`: the `azblob://` state backend.

mod census;
pub(crate) mod client;
mod client_config;
pub mod connector;
pub mod container;
pub mod resources;
pub mod state_store;

use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{Registry, ResourceType};

pub use client::{Account, code, error};

/// Registers the Azure types; `connectors` resolves `providers.azure.connector` (see
/// [`client::Azure`]).
pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let azure = Arc::new(client::Azure::new(connectors));
    let container = Arc::new(container::Container::new(Arc::clone(&azure)));
    registry.add(Arc::clone(&container) as Arc<dyn ResourceType>);
    resources::register(registry, &azure);
    registry.add_data(Arc::new(client_config::ClientConfig::new(Arc::clone(
        &azure,
    ))));
    registry.add_inventory("azure", Arc::new(census::Census::new(container, azure)));
    registry.add_connector_kind(Arc::new(connector::Kind));
    registry.set_limit("azure", 10);
}
