//! The Azure clients, and which identity a stack's Azure resources are reached with: the
//! environment's, or that of the azure connector its provider settings name
//! (`providers.azure.connector`), resolved once per connector and process.
//!
//! - `storage-shared-key`: the connector's storage account, signed with its key. Blob
//!   containers only: ARM takes no account key, so ARM types refuse such a connector.
//! - `service-principal`: the client secret signs in at Entra ID; both ARM and Blob calls carry
//!   its tokens.
//! - `implicit`: the environment's Entra ID identity, as without a connector.
//!
//! `mod.rs` holds the pool ([`Azure`]) and what a connector's record gives (its service
//! principal, its storage account); `account.rs` a storage account and the Blob clients, signed
//! with its key (`shared_key.rs`, the SharedKey policy the crate lacks) or carrying an Entra ID
//! token; `arm.rs` Azure Resource Manager over azure_core's pipeline and its long-running
//! operations; `error.rs` what the Blob service's and ARM's errors mean to the executor.

pub mod account;
pub mod arm;
mod error;
pub mod shared_key;

use std::collections::HashMap;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use stackform_engine::ext::connectors::{ConnectorSource, Resolved};
use stackform_engine::provider::{ErrorKind, OpContext, Props, ProviderError};
use tokio::sync::Mutex;

pub use account::Account;
use arm::Arm;
pub use error::{causes, classify, code, error};

/// What one identity reaches.
struct Reach {
    /// A storage-shared-key connector's account.
    account: Option<Account>,
    /// A service principal's sign-in.
    credential: Option<Arc<dyn TokenCredential>>,
    /// Why a connector cannot reach ARM (it holds a storage key), or the client.
    arm: Result<Arc<Arm>, String>,
}

pub struct Azure {
    connectors: Option<Arc<dyn ConnectorSource>>,
    reach: Mutex<HashMap<String, Arc<Reach>>>,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// The connector's service principal.
pub fn principal(resolved: &Resolved) -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let c = &resolved.connector;
    let setting = |k: &str| {
        c.settings.get(k).cloned().ok_or_else(|| {
            invalid(format!(
                "azure connector `{}` has no `{k}` setting: register it again with `--setting {k}=...`",
                c.name
            ))
        })
    };
    let (tenant, client) = (setting("tenant_id")?, setting("client_id")?);
    let secret = resolved.secrets.get("client_secret").ok_or_else(|| {
        invalid(format!(
            "azure connector `{}` has no `client_secret` in the secret store",
            c.name
        ))
    })?;
    account::service_principal(&tenant, &client, secret.clone())
}

/// The storage account a `storage-shared-key` connector signs for. `blob_endpoint` overrides
/// `https://ACCOUNT.blob.core.windows.net` (an emulator, a sovereign cloud).
pub fn shared_key_account(resolved: &Resolved) -> Result<Account, ProviderError> {
    let c = &resolved.connector;
    if c.auth_method != "storage-shared-key" {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "azure connector `{}` uses `{}`: it signs in to Entra ID and holds no storage account key, so it lists no containers; a `storage-shared-key` connector does",
                c.name, c.auth_method
            ),
        ));
    }
    let name = c.settings.get("account_name").ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("azure connector `{}` has no `account_name` setting", c.name),
        )
    })?;
    let key = resolved.secrets.get("account_key").ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "azure connector `{}` has no `account_key` in the secret store",
                c.name
            ),
        )
    })?;
    let endpoint = c
        .settings
        .get("blob_endpoint")
        .cloned()
        .unwrap_or_else(|| format!("https://{name}.blob.core.windows.net"));
    Ok(Account::new(name, &endpoint, key))
}

impl Azure {
    pub fn new(connectors: Option<Arc<dyn ConnectorSource>>) -> Azure {
        Azure {
            connectors,
            reach: Mutex::default(),
        }
    }

