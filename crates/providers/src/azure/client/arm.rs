//! Azure Resource Manager over azure_core's HTTP pipeline: no maintained management crates
//! exist for Rust, so the ARM types send the documented REST calls themselves, through the same
//! pipeline (retries honouring `Retry-After`, request ids, bearer-token policy) the official
//! data-plane clients use.
//!
//! `STACKFORM_AZURE_ARM_ENDPOINT` replaces `https://management.azure.com` (a sovereign cloud, or
//! the tests' contract server); `STACKFORM_AZURE_CA_FILE` adds a PEM root certificate to trust
//! (a TLS-inspecting proxy, or the contract server's test CA). A loopback endpoint gets a fixed
//! test token, as an emulator would expect; any other gets an Entra ID token (`account::entra`).
//! Long-running operations are followed by their `Azure-AsyncOperation` or `Location` URL,
//! recorded in the poll token so that a pending create is followed, never repeated.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Transport, Url,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use stackform_engine::provider::{ErrorKind, Progress, ProviderError};
use tokio::sync::OnceCell;

use super::account::{authority_is_loopback, entra};
use super::error::{causes, classify};

const SCOPE: &str = "https://management.azure.com/.default";

/// Where ARM is, and the pipeline to it, made on first use.
pub struct Arm {
    pub endpoint: String,
    /// A connector's identity; `None`: the environment's (`account::entra`).
    credential: Option<Arc<dyn TokenCredential>>,
    /// The connector's `subscription_id`, for resources and templates that name none.
    pub subscription: Option<String>,
    pipeline: OnceCell<Pipeline>,
}

/// An answer: status, the headers that matter for long-running operations, the JSON body.
pub struct Answer {
    pub status: u16,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub body: Json,
}

/// The object id of the fixed identity a loopback endpoint is called as: the tests' contract
/// server knows it as a service principal.
pub const LOOPBACK_PRINCIPAL: &str = "00000000-0000-4000-8000-00000000100b";

/// The fixed token sent to a loopback endpoint: shaped as Entra ID's are (a JWT whose claims
/// name the caller), unsigned.
#[derive(Debug)]
struct LoopbackToken;

fn loopback_token() -> String {
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.",
        b64(serde_json::json!({"typ": "JWT", "alg": "none"})),
        b64(serde_json::json!({"oid": LOOPBACK_PRINCIPAL, "idtyp": "app", "sub": "loopback-test"})),
    )
}

/// Who a token signs in as, from its claims.
pub struct Caller {
    pub object_id: String,
    /// `ServicePrincipal` or `User`, as role assignments name them.
    pub principal_type: String,
    pub tenant_id: String,
}

#[async_trait::async_trait]
impl TokenCredential for LoopbackToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            Secret::new(loopback_token()),
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

impl Arm {
    pub fn from_env() -> Arm {
        Arm {
            endpoint: std::env::var("STACKFORM_AZURE_ARM_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "https://management.azure.com".into())
                .trim_end_matches('/')
                .to_owned(),
            credential: None,
            subscription: None,
            pipeline: OnceCell::new(),
        }
    }

    /// Like [`Arm::from_env`], calling as `credential` (a connector's service principal; the
    /// environment's identity with `None`) in the connector's `subscription`.
    pub fn for_connector(
        credential: Option<Arc<dyn TokenCredential>>,
        subscription: Option<String>,
    ) -> Arm {
        Arm {
            credential,
            subscription,
            ..Arm::from_env()
        }
    }

    /// Whether ARM is a loopback server's (the tests' contract server).
    pub(crate) fn loopback(&self) -> bool {
        let host = self.endpoint.split("://").nth(1).unwrap_or(&self.endpoint);
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]")
    }

    /// Who ARM's calls sign in as: its token's `oid`, `idtyp` and `tid` claims (Entra ID's
    /// access tokens are JWTs, https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference).
    pub async fn caller(&self) -> Result<Caller, ProviderError> {
        use base64::Engine as _;
        let token = self
            .credential()?
            .get_token(&[SCOPE], None)
            .await
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Permission,
                    format!("no Entra ID token for ARM: {}", super::causes(&e)),
                )
            })?;
        let unreadable = || {
            ProviderError::new(
                ErrorKind::Other,
                "the Entra ID token names no caller (no `oid` claim)",
            )
        };
        let claims = token
            .token
            .secret()
            .split('.')
            .nth(1)
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c.trim_end_matches('='))
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
            .ok_or_else(unreadable)?;
        let object_id = claims["oid"].as_str().ok_or_else(unreadable)?.to_owned();
        // `idtyp` is `app` for an application's token; a user's has none (or `user`).
        let principal_type = match claims["idtyp"].as_str() {
            Some("app") => "ServicePrincipal",
            _ => "User",
        };
        Ok(Caller {
            object_id,
            principal_type: principal_type.to_owned(),
            tenant_id: claims["tid"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The identity calls carry: a connector's service principal signs in at its authority; a
    /// loopback ARM gets the fixed test token unless that authority is loopback too (the tests'
    /// token endpoint), so that no test ever reaches Entra ID.
    fn credential(&self) -> Result<Arc<dyn TokenCredential>, ProviderError> {
        Ok(match &self.credential {
            Some(c) if !self.loopback() || authority_is_loopback() => Arc::clone(c),
            _ if self.loopback() => Arc::new(LoopbackToken),
            _ => entra()?,
        })
    }

    async fn pipeline(&self) -> Result<&Pipeline, ProviderError> {
        self.pipeline
            .get_or_try_init(|| async {
                crate::tls::ensure();
                let credential = self.credential()?;
                let options = ClientOptions {
                    transport: Some(Transport::new(Arc::new(http_client()?))),
                    ..Default::default()
                };
                let auth = BearerTokenAuthorizationPolicy::new(credential, [SCOPE]);
                Ok(Pipeline::new(
                    Some("stackform"),
                    Some(env!("CARGO_PKG_VERSION")),
                    options,
                    Vec::new(),
                    vec![Arc::new(auth)],
                    None,
                ))
            })
            .await
    }

    /// The URL of `path` (`/subscriptions/...?api-version=...`), or `path` itself when it is a
    /// URL already (an operation's).
    fn url(&self, path: &str) -> Result<Url, ProviderError> {
        let text = if path.starts_with("https://") || path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.endpoint)
        };
        Url::parse(&text)
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("bad ARM URL {text}: {e}")))
    }

    /// One call; every status comes back as an answer (`classify` says what an error means).
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Answer, ProviderError> {
        let pipeline = self.pipeline().await?;
        let mut request = Request::new(self.url(path)?, method);
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(serde_json::to_vec(body).unwrap_or_default());
        }
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let response = pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(|e| {
                let kind = if matches!(e.kind(), azure_core::error::ErrorKind::Credential) {
                    ErrorKind::Permission
                } else {
                    ErrorKind::OutcomeUnknown
                };
                let hint = if kind == ErrorKind::Permission {
                    "; sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
                } else {
                    ""
                };
                ProviderError::new(kind, format!("{what}: {}{hint}", causes(&e)))
            })?;
        let status = u16::from(response.status());
        let header = |name: &'static str| {
            response
                .headers()
                .get_optional_string(&HeaderName::from_static(name))
        };
        let async_operation = header("azure-asyncoperation");
        let location = header("location");
        let bytes = response.into_body();
        let body = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Json::Null)
        };
        Ok(Answer {
            status,
            async_operation,
            location,
            body,
        })
    }
}

