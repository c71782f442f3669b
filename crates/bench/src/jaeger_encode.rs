//! Model spans to Jaeger agent datagrams: compact-Thrift `Agent.emitBatch` calls, one
//! `Batch` (one process) per datagram, each under [`MAX_DATAGRAM_BYTES`], the way
//! jaeger-client's UDP sender packs them.
//!
//! The mapping is OpenTelemetry's Jaeger exporter's: resource `service.name` is the process
//! service name and the other resource attributes its tags; span kind becomes the
//! `span.kind` tag (not for internal spans); an error status becomes `error=true` plus
//! `otel.status_code`/`otel.status_description`; events become logs with an `event` field;
//! links become FOLLOWS_FROM references. Times are microseconds.

use std::collections::HashMap;
use std::sync::Arc;

use weft_model::{AttributeValue, KeyValue, Resource, Span, SpanKind, StatusCode};

use crate::thrift_write::{CompactWriter, compact_type};

/// Largest datagram produced, in bytes: jaeger-client's default UDP packet limit.
pub const MAX_DATAGRAM_BYTES: usize = 65_000;

/// Jaeger's `TagType` enum.
const TAG_STRING: i32 = 0;
const TAG_DOUBLE: i32 = 1;
const TAG_BOOL: i32 = 2;
const TAG_LONG: i32 = 3;
const TAG_BINARY: i32 = 4;
/// Jaeger's `SpanRefType::FOLLOWS_FROM`.
const FOLLOWS_FROM: i32 = 1;

/// Encodes `spans` into datagrams, each with the number of spans it holds. Spans are
/// grouped by resource (a batch has one process); a span that alone would not fit in a
/// datagram is left out.
pub fn encode_agent_datagrams(spans: &[Span]) -> Vec<(Vec<u8>, u64)> {
    let mut groups: Vec<(Arc<Resource>, Vec<&Span>)> = Vec::new();
    let mut group_of: HashMap<*const Resource, usize> = HashMap::new();
    for span in spans {
        let index = *group_of
            .entry(Arc::as_ptr(&span.resource))
            .or_insert_with(|| {
                groups.push((span.resource.clone(), Vec::new()));
                groups.len() - 1
            });
        groups[index].1.push(span);
    }
    let mut datagrams = Vec::new();
    let mut sequence_number = 0i32;
    for (resource, group) in groups {
        let process = encode_process(&resource);
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut pending_bytes = 0usize;
        for span in group {
            let encoded = encode_span(span);
            if envelope_bytes(&process) + pending_bytes + encoded.len() > MAX_DATAGRAM_BYTES
                && !pending.is_empty()
            {
                sequence_number = sequence_number.wrapping_add(1);
                datagrams.push(assemble(sequence_number, &process, &pending));
                pending.clear();
                pending_bytes = 0;
            }
            if envelope_bytes(&process) + encoded.len() > MAX_DATAGRAM_BYTES {
                continue;
            }
            pending_bytes += encoded.len();
            pending.push(encoded);
        }
        if !pending.is_empty() {
            sequence_number = sequence_number.wrapping_add(1);
            datagrams.push(assemble(sequence_number, &process, &pending));
        }
    }
    datagrams
}

/// Bytes of a datagram other than its spans, at most (message header with a 5-byte
/// sequence number, struct headers, the list header and stops).
fn envelope_bytes(process: &[u8]) -> usize {
    2 + 5 + 1 + "emitBatch".len() + 1 + 1 + process.len() + 1 + 6 + 1 + 1
}

fn assemble(sequence_number: i32, process: &[u8], spans: &[Vec<u8>]) -> (Vec<u8>, u64) {
    let mut writer = CompactWriter::default();
    // Message header: protocol id, then version 1 with type ONEWAY (4) in the top bits.
    writer.out.push(0x82);
    writer.out.push((4 << 5) | 1);
    writer.varint(u64::from(sequence_number as u32));
    writer.bytes(b"emitBatch");
    writer.struct_begin(); // emitBatch_args
    writer.field(compact_type::STRUCT, 1);
    writer.struct_begin(); // Batch
    writer.field(compact_type::STRUCT, 1);
    writer.out.extend_from_slice(process);
    writer.field(compact_type::LIST, 2);
    writer.list(compact_type::STRUCT, spans.len());
    for span in spans {
        writer.out.extend_from_slice(span);
    }
    writer.struct_end(); // Batch
    writer.struct_end(); // emitBatch_args
    (writer.out, spans.len() as u64)
}

