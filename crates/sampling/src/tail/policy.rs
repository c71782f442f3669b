//! Policy evaluation over one whole trace.

use std::cell::OnceCell;
use std::sync::Mutex;
use std::time::Instant;

use weft_model::attribute::find;
use weft_model::{AttributeValue, KeyValue, Span};

use super::config::{PolicyConfig, PolicyKind};
use super::limiter::{TokenBucket, lock};
use super::size::trace_size_bytes;
use crate::tracestate::tracestate_value;

/// One policy's verdict on a trace, the Collector's `Decision` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyDecision {
    /// The policy wants the trace.
    Sampled,
    /// The policy does not want the trace (other policies may still sample it).
    NotSampled,
    /// An `invert_match` policy found no match: samples unless another policy says
    /// not sampled (deprecated upstream in favour of `drop`).
    InvertSampled,
    /// An `invert_match` policy found a match: the trace is not sampled, whatever
    /// other policies say except drop (deprecated upstream).
    InvertNotSampled,
    /// A drop policy matched: the trace is not sampled, whatever other policies say.
    Dropped,
}

impl PolicyDecision {
    /// The lowercase name the Collector's `decision` metric label uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyDecision::Sampled => "sampled",
            PolicyDecision::NotSampled => "not_sampled",
            PolicyDecision::InvertSampled => "inverted_sampled",
            PolicyDecision::InvertNotSampled => "inverted_not_sampled",
            PolicyDecision::Dropped => "dropped",
        }
    }
}

/// The salt the Collector's probabilistic policy uses when none is configured.
const DEFAULT_HASH_SALT: &str = "default-hash-seed";

/// A trace being judged, with its byte size computed at most once.
pub(crate) struct TraceView<'a> {
    pub spans: &'a [Span],
    size_bytes: OnceCell<u64>,
}

impl<'a> TraceView<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> Self {
        TraceView {
            spans,
            size_bytes: OnceCell::new(),
        }
    }

    fn span_count(&self) -> u64 {
        self.spans.len() as u64
    }

    fn size_bytes(&self) -> u64 {
        *self.size_bytes.get_or_init(|| trace_size_bytes(self.spans))
    }
}

/// A policy ready to evaluate, holding its rate state.
#[derive(Debug)]
pub(crate) enum Evaluator {
    /// A policy with no state, evaluated from its settings.
    Stateless(PolicyKind),
    RateLimiting(TokenBucket),
    BytesLimiting(TokenBucket),
    Probabilistic {
        salt: String,
        threshold: u64,
    },
    And(Vec<Evaluator>),
    Not(Box<Evaluator>),
    Drop(Vec<Evaluator>),
    Composite(Composite),
}

/// The composite policy: sub-policies with per-second span budgets.
#[derive(Debug)]
pub(crate) struct Composite {
    max_total_spans_per_second: i64,
    sub_policies: Vec<(Evaluator, i64)>,
    window: Mutex<CompositeWindow>,
}

/// Spans each sub-policy sampled in the current one-second window.
#[derive(Debug)]
struct CompositeWindow {
    /// The first `now` seen; windows are whole seconds since it.
    origin: Option<Instant>,
    second: u64,
    sampled_spans: Vec<i64>,
}

