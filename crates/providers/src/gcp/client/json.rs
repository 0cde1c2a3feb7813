//! The GCS JSON API over reqwest: what the bucket type and the state backend call.

use std::time::SystemTime;

use reqwest::{Method, StatusCode};
use serde_json::Value as Json;
use stackform_engine::provider::{ErrorKind, ProviderError};
use tokio::sync::OnceCell;

/// Where Cloud Storage is and who we are there.
pub struct Gcs {
    /// `https://storage.googleapis.com`, or an emulator's `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Whether `endpoint` is an emulator (anonymous credentials).
    pub emulator: bool,
    http: OnceCell<reqwest::Client>,
    credentials: OnceCell<Option<google_cloud_auth::credentials::Credentials>>,
}

/// An answer: its status, its JSON body (`Null` when empty) and the storage's clock.
pub struct Answer {
    pub status: StatusCode,
    pub body: Json,
    pub date: Option<SystemTime>,
}

impl Gcs {
    /// From `STORAGE_EMULATOR_HOST` (the variable every GCS client honours), else Google's.
    pub fn from_env() -> Gcs {
        let emulator = std::env::var("STORAGE_EMULATOR_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains("://") {
                    h
                } else {
                    format!("http://{h}")
                }
            });
        Gcs {
            endpoint: emulator
                .clone()
                .unwrap_or_else(|| "https://storage.googleapis.com".into())
                .trim_end_matches('/')
                .to_owned(),
            emulator: emulator.is_some(),
            http: OnceCell::new(),
            credentials: OnceCell::new(),
        }
    }

    /// Like [`Gcs::from_env`], as `credentials` (a connector's); an emulator still gets none.
    pub fn with_credentials(credentials: google_cloud_auth::credentials::Credentials) -> Gcs {
        let gcs = Gcs::from_env();
        if gcs.emulator {
            return gcs;
        }
        Gcs {
            credentials: OnceCell::new_with(Some(Some(credentials))),
            ..gcs
        }
    }

    pub async fn http(&self) -> Result<&reqwest::Client, ProviderError> {
        self.http
            .get_or_try_init(|| async {
                crate::tls::ensure();
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(60))
                    .build()
                    .map_err(|e| ProviderError::new(ErrorKind::Other, format!("gcs client: {e}")))
            })
            .await
    }

    /// Application default credentials, or none against an emulator.
    pub async fn credentials(
        &self,
    ) -> Result<Option<google_cloud_auth::credentials::Credentials>, ProviderError> {
        self.credentials
            .get_or_try_init(|| async {
                crate::tls::ensure();
                if self.emulator {
                    return Ok(None);
                }
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map(Some)
                    .map_err(|e| {
                        ProviderError::new(
                            ErrorKind::Permission,
                            format!("no Google credentials: {e}; run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"),
                        )
                    })
            })
            .await
            .cloned()
    }

    async fn auth_headers(&self) -> Result<reqwest::header::HeaderMap, ProviderError> {
        let Some(creds) = self.credentials().await? else {
            return Ok(reqwest::header::HeaderMap::new());
        };
        match creds.headers(http::Extensions::new()).await {
            Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => Ok(data),
            Ok(google_cloud_auth::credentials::CacheableResource::NotModified) => {
                Ok(reqwest::header::HeaderMap::new())
            }
            Err(e) => Err(ProviderError::new(
                if e.is_transient() {
                    ErrorKind::Retryable
                } else {
                    ErrorKind::Permission
                },
                format!("cannot get Google credentials: {e}"),
            )),
        }
    }

    /// One JSON API call: `path` below the endpoint (`/storage/v1/b/NAME`), a JSON or raw body.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Answer, ProviderError> {
        let mut req = self
            .http()
            .await?
            .request(method, format!("{}{path}", self.endpoint))
            .headers(self.auth_headers().await?);
        req = match body {
            Body::None => req,
            Body::Json(j) => req.json(&j),
            Body::Bytes(b) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b),
        };
        let resp = req.send().await.map_err(|e| {
            // A connection that never opened did nothing; one that broke may have.
            let kind = if e.is_connect() {
                ErrorKind::Retryable
            } else {
                ErrorKind::OutcomeUnknown
            };
            ProviderError::new(kind, format!("{what}: {} unreachable: {e}", self.endpoint))
        })?;
        let status = resp.status();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(crate::time::http_date);
        let text = resp.text().await.unwrap_or_default();
        let body: Json = if text.trim().is_empty() {
            Json::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Json::String(text))
        };
        Ok(Answer { status, body, date })
    }
}

/// What a call sends.
pub enum Body {
    None,
    Json(Json),
    Bytes(Vec<u8>),
}

/// A path segment, percent-encoded (object names may hold `/`).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
