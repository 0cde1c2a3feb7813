//! A loopback HTTP proxy in front of moto that logs every AWS call and injects faults: 503
//! throttling, 500 errors, connections reset before or after the request reached moto, and
//! added latency. moto has none of these; real AWS has all of them.
//!
//! It also serves the EKS access-entry API, which moto 5.1.22 lacks, from the documented REST
//! contract (so `aws.eks.access_entry` is contract-tested, not emulator-tested):
//! CreateAccessEntry, DescribeAccessEntry, DeleteAccessEntry, AssociateAccessPolicy,
//! ListAssociatedAccessPolicies and DisassociateAccessPolicy, as described at
//! https://docs.aws.amazon.com/eks/latest/APIReference/API_<Operation>.html.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Access entries by (cluster, principal ARN): the entry's JSON and its associated policies.
type Entries = Mutex<BTreeMap<(String, String), (serde_json::Value, Vec<serde_json::Value>)>>;

pub struct Proxy {
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
    injected: Arc<AtomicUsize>,
    denied: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Every call so far, in arrival order, as `Action` (query and JSON protocols) or
    /// `METHOD /path` (REST protocols).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Every call so far as its action and body (query-protocol parameters name the ids).
    pub fn requests(&self) -> Vec<(String, String)> {
        let log = self.log.lock().unwrap().clone();
        let bodies = self.bodies.lock().unwrap().clone();
        log.into_iter().zip(bodies).collect()
    }

    /// From now on, answers calls whose action (as [`Proxy::log`] names it) is `action` with 403
    /// AccessDenied, as an IAM policy that lacks the permission would.
    pub fn deny(&self, action: &str) {
        self.denied.lock().unwrap().push(action.to_owned());
    }

    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

/// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) failing `per_mille` of the calls.
pub fn start(upstream: &str, per_mille: u64, seed: u64) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let log = Arc::new(Mutex::new(Vec::new()));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let denied: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let denied2 = Arc::clone(&denied);
    let injected = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let entries: Arc<Entries> = Arc::new(Mutex::new(BTreeMap::new()));
    let (log2, injected2, bodies2) = (Arc::clone(&log), Arc::clone(&injected), Arc::clone(&bodies));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let upstream = upstream.clone();
            let (log, injected, counter) = (
                Arc::clone(&log2),
                Arc::clone(&injected2),
                Arc::clone(&counter),
            );
            let entries = Arc::clone(&entries);
            let bodies = Arc::clone(&bodies2);
            let denied = Arc::clone(&denied2);
            std::thread::spawn(move || {
                let _ = handle(
                    conn, &upstream, per_mille, seed, &log, &bodies, &injected, &counter, &entries,
                    &denied,
                );
            });
        }
    });
    Proxy {
        url,
        log,
        bodies,
        injected,
        denied,
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn read_request(conn: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..].to_vec();
    Ok((head, body))
}

/// What the call is, for the log.
fn action(head: &str, body: &[u8]) -> String {
    if let Some(target) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("x-amz-target")
            .then(|| v.trim().to_owned())
    }) {
        return target.rsplit('.').next().unwrap_or(&target).to_owned();
    }
    let body = String::from_utf8_lossy(body);
    if let Some(a) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return a.to_owned();
    }
    let first = head.lines().next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    format!("{method} {path}")
}

fn forward(head: &str, body: &[u8], upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        if line.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(response)
}

