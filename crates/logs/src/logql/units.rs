//! Durations and byte sizes as LogQL writes them and as Go parses label values.

use std::time::Duration;

/// Splits `text` into (number, unit) pairs: `1m30.5s` -> [("1", "m"), ("30.5", "s")].
/// `None` when a number has no unit or the text is empty.
fn number_unit_pairs(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return None;
        }
        let after = &rest[number_end..];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        if unit_end == 0 {
            return None;
        }
        pairs.push((&rest[..number_end], &after[..unit_end]));
        rest = &after[unit_end..];
    }
    if pairs.is_empty() { None } else { Some(pairs) }
}

fn nanos_per_unit(unit: &str, extended: bool) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" if extended => 86_400e9,
        "w" if extended => 7.0 * 86_400e9,
        "y" if extended => 365.0 * 86_400e9,
        _ => return None,
    })
}

fn sum_nanos(text: &str, extended: bool) -> Option<f64> {
    let mut total = 0.0;
    for (number, unit) in number_unit_pairs(text)? {
        if number.matches('.').count() > 1 || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        total += value * nanos_per_unit(unit, extended)?;
    }
    Some(total)
}

/// A duration in a query (`[5m]`, `offset 1h`, `latency > 1m30s`): Go's units `ns us µs
/// ms s m h` and Prometheus' `d w y`, fractions allowed, no sign.
pub fn parse_query_duration(text: &str) -> Option<Duration> {
    let nanos = sum_nanos(text, true)?;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(nanos as u64))
}

/// A label value as Go's `time.ParseDuration` reads it: an optional sign, then
/// number-unit pairs with units `ns us µs ms s m h` (or a bare `0`), in nanoseconds.
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned == "0" {
        return Some(0);
    }
    let nanos = sum_nanos(unsigned, false)?;
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return None;
    }
    let nanos = nanos as i128;
    Some(if negative { -nanos } else { nanos })
}

/// A byte size as go-humanize's `ParseBytes` reads it (Loki's bytes filters and
/// `unwrap bytes(...)`): a number, optional spaces, an optional case-insensitive unit
/// `B`, `kB`/`K`, `KiB`/`Ki`, `MB`/`M`, ... up to `EB`/`EiB`. `None` on anything else.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..number_end].parse().ok()?;
    let unit = text[number_end..].trim_start().to_ascii_lowercase();
    let multiplier: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return None;
    }
    Some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_durations_take_go_and_prometheus_units() {
        assert_eq!(parse_query_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_query_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_query_duration("250ms"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_query_duration("1.5h"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_query_duration("1d"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_query_duration("2w"),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(
            parse_query_duration("10µs"),
            Some(Duration::from_micros(10))
        );
        assert_eq!(parse_query_duration("5"), None);
        assert_eq!(parse_query_duration("5x"), None);
        assert_eq!(parse_query_duration(""), None);
    }

    #[test]
    fn go_durations_reject_days_and_accept_signs() {
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("-2ms"), Some(-2_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration("12"), None);
    }

    #[test]
    fn byte_sizes_follow_go_humanize() {
        assert_eq!(parse_bytes("20MB"), Some(20_000_000));
        assert_eq!(parse_bytes("1KiB"), Some(1024));
        assert_eq!(parse_bytes("1.5 kib"), Some(1536));
        assert_eq!(parse_bytes("42"), Some(42));
        assert_eq!(parse_bytes("3b"), Some(3));
        assert_eq!(parse_bytes("1M"), Some(1_000_000));
        assert_eq!(parse_bytes("1XB"), None);
        assert_eq!(parse_bytes("MB"), None);
    }
}
