//! The tail sampling configuration types, and loading them from the Collector's YAML.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use regex::Regex;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use weft_model::StatusCode;

use super::check::convert_block;
use super::raw::RawTailBlock;
use crate::error::ConfigError;
use crate::yaml::{PickKey, from_str_seed, typed};

/// The Collector's default `decision_wait`.
pub const DEFAULT_DECISION_WAIT: Duration = Duration::from_secs(30);
/// The Collector's default `num_traces`.
pub const DEFAULT_NUM_TRACES: u64 = 50_000;

/// The processor name a Collector file uses for this processor, bare or as a prefix of
/// `tail_sampling/<name>`.
const PROCESSOR_TYPE: &str = "tail_sampling";

/// A loaded `tail_sampling` configuration. Defaults are the Collector's.
#[derive(Debug, Clone)]
pub struct TailConfig {
    /// How long after a trace's first span to decide (default 30s).
    pub decision_wait: Duration,
    /// Traces kept in memory awaiting a decision (default 50000).
    pub num_traces: u64,
    /// Expected new traces per second, a sizing hint (default 0).
    pub expected_new_traces_per_sec: u64,
    /// Sizes of the caches remembering decisions after a trace leaves memory.
    pub decision_cache: DecisionCacheConfig,
    /// Stop at the first policy that samples (drop policies still run first).
    pub sample_on_first_match: bool,
    /// On shutdown, drop traces still awaiting a decision instead of deciding early.
    pub drop_pending_traces_on_shutdown: bool,
    /// The policies, in the order written.
    pub policies: Vec<PolicyConfig>,
    /// Problems that do not stop loading (settings the Collector ignores too), in the
    /// same shape as errors.
    pub warnings: Vec<ConfigError>,
}

/// Sizes of the decision caches; 0 disables a cache (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecisionCacheConfig {
    /// Trace ids remembered as sampled.
    pub sampled_cache_size: u64,
    /// Trace ids remembered as not sampled.
    pub non_sampled_cache_size: u64,
}

/// One named policy.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The policy's name, for counters and for composite `rate_allocation`.
    pub name: String,
    /// What it does.
    pub kind: PolicyKind,
}

/// The policy types, with their checked settings (the Collector's names and units).
#[derive(Debug, Clone)]
pub enum PolicyKind {
    /// Samples every trace.
    AlwaysSample,
    /// Samples by trace duration, earliest start to latest end, in whole milliseconds:
    /// `duration >= threshold_ms` when `upper_threshold_ms` is 0, else
    /// `threshold_ms < duration <= upper_threshold_ms`.
    Latency {
        /// Lower bound in milliseconds.
        threshold_ms: i64,
        /// Upper bound in milliseconds; 0 for none.
        upper_threshold_ms: i64,
    },
    /// Samples when a span or resource attribute `key` is an integer in
    /// `[min_value, max_value]` (an absent bound is unbounded).
    NumericAttribute {
        /// Attribute key.
        key: String,
        /// Inclusive lower bound.
        min_value: Option<i64>,
        /// Inclusive upper bound.
        max_value: Option<i64>,
        /// Sample traces where no span or resource matches instead (deprecated upstream).
        invert_match: bool,
    },
    /// Samples when a span or resource string attribute `key` matches.
    StringAttribute {
        /// Attribute key.
        key: String,
        /// Exact values or regular expressions.
        matcher: StringMatcher,
        /// The Collector's regex result cache size; kept for reference, not used.
        cache_max_size: i64,
        /// Sample traces where no span or resource matches instead (deprecated upstream).
        invert_match: bool,
    },
    /// Samples when a span or resource boolean attribute `key` equals `value`.
    BooleanAttribute {
        /// Attribute key.
        key: String,
        /// The value to match.
        value: bool,
        /// Sample traces where no span or resource matches instead (deprecated upstream).
        invert_match: bool,
    },
    /// Samples when any span has one of the status codes.
    StatusCode {
        /// Codes to match; never empty.
        status_codes: Vec<StatusCode>,
    },
    /// Token bucket over spans: refills `spans_per_second`, holds `burst_capacity`.
    RateLimiting {
        /// Sustained spans per second.
        spans_per_second: i64,
        /// Bucket size in spans (default twice `spans_per_second`).
        burst_capacity: i64,
    },
    /// Token bucket over bytes (see [`crate::tail::trace_size_bytes`]).
    BytesLimiting {
        /// Sustained bytes per second.
        bytes_per_second: i64,
        /// Bucket size in bytes (default twice `bytes_per_second`).
        burst_capacity: i64,
    },
    /// Samples a percentage of trace ids by salted FNV-1a hash.
    Probabilistic {
        /// Hash salt; empty means the Collector's default salt.
        hash_salt: String,
        /// Percentage in `[0, 100]`; 100 and above sample everything.
        sampling_percentage: f64,
    },
    /// Samples when the span count is in `[min_spans, max_spans]` (`max_spans` 0: no bound).
    SpanCount {
        /// Inclusive minimum.
        min_spans: i64,
        /// Inclusive maximum; 0 for none.
        max_spans: i64,
    },
    /// Samples when any span's W3C tracestate has `key` with one of `values`.
    TraceState {
        /// The tracestate key.
        key: String,
        /// Values to match.
        values: BTreeSet<String>,
    },
    /// Samples when any span has the W3C sampled flag.
    TraceFlags,
    /// Samples when every sub-policy samples.
    And(Vec<PolicyConfig>),
    /// Inverts a sub-policy's sampled / not sampled decision.
    Not(Box<PolicyConfig>),
    /// Drops the trace (beating any sample) when every sub-policy samples.
    Drop(Vec<PolicyConfig>),
    /// Sub-policies in order, each with its own share of a spans-per-second budget.
    Composite {
        /// Budget over all sub-policies, per second.
        max_total_spans_per_second: i64,
        /// As written; the Collector evaluates sub-policies in their listed order.
        policy_order: Vec<String>,
        /// The sub-policies, evaluated in this order.
        sub_policies: Vec<PolicyConfig>,
        /// Spans per second allocated to each sub-policy, same order as `sub_policies`.
        allocated_spans_per_second: Vec<i64>,
    },
}

