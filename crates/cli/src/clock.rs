//! The time stackform acts on: the system clock, or `STACKFORM_TEST_NOW` (RFC 3339) so that
//! tests of TTLs can move it without waiting.

use std::time::{Duration, SystemTime};

use crate::error::CliError;

pub fn now() -> Result<SystemTime, CliError> {
    match std::env::var("STACKFORM_TEST_NOW") {
        Ok(at) if !at.is_empty() => humantime::parse_rfc3339_weak(&at).map_err(|e| {
            CliError::usage(
                "clock::invalid",
                format!("STACKFORM_TEST_NOW is not a time: `{at}` ({e})"),
                "write it as RFC 3339, e.g. 2026-12-24T18:00:00Z, or unset it",
            )
        }),
        _ => Ok(SystemTime::now()),
    }
}

/// `at` as RFC 3339 in UTC, to the second.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// "3h 59m left", "expired 5m ago": how a person reads an expiry.
pub fn left(expires_at: &str, now: SystemTime) -> String {
    let Ok(at) = humantime::parse_rfc3339_weak(expires_at) else {
        return format!("expires {expires_at}");
    };
    let round = |d: Duration| {
        let minutes = d.as_secs().div_ceil(60);
        match (minutes / 1440, minutes / 60 % 24, minutes % 60) {
            (0, 0, m) => format!("{m}m"),
            (0, h, m) => format!("{h}h {m}m"),
            (d, h, _) => format!("{d}d {h}h"),
        }
    };
    match at.duration_since(now) {
        Ok(d) => format!("{} left", round(d)),
        Err(e) => format!("expired {} ago", round(e.duration())),
    }
}
