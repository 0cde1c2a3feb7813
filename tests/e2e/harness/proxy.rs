//! A loopback HTTP proxy in front of moto that logs every AWS call and injects faults: 503
//! throttling, 500 errors, connections reset before or after the request reached moto, and
//! added latency. moto has none of these; real AWS has all of them.
//!
//! It also answers the EKS access-entry API, which moto 5.1.22 lacks, from its documented
//! contract ([`crate::contract::eks_access`]), so `aws.eks.access_entry` is contract-tested, not
//! emulator-tested.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::contract::eks_access::AccessEntries;
use crate::harness::http::{self, Incoming, Response};
use crate::harness::moto::Moto;

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    /// The API server of the EKS clusters made through the proxy.
    kube: Arc<crate::contract::kube_api::KubeApi>,
}

/// What the proxy's connections share with each other and with the test.
#[derive(Default)]
struct Shared {
    /// Every call in arrival order: its action and its body (one lock for both, so the n-th
    /// action and the n-th body are the same request's).
    calls: Mutex<Vec<(String, String)>>,
    injected: AtomicUsize,
    counter: AtomicU64,
    denied: Mutex<Vec<String>>,
    entries: AccessEntries,
}

impl Proxy {
    /// Every call so far, in arrival order, as `Action` (query and JSON protocols) or
    /// `METHOD /path` (REST protocols).
    pub fn log(&self) -> Vec<String> {
        let calls = self.shared.calls.lock().unwrap();
        calls.iter().map(|(action, _)| action.clone()).collect()
    }

    /// Every call so far as its action and body (query-protocol parameters name the ids).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// From now on, answers calls whose action (as [`Proxy::log`] names it) is `action` with 403
    /// AccessDenied, as an IAM policy that lacks the permission would.
    pub fn deny(&self, action: &str) {
        self.shared.denied.lock().unwrap().push(action.to_owned());
    }

    pub fn injected(&self) -> usize {
        self.shared.injected.load(Ordering::SeqCst)
    }

    /// The proxy as the endpoint stackform and the SDK checks are pointed at.
    pub fn moto(&self) -> Moto {
        Moto {
            url: self.url.clone(),
            kube: Arc::clone(&self.kube),
        }
    }
}

/// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) failing `per_mille` of the calls.
pub fn start(upstream: &str, per_mille: u64, seed: u64) -> Proxy {
    // The cloud's controllers reach AWS directly, not through the proxy.
    let kube = crate::harness::moto::kube_api(upstream);
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let shared = Arc::new(Shared::default());
    let served = Arc::clone(&shared);
    let port = http::serve(move |req| handle(&req, &upstream, per_mille, seed, &served));
    Proxy {
        url: format!("http://127.0.0.1:{port}"),
        kube,
        shared,
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// What the call is, for the log.
fn action(req: &Incoming) -> String {
    if let Some(target) = req.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(&target).to_owned();
    }
    let body = String::from_utf8_lossy(&req.body);
    if let Some(a) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return a.to_owned();
    }
    let first = req.head.lines().next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    format!("{method} {path}")
}

/// Sends the request on to moto and reads its whole answer. A chunked body was de-chunked when
/// it was read, so it goes on with its length instead.
fn forward(req: &Incoming, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut out = String::new();
    for (i, line) in req.head.split("\r\n").enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && lower.starts_with("connection:") {
            continue;
        }
        if chunked && lower.starts_with("transfer-encoding:") {
            continue;
        }
        if line.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if chunked {
        out.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&req.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(response)
}

/// The answer to one call: moto's, an injected fault's, or none (a connection reset).
fn handle(
    req: &Incoming,
    upstream: &str,
    per_mille: u64,
    seed: u64,
    shared: &Shared,
) -> Option<Response> {
    let called = action(req);
    if shared.denied.lock().unwrap().contains(&called) {
        shared.calls.lock().unwrap().push((called, String::new()));
        let text = "<Error><Code>AccessDenied</Code><Message>denied by the test proxy</Message><RequestId>proxy-denied</RequestId></Error>";
        return Some(Response::new(
            403,
            &[
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", "proxy-denied"),
            ],
            text.as_bytes(),
        ));
    }
    let body = String::from_utf8_lossy(&req.body).into_owned();
    shared.calls.lock().unwrap().push((called, body));
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let roll = mix(seed ^ n);
    let fault = (roll % 1000 < per_mille).then_some((roll >> 20) % 5);
    if fault.is_some() {
        shared.injected.fetch_add(1, Ordering::SeqCst);
    }
    let error = |status: u16, code: &str| {
        let body = format!(
            "<ErrorResponse><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>proxy-{n}</RequestId></ErrorResponse>"
        );
        let id = format!("proxy-{n}");
        Response::new(
            status,
            &[("Content-Type", "text/xml"), ("x-amzn-RequestId", &id)],
            body.as_bytes(),
        )
    };
    match fault {
        Some(0) => Some(error(503, "SlowDown")),
        Some(1) => Some(error(500, "InternalError")),
        // Reset before the request reaches AWS.
        Some(2) => None,
        // Reset after AWS did the work: the answer is lost.
        Some(3) => {
            let _ = forward(req, upstream);
            None
        }
        Some(_) => {
            std::thread::sleep(Duration::from_millis(300));
            forward(req, upstream).ok().map(Response::raw)
        }
        None => match shared.entries.answer(req) {
            Some(contract) => Some(contract),
            None => forward(req, upstream).ok().map(Response::raw),
        },
    }
}