/// The HTTP client for ARM and Entra ID: `STACKFORM_AZURE_CA_FILE` adds a root to trust.
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    crate::tls::ensure();
    let mut http = reqwest::Client::builder().timeout(Duration::from_secs(120));
    if let Some(path) = std::env::var_os("STACKFORM_AZURE_CA_FILE") {
        let pem = std::fs::read(&path).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("STACKFORM_AZURE_CA_FILE {}: {e}", path.to_string_lossy()),
            )
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "STACKFORM_AZURE_CA_FILE {} is not a PEM certificate: {e}",
                    path.to_string_lossy()
                ),
            )
        })?;
        http = http.add_root_certificate(cert);
    }
    http.build()
        .map_err(|e| ProviderError::new(ErrorKind::Other, format!("ARM HTTP client: {e}")))
}

/// A long-running operation being followed: which call, the resource, how many polls so far,
/// and the URL to poll. Serialized into the executor's poll token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lro {
    pub op: String,
    pub id: String,
    pub n: u32,
    /// `Azure-AsyncOperation` URL (a status document) or `Location` URL (202 until done).
    pub url: String,
    pub status_document: bool,
    /// A resource group that must be gone too before a delete counts as done (AKS's nodes').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_group: Option<String>,
}

impl Lro {
    /// From a 201/202 answer's headers, if it started an operation.
    pub fn started(op: &str, id: &str, a: &Answer) -> Option<Lro> {
        let (url, status_document) = match (&a.async_operation, &a.location) {
            (Some(u), _) => (u.clone(), true),
            (None, Some(u)) if a.status == 202 => (u.clone(), false),
            _ => return None,
        };
        Some(Lro {
            op: op.to_owned(),
            id: id.to_owned(),
            n: 0,
            url,
            status_document,
            wait_group: None,
        })
    }

    pub fn token(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(token: &str) -> Result<Lro, ProviderError> {
        serde_json::from_str(token).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("not an ARM poll token ({e}): {token}"),
            )
        })
    }

    /// Poll again later.
    pub fn pending<T>(&self, note: String) -> Progress<T> {
        let mut next = self.clone();
        next.n += 1;
        let ms = std::env::var("STACKFORM_AZURE_POLL_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2_000 + 1_000 * u64::from(self.n.min(13)));
        Progress::Pending {
            token: next.token(),
            after: Duration::from_millis(ms),
            note,
        }
    }
}

/// Where an operation stands.
pub enum Step {
    Running,
    Done,
}

impl Arm {
    /// One poll of an operation: running, done, or its failure as an error.
    pub async fn step(&self, lro: &Lro) -> Result<Step, ProviderError> {
        let what = format!("following {} of {}", lro.op, lro.id);
        let a = self.call(&what, Method::Get, &lro.url, None).await?;
        if lro.status_document {
            if !(200..300).contains(&a.status) {
                return Err(classify(&what, &a));
            }
            return match a.body["status"].as_str().unwrap_or("InProgress") {
                "Succeeded" => Ok(Step::Done),
                "Failed" | "Canceled" => Err(ProviderError::new(
                    ErrorKind::Other,
                    format!(
                        "{} of {} failed: {} {}",
                        lro.op,
                        lro.id,
                        a.body["error"]["code"].as_str().unwrap_or_default(),
                        a.body["error"]["message"].as_str().unwrap_or_default()
                    ),
                )),
                _ => Ok(Step::Running),
            };
        }
        match a.status {
            202 => Ok(Step::Running),
            200..=299 => Ok(Step::Done),
            // A delete's Location answers 404 once the resource is gone, on some services.
            404 if lro.op == "delete" => Ok(Step::Done),
            _ => Err(classify(&what, &a)),
        }
    }
}
