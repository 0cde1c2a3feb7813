//! AWS credentials from a service connector: access keys and session tokens as given, a named
//! profile, or a role assumed through STS (with an external id and session length) on top of
//! the standard chain. Also `verify`, the connector's "who am I".

use std::time::Duration;

use stackform_engine::connectors::Resolved;
use stackform_engine::provider::{ErrorKind, ProviderError};

/// The SDK configuration a connector gives, in `region` (else the chain's).
pub async fn sdk_config(
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
    let base = super::sdk_config(region).await;
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

/// Who the connector's credentials are: (account, ARN).
pub async fn verify(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = sdk_config(resolved, region.as_deref()).await?;
    let sts = aws_sdk_sts::Client::new(&config);
    match sts.get_caller_identity().send().await {
        Ok(out) => Ok((
            out.account().unwrap_or_default().to_owned(),
            out.arn().unwrap_or_default().to_owned(),
        )),
        Err(e) => {
            let message = match &e {
                aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => {
                    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                    format!(
                        "{}: {}",
                        s.err().code().unwrap_or("error"),
                        s.err().message().unwrap_or("")
                    )
                }
                other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
            };
            Err(ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "sts:GetCallerIdentity was refused for connector `{}`: {message}",
                    resolved.connector.name
                ),
            ))
        }
    }
}

/// What the connector can reach, by ZenML resource type (`s3-bucket`, `docker-registry`,
/// `kubernetes-cluster`): `(type, id)` where id is the URI a stack registers.
pub async fn list_resources(
    resolved: &Resolved,
    only: Option<&str>,
) -> Result<Vec<(String, String)>, ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = sdk_config(resolved, region.as_deref()).await?;
    let wants = |t: &str| only.is_none_or(|o| o == t);
    let refused = |what: &str, e: String| {
        ProviderError::new(
            ErrorKind::Permission,
            format!(
                "{what} was refused for connector `{}`: {e}",
                resolved.connector.name
            ),
        )
    };
    let text = |e: &dyn std::error::Error| {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    };
    let mut out = Vec::new();
    if wants("s3-bucket") {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(config.endpoint_url().is_some())
                .build(),
        );
        let buckets = s3
            .list_buckets()
            .send()
            .await
            .map_err(|e| refused("s3:ListBuckets", text(&e)))?;
        for b in buckets.buckets() {
            if let Some(name) = b.name() {
                out.push(("s3-bucket".to_owned(), format!("s3://{name}")));
            }
        }
    }
    if wants("docker-registry") {
        let ecr = aws_sdk_ecr::Client::new(&config);
        let repos = super::util::pages(|token| {
            let ecr = ecr.clone();
            async move {
                let page = ecr
                    .describe_repositories()
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| refused("ecr:DescribeRepositories", text(&e)))?;
                Ok((
                    page.repositories().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await?;
        for r in repos {
            if let Some(uri) = r.repository_uri() {
                out.push(("docker-registry".to_owned(), uri.to_owned()));
            }
        }
    }
    if wants("kubernetes-cluster") {
        let eks = aws_sdk_eks::Client::new(&config);
        let clusters = super::util::pages(|token| {
            let eks = eks.clone();
            async move {
                let page = eks
                    .list_clusters()
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| refused("eks:ListClusters", text(&e)))?;
                Ok((
                    page.clusters().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await?;
        for c in clusters {
            out.push(("kubernetes-cluster".to_owned(), c));
        }
    }
    Ok(out)
}
