//! The connector a provider's settings name (`providers.<cloud>.connector`), resolved with its
//! key material for that provider: what every cloud's client pool starts from; and what the
//! clouds' connector kinds share (what they reach as stack components, artifact store URIs).

use std::sync::Arc;

use stackform_engine::base::value::Value;
use stackform_engine::ext::connectors::{ConnectorSource, Resolved};
use stackform_engine::provider::{ConnectorFailure, ErrorKind, Props, ProviderError, Reached};

/// The connector `settings` name, if any.
pub fn named(settings: &Props) -> Option<&str> {
    match settings.get("connector") {
        Some(Value::String(n)) if !n.is_empty() => Some(n.as_str()),
        _ => None,
    }
}

/// Connector `name`, which must be of `kind` (the provider's cloud).
pub async fn resolve(
    connectors: Option<&Arc<dyn ConnectorSource>>,
    name: &str,
    kind: &str,
) -> Result<Resolved, ProviderError> {
    let invalid = |m: String| ProviderError::new(ErrorKind::Invalid, m);
    let source = connectors.ok_or_else(|| {
        invalid(format!(
            "connector `{name}` cannot be used here: no connector store"
        ))
    })?;
    let resolved = source
        .resolve(name)
        .await
        .map_err(|e| invalid(format!("connector `{name}`: {e}; {}", e.help())))?;
    if resolved.connector.kind != kind {
        let article = if kind == "aws" || kind == "azure" {
            "an"
        } else {
            "a"
        };
        return Err(invalid(format!(
            "connector `{name}` is a {} connector, not {article} {kind} one",
            resolved.connector.kind
        )));
    }
    Ok(resolved)
}

/// What a connector reaches, `(ZenML resource type, id)`, with the stack component each can
/// be.
pub fn reached(found: Vec<(String, String)>) -> Vec<Reached> {
    found
        .into_iter()
        .map(|(resource_type, id)| {
            let component = match resource_type.as_str() {
                "s3-bucket" | "gcs-bucket" | "blob-container" => Some("artifact_store"),
                "docker-registry" => Some("container_registry"),
                "kubernetes-cluster" => Some("orchestrator"),
                _ => None,
            };
            Reached {
                resource_type,
                id,
                component,
            }
        })
        .collect()
}

/// The bucket or container an `--artifact-store` URI names (`s3://NAME/...`): `what` says
/// what it must be (`a s3:// URI, which a aws connector reaches`), `example` shows one.
pub fn artifact_store(
    uri: &str,
    scheme: &str,
    what: &str,
    example: &str,
) -> Result<String, ConnectorFailure> {
    uri.strip_prefix(scheme)
        .map(|b| b.split('/').next().unwrap_or_default())
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ConnectorFailure::Advised {
            usage: true,
            code: "register::artifact_store",
            message: format!("--artifact-store `{uri}` is not {what}"),
            help: format!("e.g. --artifact-store {example}"),
        })
}
