//! Per-span limit checks. Pure and synchronous so the filtering pass holds no state
//! across an await.

use std::fmt::Write as _;
use std::sync::Arc;

use weft_model::{AttributeValue, KeyValue, Span};

use crate::config::DistributorConfig;

/// Why one span was dropped; the metric label of `weft_distributor_spans_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    SpanNameTooLong,
    AttributeKeyTooLong,
    AttributeValueTooLong,
    TooManyAttributes,
}

impl Reason {
    pub(crate) const ALL: [Reason; 4] = [
        Reason::SpanNameTooLong,
        Reason::AttributeKeyTooLong,
        Reason::AttributeValueTooLong,
        Reason::TooManyAttributes,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::SpanNameTooLong => "span_name_too_long",
            Reason::AttributeKeyTooLong => "attribute_key_too_long",
            Reason::AttributeValueTooLong => "attribute_value_too_long",
            Reason::TooManyAttributes => "too_many_attributes",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where an offending attribute list sits, for the message.
#[derive(Debug, Clone, Copy)]
enum Place {
    Span,
    Event(usize),
    Link(usize),
    Resource,
    Scope,
}

/// One limit violation, borrowing from the span so nothing is allocated unless the
/// message is needed.
#[derive(Debug)]
struct Violation<'a> {
    reason: Reason,
    place: Place,
    key: &'a str,
    actual: u64,
    limit: u64,
}

/// Longest attribute key quoted in a message, in bytes; longer keys are cut.
const MAX_QUOTED_KEY_BYTES: usize = 64;

impl Violation<'_> {
    fn describe(&self, span: &Span, out: &mut String) {
        let _ = write!(out, "trace {} span {}: ", span.trace_id, span.span_id);
        match self.place {
            Place::Span => {}
            Place::Event(index) => {
                let _ = write!(out, "event {index} ");
            }
            Place::Link(index) => {
                let _ = write!(out, "link {index} ");
            }
            Place::Resource => out.push_str("resource "),
            Place::Scope => out.push_str("scope "),
        }
        let (actual, limit) = (self.actual, self.limit);
        let key = quoted_key(self.key);
        let _ = match self.reason {
            Reason::SpanNameTooLong => write!(
                out,
                "span name is {actual} bytes, over the limit of {limit} bytes"
            ),
            Reason::AttributeKeyTooLong => write!(
                out,
                "attribute key {key} is {actual} bytes, over the limit of {limit} bytes"
            ),
            Reason::AttributeValueTooLong => write!(
                out,
                "attribute {key} value is {actual} bytes, over the limit of {limit} bytes"
            ),
            Reason::TooManyAttributes => write!(
                out,
                "{actual} attributes, over the limit of {limit} attributes"
            ),
        };
    }
}

fn quoted_key(key: &str) -> String {
    if key.len() <= MAX_QUOTED_KEY_BYTES {
        return format!("{key:?}");
    }
    let mut end = MAX_QUOTED_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}...", &key[..end])
}

/// Bytes a value counts against `max_attribute_value_bytes`: strings and byte arrays by
/// length, arrays and maps by the sum of their parts (map keys included), other scalars 8.
fn value_bytes(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::String(text) => text.len() as u64,
        AttributeValue::Bytes(bytes) => bytes.len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Int(_) | AttributeValue::Double(_) => 8,
        AttributeValue::Empty => 0,
        AttributeValue::Array(values) => values.iter().map(value_bytes).sum(),
        AttributeValue::KeyValueList(pairs) => pairs
            .iter()
            .map(|pair| pair.key.len() as u64 + value_bytes(&pair.value))
            .sum(),
    }
}

fn check_attributes<'a>(
    config: &DistributorConfig,
    attributes: &'a [KeyValue],
    place: Place,
) -> Option<Violation<'a>> {
    let count = attributes.len() as u64;
    if count > config.max_attributes_per_span {
        return Some(Violation {
            reason: Reason::TooManyAttributes,
            place,
            key: "",
            actual: count,
            limit: config.max_attributes_per_span,
        });
    }
    attributes.iter().find_map(|pair| {
        let key_bytes = pair.key.len() as u64;
        if key_bytes > config.max_attribute_key_bytes {
            return Some(Violation {
                reason: Reason::AttributeKeyTooLong,
                place,
                key: &pair.key,
                actual: key_bytes,
                limit: config.max_attribute_key_bytes,
            });
        }
        let value_bytes = value_bytes(&pair.value);
        (value_bytes > config.max_attribute_value_bytes).then_some(Violation {
            reason: Reason::AttributeValueTooLong,
            place,
            key: &pair.key,
            actual: value_bytes,
            limit: config.max_attribute_value_bytes,
        })
    })
}