impl Evaluator {
    pub(crate) fn new(policy: &PolicyConfig) -> Evaluator {
        match &policy.kind {
            PolicyKind::RateLimiting {
                spans_per_second,
                burst_capacity,
            } => Evaluator::RateLimiting(TokenBucket::new(*spans_per_second, *burst_capacity)),
            PolicyKind::BytesLimiting {
                bytes_per_second,
                burst_capacity,
            } => Evaluator::BytesLimiting(TokenBucket::new(*bytes_per_second, *burst_capacity)),
            PolicyKind::Probabilistic {
                hash_salt,
                sampling_percentage,
            } => Evaluator::Probabilistic {
                salt: if hash_salt.is_empty() {
                    DEFAULT_HASH_SALT.to_owned()
                } else {
                    hash_salt.clone()
                },
                threshold: collector_threshold(sampling_percentage / 100.0),
            },
            PolicyKind::And(subs) => Evaluator::And(subs.iter().map(Evaluator::new).collect()),
            PolicyKind::Not(sub) => Evaluator::Not(Box::new(Evaluator::new(sub))),
            PolicyKind::Drop(subs) => Evaluator::Drop(subs.iter().map(Evaluator::new).collect()),
            PolicyKind::Composite {
                max_total_spans_per_second,
                sub_policies,
                allocated_spans_per_second,
                ..
            } => Evaluator::Composite(Composite {
                max_total_spans_per_second: *max_total_spans_per_second,
                sub_policies: sub_policies
                    .iter()
                    .map(Evaluator::new)
                    .zip(allocated_spans_per_second.iter().copied())
                    .collect(),
                window: Mutex::new(CompositeWindow {
                    origin: None,
                    second: 0,
                    sampled_spans: vec![0; sub_policies.len()],
                }),
            }),
            stateless => Evaluator::Stateless(stateless.clone()),
        }
    }

    pub(crate) fn evaluate(&self, trace: &TraceView<'_>, now: Instant) -> PolicyDecision {
        match self {
            Evaluator::Stateless(kind) => evaluate_stateless(kind, trace.spans),
            Evaluator::RateLimiting(bucket) => sampled_if(bucket.allow(now, trace.span_count())),
            Evaluator::BytesLimiting(bucket) => sampled_if(bucket.allow(now, trace.size_bytes())),
            Evaluator::Probabilistic { salt, threshold } => sampled_if(
                trace
                    .spans
                    .first()
                    .is_some_and(|span| fnv1a_64(salt.as_bytes(), &span.trace_id.0) <= *threshold),
            ),
            Evaluator::And(subs) => all_sampled(subs, trace, now, PolicyDecision::Sampled),
            Evaluator::Drop(subs) => all_sampled(subs, trace, now, PolicyDecision::Dropped),
            Evaluator::Not(sub) => match sub.evaluate(trace, now) {
                PolicyDecision::Sampled => PolicyDecision::NotSampled,
                PolicyDecision::NotSampled => PolicyDecision::Sampled,
                other => other,
            },
            Evaluator::Composite(composite) => composite.evaluate(trace, now),
        }
    }
}

/// Evaluates a policy that keeps no state. [`Evaluator::new`] builds every other kind
/// as its own evaluator, so they never reach here; were one to, it would not sample.
fn evaluate_stateless(kind: &PolicyKind, spans: &[Span]) -> PolicyDecision {
    match kind {
        PolicyKind::AlwaysSample => PolicyDecision::Sampled,
        PolicyKind::Latency {
            threshold_ms,
            upper_threshold_ms,
        } => sampled_if(latency_matches(spans, *threshold_ms, *upper_threshold_ms)),
        PolicyKind::NumericAttribute {
            key,
            min_value,
            max_value,
            invert_match,
        } => {
            let range = min_value.unwrap_or(i64::MIN)..=max_value.unwrap_or(i64::MAX);
            attribute_decision(spans, key, *invert_match, |value, _| {
                range.contains(&int_of(value))
            })
        }
        PolicyKind::StringAttribute {
            key,
            matcher,
            invert_match,
            ..
        } => attribute_decision(spans, key, *invert_match, |value, on_span| {
            let text = value.as_str().unwrap_or_default();
            // The Collector skips empty span values but not empty resource values.
            !(on_span && text.is_empty()) && matcher.matches(text)
        }),
        PolicyKind::BooleanAttribute {
            key,
            value: wanted,
            invert_match,
        } => attribute_decision(spans, key, *invert_match, |value, _| {
            // pdata's `Value.Bool()` reads any other type as false.
            matches!(value, AttributeValue::Bool(flag) if flag == wanted)
                || (!*wanted && !matches!(value, AttributeValue::Bool(_)))
        }),
        PolicyKind::StatusCode { status_codes } => sampled_if(
            spans
                .iter()
                .any(|span| status_codes.contains(&span.status.code)),
        ),
        PolicyKind::SpanCount {
            min_spans,
            max_spans,
        } => {
            let count = spans.len() as i64;
            sampled_if(count >= *min_spans && (*max_spans == 0 || count <= *max_spans))
        }
        PolicyKind::TraceState { key, values } => sampled_if(spans.iter().any(|span| {
            tracestate_value(&span.trace_state, key).is_some_and(|value| values.contains(value))
        })),
        PolicyKind::TraceFlags => sampled_if(spans.iter().any(|span| span.flags & 0x01 != 0)),
        PolicyKind::RateLimiting { .. }
        | PolicyKind::BytesLimiting { .. }
        | PolicyKind::Probabilistic { .. }
        | PolicyKind::And(_)
        | PolicyKind::Not(_)
        | PolicyKind::Drop(_)
        | PolicyKind::Composite { .. } => PolicyDecision::NotSampled,
    }
}

