//! Checking a raw `tail_sampling` block and building the typed configuration.

use std::collections::BTreeMap;

use regex::Regex;
use serde_saphyr::{Location, Spanned};
use weft_model::StatusCode;

use super::config::{
    DEFAULT_DECISION_WAIT, DEFAULT_NUM_TRACES, DecisionCacheConfig, PolicyConfig, PolicyKind,
    StringMatcher, TailConfig,
};
use super::raw::{RawBlock, RawPolicy, RawTailBlock};
use crate::error::ConfigError;

/// Where a policy sits: which types may appear there, as in the Collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    CompositeSub,
    AndOrDropSub,
    NotSub,
}

impl Level {
    fn allows(self, policy_type: &str) -> bool {
        match policy_type {
            "composite" | "drop" => self == Level::Top,
            "and" => matches!(self, Level::Top | Level::CompositeSub),
            "not" => self != Level::NotSub,
            _ => true,
        }
    }
}

/// The settings keys each policy type takes in its block.
fn allowed_keys(policy_type: &str) -> Option<&'static [&'static str]> {
    Some(match policy_type {
        "always_sample" | "trace_flags" => &[],
        "latency" => &["threshold_ms", "upper_threshold_ms"],
        "numeric_attribute" => &["key", "min_value", "max_value", "invert_match"],
        "probabilistic" => &["hash_salt", "sampling_percentage"],
        "status_code" => &["status_codes"],
        "string_attribute" => &[
            "key",
            "values",
            "enabled_regex_matching",
            "cache_max_size",
            "invert_match",
        ],
        "rate_limiting" => &["spans_per_second", "burst_capacity"],
        "bytes_limiting" => &["bytes_per_second", "burst_capacity"],
        "span_count" => &["min_spans", "max_spans"],
        "trace_state" => &["key", "values"],
        "boolean_attribute" => &["key", "value", "invert_match"],
        "and" => &["and_sub_policy"],
        "drop" => &["drop_sub_policy"],
        "not" => &["not_sub_policy"],
        "composite" => &[
            "max_total_spans_per_second",
            "policy_order",
            "composite_sub_policy",
            "rate_allocation",
        ],
        _ => return None,
    })
}

const POLICY_TYPES: &str = "always_sample, latency, numeric_attribute, probabilistic, \
    status_code, string_attribute, rate_limiting, bytes_limiting, span_count, trace_state, \
    trace_flags, boolean_attribute, and, drop, not, composite";

/// A token bucket's rate and burst; a burst of 0 means twice the rate, as upstream.
fn bucket_settings(per_second: i64, burst_capacity: i64) -> (i64, i64) {
    let burst = if burst_capacity > 0 {
        burst_capacity
    } else {
        per_second.saturating_mul(2)
    };
    (per_second, burst)
}

/// Checks the raw block and builds the configuration.
pub(super) fn convert_block(
    block: Spanned<RawTailBlock>,
    source_name: &str,
) -> Result<TailConfig, ConfigError> {
    let mut checker = Checker {
        source_name,
        warnings: Vec::new(),
    };
    let location = block.referenced;
    let raw = block.value;
    let Some(raw_policies) = raw.policies else {
        return Err(checker.error(location, "policies is required"));
    };
    if raw_policies.value.is_empty() {
        return Err(checker.error(
            raw_policies.referenced,
            "policies must list at least one policy",
        ));
    }
    let mut policies = Vec::new();
    let mut seen = BTreeMap::new();
    for raw_policy in &raw_policies.value {
        let policy = checker.policy(&raw_policy.value, raw_policy.referenced, Level::Top)?;
        if let Some(first_line) = seen.insert(policy.name.clone(), raw_policy.referenced.line()) {
            return Err(checker.error(
                raw_policy.referenced,
                format!(
                    "duplicate policy name {:?} (first at line {first_line})",
                    policy.name
                ),
            ));
        }
        policies.push(policy);
    }
    let decision_cache = raw.decision_cache.map(|cache| DecisionCacheConfig {
        sampled_cache_size: cache.sampled_cache_size.unwrap_or(0),
        non_sampled_cache_size: cache.non_sampled_cache_size.unwrap_or(0),
    });
    Ok(TailConfig {
        decision_wait: raw
            .decision_wait
            .map_or(DEFAULT_DECISION_WAIT, |wait| wait.value.0),
        num_traces: raw.num_traces.unwrap_or(DEFAULT_NUM_TRACES),
        expected_new_traces_per_sec: raw.expected_new_traces_per_sec.unwrap_or(0),
        decision_cache: decision_cache.unwrap_or_default(),
        sample_on_first_match: raw.sample_on_first_match.unwrap_or(false),
        drop_pending_traces_on_shutdown: raw.drop_pending_traces_on_shutdown.unwrap_or(false),
        policies,
        warnings: checker.warnings,
    })
}

