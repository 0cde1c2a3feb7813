//! The AWS clients: one set of service clients per region and connector, built on first use
//! (so that commands that never touch AWS never load its config), the SDK configuration they
//! come from (the standard chain, or a connector's keys, profile or assumed role), the request
//! plumbing every type shares, and what the SDK's errors mean to the executor.
//!
//! `mod.rs` holds the pool ([`Aws`], [`Clients`]); `error.rs` classifies errors; `requests.rs`
//! the shapes of answers every type handles alike (paging, "gone is done", adopting a create an
//! earlier attempt made).

pub(crate) mod error;
mod requests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use stackform_engine::base::value::Value;
use stackform_engine::ext::connectors::{ConnectorSource, Resolved};
use stackform_engine::provider::{ErrorKind, OpContext, ProviderError};
use tokio::sync::Mutex;

pub use error::{classify, is_not_found};
pub use requests::{
    adopt, adopt_when, already, client_token, deleted, gone_is_fine, pages, unless_missing,
};

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
    /// What the clients were made from: its credentials sign EKS tokens.
    pub config: aws_types::SdkConfig,
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
    /// A pool that resolves `providers.aws.connector` through `connectors`.
    pub fn new(connectors: Option<Arc<dyn ConnectorSource>>) -> Aws {
        Aws {
            clients: Mutex::default(),
            connectors,
        }
    }

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
                connector_config(&resolved, wanted.as_deref()).await?
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
            config: config.clone(),
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

/// The SDK configuration a connector gives, in `region` (else the chain's).
pub async fn connector_config(
    resolved: &Resolved,
    region: Option<&str>,
) -> Result<aws_types::SdkConfig, ProviderError> {
    let c = &resolved.connector;
    let secret = |k: &str| {
        resolved.secrets.get(k).cloned().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("connector `{}` has no `{k}` in its key material", c.name),
            )
        })
    };
    let base = sdk_config(region).await;
    let mut builder = base.to_builder();
    match c.auth_method.as_str() {
        "implicit" => {}
        "access-keys" | "session-token" => {
            let token = match c.auth_method.as_str() {
                "session-token" => Some(secret("aws_session_token")?),
                _ => None,
            };
            let creds = aws_credential_types::Credentials::new(
                secret("aws_access_key_id")?,
                secret("aws_secret_access_key")?,
                token,
                None,
                "stackform-connector",
            );
            builder = builder.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
            );
        }
        "profile" => {
            let profile = c.settings.get("profile").cloned().unwrap_or_default();
            let mut loader =
                aws_config::defaults(aws_config::BehaviorVersion::latest()).profile_name(profile);
            if let Some(r) = region {
                loader = loader.region(aws_config::Region::new(r.to_owned()));
            }
            let loaded = loader.load().await;
            if let Some(p) = loaded.credentials_provider() {
                builder = builder.credentials_provider(p);
            }
        }
        "assume-role" => {
            let role = c.settings.get("role_arn").cloned().unwrap_or_default();
            let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(format!("stackform-{}", c.name));
            if let Some(id) = c.settings.get("external_id") {
                assume = assume.external_id(id.clone());
            }
            if let Some(d) = c.settings.get("session_duration") {
                let d = humantime_duration(d).ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "connector `{}`: session_duration `{d}` is not a duration",
                            c.name
                        ),
                    )
                })?;
                assume = assume.session_length(d);
            }
            let provider = assume.configure(&base).build().await;
            builder = builder.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            );
        }
        other => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("aws connectors have no auth method `{other}`"),
            ));
        }
    }
    Ok(builder.build())
}

/// `900s`, `15m`, `1h`: the forms a session duration takes.
fn humantime_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    }))
}