/// Remembers the last shared resource or scope that passed, so the spans of one batch
/// (which share one `Arc`) check it once. Holding a clone keeps the pointer from being
/// reused by another allocation while we compare against it.
struct LastPassed<T>(Option<Arc<T>>);

impl<T> LastPassed<T> {
    fn is(&self, candidate: &Arc<T>) -> bool {
        self.0
            .as_ref()
            .is_some_and(|passed| Arc::ptr_eq(passed, candidate))
    }
}

struct Checker<'c> {
    config: &'c DistributorConfig,
    last_resource: LastPassed<weft_model::Resource>,
    last_scope: LastPassed<weft_model::InstrumentationScope>,
}

impl Checker<'_> {
    fn check<'s>(&mut self, span: &'s Span) -> Option<Violation<'s>> {
        let config = self.config;
        let name_bytes = span.name.len() as u64;
        if name_bytes > config.max_span_name_bytes {
            return Some(Violation {
                reason: Reason::SpanNameTooLong,
                place: Place::Span,
                key: "",
                actual: name_bytes,
                limit: config.max_span_name_bytes,
            });
        }
        if let Some(violation) = check_attributes(config, &span.attributes, Place::Span) {
            return Some(violation);
        }
        for (index, event) in span.events.iter().enumerate() {
            if let Some(violation) =
                check_attributes(config, &event.attributes, Place::Event(index))
            {
                return Some(violation);
            }
        }
        for (index, link) in span.links.iter().enumerate() {
            if let Some(violation) = check_attributes(config, &link.attributes, Place::Link(index))
            {
                return Some(violation);
            }
        }
        if !self.last_resource.is(&span.resource) {
            if let Some(violation) =
                check_attributes(config, &span.resource.attributes, Place::Resource)
            {
                return Some(violation);
            }
            self.last_resource.0 = Some(Arc::clone(&span.resource));
        }
        if !self.last_scope.is(&span.scope) {
            if let Some(violation) = check_attributes(config, &span.scope.attributes, Place::Scope)
            {
                return Some(violation);
            }
            self.last_scope.0 = Some(Arc::clone(&span.scope));
        }
        None
    }
}

/// What the filtering pass removed.
#[derive(Debug, Default)]
pub(crate) struct FilterReport {
    /// Spans removed.
    pub(crate) rejected_spans: u64,
    /// Spans removed per reason, indexed like [`Reason::ALL`].
    pub(crate) rejected_by_reason: [u64; 4],
    /// The first removed span's ids and reason; empty when none were removed.
    pub(crate) first_reason: String,
}