/// A `Process` struct, with its stop byte.
fn encode_process(resource: &Resource) -> Vec<u8> {
    let mut writer = CompactWriter::default();
    writer.struct_begin();
    writer.field(compact_type::BINARY, 1);
    writer.bytes(resource.service_name().unwrap_or_default().as_bytes());
    let tags: Vec<&KeyValue> = resource
        .attributes
        .iter()
        .filter(|pair| pair.key != weft_model::span::SERVICE_NAME)
        .collect();
    if !tags.is_empty() {
        writer.field(compact_type::LIST, 2);
        writer.list(compact_type::STRUCT, tags.len());
        for tag in tags {
            write_tag(&mut writer, &tag.key, &tag.value);
        }
    }
    writer.struct_end();
    writer.out
}

/// A `Span` struct, with its stop byte.
fn encode_span(span: &Span) -> Vec<u8> {
    let mut writer = CompactWriter::default();
    writer.struct_begin();
    writer.field(compact_type::I64, 1);
    writer.i64(span.trace_id.low_u64() as i64);
    writer.field(compact_type::I64, 2);
    writer.i64(span.trace_id.high_u64() as i64);
    writer.field(compact_type::I64, 3);
    writer.i64(span.span_id.as_u64() as i64);
    writer.field(compact_type::I64, 4);
    writer.i64(span.parent_span_id.map_or(0, |id| id.as_u64() as i64));
    writer.field(compact_type::BINARY, 5);
    writer.bytes(span.name.as_bytes());
    if !span.links.is_empty() {
        writer.field(compact_type::LIST, 6);
        writer.list(compact_type::STRUCT, span.links.len());
        for link in &span.links {
            writer.struct_begin();
            writer.field(compact_type::I32, 1);
            writer.i32(FOLLOWS_FROM);
            writer.field(compact_type::I64, 2);
            writer.i64(link.trace_id.low_u64() as i64);
            writer.field(compact_type::I64, 3);
            writer.i64(link.trace_id.high_u64() as i64);
            writer.field(compact_type::I64, 4);
            writer.i64(link.span_id.as_u64() as i64);
            writer.struct_end();
        }
    }
    writer.field(compact_type::I32, 7);
    writer.i32(if span.debug { 3 } else { 1 });
    writer.field(compact_type::I64, 8);
    writer.i64(micros(span.start_unix_nanos));
    writer.field(compact_type::I64, 9);
    writer.i64(micros(span.duration_nanos));

    let kind = match span.kind {
        SpanKind::Server | SpanKind::Client | SpanKind::Producer | SpanKind::Consumer => {
            Some(span.kind.as_str())
        }
        SpanKind::Internal | SpanKind::Unspecified => None,
    };
    let status_code = match span.status.code {
        StatusCode::Unset => None,
        StatusCode::Ok => Some("OK"),
        StatusCode::Error => Some("ERROR"),
    };
    let error = span.status.code == StatusCode::Error;
    let description = (error && !span.status.message.is_empty()).then_some(&span.status.message);
    let tag_count = span.attributes.len()
        + usize::from(kind.is_some())
        + usize::from(status_code.is_some())
        + usize::from(error)
        + usize::from(description.is_some());
    if tag_count > 0 {
        writer.field(compact_type::LIST, 10);
        writer.list(compact_type::STRUCT, tag_count);
        for pair in &span.attributes {
            write_tag(&mut writer, &pair.key, &pair.value);
        }
        if let Some(kind) = kind {
            write_string_tag(&mut writer, "span.kind", kind);
        }
        if let Some(code) = status_code {
            write_string_tag(&mut writer, "otel.status_code", code);
        }
        if error {
            write_tag(&mut writer, "error", &AttributeValue::Bool(true));
        }
        if let Some(message) = description {
            write_string_tag(&mut writer, "otel.status_description", message);
        }
    }
    if !span.events.is_empty() {
        writer.field(compact_type::LIST, 11);
        writer.list(compact_type::STRUCT, span.events.len());
        for event in &span.events {
            writer.struct_begin();
            writer.field(compact_type::I64, 1);
            writer.i64(micros(event.time_unix_nanos));
            writer.field(compact_type::LIST, 2);
            writer.list(compact_type::STRUCT, event.attributes.len() + 1);
            write_string_tag(&mut writer, "event", &event.name);
            for pair in &event.attributes {
                write_tag(&mut writer, &pair.key, &pair.value);
            }
            writer.struct_end();
        }
    }
    writer.struct_end();
    writer.out
}

