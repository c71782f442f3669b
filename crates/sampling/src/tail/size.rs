//! The size of a trace for `bytes_limiting`.

use std::sync::Arc;

use weft_model::{
    AttributeValue, InstrumentationScope, KeyValue, Resource, Span, SpanKind, StatusCode,
};

/// Spans of one resource: each scope with the summed sizes of its span fields.
type ResourceGroup<'a> = (
    &'a Arc<Resource>,
    Vec<(&'a Arc<InstrumentationScope>, usize)>,
);

/// An estimate of the bytes `spans` take as an OTLP `TracesData` protobuf message, the
/// measure the Collector's `bytes_limiting` uses (`ProtoMarshaler.TracesSize`).
///
/// Spans sharing a resource (the same `Arc`) are counted as one `ResourceSpans`, and
/// spans sharing a scope within it as one `ScopeSpans`, as a sender batches them. Every
/// field weft keeps is counted as protobuf encodes it (tags, lengths, varints, fixed
/// widths; empty scalars omitted, the resource, scope and status messages always
/// present and an absent parent span id written empty, as pdata writes them). Fields
/// weft does not keep (schema URLs, scope dropped-attribute counts) are not counted, so
/// this is an estimate, exact for spans that arrived over OTLP in one request per
/// resource (checked against pdata's `ProtoMarshaler.TracesSize`).
pub fn trace_size_bytes(spans: &[Span]) -> u64 {
    // (resource, [(scope, summed span field sizes)]) in first-seen order; traces are
    // small, so linear search beats hashing.
    let mut groups: Vec<ResourceGroup<'_>> = Vec::new();
    for span in spans {
        let span_field = field(span_size(span));
        let group = match groups
            .iter_mut()
            .position(|(resource, _)| Arc::ptr_eq(resource, &span.resource))
        {
            Some(index) => &mut groups[index].1,
            None => {
                groups.push((&span.resource, Vec::new()));
                let last = groups.len() - 1;
                &mut groups[last].1
            }
        };
        match group
            .iter_mut()
            .find(|(scope, _)| Arc::ptr_eq(scope, &span.scope))
        {
            Some((_, total)) => *total += span_field,
            None => group.push((&span.scope, span_field)),
        }
    }
    let total: usize = groups
        .iter()
        .map(|(resource, scopes)| {
            let resource_size = attributes_size(&resource.attributes)
                + varint_field(u64::from(resource.dropped_attributes_count));
            let scopes_size: usize = scopes
                .iter()
                .map(|(scope, spans_size)| {
                    let scope_size = string_field(&scope.name)
                        + string_field(&scope.version)
                        + attributes_size(&scope.attributes);
                    field(field(scope_size) + spans_size)
                })
                .sum();
            field(field(resource_size) + scopes_size)
        })
        .sum();
    total as u64
}

fn span_size(span: &Span) -> usize {
    let end = span.end_unix_nanos();
    field(16)
        + field(8)
        + string_field(&span.trace_state)
        // pdata writes an absent parent span id as an empty field.
        + span.parent_span_id.map_or(field(0), |_| field(8))
        // Span.flags is field 16: a two-byte tag and a fixed32.
        + if span.flags != 0 { 6 } else { 0 }
        + string_field(&span.name)
        + if span.kind != SpanKind::Unspecified {
            2
        } else {
            0
        }
        + if span.start_unix_nanos != 0 { 9 } else { 0 }
        + if end != 0 { 9 } else { 0 }
        + attributes_size(&span.attributes)
        + varint_field(u64::from(span.dropped_attributes_count))
        + span
            .events
            .iter()
            .map(|event| {
                field(
                    if event.time_unix_nanos != 0 { 9 } else { 0 }
                        + string_field(&event.name)
                        + attributes_size(&event.attributes)
                        + varint_field(u64::from(event.dropped_attributes_count)),
                )
            })
            .sum::<usize>()
        + varint_field(u64::from(span.dropped_events_count))
        + span
            .links
            .iter()
            .map(|link| {
                field(
                    field(16)
                        + field(8)
                        + string_field(&link.trace_state)
                        + attributes_size(&link.attributes)
                        + varint_field(u64::from(link.dropped_attributes_count))
                        + if link.flags != 0 { 5 } else { 0 },
                )
            })
            .sum::<usize>()
        + varint_field(u64::from(span.dropped_links_count))
        + status_size(span)
}

