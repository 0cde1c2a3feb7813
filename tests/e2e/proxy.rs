//! A loopback HTTP proxy in front of moto that logs every AWS call and injects faults: 503
//! throttling, 500 errors, connections reset before or after the request reached moto, and
//! added latency. moto has none of these; real AWS has all of them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    injected: Arc<AtomicUsize>,
}

impl Proxy {
    /// Every call so far, in arrival order, as `Action` (query and JSON protocols) or
    /// `METHOD /path` (REST protocols).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
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
    let injected = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let (log2, injected2) = (Arc::clone(&log), Arc::clone(&injected));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let upstream = upstream.clone();
            let (log, injected, counter) = (
                Arc::clone(&log2),
                Arc::clone(&injected2),
                Arc::clone(&counter),
            );
            std::thread::spawn(move || {
                let _ = handle(conn, &upstream, per_mille, seed, &log, &injected, &counter);
            });
        }
    });
    Proxy { url, log, injected }
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

fn handle(
    mut conn: TcpStream,
    upstream: &str,
    per_mille: u64,
    seed: u64,
    log: &Mutex<Vec<String>>,
    injected: &AtomicUsize,
    counter: &AtomicU64,
) -> std::io::Result<()> {
    let (head, body) = read_request(&mut conn)?;
    log.lock().unwrap().push(action(&head, &body));
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
            let response = forward(&head, &body, upstream)?;
            conn.write_all(&response)
        }
    }
}
