//! A gcp connector's own credentials: a service account key from the secret store (its tokens
//! are JWTs signed here; the key never leaves the process), an identity impersonated from the
//! application default credentials, or those credentials themselves. What the client pool and
//! the connector kind both start from.

use google_cloud_auth::credentials::Credentials;
use stackform_engine::ext::connectors::Resolved;
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::api::Apis;
use super::json::Gcs;

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// A service account key's JSON, from the connector's key material.
pub fn key_json(resolved: &Resolved) -> Result<serde_json::Value, ProviderError> {
    let text = resolved
        .secrets
        .get("service_account_json")
        .ok_or_else(|| {
            invalid(format!(
                "gcp connector `{}` has no `service_account_json` in the secret store",
                resolved.connector.name
            ))
        })?;
    // Never echo the text: it is a private key.
    serde_json::from_str(text).map_err(|_| {
        invalid(format!(
            "the service account key of gcp connector `{}` is not JSON: register it again with the key file Google gave (`--from-file service_account_json=KEY.json`)",
            resolved.connector.name
        ))
    })
}

/// A connector's own credentials, and whether they are self-signed (a key's JWTs, made here)
/// rather than tokens Google hands out (impersonation).
#[derive(Clone)]
pub struct Own {
    pub credentials: Credentials,
    pub self_signed: bool,
}

/// How a connector's identity is built: from its key, by impersonation from the application
/// default credentials, or as those credentials themselves.
pub enum Source {
    Key(serde_json::Value),
    Impersonate(String),
    Default,
}

pub fn identity_of(resolved: &Resolved) -> Result<Source, ProviderError> {
    let c = &resolved.connector;
    Ok(match c.auth_method.as_str() {
        "service-account-key" => Source::Key(key_json(resolved)?),
        "impersonation" => match c.settings.get("target_principal") {
            Some(target) => Source::Impersonate(target.clone()),
            None => {
                return Err(invalid(format!(
                    "gcp connector `{}` impersonates nobody: register it with `--setting target_principal=EMAIL`",
                    c.name
                )));
            }
        },
        _ => Source::Default,
    })
}

/// The application default credentials an impersonation starts from.
pub fn source_credentials() -> Result<Credentials, ProviderError> {
    google_cloud_auth::credentials::Builder::default()
        .build()
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Permission,
                format!("no application default credentials to impersonate from: {e}"),
            )
        })
}

/// The connector's own credentials, `None` for application default credentials.
pub fn credentials(resolved: &Resolved) -> Result<Option<Own>, ProviderError> {
    // A key signs its tokens with rustls' provider, which must be installed first.
    crate::tls::ensure();
    let (built, self_signed) = match identity_of(resolved)? {
        Source::Key(key) => (
            google_cloud_auth::credentials::service_account::Builder::new(key).build(),
            true,
        ),
        Source::Impersonate(target) => (
            google_cloud_auth::credentials::impersonated::Builder::from_source_credentials(
                source_credentials()?,
            )
            .with_target_principal(target)
            .build(),
            false,
        ),
        Source::Default => return Ok(None),
    };
    built
        .map(|credentials| {
            Some(Own {
                credentials,
                self_signed,
            })
        })
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "gcp connector `{}`: unusable credentials: {e}",
                    resolved.connector.name
                ),
            )
        })
}

/// The Google API clients as `own` (the environment's credentials with `None`).
pub fn apis(own: Option<&Own>) -> Apis {
    own.map_or_else(Apis::from_env, |o| {
        Apis::with_credentials(o.credentials.clone(), o.self_signed)
    })
}

/// Cloud Storage as `own`.
pub fn gcs(own: Option<&Own>) -> Gcs {
    own.map_or_else(Gcs::from_env, |o| {
        Gcs::with_credentials(o.credentials.clone())
    })
}