impl Composite {
    fn evaluate(&self, trace: &TraceView<'_>, now: Instant) -> PolicyDecision {
        let mut window = lock(&self.window);
        let origin = *window.origin.get_or_insert(now);
        let second = now.saturating_duration_since(origin).as_secs();
        if second != window.second {
            window.second = second;
            window.sampled_spans.iter_mut().for_each(|count| *count = 0);
        }
        let spans = trace.span_count() as i64;
        for (index, (sub, allocated)) in self.sub_policies.iter().enumerate() {
            match sub.evaluate(trace, now) {
                PolicyDecision::Sampled | PolicyDecision::InvertSampled => {
                    let if_sampled = window.sampled_spans[index].saturating_add(spans);
                    // Over budget: not sampled, and the count is left alone so a smaller
                    // trace may still fit this second.
                    if if_sampled <= *allocated && if_sampled <= self.max_total_spans_per_second {
                        window.sampled_spans[index] = if_sampled;
                        return PolicyDecision::Sampled;
                    }
                    return PolicyDecision::NotSampled;
                }
                _ => {}
            }
        }
        PolicyDecision::NotSampled
    }
}

fn sampled_if(condition: bool) -> PolicyDecision {
    if condition {
        PolicyDecision::Sampled
    } else {
        PolicyDecision::NotSampled
    }
}

/// `and` and `drop`: `all_match` unless a sub-policy says not sampled (evaluation stops
/// there, as in the Collector, so later rate limiters keep their tokens).
fn all_sampled(
    subs: &[Evaluator],
    trace: &TraceView<'_>,
    now: Instant,
    all_match: PolicyDecision,
) -> PolicyDecision {
    for sub in subs {
        if matches!(
            sub.evaluate(trace, now),
            PolicyDecision::NotSampled | PolicyDecision::InvertNotSampled
        ) {
            return PolicyDecision::NotSampled;
        }
    }
    all_match
}

/// The Collector's attribute policies: the key looked up on each span's resource and on
/// the span. Without `invert_match`, sampled when any lookup matches; with it,
/// `InvertSampled` when none does (an absent key counts as not matching).
fn attribute_decision(
    spans: &[Span],
    key: &str,
    invert_match: bool,
    matches: impl Fn(&AttributeValue, bool) -> bool,
) -> PolicyDecision {
    let lookup = |attributes: &[KeyValue], on_span: bool| {
        find(attributes, key).is_some_and(|value| matches(value, on_span))
    };
    let any_match = spans
        .iter()
        .any(|span| lookup(&span.resource.attributes, false) || lookup(&span.attributes, true));
    match (invert_match, any_match) {
        (false, true) => PolicyDecision::Sampled,
        (false, false) => PolicyDecision::NotSampled,
        (true, true) => PolicyDecision::InvertNotSampled,
        (true, false) => PolicyDecision::InvertSampled,
    }
}

