//! Parameters of Tempo's API: unix-second windows, Go durations, logfmt tags.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_model::TimeWindow;

use crate::error::ApiError;
use crate::params::QueryParams;

/// The search window from `start`/`end` (unix seconds, both inclusive); without them,
/// the `lookback` up to now. Tempo's messages for bad values.
pub(super) fn window(params: &QueryParams, lookback: Duration) -> Result<TimeWindow, ApiError> {
    let start = seconds(params, "start")?;
    let end = seconds(params, "end")?;
    let (start, end) = match (start, end) {
        (None, None) => {
            let now = now_seconds();
            (now.saturating_sub(lookback.as_secs()), now)
        }
        (start, end) => {
            let start = start.unwrap_or(0);
            let end = end.unwrap_or_else(now_seconds);
            if end <= start {
                return Err(ApiError::BadRequest(format!(
                    "http parameter start must be before end. received start={start} end={end}"
                )));
            }
            (start, end)
        }
    };
    Ok(TimeWindow {
        start_unix_nanos: start.saturating_mul(1_000_000_000),
        end_unix_nanos: end
            .saturating_mul(1_000_000_000)
            .saturating_add(999_999_999),
    })
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// An optional unsigned integer parameter, `invalid <name>: ...` when it is not one.
pub(super) fn unsigned(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => text.trim().parse::<u64>().map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid {name}: {text:?} is not a non-negative integer"
            ))
        }),
    }
}

fn seconds(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    unsigned(params, name)
}

/// An optional Go duration parameter in nanoseconds.
pub(super) fn optional_duration(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_go_duration(text).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!("invalid {name}: {text:?} is not a duration"))
        }),
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10us`) in nanoseconds; `None` when it is
/// not one, is negative, or overflows.
pub(super) fn parse_go_duration(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * nanos_per_unit;
    }
    (total.is_finite() && total < u64::MAX as f64).then_some(total as u64)
}

/// Tempo's `tags` parameter: space-separated `key=value` pairs in logfmt, values
/// optionally double-quoted (with `\"` and `\\` escapes).
pub(super) fn parse_logfmt(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = |why: &str| ApiError::BadRequest(format!("invalid tags {text:?}: {why}"));
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(invalid("expected key=value"));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped) => value.push(escaped),
                        None => return Err(invalid("unterminated quote")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(invalid("unterminated quote")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}


/// A duration as Go's `time.Duration.String` writes it (`1.5s`, `2m3s`, `150ms`, `0s`),
/// which is how Tempo renders duration values.
pub(super) fn format_go_duration(nanos: u64) -> String {
    if nanos == 0 {
        return String::from("0s");
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let mut out = String::new();
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let rest = nanos % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", decimal(rest, 1_000_000_000)));
    out
}

/// `value / unit` with the fraction's trailing zeros removed.
fn decimal(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}
