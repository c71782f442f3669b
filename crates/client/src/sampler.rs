//! Head sampling at span start: AWS X-Ray style rules (service, HTTP method and URL path
//! globs, priority, a reservoir of traces per second, then a fixed rate) over a
//! probabilistic default.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

/// One sampling rule, with the meaning of an AWS X-Ray sampling rule.
///
/// Globs match case-insensitively, `*` matching any run of characters (also none) and
/// `?` exactly one; a missing attribute is matched as the empty string.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRule {
    /// Unique name; breaks ties between equal priorities (alphabetical order first).
    pub name: String,
    /// Lower values are evaluated first; the first matching rule decides.
    pub priority: u32,
    /// Glob over the service name given to [`HeadSampler::new`].
    pub service_name: String,
    /// Glob over the span's `http.request.method` attribute (or the older `http.method`).
    pub http_method: String,
    /// Glob over the span's `url.path` attribute (or the path part of the older
    /// `http.target`, or `http.route`).
    pub url_path: String,
    /// Traces sampled per wall-clock second before `fixed_rate` applies.
    pub reservoir_per_second: u32,
    /// Fraction, in `[0, 1]`, of the traces beyond the reservoir that are sampled.
    pub fixed_rate: f64,
}

impl Default for SamplingRule {
    /// X-Ray's default rule: matches everything, 1 trace per second then 5%.
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            priority: 10_000,
            service_name: "*".to_owned(),
            http_method: "*".to_owned(),
            url_path: "*".to_owned(),
            reservoir_per_second: 1,
            fixed_rate: 0.05,
        }
    }
}

/// Why a [`HeadSampler`] could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingConfigError {
    /// A rule has an empty name.
    #[error("sampling rule at position {position} has an empty name")]
    EmptyRuleName {
        /// Index of the rule in the list given.
        position: usize,
    },
    /// Two rules share a name.
    #[error("sampling rule name `{name}` is used more than once")]
    DuplicateRuleName {
        /// The repeated name.
        name: String,
    },
    /// A rule's `fixed_rate` is not a number in `[0, 1]`.
    #[error("sampling rule `{name}`: fixed_rate {fixed_rate} is outside [0, 1]")]
    FixedRateOutOfRange {
        /// The rule.
        name: String,
        /// The rate given.
        fixed_rate: f64,
    },
    /// The default ratio is not a number in `[0, 1]`.
    #[error("default_ratio {default_ratio} is outside [0, 1]")]
    DefaultRatioOutOfRange {
        /// The ratio given.
        default_ratio: f64,
    },
}