/// pdata's `Value.Int()`: the integer, or 0 for any other type.
fn int_of(value: &AttributeValue) -> i64 {
    match value {
        AttributeValue::Int(number) => *number,
        _ => 0,
    }
}

/// The trace's duration, earliest known start to latest end, compared in whole
/// milliseconds. Spans without a start time are left out.
fn latency_matches(spans: &[Span], threshold_ms: i64, upper_threshold_ms: i64) -> bool {
    let timed = spans.iter().filter(|span| span.start_unix_nanos != 0);
    let Some(start) = timed.clone().map(|span| span.start_unix_nanos).min() else {
        return false;
    };
    let end = timed.map(Span::end_unix_nanos).max().unwrap_or(start);
    let duration_ms = (end.saturating_sub(start) / 1_000_000) as i64;
    if upper_threshold_ms == 0 {
        duration_ms >= threshold_ms
    } else {
        threshold_ms < duration_ms && duration_ms <= upper_threshold_ms
    }
}

/// 64-bit FNV-1a over `salt` then `trace_id`, as the Collector hashes trace ids.
pub(crate) fn fnv1a_64(salt: &[u8], trace_id: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    salt.iter()
        .chain(trace_id)
        .fold(OFFSET_BASIS, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
}

/// `floor(ratio * (2^64 - 1))` computed the way the Collector's `calculateThreshold`
/// does with Go's `big.Float`: the product rounded to 64 significant bits (nearest,
/// ties to even), then truncated, saturating at `u64::MAX`; 0 for ratios at or below 0.
pub(crate) fn collector_threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    let bits = ratio.to_bits();
    let raw_exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if raw_exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), raw_exponent - 1075)
    };
    let mut product = u128::from(u64::MAX) * u128::from(mantissa);
    let significant_bits = 128 - product.leading_zeros() as i32;
    if significant_bits > 64 {
        let shift = significant_bits - 64;
        let kept = product >> shift;
        let remainder = product & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let round_up = remainder > half || (remainder == half && kept & 1 == 1);
        product = (kept + u128::from(round_up)) << shift;
    }
    let value = if exponent >= 0 {
        if exponent >= 64 || product.leading_zeros() < exponent as u32 + 64 {
            return u64::MAX;
        }
        product << exponent
    } else if -exponent >= 128 {
        0
    } else {
        product >> (-exponent)
    };
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values printed by the Collector's own `calculateThreshold` and
    /// `hashTraceID` (Go's `math/big` and `hash/fnv`), run on the same inputs.
    #[test]
    fn threshold_matches_go_big_float() {
        let vectors: [(f64, u64); 10] = [
            (0.0, 0),
            (0.1, 18446744073709551),
            (1.0, 184467440737095519),
            (10.0, 1844674407370955263),
            (33.3, 6142765776545279999),
            (50.0, 9223372036854775807),
            (99.9, 18428297329635844095),
            (100.0, u64::MAX),
            (150.0, u64::MAX),
            (1e-10, 18446744),
        ];
        for (percentage, want) in vectors {
            assert_eq!(
                collector_threshold(percentage / 100.0),
                want,
                "{percentage}%"
            );
        }
    }

    #[test]
    fn trace_id_hash_matches_go_fnv() {
        let one = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let w3c = [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ];
        let vectors: [(&str, [u8; 16], u64); 6] = [
            ("default-hash-seed", one, 16254957729900898954),
            ("default-hash-seed", w3c, 11908981664384643253),
            ("custom-salt", one, 1302068425496309554),
            ("custom-salt", w3c, 18210105934933198589),
            ("", one, 9808873769958073010),
            ("", w3c, 12180425081350451581),
        ];
        for (salt, trace_id, want) in vectors {
            assert_eq!(fnv1a_64(salt.as_bytes(), &trace_id), want, "{salt:?}");
        }
    }
}
