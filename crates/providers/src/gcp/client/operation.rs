//! Long-running operations as poll tokens: `OP|NAME|ATTEMPT|OPERATION`, so that a pending
//! create is followed by its operation's name, never repeated, and how long to wait between
//! polls.

use std::time::Duration;

use stackform_engine::provider::{ErrorKind, Progress, ProviderError};

/// How long to wait between polls of a long-running operation: GKE takes minutes, Artifact
/// Registry seconds; a contract server in tests answers at once.
pub fn poll_delay(n: u32) -> Duration {
    let ms = std::env::var("STACKFORM_GCP_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(2_000 + 1_000 * u64::from(n.min(8)));
    Duration::from_millis(ms)
}

/// A poll token: `OP|NAME|ATTEMPT|OPERATION`, the operation's full name last so that nothing
/// in it can shift the other fields.
pub fn token(op: &str, name: &str, n: u32, operation: &str) -> String {
    format!("{op}|{name}|{n}|{operation}")
}

pub fn split(token: &str) -> (&str, &str, u32, &str) {
    let mut parts = token.splitn(4, '|');
    let op = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");
    let n = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    (op, name, n, parts.next().unwrap_or(""))
}

/// Still running: poll again with the next attempt number.
pub fn pending<T>(op: &str, name: &str, n: u32, operation: &str, note: String) -> Progress<T> {
    Progress::Pending {
        token: token(op, name, n + 1, operation),
        after: poll_delay(n),
        note,
    }
}

/// A poll that hit a transient error keeps polling the same operation (the executor would
/// otherwise start the call again from the top).
pub fn transient<T>(e: ProviderError, token_now: &str) -> Result<Progress<T>, ProviderError> {
    if e.kind == ErrorKind::Retryable {
        let (op, name, n, operation) = split(token_now);
        return Ok(pending(
            op,
            name,
            n,
            operation,
            format!("retrying: {}", e.message),
        ));
    }
    Err(e)
}
