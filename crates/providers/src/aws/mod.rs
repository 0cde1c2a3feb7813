//! The `aws` provider: resource types over the official AWS SDK for Rust.
//!
//! One `SdkConfig` per region (and connector), built on first use from the standard chain
//! (environment, shared config and profiles, `AWS_ENDPOINT_URL` for emulators), with an
//! explicit retry policy and a rustls (ring) HTTP client; every service client is built once
//! from it. Resource types get their region from the template's `providers.aws.region`
//! (recorded in state), else from the chain. Every resource carries the stackform ownership
//! tags, applied inside the create call where the API allows.
//!
//! The folders, as in every cloud of this crate:
//! - `client/`: the client pool per region and connector ([`Aws`]), the SDK configuration a
//!   connector gives, the request plumbing every type shares and the error classification.
//! - one file per resource type, grouped by service where a service has several (`s3.rs`,
//!   `ecr.rs`, `sts.rs` (a data source), `ec2/`, `iam/`, `eks/`; a group's `mod.rs` holds what
//!   its types share); `util.rs` the tag and property helpers they all use.
//! - `found/`: the kinds stackform only finds and deletes (what Kubernetes made for a cluster:
//!   load balancers, listeners, target groups, interfaces, volumes), one file each, and
//!   `found/leftovers.rs`, which finds them by the cluster's tags.
//! - `census.rs`: everything carrying a stack's marks, for the census and `sweep`.
//! - `connector.rs`: the `aws` connector kind (verify, list, logins, tokens).
//! - `state_store.rs`: the `s3://` state backend; `secrets_manager.rs` the secret store.

mod census;
pub(crate) mod client;
pub mod connector;
mod ec2;
mod ecr;
mod eks;
mod found;
mod iam;
mod s3;
pub mod secrets_manager;
pub mod state_store;
mod sts;
mod util;

use std::sync::Arc;

use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{Registry, ResourceType};

pub use client::{Aws, Clients, classify, sdk_config};
use found::FoundOnly;

/// The list prices in `prices/aws.json` (source and date inside), for cost estimates.
pub fn prices() -> stackform_engine::provider::PriceTable {
    serde_json::from_str(include_str!("../../prices/aws.json"))
        .expect("prices/aws.json is checked by a test")
}

pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let aws = Arc::new(Aws::new(connectors));
    let types: Vec<Arc<dyn ResourceType>> = vec![
        Arc::new(s3::Bucket::new(Arc::clone(&aws))),
        Arc::new(ecr::Repository::new(Arc::clone(&aws))),
        Arc::new(iam::Role::new(Arc::clone(&aws))),
        Arc::new(iam::Policy::new(Arc::clone(&aws))),
        Arc::new(ec2::Vpc::new(Arc::clone(&aws))),
        Arc::new(ec2::Subnet::new(Arc::clone(&aws))),
        Arc::new(ec2::InternetGateway::new(Arc::clone(&aws))),
        Arc::new(ec2::RouteTable::new(Arc::clone(&aws))),
        Arc::new(ec2::SecurityGroup::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::NetworkInterface>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::Volume>::new(Arc::clone(&aws))),
        Arc::new(eks::Cluster::new(Arc::clone(&aws))),
        Arc::new(eks::Nodegroup::new(Arc::clone(&aws))),
        Arc::new(iam::OpenIdConnectProvider::new(Arc::clone(&aws))),
        Arc::new(eks::AccessEntry::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::LoadBalancer>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::Listener>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::TargetGroup>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<found::ClassicLoadBalancer>::new(Arc::clone(
            &aws,
        ))),
    ];
    for t in &types {
        registry.add(Arc::clone(t));
    }
    registry.add_inventory(
        "aws",
        Arc::new(census::Census::new(Arc::clone(&aws), types)),
    );
    registry.add_data(Arc::new(sts::CallerIdentity::new(aws)));
    registry.add_connector_kind(Arc::new(connector::Kind));
    registry.set_prices("aws", prices());
    // AWS APIs throttle per account; ten calls in flight is well inside every service's limits.
    registry.set_limit("aws", 10);
}

#[cfg(test)]
mod tests {
    use stackform_engine::lang::schema::Pricing;

    /// Every rate a type's pricing names is in every region of the table, so no estimate
    /// silently drops a resource.
    #[test]
    fn the_price_table_parses_and_prices_every_priced_type_in_every_region() {
        let table = super::prices();
        assert!(table.regions.contains_key(&table.fallback_region));
        let mut registry = stackform_engine::provider::Registry::new();
        super::register(&mut registry, None);
        let catalog = registry.catalog();
        for schema in catalog.resources().filter(|s| s.provider() == "aws") {
            let key = match schema.pricing.as_ref() {
                None => panic!("{} declares no pricing", schema.type_name),
                Some(Pricing::Hourly(k)) | Some(Pricing::PerGibMonth { key: k, .. }) => k.clone(),
                Some(Pricing::PerInstance { prefix, .. }) => format!("{prefix}t3.medium"),
                Some(_) => continue,
            };
            for (region, rates) in &table.regions {
                assert!(rates.contains_key(&key), "{region} has no rate for {key}");
            }
        }
    }
}
