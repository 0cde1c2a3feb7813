//! A storage account and how requests to its Blob service are authorized: signed with its key
//! (`shared_key.rs`), or carrying an Entra ID token of a connector's identity or the
//! environment's (`entra`: a service principal's secret, workload or managed identity, or the
//! developer tools' sign-in).
//!
//! Which account: `AZURE_STORAGE_CONNECTION_STRING` (`AccountName=..;AccountKey=..;
//! BlobEndpoint=..`, as Azurite and the portal print it), else `AZURE_STORAGE_ACCOUNT` with
//! `AZURE_STORAGE_KEY` (and `AZURE_STORAGE_BLOB_ENDPOINT` for an emulator; by default
//! `https://ACCOUNT.blob.core.windows.net`). A template's `providers.azure.storage_account`
//! names the account when the environment's connection string is for another.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Url};
use azure_storage_blob::{
    BlobContainerClient, BlobContainerClientOptions, BlobServiceClient, BlobServiceClientOptions,
};
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::{arm, shared_key};

/// The service version sent: one Azurite 3.35 knows, so it needs no `--skipApiVersionCheck`.
const VERSION: &str = "2025-11-05";

/// A storage account and the key that signs for it.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    /// `https://ACCOUNT.blob.core.windows.net`, or an emulator's `http://127.0.0.1:PORT/ACCOUNT`.
    pub endpoint: String,
    key: Option<String>,
    /// Without a key: a connector's Entra ID identity, else the environment's (`entra`).
    credential: Option<Arc<dyn TokenCredential>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Account({} at {})", self.name, self.endpoint)
    }
}

impl Account {
    /// An account at `endpoint` whose key is `key` (base64).
    pub fn new(name: &str, endpoint: &str, key: &str) -> Account {
        Account {
            name: name.to_owned(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            key: Some(key.to_owned()),
            credential: None,
        }
    }

    /// The same account reached as `credential` instead of any key.
    pub fn with_credential(self, credential: Arc<dyn TokenCredential>) -> Account {
        Account {
            key: None,
            credential: Some(credential),
            ..self
        }
    }

    /// Whether the environment names a storage account at all.
    pub fn configured() -> bool {
        ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT"]
            .iter()
            .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
    }

    /// From the environment; `name` (a template's) picks the account when given.
    pub fn from_env(name: Option<&str>) -> Result<Account, ProviderError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut parts = std::collections::BTreeMap::new();
        if let Some(cs) = var("AZURE_STORAGE_CONNECTION_STRING") {
            for p in cs.split(';') {
                if let Some((k, v)) = p.split_once('=') {
                    parts.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
        }
        let env_name = parts
            .get("AccountName")
            .cloned()
            .or_else(|| var("AZURE_STORAGE_ACCOUNT"));
        let account = match (name, env_name.as_deref()) {
            (Some(n), _) => n.to_owned(),
            (None, Some(n)) => n.to_owned(),
            (None, None) => {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    "no Azure storage account: set `providers.azure.storage_account`, AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING",
                ));
            }
        };
        let same = env_name.as_deref() == Some(account.as_str());
        let key = if same {
            parts
                .get("AccountKey")
                .cloned()
                .or_else(|| var("AZURE_STORAGE_KEY"))
        } else {
            None
        };
        let endpoint = if same {
            parts
                .get("BlobEndpoint")
                .cloned()
                .or_else(|| var("AZURE_STORAGE_BLOB_ENDPOINT"))
        } else {
            None
        }
        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
        Ok(Account {
            name: account,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            key,
            credential: None,
        })
    }

