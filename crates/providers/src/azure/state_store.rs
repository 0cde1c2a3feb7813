//! Remote state in Blob Storage (`--state-backend azblob://account/container/prefix`): the
//! engine's [`ObjectStore`] with blob ETags as versions (`If-None-Match: *` to create only if
//! absent, `If-Match` to replace only the version last seen).
//!
//! The lock is the same conditional-write lease as on S3 and GCS rather than a native blob lease:
//! one protocol for every backend, with expiry by the storage's clock (Last-Modified against
//! the answer's Date), where a native lease would cap the lease at 60 s and need the lease id on
//! every write of the lock.

use std::time::SystemTime;

use azure_core::http::{Etag, RequestContent, Url};
use azure_storage_blob::BlobClient;
use azure_storage_blob::models::{
    BlobClientDeleteOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
};
use futures_util::TryStreamExt;
use stackform_engine::state::remote::{Condition, Object, ObjectStore, StoreError, Version};

use super::client::{Account, code, error};

pub struct AzureStore {
    account_name: String,
    container: String,
    prefix: String,
}

impl AzureStore {
    pub fn new(account: &str, container: &str, prefix: &str) -> AzureStore {
        AzureStore {
            account_name: account.to_owned(),
            container: container.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn account(&self) -> Result<Account, StoreError> {
        Account::from_env(Some(&self.account_name)).map_err(|e| StoreError::Denied(e.message))
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn at(&self, key: &str) -> String {
        format!(
            "azblob://{}/{}/{}",
            self.account_name,
            self.container,
            self.full(key)
        )
    }

    /// A client for one blob, its name's `/` kept as path separators.
    fn blob(&self, key: &str) -> Result<BlobClient, StoreError> {
        let account = self.account()?;
        let container = account
            .container(&self.container)
            .map_err(|e| StoreError::Denied(e.message))?;
        let mut url: Url = container.url().clone();
        url.path_segments_mut()
            .map_err(|_| StoreError::Failed(format!("{}: not a base URL", self.at(key))))?
            .extend(self.full(key).split('/'));
        account.blob(url).map_err(|e| StoreError::Denied(e.message))
    }

    fn failure(&self, key: &str, e: &azure_core::Error) -> StoreError {
        let text = format!("{}: {}", self.at(key), error("blob storage", e).message);
        match (e.http_status().map(u16::from), code(e)) {
            (_, Some("ContainerNotFound")) => StoreError::NoContainer(text),
            (Some(409) | Some(412), _) => StoreError::Conflict(text),
            (Some(401) | Some(403), _) => StoreError::Denied(text),
            _ => StoreError::Failed(text),
        }
    }
}

fn time(t: Option<azure_core::time::OffsetDateTime>) -> SystemTime {
    t.map_or_else(SystemTime::now, SystemTime::from)
}

#[async_trait::async_trait]
impl ObjectStore for AzureStore {
    fn url(&self) -> String {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.prefix)
        };
        format!("azblob://{}/{}{prefix}", self.account_name, self.container)
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let blob = self.blob(key)?;
        let d = match blob.download(None).await {
            Ok(d) => d,
            Err(e) if code(&e) == Some("BlobNotFound") => return Ok(None),
            Err(e) => return Err(self.failure(key, &e)),
        };
        let version = Version(
            d.properties
                .etag
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        );
        stackform_engine::state::remote::check_size(
            &format!("{}/{key}", self.url()),
            d.properties.content_length,
        )?;
        let modified = time(d.properties.last_modified);
        let read_at = d
            .headers
            .get_optional_string(&azure_core::http::headers::HeaderName::from_static("date"))
            .as_deref()
            .and_then(crate::time::http_date)
            .unwrap_or_else(SystemTime::now);
        let bytes = d
            .body
            .collect()
            .await
            .map_err(|e| self.failure(key, &e))?
            .to_vec();
        Ok(Some(Object {
            bytes,
            version,
            modified,
            read_at,
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Version, StoreError> {
        let blob = self.blob(key)?;
        let mut options = BlobClientUploadOptions {
            blob_content_type: Some("application/json".into()),
            ..Default::default()
        };
        match condition {
            Condition::Any => {}
            Condition::Absent => options.if_none_match = Some(Etag::from("*")),
            Condition::Matches(v) => options.if_match = Some(Etag::from(v.0)),
        }
        match blob
            .upload(RequestContent::from(bytes), Some(options))
            .await
        {
            Ok(r) => Ok(Version(r.etag.map(|e| e.to_string()).unwrap_or_default())),
            // `If-Match` on a blob that is gone: someone else removed it, a lost race.
            Err(e) if code(&e) == Some("BlobNotFound") => Err(StoreError::Conflict(format!(
                "{}: it is gone",
                self.at(key)
            ))),
            Err(e) => Err(self.failure(key, &e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self
            .blob(key)?
            .delete(Some(BlobClientDeleteOptions::default()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("BlobNotFound") => Ok(()),
            Err(e) => Err(self.failure(key, &e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let account = self.account()?;
        let container = account
            .container(&self.container)
            .map_err(|e| StoreError::Denied(e.message))?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut items = container
            .list_blobs(Some(BlobContainerClientListBlobsOptions {
                prefix: Some(self.full(prefix)),
                ..Default::default()
            }))
            .map_err(|e| self.failure(prefix, &e))?;
        let mut out = Vec::new();
        while let Some(item) = items
            .try_next()
            .await
            .map_err(|e| self.failure(prefix, &e))?
        {
            if let Some(name) = item.name
                && let Some(rest) = name.strip_prefix(&strip)
            {
                out.push(rest.to_owned());
            }
        }
        Ok(out)
    }
}
