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
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (served, base) = (Arc::clone(&log), url.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (log, known, base) = (Arc::clone(&served), known.clone(), base.clone());
            std::thread::spawn(move || {
                let _ = serve(conn, &log, &known, &base, None);
            });
        }
    });
    IdentityApi { url, log }
}

/// Like [`start`], over TLS with optional client certificates.
pub fn start_tls(known: Known) -> IdentityApi {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = crate::harness::repo_root().join("tests/fixtures/tls");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("client-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("https://127.0.0.1:{port}");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (served, base) = (Arc::clone(&log), url.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (log, known, base) = (Arc::clone(&served), known.clone(), base.clone());
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(server) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(server, conn);
                // The handshake happens on first use; the peer is known after it.
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return;
                }
                let peer = tls
                    .conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| known.certificates.get(c.as_ref()).cloned());
                let _ = serve(tls, &log, &known, &base, peer);
            });
        }
    });
    IdentityApi { url, log }
}

impl IdentityApi {
    /// `METHOD /path` of every request, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Answers one request on `conn`; `peer` is the user of the client certificate the TLS
/// handshake verified, if any.
fn serve(
    mut conn: impl Read + Write,
    log: &Mutex<Vec<String>>,
    known: &Known,
    base: &str,
    peer: Option<(String, Vec<String>)>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut conn);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
    let path = target.split('?').next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(format!("{method} {path}"));
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    let basic = auth.strip_prefix("Basic ").and_then(|b| {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    });
    let basic_ok = basic
        .as_ref()
        .is_some_and(|(u, p)| known.logins.get(u) == Some(p));
    let (status, extra, answer) = match (method.as_str(), path.as_str()) {
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") => {
            let review: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
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
                    String::new(),
                    serde_json::json!({"kind": "Status", "status": "Failure", "reason": "BadRequest", "message": "expected a SelfSubjectReview of authentication.k8s.io/v1", "code": 400}),
                )
            } else if let Some((user, groups)) = user {
                (
                    201,
                    String::new(),
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
                    String::new(),
                    serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
                )
            }
        }
        ("GET", "/v2/") => {
            let bearer_ok = auth == format!("Bearer {ISSUED}");
            if bearer_ok || (known.basic_only && basic_ok) {
                (200, String::new(), serde_json::json!({}))
            } else if known.basic_only {
                (
                    401,
                    "WWW-Authenticate: Basic realm=\"registry\"\r\n".to_owned(),
                    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
                )
            } else {
                (
                    401,
                    format!(
                        "WWW-Authenticate: Bearer realm=\"{base}/token\",service=\"registry.test\"\r\n"
                    ),
                    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
                )
            }
        }
        ("GET", "/token") => {
            let service_ok = target.contains("service=registry.test");
            if basic_ok && service_ok {
                (
                    200,
                    String::new(),
                    serde_json::json!({"token": ISSUED, "expires_in": 300}),
                )
            } else {
                (
                    401,
                    String::new(),
                    serde_json::json!({"details": "incorrect username or password"}),
                )
            }
        }
        _ => (
            404,
            String::new(),
            serde_json::json!({"message": "not found"}),
        ),
    };
    let text = answer.to_string();
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()
}