    /// A client for `container`, signing with the account key.
    pub fn container(&self, container: &str) -> Result<BlobContainerClient, ProviderError> {
        let url = Url::parse(&format!("{}/{container}", self.endpoint)).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("bad Blob endpoint `{}`: {e}", self.endpoint),
            )
        })?;
        let (client_options, credential) = self.auth()?;
        BlobContainerClient::new(
            url,
            credential,
            Some(BlobContainerClientOptions {
                client_options,
                version: VERSION.to_owned(),
            }),
        )
        .map_err(|e| self.refused(e))
    }

    /// A client for the account's Blob service (listing containers).
    pub fn service(&self) -> Result<BlobServiceClient, ProviderError> {
        let url = Url::parse(&self.endpoint).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("bad Blob endpoint `{}`: {e}", self.endpoint),
            )
        })?;
        let (client_options, credential) = self.auth()?;
        BlobServiceClient::new(
            url,
            credential,
            Some(BlobServiceClientOptions {
                client_options,
                version: VERSION.to_owned(),
            }),
        )
        .map_err(|e| self.refused(e))
    }

    /// Why a client could not be made (an Entra token over plain http, mostly).
    fn refused(&self, e: azure_core::Error) -> ProviderError {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("storage account `{}` at {}: {e}", self.name, self.endpoint),
        )
    }

    /// How requests are authorized: signed with the account key when there is one, else with an
    /// Entra ID token (`entra`).
    fn auth(&self) -> Result<(ClientOptions, Option<Arc<dyn TokenCredential>>), ProviderError> {
        crate::tls::ensure();
        let Some(key) = &self.key else {
            let credential = match &self.credential {
                Some(c) => Arc::clone(c),
                None => entra()?,
            };
            return Ok((ClientOptions::default(), Some(credential)));
        };
        let signer = shared_key::SharedKey::new(&self.name, key)
            .map_err(|m| ProviderError::new(ErrorKind::Permission, m))?;
        Ok((
            ClientOptions {
                per_try_policies: vec![Arc::new(signer)],
                ..Default::default()
            },
            None,
        ))
    }

    /// A client for one blob (its URL built by the caller), authorized like the others.
    pub fn blob(&self, url: Url) -> Result<azure_storage_blob::BlobClient, ProviderError> {
        let (client_options, credential) = self.auth()?;
        azure_storage_blob::BlobClient::new(
            url,
            credential,
            Some(azure_storage_blob::BlobClientOptions {
                client_options,
                version: VERSION.to_owned(),
            }),
        )
        .map_err(|e| self.refused(e))
    }
}

/// An Entra ID credential, for an account without a key: a service principal's secret
/// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity
/// (`AZURE_FEDERATED_TOKEN_FILE`), managed identity (`AZURE_USE_MANAGED_IDENTITY=true`, on a VM),
/// else the developer tools' sign-in (`az login`, `azd auth login`).
pub fn entra() -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let failed = |e: azure_core::Error| {
        ProviderError::new(
            ErrorKind::Permission,
            format!("cannot set up Entra ID sign-in: {e}"),
        )
    };
    Ok(
        match (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            (Some(tenant), Some(client), Some(secret)) => {
                return service_principal(&tenant, &client, secret);
            }
            _ if var("AZURE_FEDERATED_TOKEN_FILE").is_some() => {
                azure_identity::WorkloadIdentityCredential::new(None).map_err(failed)?
            }
            _ if var("AZURE_USE_MANAGED_IDENTITY").is_some_and(|v| v == "true") => {
                azure_identity::ManagedIdentityCredential::new(None).map_err(failed)?
            }
            _ => azure_identity::DeveloperToolsCredential::new(None).map_err(failed)?,
        },
    )
}

/// A service principal signing in with its client secret at the authority host
/// (`AZURE_AUTHORITY_HOST`, default `https://login.microsoftonline.com`), over the client that
/// trusts `STACKFORM_AZURE_CA_FILE`.
pub fn service_principal(
    tenant: &str,
    client_id: &str,
    secret: String,
) -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let options = azure_identity::ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(azure_core::http::Transport::new(Arc::new(
                arm::http_client()?,
            ))),
            ..Default::default()
        },
    };
    let credential: Arc<dyn TokenCredential> = azure_identity::ClientSecretCredential::new(
        tenant,
        client_id.to_owned(),
        azure_core::credentials::Secret::new(secret),
        Some(options),
    )
    .map_err(|e| {
        ProviderError::new(
            ErrorKind::Permission,
            format!("cannot set up Entra ID sign-in for client {client_id}: {e}"),
        )
    })?;
    Ok(credential)
}

/// Whether `AZURE_AUTHORITY_HOST` is a loopback server (the tests' token endpoint).
pub fn authority_is_loopback() -> bool {
    std::env::var("AZURE_AUTHORITY_HOST").is_ok_and(|h| {
        let host = h.split("://").nth(1).unwrap_or(&h);
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]")
    })
}
