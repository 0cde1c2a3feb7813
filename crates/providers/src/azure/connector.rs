//! What an azure connector reaches. A `storage-shared-key` connector is verified and lists its
//! account's containers through the Blob service itself (Azurite on loopback), signed with the
//! key from the secret store; the key never leaves this process. Connectors of the Entra ID
//! methods (implicit, service principal) are checked when a stack first uses them: their
//! identities live in Entra ID, which has no emulator to test a check against.

use azure_storage_blob::models::BlobServiceClientListContainersOptions;
use futures_util::TryStreamExt;
use stackform_engine::connectors::Resolved;
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::{Account, error};

/// The storage account a `storage-shared-key` connector signs for. `blob_endpoint` overrides
/// `https://ACCOUNT.blob.core.windows.net` (an emulator, a sovereign cloud).
pub fn account(resolved: &Resolved) -> Result<Account, ProviderError> {
    let c = &resolved.connector;
    if c.auth_method != "storage-shared-key" {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "azure connector `{}` uses `{}`, whose Entra ID identity this stackform checks only when a stack uses it; `storage-shared-key` connectors can be verified and listed",
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

/// The account's containers, as the `az://NAME` URIs artifact stores take.
pub async fn list_containers(resolved: &Resolved) -> Result<Vec<String>, ProviderError> {
    let account = account(resolved)?;
    let what = format!(
        "list the containers of storage account {} at {}",
        account.name, account.endpoint
    );
    let mut pager = account
        .service()?
        .list_containers(Some(BlobServiceClientListContainersOptions::default()))
        .map_err(|e| error(&what, &e))?;
    let mut out = Vec::new();
    while let Some(item) = pager.try_next().await.map_err(|e| error(&what, &e))? {
        if let Some(name) = item.name {
            out.push(format!("az://{name}"));
        }
    }
    out.sort();
    Ok(out)
}

/// Who the connector is: the account whose key it holds, proven by a signed request the
/// service accepts. A wrong key is refused by the service (403).
pub async fn verify(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let account = account(resolved)?;
    list_containers(resolved).await?;
    Ok((
        account.name.clone(),
        format!(
            "shared key of storage account {} at {}",
            account.name, account.endpoint
        ),
    ))
}
