//! Remote state in Cloud Storage (`--state-backend gs://bucket/prefix`): the engine's
//! [`ObjectStore`] with GCS generations as versions.
//!
//! Writes and reads of contents go through the official `google-cloud-storage` client
//! (`write_object(..).set_if_generation_match(0 | generation).send_buffered()`: `send_buffered`,
//! since `send_unbuffered` corrupts small objects on fake-gcs-server); the object's metadata
//! (generation, update time), listing and deletion go through the JSON API, which the client does
//! not offer over HTTP, and whose `Date` header is the storage's clock.

use std::sync::Arc;
use std::time::SystemTime;

use reqwest::Method;
use stackform_engine::provider::ProviderError;
use stackform_engine::state::remote::{Condition, Object, ObjectStore, StoreError, Version};
use tokio::sync::OnceCell;

use super::client::json::{Answer, Body, Gcs, segment};

pub struct GcsStore {
    bucket: String,
    prefix: String,
    gcs: Arc<Gcs>,
    client: OnceCell<google_cloud_storage::client::Storage>,
}

impl GcsStore {
    pub fn new(bucket: &str, prefix: &str) -> GcsStore {
        GcsStore {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            gcs: Arc::new(Gcs::from_env()),
            client: OnceCell::new(),
        }
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn at(&self, key: &str) -> String {
        format!("gs://{}/{}", self.bucket, self.full(key))
    }

    async fn client(&self) -> Result<&google_cloud_storage::client::Storage, StoreError> {
        self.client
            .get_or_try_init(|| async {
                use google_cloud_gax::retry_policy::RetryPolicyExt;
                let mut builder = google_cloud_storage::client::Storage::builder()
                    .with_retry_policy(
                        google_cloud_storage::retry_policy::RetryableErrors.with_attempt_limit(3),
                    );
                builder = match self.gcs.credentials().await.map_err(denied)? {
                    Some(creds) => builder.with_credentials(creds),
                    None => builder
                        .with_endpoint(self.gcs.endpoint.clone())
                        .with_credentials(
                            google_cloud_auth::credentials::anonymous::Builder::new().build(),
                        ),
                };
                builder
                    .build()
                    .await
                    .map_err(|e| StoreError::Failed(format!("gs://{}: {e}", self.bucket)))
            })
            .await
    }

    async fn json(&self, what: &str, method: Method, path: &str) -> Result<Answer, StoreError> {
        self.gcs
            .call(what, method, path, Body::None)
            .await
            .map_err(|e| StoreError::Failed(e.message))
    }

    fn failure(&self, key: &str, a: &Answer) -> StoreError {
        let text = format!(
            "{}: HTTP {} {}",
            self.at(key),
            a.status.as_u16(),
            a.body["error"]["message"].as_str().unwrap_or_default()
        );
        match a.status.as_u16() {
            401 | 403 => StoreError::Denied(text),
            409 | 412 => StoreError::Conflict(text),
            404 => StoreError::NoContainer(text),
            _ => StoreError::Failed(text),
        }
    }
}

fn denied(e: ProviderError) -> StoreError {
    StoreError::Denied(e.message)
}

#[async_trait::async_trait]
impl ObjectStore for GcsStore {
    fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let path = format!(
            "/storage/v1/b/{}/o/{}",
            segment(&self.bucket),
            segment(&self.full(key))
        );
        let meta = self.json("storage.objects.get", Method::GET, &path).await?;
        if meta.status.as_u16() == 404 {
            // The object, or the whole bucket, is not there.
            if meta.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.to_ascii_lowercase().contains("bucket"))
            {
                return Err(self.failure(key, &meta));
            }
            return Ok(None);
        }
        if !meta.status.is_success() {
            return Err(self.failure(key, &meta));
        }
        stackform_engine::state::remote::check_size(
            &self.at(key),
            meta.body["size"].as_str().and_then(|n| n.parse().ok()),
        )?;
        let generation: i64 = meta.body["generation"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .unwrap_or_default();
        let modified = meta.body["updated"]
            .as_str()
            .and_then(crate::time::rfc3339)
            .unwrap_or_else(SystemTime::now);
        let read = self
            .client()
            .await?
            .read_object(
                format!("projects/_/buckets/{}", self.bucket),
                self.full(key),
            )
            .set_generation(generation)
            .send()
            .await;
        let mut resp = match read {
            Ok(r) => r,
            Err(e) if e.http_status_code() == Some(404) => return Ok(None),
            Err(e) => return Err(StoreError::Failed(format!("{}: {e}", self.at(key)))),
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.next().await {
            let chunk = chunk.map_err(|e| StoreError::Failed(format!("{}: {e}", self.at(key))))?;
            bytes.extend_from_slice(&chunk);
            stackform_engine::state::remote::check_size(&self.at(key), Some(bytes.len() as u64))?;
        }
        Ok(Some(Object {
            bytes,
            version: Version(generation.to_string()),
            modified,
            read_at: meta.date.unwrap_or_else(SystemTime::now),
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Version, StoreError> {
        let mut write = self.client().await?.write_object(
            format!("projects/_/buckets/{}", self.bucket),
            self.full(key),
            bytes::Bytes::from(bytes),
        );
        write = match &condition {
            Condition::Any => write,
            Condition::Absent => write.set_if_generation_match(0),
            Condition::Matches(v) => {
                write.set_if_generation_match(v.0.parse::<i64>().unwrap_or(-1))
            }
        };
        match write
            .set_content_type("application/json")
            .send_buffered()
            .await
        {
            Ok(object) => Ok(Version(object.generation.to_string())),
            Err(e) => {
                let text = format!("{}: {e}", self.at(key));
                Err(match e.http_status_code() {
                    Some(412) | Some(409) => StoreError::Conflict(text),
                    Some(401) | Some(403) => StoreError::Denied(text),
                    Some(404) => StoreError::NoContainer(text),
                    _ => StoreError::Failed(text),
                })
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = format!(
            "/storage/v1/b/{}/o/{}",
            segment(&self.bucket),
            segment(&self.full(key))
        );
        let a = self
            .json("storage.objects.delete", Method::DELETE, &path)
            .await?;
        if a.status.is_success() || a.status.as_u16() == 404 {
            Ok(())
        } else {
            Err(self.failure(key, &a))
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = self.full(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/storage/v1/b/{}/o?prefix={}",
                segment(&self.bucket),
                segment(&full)
            );
            if let Some(t) = &token {
                path.push_str(&format!("&pageToken={}", segment(t)));
            }
            let a = self
                .json("storage.objects.list", Method::GET, &path)
                .await?;
            if !a.status.is_success() {
                return Err(self.failure(prefix, &a));
            }
            // fake-gcs-server ignores `prefix`: filter here as well.
            for item in a.body["items"].as_array().into_iter().flatten() {
                if let Some(name) = item["name"].as_str()
                    && name.starts_with(&full)
                    && let Some(rest) = name.strip_prefix(&strip)
                {
                    out.push(rest.to_owned());
                }
            }
            match a.body["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}
