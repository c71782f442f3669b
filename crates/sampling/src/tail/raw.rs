//! The YAML as written, before validation: the Collector's `tail_sampling` shapes, with
//! source positions kept for error messages.

use std::fmt;
use std::time::Duration;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Location, Spanned};

/// The processor's own block.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTailBlock {
    pub decision_wait: Option<Spanned<GoDuration>>,
    pub num_traces: Option<u64>,
    pub expected_new_traces_per_sec: Option<u64>,
    pub decision_cache: Option<RawDecisionCache>,
    pub sample_on_first_match: Option<bool>,
    pub drop_pending_traces_on_shutdown: Option<bool>,
    pub policies: Option<Spanned<Vec<Spanned<RawPolicy>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDecisionCache {
    pub sampled_cache_size: Option<u64>,
    pub non_sampled_cache_size: Option<u64>,
}

/// One policy: `name`, `type`, and one settings block per policy type (the Collector
/// reads only the block named by `type`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub policy_type: Option<Spanned<String>>,
    pub latency: Option<Spanned<RawBlock>>,
    pub numeric_attribute: Option<Spanned<RawBlock>>,
    pub probabilistic: Option<Spanned<RawBlock>>,
    pub status_code: Option<Spanned<RawBlock>>,
    pub string_attribute: Option<Spanned<RawBlock>>,
    pub rate_limiting: Option<Spanned<RawBlock>>,
    pub bytes_limiting: Option<Spanned<RawBlock>>,
    pub span_count: Option<Spanned<RawBlock>>,
    pub trace_state: Option<Spanned<RawBlock>>,
    pub trace_flags: Option<Spanned<RawBlock>>,
    pub boolean_attribute: Option<Spanned<RawBlock>>,
    pub ottl_condition: Option<Spanned<RawBlock>>,
    pub and: Option<Spanned<RawBlock>>,
    pub drop: Option<Spanned<RawBlock>>,
    pub not: Option<Spanned<RawBlock>>,
    pub composite: Option<Spanned<RawBlock>>,
}

impl RawPolicy {
    /// Every settings block present, with its key.
    pub fn blocks(&self) -> Vec<(&'static str, &Spanned<RawBlock>)> {
        [
            ("latency", &self.latency),
            ("numeric_attribute", &self.numeric_attribute),
            ("probabilistic", &self.probabilistic),
            ("status_code", &self.status_code),
            ("string_attribute", &self.string_attribute),
            ("rate_limiting", &self.rate_limiting),
            ("bytes_limiting", &self.bytes_limiting),
            ("span_count", &self.span_count),
            ("trace_state", &self.trace_state),
            ("trace_flags", &self.trace_flags),
            ("boolean_attribute", &self.boolean_attribute),
            ("ottl_condition", &self.ottl_condition),
            ("and", &self.and),
            ("drop", &self.drop),
            ("not", &self.not),
            ("composite", &self.composite),
        ]
        .into_iter()
        .filter_map(|(key, block)| block.as_ref().map(|block| (key, block)))
        .collect()
    }
}

/// Declares [`RawBlock`]: the union of every policy type's settings, so any block parses
/// and validation then checks which keys the policy's own type takes.
macro_rules! raw_block {
    ($($field:ident: $type:ty),* $(,)?) => {
        /// Settings of one policy block; which keys are allowed depends on the type.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawBlock {
            $(pub $field: Option<Spanned<$type>>,)*
        }

        impl RawBlock {
            /// The keys present, with where each is.
            pub fn present_keys(&self) -> Vec<(&'static str, Location)> {
                let mut keys = Vec::new();
                $(if let Some(value) = &self.$field {
                    keys.push((stringify!($field), value.referenced));
                })*
                keys
            }
        }
    };
}

raw_block! {
    threshold_ms: i64,
    upper_threshold_ms: i64,
    key: String,
    min_value: i64,
    max_value: i64,
    invert_match: bool,
    hash_salt: String,
    sampling_percentage: f64,
    status_codes: Vec<String>,
    values: Vec<Spanned<String>>,
    enabled_regex_matching: bool,
    cache_max_size: i64,
    spans_per_second: i64,
    bytes_per_second: i64,
    burst_capacity: i64,
    min_spans: i64,
    max_spans: i64,
    value: bool,
    error_mode: IgnoredAny,
    span: IgnoredAny,
    spanevent: IgnoredAny,
    and_sub_policy: Vec<Spanned<RawPolicy>>,
    drop_sub_policy: Vec<Spanned<RawPolicy>>,
    not_sub_policy: Box<RawPolicy>,
    max_total_spans_per_second: i64,
    policy_order: Vec<String>,
    composite_sub_policy: Vec<Spanned<RawPolicy>>,
    rate_allocation: Vec<Spanned<RawRateAllocation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateAllocation {
    pub policy: String,
    pub percent: i64,
}

/// A Go `time.Duration` as the Collector's config reads it: a string such as `10s`,
/// `1m30s`, `1.5h` or `500ms`, or an integer count of nanoseconds.
pub(crate) struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = GoDuration;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a duration such as 10s, 1m30s or 500ms")
            }

            fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<GoDuration, E> {
                Ok(GoDuration(Duration::from_nanos(nanos)))
            }

            fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<GoDuration, E> {
                u64::try_from(nanos)
                    .map(|nanos| GoDuration(Duration::from_nanos(nanos)))
                    .map_err(|_| E::custom(format!("duration {nanos} is negative")))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<GoDuration, E> {
                parse_go_duration(text).map(GoDuration).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Parses Go's duration syntax: `0`, or one or more decimal numbers each followed by a
/// unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`). Negative durations are refused.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (expected e.g. 10s, 1m30s, 500ms)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.is_empty() || body.starts_with('-') {
        return Err(invalid());
    }
    let mut total_nanos = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total_nanos += number * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if total_nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        let cases = [
            ("10s", Duration::from_secs(10)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("500ms", Duration::from_millis(500)),
            ("2us", Duration::from_micros(2)),
            ("0", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "10", "-1s", "1d", "s", "10 s", "1..5s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }
}