#[allow(clippy::too_many_arguments)]
fn handle(
    mut conn: TcpStream,
    upstream: &str,
    per_mille: u64,
    seed: u64,
    log: &Mutex<Vec<String>>,
    bodies: &Mutex<Vec<String>>,
    injected: &AtomicUsize,
    counter: &AtomicU64,
    entries: &Entries,
    denied: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let (head, body) = read_request(&mut conn)?;
    let called = action(&head, &body);
    if denied.lock().unwrap().contains(&called) {
        {
            let mut log = log.lock().unwrap();
            bodies.lock().unwrap().push(String::new());
            log.push(called);
        }
        let text = "<Error><Code>AccessDenied</Code><Message>denied by the test proxy</Message><RequestId>proxy-denied</RequestId></Error>";
        return conn.write_all(
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nx-amz-request-id: proxy-denied\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .as_bytes(),
        );
    }
    // One lock for both, so the n-th action and the n-th body are the same request's.
    {
        let mut log = log.lock().unwrap();
        bodies
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        log.push(action(&head, &body));
    }
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let roll = mix(seed ^ n);
    let fault = (roll % 1000 < per_mille).then_some((roll >> 20) % 5);
    if fault.is_some() {
        injected.fetch_add(1, Ordering::SeqCst);
    }
    let error = |status: &str, code: &str| {
        let body = format!(
            "<ErrorResponse><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>proxy-{n}</RequestId></ErrorResponse>"
        );
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nx-amzn-RequestId: proxy-{n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match fault {
        Some(0) => conn.write_all(error("503 Service Unavailable", "SlowDown").as_bytes()),
        Some(1) => conn.write_all(error("500 Internal Server Error", "InternalError").as_bytes()),
        // Reset before the request reaches AWS.
        Some(2) => Ok(()),
        // Reset after AWS did the work: the answer is lost.
        Some(3) => forward(&head, &body, upstream).map(|_| ()),
        Some(_) => {
            std::thread::sleep(Duration::from_millis(300));
            let response = forward(&head, &body, upstream)?;
            conn.write_all(&response)
        }
        None => {
            let response = match access_entries(&head, &body, entries) {
                Some(contract) => contract.into_bytes(),
                None => forward(&head, &body, upstream)?,
            };
            conn.write_all(&response)
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(status: &str, body: &serde_json::Value, error_type: Option<&str>) -> String {
    let body = body.to_string();
    let error = error_type
        .map(|t| format!("x-amzn-ErrorType: {t}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nx-amzn-RequestId: contract\r\n{error}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The EKS access-entry API, per its documented contract; `None` for any other call.
fn access_entries(head: &str, body: &[u8], entries: &Entries) -> Option<String> {
    let first = head.lines().next()?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?;
    let path = parts.next()?.split('?').next()?;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.len() < 3 || segments[0] != "clusters" || segments[2] != "access-entries" {
        return None;
    }
    let cluster = segments[1].to_owned();
    let input: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::json!({}));
    let now = 1_764_000_000;
    let not_found = |what: &str| {
        json_response(
            "404 Not Found",
            &serde_json::json!({"message": format!("{what} not found")}),
            Some("ResourceNotFoundException"),
        )
    };
    let mut map = entries.lock().unwrap();
    Some(match (method, &segments[3..]) {
        // API_CreateAccessEntry: POST /clusters/{name}/access-entries
        ("POST", []) => {
            let principal = input["principalArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if principal.is_empty() {
                return Some(json_response(
                    "400 Bad Request",
                    &serde_json::json!({"message": "principalArn is required"}),
                    Some("InvalidParameterException"),
                ));
            }
            let key = (cluster.clone(), principal.clone());
            if map.contains_key(&key) {
                return Some(json_response(
                    "409 Conflict",
                    &serde_json::json!({"message": "The specified access entry resource is already in use on this cluster."}),
                    Some("ResourceInUseException"),
                ));
            }
            let entry = serde_json::json!({
                "clusterName": cluster,
                "principalArn": principal,
                "kubernetesGroups": input["kubernetesGroups"].as_array().cloned().unwrap_or_default(),
                "accessEntryArn": format!("arn:aws:eks:eu-central-1:123456789012:access-entry/{cluster}/role/123456789012/{}", principal.rsplit('/').next().unwrap_or("")),
                "createdAt": now,
                "modifiedAt": now,
                "tags": input["tags"].clone(),
                "username": principal,
                "type": input["type"].as_str().unwrap_or("STANDARD"),
            });
            map.insert(key, (entry.clone(), Vec::new()));
            json_response("200 OK", &serde_json::json!({"accessEntry": entry}), None)
        }
        // API_DescribeAccessEntry / API_DeleteAccessEntry: /clusters/{name}/access-entries/{principalArn}
        (m @ ("GET" | "DELETE"), [principal]) => {
            let key = (cluster.clone(), decode(principal));
            match (m, map.get(&key).cloned()) {
                (_, None) => not_found("access entry"),
                ("GET", Some((entry, _))) => {
                    json_response("200 OK", &serde_json::json!({"accessEntry": entry}), None)
                }
                _ => {
                    map.remove(&key);
                    json_response("200 OK", &serde_json::json!({}), None)
                }
            }
        }
        // API_AssociateAccessPolicy: POST .../access-entries/{principalArn}/access-policies
        ("POST", [principal, "access-policies"]) => {
            let principal = decode(principal);
            let Some((_, policies)) = map.get_mut(&(cluster.clone(), principal.clone())) else {
                return Some(not_found("access entry"));
            };
            let policy = serde_json::json!({
                "policyArn": input["policyArn"],
                "accessScope": input["accessScope"],
                "associatedAt": now,
                "modifiedAt": now,
            });
            policies.retain(|p| p["policyArn"] != input["policyArn"]);
            policies.push(policy.clone());
            json_response(
                "200 OK",
                &serde_json::json!({"clusterName": cluster, "principalArn": principal, "associatedAccessPolicy": policy}),
                None,
            )
        }
        // API_ListAssociatedAccessPolicies: GET .../access-policies
        ("GET", [principal, "access-policies"]) => {
            let principal = decode(principal);
            match map.get(&(cluster.clone(), principal.clone())) {
                None => not_found("access entry"),
                Some((_, policies)) => json_response(
                    "200 OK",
                    &serde_json::json!({"clusterName": cluster, "principalArn": principal, "associatedAccessPolicies": policies}),
                    None,
                ),
            }
        }
        // API_DisassociateAccessPolicy: DELETE .../access-policies/{policyArn}
        ("DELETE", [principal, "access-policies", policy]) => {
            let (principal, policy) = (decode(principal), decode(policy));
            match map.get_mut(&(cluster, principal)) {
                None => not_found("access entry"),
                Some((_, policies)) => {
                    policies.retain(|p| p["policyArn"] != policy.as_str());
                    json_response("200 OK", &serde_json::json!({}), None)
                }
            }
        }
        _ => json_response(
            "404 Not Found",
            &serde_json::json!({"message": "unknown access-entry call"}),
            Some("ResourceNotFoundException"),
        ),
    })
}
