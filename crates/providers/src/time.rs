//! Times as clouds write them: RFC 3339 in JSON bodies (parsed by humantime, as everywhere in
//! stackform), HTTP dates in headers (rewritten as RFC 3339 first).

use std::time::SystemTime;

/// An RFC 3339 time (`2026-12-01T22:00:00.123Z`) as a `SystemTime`.
pub fn rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// An RFC 3339 time as whole seconds since 1970 (GCP labels hold expiries so).
pub fn rfc3339_seconds(s: &str) -> Option<i64> {
    let secs = rfc3339(s)?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    i64::try_from(secs).ok()
}

/// An HTTP date (`Tue, 01 Dec 2026 22:00:00 GMT`) as a `SystemTime`.
pub fn http_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_whitespace().skip(1);
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u32 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    rfc3339(&format!("{year:04}-{month:02}-{day:02}T{time}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_times_parse() {
        assert_eq!(rfc3339_seconds("2026-12-01T10:00:00Z"), Some(1_796_119_200));
        assert_eq!(
            rfc3339_seconds("2026-12-01T10:00:00.250Z"),
            Some(1_796_119_200)
        );
        assert_eq!(
            http_date("Tue, 01 Dec 2026 10:00:00 GMT"),
            rfc3339("2026-12-01T10:00:00Z")
        );
        assert!(rfc3339_seconds("yesterday").is_none());
    }
}