/// How a string attribute policy compares values.
#[derive(Debug, Clone)]
pub enum StringMatcher {
    /// Equal to one of these (empty strings are left out, as in the Collector).
    Exact(BTreeSet<String>),
    /// Any of these regular expressions matches somewhere in the value (unanchored, as
    /// Go's `regexp.MatchString`).
    Regex(Vec<Regex>),
}

impl StringMatcher {
    /// True when `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(values) => values.contains(value),
            StringMatcher::Regex(patterns) => {
                patterns.iter().any(|pattern| pattern.is_match(value))
            }
        }
    }
}

impl TailConfig {
    /// Loads a configuration from YAML text. `source_name` (a path, usually) is only used
    /// in messages. The text may be:
    ///
    /// - a Collector configuration file: the one `tail_sampling` or
    ///   `tail_sampling/<name>` entry under `processors:` is used, everything else in the
    ///   file is ignored (use [`TailConfig::from_collector_yaml_str`] to pick one of
    ///   several);
    /// - a `processors:` excerpt with a top-level `tail_sampling:` key;
    /// - the processor's own block (`decision_wait`, `policies`, ...).
    ///
    /// Errors name the source, line, column and field; unknown keys are errors.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<TailConfig, ConfigError> {
        let top_keys = mapping_keys(text, source_name)?;
        if top_keys.iter().any(|key| key == "processors") {
            let names = processor_names(text, source_name)?;
            return match names.as_slice() {
                [name] => TailConfig::from_collector_yaml_str(text, source_name, name),
                [] => Err(ConfigError::whole(
                    source_name,
                    "no tail_sampling processor under processors",
                )),
                several => Err(ConfigError::whole(
                    source_name,
                    format!(
                        "several tail_sampling processors ({}); choose one by name",
                        several.join(", ")
                    ),
                )),
            };
        }
        let processors: Vec<&String> = top_keys
            .iter()
            .filter(|key| is_tail_sampling(key))
            .collect();
        match processors.as_slice() {
            [name] => TailConfig::from_collector_yaml_str(text, source_name, name),
            [] => {
                let block: Spanned<RawTailBlock> = serde_saphyr::from_str(text)
                    .map_err(|error| ConfigError::from_yaml(source_name, text, &error))?;
                convert_block(block, source_name)
            }
            several => Err(ConfigError::whole(
                source_name,
                format!(
                    "several tail_sampling processors ({}); choose one by name",
                    several
                        .iter()
                        .map(|name| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Loads the processor named `processor_name` (`tail_sampling` or
    /// `tail_sampling/<name>`) from a Collector file, under `processors:` or at the top
    /// level of an excerpt.
    pub fn from_collector_yaml_str(
        text: &str,
        source_name: &str,
        processor_name: &str,
    ) -> Result<TailConfig, ConfigError> {
        let has_processors = mapping_keys(text, source_name)?
            .iter()
            .any(|key| key == "processors");
        let yaml_error =
            |error: serde_saphyr::Error| ConfigError::from_yaml(source_name, text, &error);
        let block = if has_processors {
            let seed = PickKey {
                key: "processors",
                inner: PickKey {
                    key: processor_name,
                    inner: typed::<Spanned<RawTailBlock>>(),
                },
            };
            from_str_seed(text, seed).map_err(yaml_error)?.flatten()
        } else {
            let seed = PickKey {
                key: processor_name,
                inner: typed::<Spanned<RawTailBlock>>(),
            };
            from_str_seed(text, seed).map_err(yaml_error)?
        };
        let block = block.ok_or_else(|| {
            ConfigError::whole(source_name, format!("no processor named {processor_name}"))
        })?;
        convert_block(block, source_name)
    }
}

fn is_tail_sampling(name: &str) -> bool {
    name == PROCESSOR_TYPE
        || name
            .strip_prefix(PROCESSOR_TYPE)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The keys of the top-level mapping (empty for an empty document).
fn mapping_keys(text: &str, source_name: &str) -> Result<Vec<String>, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::whole(
            source_name,
            "the configuration is empty",
        ));
    }
    let keys: BTreeMap<String, IgnoredAny> = serde_saphyr::from_str(text)
        .map_err(|error| ConfigError::from_yaml(source_name, text, &error))?;
    Ok(keys.into_keys().collect())
}

/// The `tail_sampling` processor names under `processors:`.
fn processor_names(text: &str, source_name: &str) -> Result<Vec<String>, ConfigError> {
    let seed = PickKey {
        key: "processors",
        inner: typed::<Option<BTreeMap<String, IgnoredAny>>>(),
    };
    let processors = from_str_seed(text, seed)
        .map_err(|error| ConfigError::from_yaml(source_name, text, &error))?;
    Ok(processors
        .flatten()
        .unwrap_or_default()
        .into_keys()
        .filter(|name| is_tail_sampling(name))
        .collect())
}
