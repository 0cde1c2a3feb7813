//! Loopback servers for the cloud APIs that have no emulator, written from their documented
//! contracts (each file cites the reference pages it follows): Google Cloud ([`gcp_api`]),
//! Azure Resource Manager and Entra ID ([`arm_api`]), the identity checks of Kubernetes and
//! container registries ([`identity_api`]), the Kubernetes API's core objects ([`kube_api`]), and the EKS access-entry API that moto lacks
//! ([`eks_access`], answered through the proxy in front of moto). What breaks a contract is
//! answered as the real service would and recorded, so that tests can assert stackform never
//! relied on leniency. They all speak through [`crate::harness::http`].

pub mod arm_api;
pub mod eks_access;
pub mod gcp_api;
pub mod identity_api;
pub mod kube_api;
pub mod shared;
