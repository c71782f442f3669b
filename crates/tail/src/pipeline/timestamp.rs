//! The `timestamp` stage: an extracted value parsed with `format` (Go layout, Go
//! named format, or `Unix`, `UnixMs`, `UnixUs`, `UnixNs`), then each of
//! `fallback_formats`; on failure the entry keeps its time (`skip`) or gets the last
//! parsed time of the file plus 1 ns (`fudge`, the default, as Promtail).

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::PipelineEntry;
use super::go_time::{named_layout, parse_go_time};

/// `timestamp` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    /// The extracted value holding the time.
    pub source: String,
    /// How it is written.
    pub format: String,
    /// Tried in order when `format` does not match.
    #[serde(default)]
    pub fallback_formats: Vec<String>,
    /// IANA zone for values without an offset (e.g. `America/New_York`).
    #[serde(default)]
    pub location: Option<String>,
    /// `fudge` (default) or `skip`.
    #[serde(default)]
    pub action_on_failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format<'a> {
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    Layout(&'a str),
}

fn format_of(text: &str) -> Format<'_> {
    match text {
        "Unix" => Format::Unix,
        "UnixMs" => Format::UnixMs,
        "UnixUs" => Format::UnixUs,
        "UnixNs" => Format::UnixNs,
        other => Format::Layout(other),
    }
}

/// A compiled `timestamp` stage.
#[derive(Debug, Clone)]
pub(crate) struct TimestampStage {
    source: String,
    formats: Vec<String>,
    location: Option<TimeZone>,
    fudge: bool,
    last_parsed: Option<i64>,
}

impl TimestampStage {
    pub(crate) fn compile(config: &TimestampConfig) -> Result<TimestampStage, String> {
        if config.source.is_empty() {
            return Err(String::from("source must not be empty"));
        }
        if config.format.is_empty() {
            return Err(String::from("format must not be empty"));
        }
        let location = match config.location.as_deref() {
            None | Some("") => None,
            Some(name) => {
                Some(TimeZone::get(name).map_err(|error| format!("location {name:?}: {error}"))?)
            }
        };
        let fudge = match config.action_on_failure.as_deref() {
            None | Some("fudge") => true,
            Some("skip") => false,
            Some(other) => {
                return Err(format!("action_on_failure {other:?} is not fudge or skip"));
            }
        };
        let mut formats = vec![config.format.clone()];
        formats.extend(config.fallback_formats.iter().cloned());
        for format in &formats {
            if let Format::Layout(layout) = format_of(format) {
                let layout = named_layout(layout).unwrap_or(layout);
                if !layout.chars().any(|character| character.is_ascii_digit()) {
                    return Err(format!("format {format:?} has no Go layout element"));
                }
            }
        }
        Ok(TimestampStage {
            source: config.source.clone(),
            formats,
            location,
            fudge,
            last_parsed: None,
        })
    }

    /// Sets the entry's timestamp; false when the value is missing or no format matches.
    pub(crate) fn apply(&mut self, entry: &mut PipelineEntry) -> bool {
        let parsed = entry.extracted.get(&self.source).and_then(|value| {
            self.formats.iter().find_map(|format| {
                parse_with(value.trim(), format_of(format), self.location.as_ref())
            })
        });
        match parsed {
            Some(nanos) => {
                entry.timestamp_unix_nanos = nanos;
                self.last_parsed = Some(nanos);
                true
            }
            None => {
                if self.fudge
                    && let Some(last) = self.last_parsed
                {
                    let fudged = last.saturating_add(1);
                    entry.timestamp_unix_nanos = fudged;
                    self.last_parsed = Some(fudged);
                }
                false
            }
        }
    }
}

fn parse_with(value: &str, format: Format<'_>, location: Option<&TimeZone>) -> Option<i64> {
    match format {
        Format::Unix => {
            let (seconds, fraction) = match value.split_once('.') {
                Some((seconds, fraction)) => (seconds, fraction),
                None => (value, ""),
            };
            let seconds: i64 = seconds.parse().ok()?;
            if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            let mut nanos: i64 = 0;
            for index in 0..9 {
                nanos = nanos * 10
                    + fraction
                        .as_bytes()
                        .get(index)
                        .map(|byte| i64::from(byte - b'0'))
                        .unwrap_or(0);
            }
            seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
        }
        Format::UnixMs => value.parse::<i64>().ok()?.checked_mul(1_000_000),
        Format::UnixUs => value.parse::<i64>().ok()?.checked_mul(1_000),
        Format::UnixNs => value.parse::<i64>().ok(),
        Format::Layout(layout) => parse_go_time(value, layout, location).ok(),
    }
}
