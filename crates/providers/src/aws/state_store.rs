//! Remote state in S3 (`--state-backend s3://bucket/prefix`): the engine's [`ObjectStore`] over
//! the official SDK, with S3's conditional writes (`If-None-Match: *` to create only if absent,
//! `If-Match: <etag>` to replace only the version last seen).
//!
//! The storage's clock comes from the `Date` header of each answer, read by a per-request
//! interceptor: the SDK's outputs do not carry it, and lease expiry must not trust the local
//! clock.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use stackform_engine::state::remote::{Condition, Object, ObjectStore, StoreError, Version};
use tokio::sync::OnceCell;

/// The state objects under `s3://bucket/prefix`.
pub struct S3Store {
    bucket: String,
    prefix: String,
    client: OnceCell<aws_sdk_s3::Client>,
}

impl S3Store {
    pub fn new(bucket: &str, prefix: &str) -> S3Store {
        S3Store {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            client: OnceCell::new(),
        }
    }

    /// The client, built on first use from the standard chain (`AWS_REGION`, credentials,
    /// `AWS_ENDPOINT_URL` for emulators).
    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let config = super::sdk_config(None).await;
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&config)
                        .force_path_style(config.endpoint_url().is_some())
                        .build(),
                )
            })
            .await
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        action: &str,
        key: &str,
        e: SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> StoreError {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().unwrap_or_default().to_owned();
        let text = format!(
            "s3:{action} s3://{}/{}: {}",
            self.bucket,
            self.full(key),
            if code.is_empty() {
                aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()
            } else {
                format!("{code}: {}", e.message().unwrap_or_default())
            }
        );
        match (status, code.as_str()) {
            (Some(412), _) | (Some(409), _) | (_, "PreconditionFailed") => {
                StoreError::Conflict(text)
            }
            (_, "NoSuchBucket") => StoreError::NoContainer(text),
            (Some(403), _)
            | (_, "InvalidAccessKeyId" | "AccessDenied" | "SignatureDoesNotMatch") => {
                StoreError::Denied(text)
            }
            _ => StoreError::Failed(text),
        }
    }
}

/// Keeps the `Date` of the answer to one request.
#[derive(Debug, Clone, Default)]
struct ServerDate(Arc<Mutex<Option<SystemTime>>>);

impl ServerDate {
    fn get(&self) -> SystemTime {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(SystemTime::now)
    }
}

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date")
            && let Ok(t) = aws_smithy_types::DateTime::from_str(
                date,
                aws_smithy_types::date_time::Format::HttpDate,
            )
            && let Ok(t) = SystemTime::try_from(t)
        {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let date = ServerDate::default();
        let out = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .customize()
            .interceptor(date.clone())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(self.error("GetObject", key, e)),
        };
        let modified = out
            .last_modified()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(SystemTime::now);
        let version = Version(out.e_tag().unwrap_or_default().to_owned());
        stackform_engine::state::remote::check_size(
            &format!("s3://{}/{}", self.bucket, self.full(key)),
            out.content_length().and_then(|n| u64::try_from(n).ok()),
        )?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Failed(format!("s3://{}/{}: {e}", self.bucket, key)))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object {
            bytes,
            version,
            modified,
            read_at: date.get(),
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Version, StoreError> {
        let mut req = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        let conditional = matches!(condition, Condition::Matches(_));
        req = match condition {
            Condition::Any => req,
            Condition::Absent => req.if_none_match("*"),
            Condition::Matches(v) => req.if_match(v.0),
        };
        let out = match req.send().await {
            Ok(out) => out,
            // Replacing a version that is gone altogether (S3 answers 404 to `If-Match` then):
            // someone else removed it, which is a lost race like any other.
            Err(e) if conditional && e.code() == Some("NoSuchKey") => {
                return Err(StoreError::Conflict(format!(
                    "s3://{}/{}: it is gone",
                    self.bucket,
                    self.full(key)
                )));
            }
            Err(e) => return Err(self.error("PutObject", key, e)),
        };
        Ok(Version(out.e_tag().unwrap_or_default().to_owned()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self
            .client()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(()),
            Err(e) => Err(self.error("DeleteObject", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await;
        let full = self.full(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        super::client::pages(|token| {
            let req = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_continuation_token(token);
            let strip = strip.clone();
            async move {
                let out = req
                    .send()
                    .await
                    .map_err(|e| self.error("ListObjectsV2", prefix, e))
                    .map_err(|e| {
                        stackform_engine::provider::ProviderError::new(
                            stackform_engine::provider::ErrorKind::Other,
                            e.to_string(),
                        )
                    })?;
                let keys = out
                    .contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&strip).map(str::to_owned))
                    .collect();
                Ok((keys, out.next_continuation_token().map(str::to_owned)))
            }
        })
        .await
        .map_err(|e| StoreError::Failed(e.message))
    }
}
