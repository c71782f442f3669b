//! Parameters of Tempo's API: unix-second windows, Go durations, logfmt tags.

use std::time::Duration;

use weft_model::TimeWindow;

use crate::error::ApiError;
use crate::params::{QueryParams, now_unix_nanos};

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
    now_unix_nanos() / 1_000_000_000
}

/// An optional unsigned integer parameter, `invalid <name>: ...` when it is not one.
pub(crate) fn unsigned(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
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
pub(crate) fn optional_duration(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_go_duration(text).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!("invalid {name}: {text:?} is not a duration"))
        }),
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10us`, surrounding white space ignored) in
/// nanoseconds; `None` when it is not one or is negative.
pub(super) fn parse_go_duration(text: &str) -> Option<u64> {
    let nanos = weft_query::duration::parse_go_duration(text.trim()).ok()?;
    u64::try_from(nanos).ok()
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