/// Case-insensitive glob with `*` and `?`.
#[derive(Debug, Clone)]
struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.chars().flat_map(char::to_lowercase).collect(),
        }
    }

    fn matches_everything(&self) -> bool {
        !self.pattern.is_empty() && self.pattern.iter().all(|&character| character == '*')
    }

    /// Linear-time wildcard match: on a mismatch, backtrack only to the last `*`.
    fn matches(&self, text: &str) -> bool {
        if self.matches_everything() {
            return true;
        }
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let (mut pattern_at, mut text_at) = (0, 0);
        let mut last_star: Option<(usize, usize)> = None;
        while text_at < text.len() {
            match self.pattern.get(pattern_at) {
                Some('*') => {
                    last_star = Some((pattern_at, text_at));
                    pattern_at += 1;
                }
                Some(&character) if character == '?' || character == text[text_at] => {
                    pattern_at += 1;
                    text_at += 1;
                }
                _ => match last_star {
                    Some((star_at, star_text_at)) => {
                        pattern_at = star_at + 1;
                        text_at = star_text_at + 1;
                        last_star = Some((star_at, star_text_at + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pattern[pattern_at..]
            .iter()
            .all(|&character| character == '*')
    }
}

/// Per-second reservoir: the current second and the traces taken in it, packed in one
/// atomic (second in the high 32 bits, count in the low 32) so taking is lock-free.
#[derive(Debug, Default)]
struct Reservoir {
    second_and_taken: AtomicU64,
}

impl Reservoir {
    fn try_take(&self, now_unix_seconds: u64, per_second: u32) -> bool {
        if per_second == 0 {
            return false;
        }
        let second = now_unix_seconds & 0xffff_ffff;
        let mut current = self.second_and_taken.load(Ordering::Relaxed);
        loop {
            let taken = if current >> 32 == second {
                current & 0xffff_ffff
            } else {
                0
            };
            if taken >= u64::from(per_second) {
                return false;
            }
            let updated = (second << 32) | (taken + 1);
            match self.second_and_taken.compare_exchange_weak(
                current,
                updated,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

#[derive(Debug)]
struct CompiledRule {
    rule: SamplingRule,
    http_method: Glob,
    url_path: Glob,
    reservoir: Reservoir,
}

struct SamplerState {
    /// Rules whose service glob matches the service, in evaluation order.
    rules: Vec<CompiledRule>,
    default_ratio: f64,
    now_unix_seconds: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl fmt::Debug for SamplerState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SamplerState")
            .field("rules", &self.rules)
            .field("default_ratio", &self.default_ratio)
            .finish_non_exhaustive()
    }
}

/// Which rule (if any) decided a root span, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadDecision<'a> {
    /// The rule's reservoir had room this second.
    Reservoir {
        /// The rule's name.
        rule: &'a str,
    },
    /// The rule's fixed rate was applied to the trace id.
    FixedRate {
        /// The rule's name.
        rule: &'a str,
        /// Whether the trace is sampled.
        sampled: bool,
    },
    /// No rule matched; the default ratio was applied to the trace id.
    DefaultRatio {
        /// Whether the trace is sampled.
        sampled: bool,
    },
}

impl HeadDecision<'_> {
    /// Whether the trace is sampled.
    pub fn is_sampled(&self) -> bool {
        match *self {
            HeadDecision::Reservoir { .. } => true,
            HeadDecision::FixedRate { sampled, .. } | HeadDecision::DefaultRatio { sampled } => {
                sampled
            }
        }
    }
}

/// An [`ShouldSample`] deciding at span start.
///
/// A span whose parent context holds a valid span follows the parent's sampled flag
/// (local or remote parent), so whole traces are kept or dropped; rules apply to root
/// spans only. For a root span the first matching rule (by priority, then name) samples
/// it if its reservoir has room this second, else with probability `fixed_rate`; with no
/// matching rule the probability is `default_ratio`. Probabilities are applied to the
/// trace id the way OpenTelemetry's `TraceIdRatioBased` does (lower 63 bits of the low
/// 64), so services sampling one trace id at one ratio agree.
///
/// Only attributes given when the span is started (span builder attributes) are visible.
/// Cloning shares rules and reservoirs.
#[derive(Debug, Clone)]
pub struct HeadSampler {
    state: Arc<SamplerState>,
}

impl HeadSampler {
    /// A sampler for `service_name` with `rules` and, where no rule matches,
    /// `default_ratio`. Rules for other services are discarded here.
    pub fn new(
        service_name: &str,
        rules: Vec<SamplingRule>,
        default_ratio: f64,
    ) -> Result<Self, SamplingConfigError> {
        if !(0.0..=1.0).contains(&default_ratio) {
            return Err(SamplingConfigError::DefaultRatioOutOfRange { default_ratio });
        }
        let mut names = std::collections::HashSet::new();
        for (position, rule) in rules.iter().enumerate() {
            if rule.name.is_empty() {
                return Err(SamplingConfigError::EmptyRuleName { position });
            }
            if !names.insert(rule.name.as_str()) {
                return Err(SamplingConfigError::DuplicateRuleName {
                    name: rule.name.clone(),
                });
            }
            if !(0.0..=1.0).contains(&rule.fixed_rate) {
                return Err(SamplingConfigError::FixedRateOutOfRange {
                    name: rule.name.clone(),
                    fixed_rate: rule.fixed_rate,
                });
            }
        }
        let mut compiled: Vec<CompiledRule> = rules
            .into_iter()
            .filter(|rule| Glob::new(&rule.service_name).matches(service_name))
            .map(|rule| CompiledRule {
                http_method: Glob::new(&rule.http_method),
                url_path: Glob::new(&rule.url_path),
                reservoir: Reservoir::default(),
                rule,
            })
            .collect();
        compiled.sort_by(|left, right| {
            (left.rule.priority, &left.rule.name).cmp(&(right.rule.priority, &right.rule.name))
        });
        Ok(Self {
            state: Arc::new(SamplerState {
                rules: compiled,
                default_ratio,
                now_unix_seconds: Box::new(system_unix_seconds),
            }),
        })
    }

    /// Replaces the clock the reservoirs count seconds with (tests, simulations).
    /// Reservoir state is reset.
    pub fn with_clock(self, now_unix_seconds: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        let rules = self
            .state
            .rules
            .iter()
            .map(|compiled| CompiledRule {
                rule: compiled.rule.clone(),
                http_method: compiled.http_method.clone(),
                url_path: compiled.url_path.clone(),
                reservoir: Reservoir::default(),
            })
            .collect();
        Self {
            state: Arc::new(SamplerState {
                rules,
                default_ratio: self.state.default_ratio,
                now_unix_seconds: Box::new(now_unix_seconds),
            }),
        }
    }

    /// The decision for a root span of `trace_id` with `attributes`, naming the rule.
    pub fn decide_root(&self, trace_id: TraceId, attributes: &[KeyValue]) -> HeadDecision<'_> {
        let http_method = attribute(attributes, &["http.request.method", "http.method"]);
        let url_path = url_path(attributes);
        let matched = self.state.rules.iter().find(|compiled| {
            compiled
                .http_method
                .matches(http_method.as_deref().unwrap_or(""))
                && compiled.url_path.matches(url_path.as_deref().unwrap_or(""))
        });
        match matched {
            Some(compiled) => {
                let now = (self.state.now_unix_seconds)();
                if compiled
                    .reservoir
                    .try_take(now, compiled.rule.reservoir_per_second)
                {
                    HeadDecision::Reservoir {
                        rule: &compiled.rule.name,
                    }
                } else {
                    HeadDecision::FixedRate {
                        rule: &compiled.rule.name,
                        sampled: trace_id_under_ratio(trace_id, compiled.rule.fixed_rate),
                    }
                }
            }
            None => HeadDecision::DefaultRatio {
                sampled: trace_id_under_ratio(trace_id, self.state.default_ratio),
            },
        }
    }
}

impl ShouldSample for HeadSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .filter(|context| context.has_active_span())
            .map(|context| context.span().span_context().clone());
        let (sampled, trace_state) = match parent {
            Some(parent) if parent.is_valid() => {
                (parent.is_sampled(), parent.trace_state().clone())
            }
            _ => (
                self.decide_root(trace_id, attributes).is_sampled(),
                TraceState::default(),
            ),
        };
        SamplingResult {
            decision: if sampled {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: Vec::new(),
            trace_state,
        }
    }
}

fn attribute(attributes: &[KeyValue], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        attributes
            .iter()
            .find(|attribute| attribute.key.as_str() == *key)
            .map(|attribute| attribute.value.as_str().into_owned())
    })
}

fn url_path(attributes: &[KeyValue]) -> Option<String> {
    if let Some(path) = attribute(attributes, &["url.path"]) {
        return Some(path);
    }
    if let Some(target) = attribute(attributes, &["http.target"]) {
        let path_end = target.find(['?', '#']).unwrap_or(target.len());
        return Some(target[..path_end].to_owned());
    }
    attribute(attributes, &["http.route"])
}

/// OpenTelemetry's `TraceIdRatioBased` test: the low 64 bits of the trace id, shifted
/// right by one, below `ratio * 2^63`.
fn trace_id_under_ratio(trace_id: TraceId, ratio: f64) -> bool {
    let bytes = trace_id.to_bytes();
    let mut low = [0_u8; 8];
    low.copy_from_slice(&bytes[8..]);
    let threshold = (ratio * (1_u64 << 63) as f64) as u64;
    (u64::from_be_bytes(low) >> 1) < threshold
}

fn system_unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_xray_wildcards() {
        let cases = [
            ("*", "", true),
            ("*", "/anything", true),
            ("/api/*", "/api/users/7", true),
            ("/api/*", "/API/users", true),
            ("/api/*", "/apx/users", false),
            ("/user?", "/users", true),
            ("/user?", "/user", false),
            ("*.png", "/img/a.png", true),
            ("*.png", "/img/a.pngx", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("GET", "get", true),
            ("", "", true),
            ("", "x", false),
            ("**x", "yyx", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "{pattern:?} on {text:?}"
            );
        }
    }

    #[test]
    fn ratio_test_follows_the_low_trace_id_bits() {
        let low_half = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 0, 0, 0, 0, 0]);
        let high_half = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(trace_id_under_ratio(low_half, 0.5));
        assert!(!trace_id_under_ratio(high_half, 0.5));
        assert!(trace_id_under_ratio(high_half, 1.0));
        assert!(!trace_id_under_ratio(low_half, 0.0));
    }

    #[test]
    fn reservoir_refills_each_second() {
        let reservoir = Reservoir::default();
        assert!(reservoir.try_take(100, 2));
        assert!(reservoir.try_take(100, 2));
        assert!(!reservoir.try_take(100, 2));
        assert!(reservoir.try_take(101, 2));
        assert!(!reservoir.try_take(101, 0));
    }
}
