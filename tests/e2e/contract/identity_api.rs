//! A loopback server for the two identity checks `connector verify` makes of kubernetes and
//! docker connectors, written from their documented contracts (no emulator serves them):
//!
//! - Kubernetes `SelfSubjectReview`: `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
//!   with a bearer token answers 201 with `status.userInfo` for a token it knows, 401 with a
//!   `Status` otherwise,
//!   https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/self-subject-review-v1/
//! - Docker registry login, https://distribution.github.io/distribution/spec/auth/token/:
//!   `GET /v2/` answers 401 with a `Bearer realm=...,service=...` challenge; `GET /token` with
//!   Basic credentials it knows issues `{"token": ...}`; `GET /v2/` with that token answers 200.
//!   With `basic_only`, `/v2/` takes the Basic credentials directly (a registry with htpasswd).
//!
//! Every request is logged, and headers are checked as the real servers check them.
//!
//! [`start_tls`] serves the same over TLS (the fixture server certificate, signed by
//! `tests/fixtures/tls/ca.pem`) and asks for a client certificate signed by
//! `tests/fixtures/tls/client-ca.pem`: an API server's x509 client authentication, where the
//! certificate is the user (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::harness::http::{self, Incoming, Response};

pub struct IdentityApi {
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// Who the server knows: kubernetes tokens and their users, registry users and passwords.
#[derive(Clone, Default)]
pub struct Known {
    pub tokens: BTreeMap<String, String>,
    pub logins: BTreeMap<String, String>,
    pub basic_only: bool,
    /// Client certificates (DER) and the users they are: the subject's CN and O, as the API
    /// server reads them.
    pub certificates: BTreeMap<Vec<u8>, (String, Vec<String>)>,
}

const ISSUED: &str = "registry-token-1";

pub fn start(known: Known) -> IdentityApi {
    let log = Arc::new(Mutex::new(Vec::new()));
    let served = Arc::clone(&log);
    let listener = http::Listener::bind();
    let url = format!("http://127.0.0.1:{}", listener.port());
    let base = url.clone();
    listener.serve(move |req| Some(answer(&req, &served, &known, &base, None)));
    IdentityApi { url, log }
}

/// Like [`start`], over TLS with optional client certificates.
pub fn start_tls(known: Known) -> IdentityApi {
    let log = Arc::new(Mutex::new(Vec::new()));
    let served = Arc::clone(&log);
    let listener = http::Listener::bind();
    let url = format!("https://127.0.0.1:{}", listener.port());
    let base = url.clone();
    let config = crate::harness::tls::server_config(true);
    listener.serve_tls(config, move |req, certificate| {
        let peer = certificate.and_then(|c| known.certificates.get(c).cloned());
        Some(answer(&req, &served, &known, &base, peer))
    });
    IdentityApi { url, log }
}

impl IdentityApi {
    /// `METHOD /path` of every request, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Answers one request; `peer` is the user of the client certificate the TLS handshake
/// verified, if any.
fn answer(
    req: &Incoming,
    log: &Mutex<Vec<String>>,
    known: &Known,
    base: &str,
    peer: Option<(String, Vec<String>)>,
) -> Response {
    let method = req.method();
    let target = req.target().to_owned();
    let body = &req.body;
    let path = target.split('?').next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(format!("{method} {path}"));
    let auth = req.header("authorization").unwrap_or_default();
    let basic = auth.strip_prefix("Basic ").and_then(|b| {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    });
    let basic_ok = basic
        .as_ref()
        .is_some_and(|(u, p)| known.logins.get(u) == Some(p));
    let (status, extra, answer): (u16, Option<(&str, String)>, serde_json::Value) = match (
        method.as_str(),
        path.as_str(),
    ) {
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") => {
            let review: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            // A bearer token is the user when there is one; else the client certificate.
            let user = match auth.strip_prefix("Bearer ") {
                Some(t) => known
                    .tokens
                    .get(t)
                    .map(|u| (u.clone(), vec!["system:authenticated".to_owned()])),
                None => peer.clone().map(|(u, mut groups)| {
                    groups.push("system:authenticated".to_owned());
                    (u, groups)
                }),
            };
            if review["kind"] != "SelfSubjectReview"
                || review["apiVersion"] != "authentication.k8s.io/v1"
            {
                (
                    400,
                    None,
                    serde_json::json!({"kind": "Status", "status": "Failure", "reason": "BadRequest", "message": "expected a SelfSubjectReview of authentication.k8s.io/v1", "code": 400}),
                )
            } else if let Some((user, groups)) = user {
                (
                    201,
                    None,
                    serde_json::json!({
                        "kind": "SelfSubjectReview",
                        "apiVersion": "authentication.k8s.io/v1",
                        "metadata": {"creationTimestamp": null},
                        "status": {"userInfo": {"username": user, "groups": groups}},
                    }),
                )
            } else {
                (
                    401,
                    None,
                    serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
                )
            }
        }
        ("GET", "/v2/") => {
            let bearer_ok = auth == format!("Bearer {ISSUED}");
            if bearer_ok || (known.basic_only && basic_ok) {
                (200, None, serde_json::json!({}))
            } else if known.basic_only {
                (
                    401,
                    Some(("WWW-Authenticate", "Basic realm=\"registry\"".to_owned())),
                    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
                )
            } else {
                (
                    401,
                    Some((
                        "WWW-Authenticate",
                        format!("Bearer realm=\"{base}/token\",service=\"registry.test\""),
                    )),
                    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
                )
            }
        }
        ("GET", "/token") => {
            let service_ok = target.contains("service=registry.test");
            if basic_ok && service_ok {
                (
                    200,
                    None,
                    serde_json::json!({"token": ISSUED, "expires_in": 300}),
                )
            } else {
                (
                    401,
                    None,
                    serde_json::json!({"details": "incorrect username or password"}),
                )
            }
        }
        _ => (404, None, serde_json::json!({"message": "not found"})),
    };
    let text = answer.to_string();
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(extra.as_ref().map(|(k, v)| (*k, v.as_str())));
    Response::new(status, &headers, text.as_bytes())
}