fn micros(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000).unwrap_or(i64::MAX)
}

fn write_string_tag(writer: &mut CompactWriter, key: &str, value: &str) {
    writer.struct_begin();
    writer.field(compact_type::BINARY, 1);
    writer.bytes(key.as_bytes());
    writer.field(compact_type::I32, 2);
    writer.i32(TAG_STRING);
    writer.field(compact_type::BINARY, 3);
    writer.bytes(value.as_bytes());
    writer.struct_end();
}

/// A `Tag` struct: typed for scalars and bytes, text (JSON for lists and maps) otherwise.
fn write_tag(writer: &mut CompactWriter, key: &str, value: &AttributeValue) {
    match value {
        AttributeValue::String(text) => write_string_tag(writer, key, text),
        AttributeValue::Double(number) => {
            tag_header(writer, key, TAG_DOUBLE);
            writer.field(compact_type::DOUBLE, 4);
            writer.double(*number);
            writer.struct_end();
        }
        AttributeValue::Bool(flag) => {
            tag_header(writer, key, TAG_BOOL);
            writer.bool_field(5, *flag);
            writer.struct_end();
        }
        AttributeValue::Int(number) => {
            tag_header(writer, key, TAG_LONG);
            writer.field(compact_type::I64, 6);
            writer.i64(*number);
            writer.struct_end();
        }
        AttributeValue::Bytes(bytes) => {
            tag_header(writer, key, TAG_BINARY);
            writer.field(compact_type::BINARY, 7);
            writer.bytes(bytes);
            writer.struct_end();
        }
        other => write_string_tag(writer, key, &other.to_text()),
    }
}

/// Opens a `Tag` struct with its key and type; the caller writes the value and closes it.
fn tag_header(writer: &mut CompactWriter, key: &str, tag_type: i32) {
    writer.struct_begin();
    writer.field(compact_type::BINARY, 1);
    writer.bytes(key.as_bytes());
    writer.field(compact_type::I32, 2);
    writer.i32(tag_type);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GeneratorSettings, TraceGenerator};

    fn corpus(traces: usize) -> Vec<Span> {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        (0..traces)
            .flat_map(|n| generator.next_trace(1_700_000_000_000_000_000 + n as u64 * 100_000))
            .collect()
    }

    #[test]
    fn datagrams_stay_under_the_limit_and_hold_every_span() {
        let spans = corpus(300);
        let datagrams = encode_agent_datagrams(&spans);
        assert!(
            datagrams
                .iter()
                .all(|(bytes, _)| bytes.len() <= MAX_DATAGRAM_BYTES)
        );
        let total: u64 = datagrams.iter().map(|(_, count)| count).sum();
        assert_eq!(total, spans.len() as u64);
        assert!(
            datagrams
                .iter()
                .any(|(bytes, _)| bytes.len() > MAX_DATAGRAM_BYTES / 2)
        );
    }

    #[test]
    fn datagrams_decode_back_to_the_same_spans() {
        let spans = corpus(40);
        let mut decoded = Vec::new();
        for (datagram, count) in encode_agent_datagrams(&spans) {
            let batch = weft_codec::jaeger::decode_agent_compact(&datagram)
                .unwrap_or_else(|error| panic!("datagram does not decode: {error}"));
            assert_eq!(batch.len() as u64, count);
            decoded.extend(batch.spans);
        }
        assert_eq!(decoded.len(), spans.len());
        let mut by_id: HashMap<_, &Span> = HashMap::new();
        for span in &decoded {
            by_id.insert((span.trace_id, span.span_id), span);
        }
        for original in &spans {
            let span = by_id
                .get(&(original.trace_id, original.span_id))
                .unwrap_or_else(|| panic!("span {} missing", original.span_id.to_hex()));
            assert_eq!(span.name, original.name);
            assert_eq!(span.parent_span_id, original.parent_span_id);
            // No span.kind tag for internal spans, which read back as unspecified.
            let expected_kind = match original.kind {
                SpanKind::Internal => SpanKind::Unspecified,
                kind => kind,
            };
            assert_eq!(span.kind, expected_kind, "{}", original.name);
            assert_eq!(
                span.start_unix_nanos,
                original.start_unix_nanos / 1000 * 1000
            );
            assert_eq!(span.service_name(), original.service_name());
            assert_eq!(span.status.code, original.status.code);
            assert_eq!(span.events.len(), original.events.len());
        }
    }
}
