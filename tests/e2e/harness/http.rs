//! The one small HTTP/1.1 layer of the tests, for both sides of a loopback connection.
//!
//! Servers (the contract servers, the proxy in front of moto) use [`serve`] or a [`Listener`]
//! (plain or TLS): a free loopback port, an accept loop on a background thread that lives as long
//! as the test process, and one thread per connection that reads one [`Incoming`] request (head, then a body
//! of `Content-Length` bytes or in chunks), asks the handler, and writes its [`Response`] with
//! `Content-Length` and `Connection: close`. One request per connection is all the clients under
//! test need, since every answer closes it.
//!
//! Clients checking what an emulator holds use [`http`]; [`parse_answer`] reads an answer that
//! came over another stream (TLS).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Requests

/// One request as it arrived: its head (request line and headers, up to the blank line) and its
/// body, de-chunked.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub head: String,
    pub body: Vec<u8>,
}

impl Incoming {
    /// The method, upper-cased.
    pub fn method(&self) -> String {
        self.request_line()
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    }

    /// The request target in origin form: an absolute-form target (through a proxy) still names
    /// the same path.
    pub fn target(&self) -> &str {
        let target = self.request_line().split_whitespace().nth(1).unwrap_or("/");
        match target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
        {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => target,
        }
    }

    /// The target's path, still percent-encoded, and its query, still encoded.
    pub fn path_and_query(&self) -> (&str, &str) {
        let target = self.target();
        target.split_once('?').unwrap_or((target, ""))
    }

    /// The path's segments (after the leading `/`), each percent-decoded.
    pub fn segments(&self) -> Vec<String> {
        self.path_and_query()
            .0
            .trim_start_matches('/')
            .split('/')
            .map(|s| decode(s, false))
            .collect()
    }

    /// Decoded `key=value` pairs of the query, in order (`+` is a space).
    pub fn query(&self) -> Vec<(String, String)> {
        self.path_and_query()
            .1
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k, true), decode(v, true))
            })
            .collect()
    }

    /// Every header in order, its name lower-cased and its value trimmed.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect()
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.head, name)
    }

    /// The body as JSON: `Null` when it is empty or blank, the text as a string when it is not
    /// JSON, and whether it was not.
    pub fn json_body(&self) -> (Value, bool) {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return (Value::Null, false);
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => (v, false),
            Err(_) => (
                Value::String(String::from_utf8_lossy(&self.body).into_owned()),
                true,
            ),
        }
    }

    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Reads one request: head, then a body of `Content-Length` bytes or in chunks.
pub fn read_request(conn: &mut impl Read) -> std::io::Result<Incoming> {
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
    let chunked = header_of(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            if let Some(body) = dechunk(&buf[head_end..]) {
                return Ok(Incoming { head, body });
            }
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    let length = header_of(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = buf.len().min(head_end + length);
    let body = buf[head_end..end].to_vec();
    Ok(Incoming { head, body })
}

/// A complete chunked body, decoded; `None` while more is to come.
pub fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let data = b.get(eol + 2..eol + 2 + size)?;
        out.extend_from_slice(data);
        b = b.get(eol + 4 + size..)?;
    }
}

/// Percent-decodes `s`; with `plus_is_space`, `+` is a space (a query's form encoding). A `%`
/// not followed by two hex digits stands for itself.
pub fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Responses

/// What a server sends back: an answer built here, or bytes passed on as they came (the proxy
/// forwarding moto's answer).
pub struct Response(Vec<u8>);

impl Response {
    /// `status` with `headers` (in order) and `body`; `Content-Length` and `Connection: close`
    /// are added.
    pub fn new(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        Response(bytes)
    }

    /// A complete HTTP answer, sent as it is.
    pub fn raw(bytes: Vec<u8>) -> Response {
        Response(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds a free loopback port and serves plain HTTP there (see [`Listener::serve`]); returns
/// the port.
pub fn serve(handler: impl Fn(Incoming) -> Option<Response> + Send + Sync + 'static) -> u16 {
    let listener = Listener::bind();
    let port = listener.port();
    listener.serve(handler);
    port
}

/// A free loopback port, bound, for a server that has to know its address before it serves.
pub struct Listener(TcpListener);

impl Listener {
    pub fn bind() -> Listener {
        Listener(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Serves plain HTTP on background threads for the rest of the process, one thread per
    /// connection. A handler that answers `None` closes the connection without an answer (a
    /// connection reset, as the client sees it).
    pub fn serve(self, handler: impl Fn(Incoming) -> Option<Response> + Send + Sync + 'static) {
        self.accept(move |mut conn: TcpStream| {
            conn.set_read_timeout(Some(READ_TIMEOUT))?;
            let request = read_request(&mut conn)?;
            if let Some(response) = handler(request) {
                conn.write_all(response.bytes())?;
                conn.flush()?;
            }
            Ok(())
        });
    }

    /// Like [`Listener::serve`], over TLS with `config`. The handler is also given the client
    /// certificate (DER) the handshake verified, if the client sent one.
    pub fn serve_tls(
        self,
        config: Arc<rustls::ServerConfig>,
        handler: impl Fn(Incoming, Option<&[u8]>) -> Option<Response> + Send + Sync + 'static,
    ) {
        self.accept(move |tcp: TcpStream| {
            tcp.set_read_timeout(Some(READ_TIMEOUT))?;
            let conn = rustls::ServerConnection::new(Arc::clone(&config))
                .map_err(std::io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // The handshake happens on first use; the peer is known after it.
            tls.conn.complete_io(&mut tls.sock)?;
            let peer = tls
                .conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec());
            let request = read_request(&mut tls)?;
            if let Some(response) = handler(request, peer.as_deref()) {
                tls.write_all(response.bytes())?;
                tls.conn.send_close_notify();
                tls.flush()?;
            }
            Ok(())
        });
    }

    /// The accept loop on a background thread: a thread per connection running `each`, whose
    /// errors only end that connection.
    fn accept(self, each: impl Fn(TcpStream) -> std::io::Result<()> + Send + Sync + 'static) {
        let each = Arc::new(each);
        std::thread::spawn(move || {
            for conn in self.0.incoming().flatten() {
                let each = Arc::clone(&each);
                std::thread::spawn(move || {
                    let _ = each(conn);
                });
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    /// Every header, its name lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to `127.0.0.1:port` (the only place tests talk to).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_answer(&raw)
}

/// An answer read to its end: status, headers, and the body (de-chunked when it came in
/// chunks).
pub fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).expect("a complete chunked answer");
    }
    Answer {
        status,
        headers,
        body,
    }
}