    /// The ARM client for an operation.
    pub async fn arm(&self, ctx: &OpContext) -> Result<Arc<Arm>, ProviderError> {
        self.arm_for(&ctx.settings).await
    }

    /// The ARM client for a provider's `settings`.
    pub async fn arm_for(&self, settings: &Props) -> Result<Arc<Arm>, ProviderError> {
        self.reach(settings).await?.arm.clone().map_err(invalid)
    }

    /// The storage account `name` (else the connector's, else the environment's), reached as
    /// the settings' identity.
    pub async fn account_for(
        &self,
        settings: &Props,
        name: Option<&str>,
    ) -> Result<Account, ProviderError> {
        let reach = self.reach(settings).await?;
        if let Some(account) = &reach.account {
            return match name {
                Some(n) if n != account.name => Err(invalid(format!(
                    "the stack's azure connector signs for storage account `{}`, not `{n}`",
                    account.name
                ))),
                _ => Ok(account.clone()),
            };
        }
        let account = Account::from_env(name)?;
        Ok(match &reach.credential {
            Some(c) => account.with_credential(Arc::clone(c)),
            None => account,
        })
    }

    /// An Entra ID token for AKS's API servers (their server application) of the identity
    /// `settings` name: the connector's, else the environment's.
    pub async fn aks_token(&self, settings: &Props) -> Result<String, ProviderError> {
        if let Some(name) = crate::connected::named(settings) {
            let resolved =
                crate::connected::resolve(self.connectors.as_ref(), name, "azure").await?;
            return Ok(crate::azure::connector::aks_token(&resolved).await?.token);
        }
        // The environment's sign-in would reach Entra ID itself: never while ARM is a loopback
        // server's, unless Entra ID is one too.
        if Arm::from_env().loopback() && !account::authority_is_loopback() {
            return Err(ProviderError::new(
                ErrorKind::Permission,
                "Azure Resource Manager is a loopback server's (STACKFORM_AZURE_ARM_ENDPOINT): sign in to the cluster through an azure connector (`deploy --connector NAME`)",
            ));
        }
        let token = account::entra()?
            .get_token(&[crate::azure::connector::AKS_SERVER_APP], None)
            .await
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Permission,
                    format!("no Entra ID token for AKS: {}", causes(&e)),
                )
            })?;
        Ok(token.token.secret().to_owned())
    }

    async fn reach(&self, settings: &Props) -> Result<Arc<Reach>, ProviderError> {
        let name = crate::connected::named(settings).unwrap_or_default();
        let mut cache = self.reach.lock().await;
        if let Some(r) = cache.get(name) {
            return Ok(Arc::clone(r));
        }
        let reach = if name.is_empty() {
            Reach {
                account: None,
                credential: None,
                arm: Ok(Arc::new(Arm::from_env())),
            }
        } else {
            let resolved =
                crate::connected::resolve(self.connectors.as_ref(), name, "azure").await?;
            let subscription = resolved.connector.settings.get("subscription_id").cloned();
            match resolved.connector.auth_method.as_str() {
                "storage-shared-key" => Reach {
                    account: Some(shared_key_account(&resolved)?),
                    credential: None,
                    arm: Err(format!(
                        "azure connector `{name}` holds a storage account key, which Azure Resource Manager does not take: deploy ARM resources through a `service-principal` or `implicit` azure connector"
                    )),
                },
                "service-principal" => {
                    let credential = principal(&resolved)?;
                    Reach {
                        account: None,
                        arm: Ok(Arc::new(Arm::for_connector(
                            Some(Arc::clone(&credential)),
                            subscription,
                        ))),
                        credential: Some(credential),
                    }
                }
                _ => Reach {
                    account: None,
                    credential: None,
                    arm: Ok(Arc::new(Arm::for_connector(None, subscription))),
                },
            }
        };
        let reach = Arc::new(reach);
        cache.insert(name.to_owned(), Arc::clone(&reach));
        Ok(reach)
    }
}
