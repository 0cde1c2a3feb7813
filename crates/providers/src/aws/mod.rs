//! The `aws` provider: resource types over the official AWS SDK for Rust.
//!
//! One `SdkConfig` per region, built on first use from the standard chain (environment, shared
//! config and profiles, `AWS_ENDPOINT_URL` for emulators), with an explicit retry policy and a
//! rustls (ring) HTTP client; every service client is built once from it. Resource types get
//! their region from the template's `providers.aws.region` (recorded in state), else from the
//! chain. Every resource carries the stackform ownership tags, applied inside the create call
//! where the API allows.

pub mod connector;
mod ec2;
mod ecr;
mod eks;
mod elb;
mod elbv2;
mod error;
mod found;
mod iam;
mod inventory;
mod s3;
pub mod secrets_manager;
pub mod state_store;
mod sts;
mod util;

use std::collections::HashMap;
use std::sync::Arc;

use stackform_engine::base::value::Value;
use stackform_engine::ext::connectors::ConnectorSource;
use stackform_engine::provider::{OpContext, ProviderError, Registry, ResourceType};
use tokio::sync::Mutex;

pub use error::classify;
use found::FoundOnly;

/// The service clients of one region, and who they act as.
pub struct Clients {
    pub region: String,
    pub s3: aws_sdk_s3::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub eks: aws_sdk_eks::Client,
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub sts: aws_sdk_sts::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// The same services without the SDK's own retries, for creates: a create whose connection
    /// broke after sending must be looked up before it is tried again, which only the executor
    /// does (it knows the recovery key). Retrying inside the SDK could create a second VPC.
    pub once: Once,
    /// The access key id in use (masked), for permission errors.
    pub identity: String,
    account: tokio::sync::OnceCell<String>,
}

impl Clients {
    /// The account id of the caller (STS GetCallerIdentity, once).
    pub async fn account(&self) -> Result<String, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify(e, "sts:GetCallerIdentity", self))?;
                Ok(out.account.unwrap_or_default())
            })
            .await
            .cloned()
    }
}

/// Service clients that make exactly one attempt.
pub struct Once {
    pub s3: aws_sdk_s3::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub eks: aws_sdk_eks::Client,
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
}

/// Builds clients lazily, once per region and connector: commands that never touch AWS never
/// load its config.
#[derive(Default)]
pub struct Aws {
    clients: Mutex<HashMap<String, Arc<Clients>>>,
    connectors: Option<Arc<dyn ConnectorSource>>,
}

impl Aws {
    pub async fn clients(&self, ctx: &OpContext) -> Result<Arc<Clients>, ProviderError> {
        self.clients_for(&ctx.settings).await
    }

    /// Clients for a provider's settings (`region`), built on first use.
    pub async fn clients_for(
        &self,
        settings: &stackform_engine::provider::Props,
    ) -> Result<Arc<Clients>, ProviderError> {
        let text = |k: &str| match settings.get(k) {
            Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
            _ => None,
        };
        let (mut wanted, connector) = (text("region"), text("connector"));
        let key = format!(
            "{}/{}",
            wanted.clone().unwrap_or_default(),
            connector.clone().unwrap_or_default()
        );
        let mut cache = self.clients.lock().await;
        if let Some(c) = cache.get(&key) {
            return Ok(Arc::clone(c));
        }
        let config = match &connector {
            None => sdk_config(wanted.as_deref()).await,
            Some(name) => {
                let resolved =
                    crate::connected::resolve(self.connectors.as_ref(), name, "aws").await?;
                if wanted.is_none() {
                    wanted = resolved.connector.settings.get("region").cloned();
                }
                connector::sdk_config(&resolved, wanted.as_deref()).await?
            }
        };
        let region = config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let identity = identity(&config).await;
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        let single = config
            .to_builder()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let once = Once {
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&single)
                    .force_path_style(single.endpoint_url().is_some())
                    .build(),
            ),
            ecr: aws_sdk_ecr::Client::new(&single),
            eks: aws_sdk_eks::Client::new(&single),
            iam: aws_sdk_iam::Client::new(&single),
            ec2: aws_sdk_ec2::Client::new(&single),
        };
        let clients = Arc::new(Clients {
            region,
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ecr: aws_sdk_ecr::Client::new(&config),
            eks: aws_sdk_eks::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancing::Client::new(&config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(&config),
            once,
            identity,
            account: tokio::sync::OnceCell::new(),
        });
        cache.insert(key, Arc::clone(&clients));
        Ok(clients)
    }
}

/// The SDK configuration from the standard chain (environment, profiles, `AWS_ENDPOINT_URL`),
/// with rustls (ring), an explicit retry policy and, if given, the region.
pub async fn sdk_config(region: Option<&str>) -> aws_types::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// The list prices in `prices/aws.json` (source and date inside), for cost estimates.
pub fn prices() -> stackform_engine::provider::PriceTable {
    serde_json::from_str(include_str!("../../prices/aws.json"))
        .expect("prices/aws.json is checked by a test")
}

/// "access key AKIA…WXYZ" (never the secret), or what the chain offers.
async fn identity(config: &aws_types::SdkConfig) -> String {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return "no credentials (none found in the environment, profiles or instance metadata)"
            .into();
    };
    match provider.provide_credentials().await {
        Ok(c) => {
            let id = c.access_key_id();
            let tail = &id[id.len().saturating_sub(4)..];
            format!("access key …{tail}")
        }
        Err(e) => format!("no usable credentials ({e})"),
    }
}

pub fn register(registry: &mut Registry, connectors: Option<Arc<dyn ConnectorSource>>) {
    let aws = Arc::new(Aws {
        clients: Mutex::default(),
        connectors,
    });
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
        Arc::new(FoundOnly::<ec2::NetworkInterface>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<ec2::Volume>::new(Arc::clone(&aws))),
        Arc::new(eks::Cluster::new(Arc::clone(&aws))),
        Arc::new(eks::Nodegroup::new(Arc::clone(&aws))),
        Arc::new(iam::OpenIdConnectProvider::new(Arc::clone(&aws))),
        Arc::new(eks::AccessEntry::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<elbv2::LoadBalancer>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<elbv2::Listener>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<elbv2::TargetGroup>::new(Arc::clone(&aws))),
        Arc::new(FoundOnly::<elb::ClassicLoadBalancer>::new(Arc::clone(&aws))),
    ];
    for t in &types {
        registry.add(Arc::clone(t));
    }
    registry.add_inventory(
        "aws",
        Arc::new(inventory::Census::new(Arc::clone(&aws), types)),
    );
    registry.add_data(Arc::new(sts::CallerIdentity::new(aws)));
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
