//! The connector a provider's settings name (`providers.<cloud>.connector`), resolved with its
//! key material for that provider: what every cloud's client pool starts from.

use std::sync::Arc;

use stackform_engine::base::value::Value;
use stackform_engine::ext::connectors::{ConnectorSource, Resolved};
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

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