/// Removes every span that breaks a per-span limit, keeping the order of the rest.
pub(crate) fn filter_spans(config: &DistributorConfig, spans: &mut Vec<Span>) -> FilterReport {
    let mut checker = Checker {
        config,
        last_resource: LastPassed(None),
        last_scope: LastPassed(None),
    };
    let mut report = FilterReport::default();
    spans.retain(|span| match checker.check(span) {
        None => true,
        Some(violation) => {
            report.rejected_spans += 1;
            report.rejected_by_reason[violation.reason.index()] += 1;
            if report.first_reason.is_empty() {
                violation.describe(span, &mut report.first_reason);
            }
            false
        }
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::{Event, Resource, SpanId, TraceId};

    fn span(low: u64) -> Span {
        Span::new(
            TraceId::from_halves(1, low),
            SpanId::from_u64(low),
            "GET /users",
        )
    }

    fn small_config() -> DistributorConfig {
        DistributorConfig {
            max_spans_per_request: 10,
            max_span_name_bytes: 16,
            max_attribute_key_bytes: 8,
            max_attribute_value_bytes: 32,
            max_attributes_per_span: 3,
        }
    }

    #[test]
    fn values_at_the_limit_pass_and_one_byte_over_fails() {
        let config = small_config();
        let mut at_limit = span(1);
        at_limit.name = "n".repeat(16);
        at_limit.attributes = vec![KeyValue::new("k".repeat(8), "v".repeat(32))];
        let mut over = span(2);
        over.attributes = vec![KeyValue::new("key", "v".repeat(33))];
        let mut spans = vec![at_limit, over];
        let report = filter_spans(&config, &mut spans);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].span_id, SpanId::from_u64(1));
        assert_eq!(report.rejected_spans, 1);
        assert_eq!(
            report.rejected_by_reason[Reason::AttributeValueTooLong.index()],
            1
        );
        assert!(
            report
                .first_reason
                .contains(r#"attribute "key" value is 33 bytes"#),
            "{}",
            report.first_reason
        );
        assert!(
            report
                .first_reason
                .contains(&format!("span {}", SpanId::from_u64(2)))
        );
    }

    #[test]
    fn first_reason_names_first_rejected_span_and_keeps_order() {
        let config = small_config();
        let mut long_name = span(2);
        long_name.name = "x".repeat(17);
        let mut many = span(4);
        many.attributes = (0..4)
            .map(|i| KeyValue::new(format!("k{i}"), 1_i64))
            .collect();
        let mut spans = vec![span(1), long_name, span(3), many, span(5)];
        let report = filter_spans(&config, &mut spans);
        let kept: Vec<u64> = spans.iter().map(|s| s.span_id.as_u64()).collect();
        assert_eq!(kept, vec![1, 3, 5]);
        assert_eq!(report.rejected_spans, 2);
        assert!(report.first_reason.contains("span name is 17 bytes"));
        assert!(
            report
                .first_reason
                .contains(&TraceId::from_halves(1, 2).to_string())
        );
        assert_eq!(
            report.rejected_by_reason[Reason::TooManyAttributes.index()],
            1
        );
    }

    #[test]
    fn long_keys_are_cut_in_the_message() {
        let config = DistributorConfig {
            max_attribute_key_bytes: 100,
            ..small_config()
        };
        let mut bad = span(1);
        bad.attributes = vec![KeyValue::new("é".repeat(60), "v")];
        let mut spans = vec![bad];
        let report = filter_spans(&config, &mut spans);
        assert!(spans.is_empty());
        assert!(report.first_reason.contains("is 120 bytes"));
        assert!(report.first_reason.len() < 200, "{}", report.first_reason);
    }

    #[test]
    fn nested_values_count_all_their_parts() {
        let config = small_config();
        let mut bad = span(1);
        bad.attributes = vec![KeyValue::new(
            "list",
            AttributeValue::Array(vec!["a".repeat(20).into(), "b".repeat(20).into()]),
        )];
        let mut spans = vec![bad];
        let report = filter_spans(&config, &mut spans);
        assert_eq!(report.rejected_spans, 1);
        assert!(report.first_reason.contains("value is 40 bytes"));
    }

    #[test]
    fn event_and_resource_attributes_are_checked() {
        let config = small_config();
        let mut with_event = span(1);
        with_event.events.push(Event {
            time_unix_nanos: 1,
            name: "exception".into(),
            attributes: vec![KeyValue::new("stack", "s".repeat(40))],
            dropped_attributes_count: 0,
        });
        let bad_resource = Arc::new(Resource::for_service("s".repeat(40)));
        let mut first_of_resource = span(2);
        first_of_resource.resource = Arc::clone(&bad_resource);
        let mut second_of_resource = span(3);
        second_of_resource.resource = bad_resource;
        let mut spans = vec![with_event, first_of_resource, second_of_resource, span(4)];
        let report = filter_spans(&config, &mut spans);
        assert_eq!(report.rejected_spans, 3);
        assert!(report.first_reason.contains("event 0 attribute \"stack\""));
        assert_eq!(spans.len(), 1);
    }

    #[test]
    fn spans_without_start_time_pass() {
        let config = small_config();
        let mut late_fragment = span(1);
        late_fragment.start_unix_nanos = 0;
        late_fragment.duration_nanos = 0;
        let mut spans = vec![late_fragment];
        let report = filter_spans(&config, &mut spans);
        assert_eq!(report.rejected_spans, 0);
        assert!(report.first_reason.is_empty());
        assert_eq!(spans.len(), 1);
    }
}
