//! Loopback servers for the cloud APIs that have no emulator, written from their documented
//! contracts (each file cites the reference pages it follows): Google Cloud ([`gcp_api`]),
//! Azure Resource Manager and Entra ID ([`arm_api`]), and the identity checks of Kubernetes and
//! container registries ([`identity_api`]). What breaks a contract is answered as the real
//! service would and recorded, so that tests can assert stackform never relied on leniency.

pub mod arm_api;
pub mod gcp_api;
pub mod identity_api;
