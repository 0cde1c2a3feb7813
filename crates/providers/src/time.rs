//! Times as clouds write them: RFC 3339 in JSON bodies, HTTP dates in headers.

use std::time::{Duration, SystemTime};

/// An RFC 3339 UTC time (`2026-12-01T22:00:00.123Z`) as seconds since 1970.
pub fn rfc3339_seconds(s: &str) -> Option<i64> {
    let (date, time) = s.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split(['+', 'Z']).next()?;
    let mut t = time
        .split(':')
        .map(|p| p.split('.').next().and_then(|x| x.parse::<i64>().ok()));
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + sec)
}

/// An RFC 3339 UTC time as a `SystemTime`.
pub fn rfc3339(s: &str) -> Option<SystemTime> {
    let secs = u64::try_from(rfc3339_seconds(s)?).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
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