fn status_size(span: &Span) -> usize {
    let code = if span.status.code != StatusCode::Unset {
        2
    } else {
        0
    };
    field(string_field(&span.status.message) + code)
}

fn attributes_size(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|pair| field(string_field(&pair.key) + field(value_size(&pair.value))))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::String(text) => field(text.len()),
        AttributeValue::Bool(_) => 2,
        AttributeValue::Int(number) => 1 + varint_len(*number as u64),
        AttributeValue::Double(_) => 9,
        AttributeValue::Bytes(bytes) => field(bytes.len()),
        AttributeValue::Array(values) => {
            field(values.iter().map(|value| field(value_size(value))).sum())
        }
        AttributeValue::KeyValueList(pairs) => field(attributes_size(pairs)),
        AttributeValue::Empty => 0,
    }
}

/// A length-delimited field: tag, length, payload.
fn field(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

/// A string field, omitted when empty (proto3 default).
fn string_field(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        field(text.len())
    }
}

/// A varint field, omitted when zero.
fn varint_field(value: u64) -> usize {
    if value == 0 { 0 } else { 1 + varint_len(value) }
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use weft_model::{SpanId, TraceId};

    use super::*;

    #[test]
    fn varints_take_seven_bits_a_byte() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    /// A hand-encoded minimal span: trace id, span id and a 4-byte name.
    #[test]
    fn a_minimal_span_counts_its_protobuf_bytes() {
        let span = Span::new(TraceId::from_halves(1, 2), SpanId::from_u64(3), "root");
        // Span: 18 (trace id) + 10 (span id) + 2 (empty parent) + 6 (name) + 2 (empty
        // status) = 38, as a field 40; ScopeSpans: empty scope 2 + 40 = 42, as a field
        // 44; ResourceSpans: empty resource 2 + 44 = 46, as a field 48. pdata v1.20.0's
        // ProtoMarshaler.TracesSize gives 48, and 88 for two such spans.
        assert_eq!(trace_size_bytes(std::slice::from_ref(&span)), 48);
        assert_eq!(trace_size_bytes(&[span.clone(), span]), 88);
    }

    /// Every field kind at once; 241 is what pdata v1.20.0's `TracesSize` reports for
    /// the same two spans, resource and scope.
    #[test]
    fn a_full_trace_matches_pdata() {
        let resource = Arc::new(Resource::for_service("checkout"));
        let scope = Arc::new(InstrumentationScope {
            name: String::from("lib"),
            version: String::from("1.0"),
            attributes: Vec::new(),
        });
        let mut first = Span::new(TraceId::from_halves(1, 2), SpanId::from_u64(3), "root");
        first.resource = Arc::clone(&resource);
        first.scope = Arc::clone(&scope);
        let mut second = first.clone();
        second.attributes = vec![
            KeyValue::new("k", "vv"),
            KeyValue::new("n", 300i64),
            KeyValue::new("b", true),
            KeyValue::new("d", AttributeValue::Double(1.5)),
        ];
        second.flags = 1;
        second.kind = SpanKind::Server;
        second.start_unix_nanos = 1_700_000_000_000_000_000;
        second.duration_nanos = 1_000_000;
        second.status.code = StatusCode::Error;
        second.status.message = String::from("boom");
        second.parent_span_id = Some(SpanId::from_u64(9));
        second.trace_state = String::from("ot=th:8");
        second.events.push(weft_model::Event {
            time_unix_nanos: 1_700_000_000_000_500_000,
            name: String::from("ev"),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
        assert_eq!(trace_size_bytes(&[first, second]), 241);
    }

    #[test]
    fn attributes_add_their_keys_and_values() {
        let bare = Span::new(TraceId::from_halves(1, 2), SpanId::from_u64(3), "root");
        let mut tagged = bare.clone();
        tagged.attributes.push(KeyValue::new("k", "vv"));
        // KeyValue: key field 3 + value field (2 + AnyValue string field 4) = 9, plus its
        // own tag and length: 11.
        assert_eq!(trace_size_bytes(&[tagged]) - trace_size_bytes(&[bare]), 11);
    }
}