/// Validation state: where errors point and the warnings gathered so far.
struct Checker<'a> {
    source_name: &'a str,
    warnings: Vec<ConfigError>,
}

impl Checker<'_> {
    fn error(&self, location: Location, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.source_name, location, message)
    }

    fn warn(&mut self, location: Location, message: impl Into<String>) {
        self.warnings
            .push(ConfigError::at(self.source_name, location, message));
    }

    fn policy(
        &mut self,
        raw: &RawPolicy,
        location: Location,
        level: Level,
    ) -> Result<PolicyConfig, ConfigError> {
        let name = match &raw.name {
            Some(name) if !name.value.is_empty() => name.value.clone(),
            Some(name) => return Err(self.error(name.referenced, "policy name is empty")),
            None => return Err(self.error(location, "policy is missing name")),
        };
        let Some(policy_type) = &raw.policy_type else {
            return Err(self.error(location, format!("policy {name:?} is missing type")));
        };
        let type_location = policy_type.referenced;
        let policy_type = policy_type.value.as_str();
        if policy_type == "ottl_condition" {
            return Err(self.error(
                type_location,
                format!(
                    "policy {name:?}: type ottl_condition is not supported \
                     (weft does not implement OTTL)"
                ),
            ));
        }
        let Some(allowed) = allowed_keys(policy_type) else {
            return Err(self.error(
                type_location,
                format!(
                    "policy {name:?}: unknown policy type {policy_type:?} \
                     (expected one of {POLICY_TYPES})"
                ),
            ));
        };
        if !level.allows(policy_type) {
            return Err(self.error(
                type_location,
                format!("policy {name:?}: type {policy_type} cannot be nested here"),
            ));
        }
        let empty = RawBlock::default();
        let mut own_block = &empty;
        for (key, block) in raw.blocks() {
            if key == policy_type {
                own_block = &block.value;
            } else {
                // The Collector reads only the block of the policy's type.
                self.warn(
                    block.referenced,
                    format!(
                        "policy {name:?}: the {key} block is ignored because the policy type \
                         is {policy_type}"
                    ),
                );
            }
        }
        for (key, key_location) in own_block.present_keys() {
            if !allowed.contains(&key) {
                return Err(self.error(
                    key_location,
                    format!("policy {name:?}: {policy_type} does not take {key}"),
                ));
            }
        }
        let kind = self.kind(&name, policy_type, own_block, location)?;
        Ok(PolicyConfig { name, kind })
    }

    fn kind(
        &mut self,
        name: &str,
        policy_type: &str,
        block: &RawBlock,
        location: Location,
    ) -> Result<PolicyKind, ConfigError> {
        let key = || {
            block
                .key
                .as_ref()
                .map(|key| key.value.clone())
                .unwrap_or_default()
        };
        let flag = |value: &Option<Spanned<bool>>| value.as_ref().is_some_and(|flag| flag.value);
        let int = |value: &Option<Spanned<i64>>| value.as_ref().map_or(0, |number| number.value);
        let non_negative = |field: &'static str, value: &Option<Spanned<i64>>| match value {
            Some(number) if number.value < 0 => Err(self.error(
                number.referenced,
                format!("policy {name:?}: {field} must not be negative"),
            )),
            _ => Ok(int(value)),
        };
        Ok(match policy_type {
            "always_sample" => PolicyKind::AlwaysSample,
            "trace_flags" => PolicyKind::TraceFlags,
            "latency" => {
                let threshold_ms = non_negative("threshold_ms", &block.threshold_ms)?;
                let upper_threshold_ms =
                    non_negative("upper_threshold_ms", &block.upper_threshold_ms)?;
                if upper_threshold_ms != 0 && upper_threshold_ms < threshold_ms {
                    return Err(self.error(
                        block
                            .upper_threshold_ms
                            .as_ref()
                            .map_or(location, |upper| upper.referenced),
                        format!(
                            "policy {name:?}: upper_threshold_ms ({upper_threshold_ms}) is below \
                             threshold_ms ({threshold_ms})"
                        ),
                    ));
                }
                PolicyKind::Latency {
                    threshold_ms,
                    upper_threshold_ms,
                }
            }
            "numeric_attribute" => {
                let min_value = block.min_value.as_ref().map(|value| value.value);
                let max_value = block.max_value.as_ref().map(|value| value.value);
                match (min_value, max_value) {
                    (None, None) => {
                        return Err(self.error(
                            location,
                            format!(
                                "policy {name:?}: numeric_attribute needs min_value or max_value"
                            ),
                        ));
                    }
                    (Some(min), Some(max)) if min > max => {
                        return Err(self.error(
                            location,
                            format!(
                                "policy {name:?}: min_value ({min}) is above max_value ({max})"
                            ),
                        ));
                    }
                    _ => {}
                }
                PolicyKind::NumericAttribute {
                    key: key(),
                    min_value,
                    max_value,
                    invert_match: flag(&block.invert_match),
                }
            }
            "string_attribute" => PolicyKind::StringAttribute {
                key: key(),
                matcher: self.string_matcher(name, block)?,
                cache_max_size: int(&block.cache_max_size),
                invert_match: flag(&block.invert_match),
            },
            "boolean_attribute" => PolicyKind::BooleanAttribute {
                key: key(),
                value: flag(&block.value),
                invert_match: flag(&block.invert_match),
            },
            "status_code" => PolicyKind::StatusCode {
                status_codes: self.status_codes(name, block, location)?,
            },
            "rate_limiting" => {
                let (spans_per_second, burst_capacity) = bucket_settings(
                    non_negative("spans_per_second", &block.spans_per_second)?,
                    non_negative("burst_capacity", &block.burst_capacity)?,
                );
                PolicyKind::RateLimiting {
                    spans_per_second,
                    burst_capacity,
                }
            }
            "bytes_limiting" => {
                let (bytes_per_second, burst_capacity) = bucket_settings(
                    non_negative("bytes_per_second", &block.bytes_per_second)?,
                    non_negative("burst_capacity", &block.burst_capacity)?,
                );
                PolicyKind::BytesLimiting {
                    bytes_per_second,
                    burst_capacity,
                }
            }
            "probabilistic" => {
                let sampling_percentage = block
                    .sampling_percentage
                    .as_ref()
                    .map_or(0.0, |value| value.value);
                if sampling_percentage.is_nan() || sampling_percentage < 0.0 {
                    return Err(self.error(
                        block
                            .sampling_percentage
                            .as_ref()
                            .map_or(location, |value| value.referenced),
                        format!(
                            "policy {name:?}: sampling_percentage {sampling_percentage} is not a \
                             percentage"
                        ),
                    ));
                }
                PolicyKind::Probabilistic {
                    hash_salt: block
                        .hash_salt
                        .as_ref()
                        .map(|salt| salt.value.clone())
                        .unwrap_or_default(),
                    sampling_percentage,
                }
            }
            "span_count" => {
                let min_spans = non_negative("min_spans", &block.min_spans)?;
                let max_spans = non_negative("max_spans", &block.max_spans)?;
                if max_spans != 0 && max_spans < min_spans {
                    return Err(self.error(
                        location,
                        format!(
                            "policy {name:?}: max_spans ({max_spans}) is below min_spans ({min_spans})"
                        ),
                    ));
                }
                PolicyKind::SpanCount {
                    min_spans,
                    max_spans,
                }
            }
            "trace_state" => {
                let key = key();
                let values = block
                    .values
                    .iter()
                    .flat_map(|values| values.value.iter())
                    .map(|value| value.value.clone())
                    // A tracestate member is at most 256 characters, `=` included.
                    .filter(|value| !value.is_empty() && key.len() + value.len() < 256)
                    .collect();
                PolicyKind::TraceState { key, values }
            }
            "and" => PolicyKind::And(self.sub_policies(
                name,
                "and_sub_policy",
                &block.and_sub_policy,
                location,
                Level::AndOrDropSub,
            )?),
            "drop" => PolicyKind::Drop(self.sub_policies(
                name,
                "drop_sub_policy",
                &block.drop_sub_policy,
                location,
                Level::AndOrDropSub,
            )?),
            "not" => {
                let Some(sub) = &block.not_sub_policy else {
                    return Err(self.error(
                        location,
                        format!("policy {name:?}: not needs not_sub_policy"),
                    ));
                };
                PolicyKind::Not(Box::new(self.policy(
                    &sub.value,
                    sub.referenced,
                    Level::NotSub,
                )?))
            }
            "composite" => self.composite(name, block, location)?,
            other => {
                return Err(self.error(
                    location,
                    format!("policy {name:?}: unknown policy type {other:?}"),
                ));
            }
        })
    }

    fn string_matcher(&self, name: &str, block: &RawBlock) -> Result<StringMatcher, ConfigError> {
        let values = block
            .values
            .as_ref()
            .map(|values| values.value.as_slice())
            .unwrap_or_default();
        if !block
            .enabled_regex_matching
            .as_ref()
            .is_some_and(|flag| flag.value)
        {
            return Ok(StringMatcher::Exact(
                values
                    .iter()
                    .filter(|value| !value.value.is_empty())
                    .map(|value| value.value.clone())
                    .collect(),
            ));
        }
        let mut patterns = Vec::with_capacity(values.len());
        for value in values {
            let pattern = Regex::new(&value.value).map_err(|error| {
                let rendered = error.to_string();
                let last_line = rendered.lines().last().unwrap_or_default();
                let detail = last_line.trim_start_matches("error: ").to_owned();
                self.error(
                    value.referenced,
                    format!(
                        "policy {name:?}: invalid regular expression {:?}: {detail}",
                        value.value
                    ),
                )
            })?;
            patterns.push(pattern);
        }
        Ok(StringMatcher::Regex(patterns))
    }

    fn status_codes(
        &self,
        name: &str,
        block: &RawBlock,
        location: Location,
    ) -> Result<Vec<StatusCode>, ConfigError> {
        let Some(codes) = block
            .status_codes
            .as_ref()
            .filter(|codes| !codes.value.is_empty())
        else {
            return Err(self.error(
                location,
                format!("policy {name:?}: status_codes must list at least one of OK, ERROR, UNSET"),
            ));
        };
        codes
            .value
            .iter()
            .map(|code| match code.as_str() {
                "OK" => Ok(StatusCode::Ok),
                "ERROR" => Ok(StatusCode::Error),
                "UNSET" => Ok(StatusCode::Unset),
                other => Err(self.error(
                    codes.referenced,
                    format!("policy {name:?}: unknown status code {other:?} (expected OK, ERROR or UNSET)"),
                )),
            })
            .collect()
    }

    fn sub_policies(
        &mut self,
        name: &str,
        field: &str,
        raw: &Option<Spanned<Vec<Spanned<RawPolicy>>>>,
        location: Location,
        level: Level,
    ) -> Result<Vec<PolicyConfig>, ConfigError> {
        let Some(list) = raw.as_ref().filter(|list| !list.value.is_empty()) else {
            return Err(self.error(
                location,
                format!("policy {name:?}: {field} must list at least one policy"),
            ));
        };
        list.value
            .iter()
            .map(|sub| self.policy(&sub.value, sub.referenced, level))
            .collect()
    }

    fn composite(
        &mut self,
        name: &str,
        block: &RawBlock,
        location: Location,
    ) -> Result<PolicyKind, ConfigError> {
        let max_total = match &block.max_total_spans_per_second {
            Some(max) if max.value < 0 => {
                return Err(self.error(
                    max.referenced,
                    format!("policy {name:?}: max_total_spans_per_second must not be negative"),
                ));
            }
            Some(max) => max.value,
            None => 0,
        };
        let sub_policies = self.sub_policies(
            name,
            "composite_sub_policy",
            &block.composite_sub_policy,
            location,
            Level::CompositeSub,
        )?;
        // The Collector's arithmetic: percent of the total, a percent of 0 (or below)
        // means an equal share, and a sub-policy without an entry gets nothing.
        let equal_share = max_total as f64 / sub_policies.len() as f64;
        let mut allocation: BTreeMap<&str, f64> = BTreeMap::new();
        for entry in block
            .rate_allocation
            .iter()
            .flat_map(|entries| entries.value.iter())
        {
            let share = if entry.value.percent > 0 {
                entry.value.percent as f64 / 100.0 * max_total as f64
            } else {
                equal_share
            };
            if !sub_policies
                .iter()
                .any(|sub| sub.name == entry.value.policy)
            {
                self.warn(entry.referenced, format!("policy {name:?}: rate_allocation names {:?}, which is not a composite_sub_policy", entry.value.policy));
            }
            allocation.insert(entry.value.policy.as_str(), share);
        }
        let mut allocated_spans_per_second = Vec::with_capacity(sub_policies.len());
        for sub in &sub_policies {
            let share = allocation.get(sub.name.as_str()).copied();
            if share.is_none() {
                self.warn(location, format!("policy {name:?}: sub-policy {:?} has no rate_allocation, so it is allocated 0 spans per second (as in the Collector)", sub.name));
            }
            allocated_spans_per_second.push(share.unwrap_or(0.0) as i64);
        }
        let policy_order = block
            .policy_order
            .as_ref()
            .map(|order| order.value.clone())
            .unwrap_or_default();
        let listed: Vec<&str> = sub_policies.iter().map(|sub| sub.name.as_str()).collect();
        if !policy_order.is_empty() && policy_order != listed {
            self.warn(
                block.policy_order.as_ref().map_or(location, |order| order.referenced),
                format!("policy {name:?}: policy_order differs from the composite_sub_policy order, which is the order used (as in the Collector)"),
            );
        }
        Ok(PolicyKind::Composite {
            max_total_spans_per_second: max_total,
            policy_order,
            sub_policies,
            allocated_spans_per_second,
        })
    }
}
