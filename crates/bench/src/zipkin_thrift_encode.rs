//! Model spans to a Zipkin v1 Thrift body: a TBinaryProtocol `list<zipkincore.Span>`, as
//! py_zipkin and the old Zipkin reporters post it to `/api/v1/spans`.
//!
//! Each model span becomes one v1 span whose core annotations carry its kind (`sr`/`ss`
//! for servers, `cs`/`cr` for clients, `ms` for producers, `mr` for consumers; `lc` for
//! local spans), all with the span's service as host; the remote service (if any) is an
//! `sa`/`ca`/`ma` address annotation; attributes are string binary annotations; an error
//! status is the `error` binary annotation; events are annotations. Times are microseconds.

use weft_model::{Span, SpanKind, StatusCode};

use crate::thrift_write::{BinaryWriter, binary_type};

/// zipkincore's `AnnotationType` values used here.
const ANNOTATION_BOOL: i32 = 0;
const ANNOTATION_STRING: i32 = 6;

/// Encodes `spans` as one `list<Span>` body.
pub fn encode_v1_thrift(spans: &[Span]) -> Vec<u8> {
    let mut writer = BinaryWriter::default();
    writer.list(binary_type::STRUCT, spans.len());
    for span in spans {
        write_span(&mut writer, span);
    }
    writer.out
}

fn micros(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000).unwrap_or(i64::MAX)
}

fn write_endpoint(writer: &mut BinaryWriter, service_name: &str) {
    writer.field(binary_type::I32, 1);
    writer.i32(0); // ipv4 unknown
    writer.field(binary_type::I16, 2);
    writer.i16(0);
    writer.field(binary_type::STRING, 3);
    writer.bytes(service_name.as_bytes());
    writer.stop();
}

fn write_annotation(writer: &mut BinaryWriter, micros: i64, value: &str, host: &str) {
    writer.field(binary_type::I64, 1);
    writer.i64(micros);
    writer.field(binary_type::STRING, 2);
    writer.bytes(value.as_bytes());
    writer.field(binary_type::STRUCT, 3);
    write_endpoint(writer, host);
    writer.stop();
}

fn write_binary_annotation(
    writer: &mut BinaryWriter,
    key: &str,
    value: &[u8],
    annotation_type: i32,
    host: &str,
) {
    writer.field(binary_type::STRING, 1);
    writer.bytes(key.as_bytes());
    writer.field(binary_type::STRING, 2);
    writer.bytes(value);
    writer.field(binary_type::I32, 3);
    writer.i32(annotation_type);
    writer.field(binary_type::STRUCT, 4);
    write_endpoint(writer, host);
    writer.stop();
}

fn write_span(writer: &mut BinaryWriter, span: &Span) {
    let service = span.service_name().unwrap_or_default();
    let start = micros(span.start_unix_nanos);
    let end = micros(span.end_unix_nanos());

    writer.field(binary_type::I64, 1);
    writer.i64(span.trace_id.low_u64() as i64);
    writer.field(binary_type::STRING, 3);
    writer.bytes(span.name.as_bytes());
    writer.field(binary_type::I64, 4);
    writer.i64(span.span_id.as_u64() as i64);
    if let Some(parent) = span.parent_span_id {
        writer.field(binary_type::I64, 5);
        writer.i64(parent.as_u64() as i64);
    }

    let core: &[(i64, &str)] = match span.kind {
        SpanKind::Server => &[(start, "sr"), (end, "ss")],
        SpanKind::Client => &[(start, "cs"), (end, "cr")],
        SpanKind::Producer => &[(start, "ms")],
        SpanKind::Consumer => &[(start, "mr")],
        SpanKind::Internal | SpanKind::Unspecified => &[],
    };
    writer.field(binary_type::LIST, 6);
    writer.list(binary_type::STRUCT, core.len() + span.events.len());
    for (micros_at, value) in core {
        write_annotation(writer, *micros_at, value, service);
    }
    for event in &span.events {
        write_annotation(writer, micros(event.time_unix_nanos), &event.name, service);
    }

    let remote = span.remote_service_name().map(|name| {
        let key = match span.kind {
            SpanKind::Server => "ca",
            SpanKind::Producer | SpanKind::Consumer => "ma",
            _ => "sa",
        };
        (key, name)
    });
    let is_local = core.is_empty();
    let error_text = match span.status.code {
        StatusCode::Error if span.status.message.is_empty() => Some("true"),
        StatusCode::Error => Some(span.status.message.as_str()),
        StatusCode::Unset | StatusCode::Ok => None,
    };
    let count = span.attributes.len()
        + usize::from(remote.is_some())
        + usize::from(is_local)
        + usize::from(error_text.is_some());
    writer.field(binary_type::LIST, 8);
    writer.list(binary_type::STRUCT, count);
    for pair in &span.attributes {
        let text = pair.value.to_text();
        write_binary_annotation(
            writer,
            &pair.key,
            text.as_bytes(),
            ANNOTATION_STRING,
            service,
        );
    }
    if let Some((key, remote_service)) = remote {
        write_binary_annotation(writer, key, &[1], ANNOTATION_BOOL, remote_service);
    }
    if is_local {
        write_binary_annotation(writer, "lc", b"", ANNOTATION_STRING, service);
    }
    if let Some(text) = error_text {
        write_binary_annotation(writer, "error", text.as_bytes(), ANNOTATION_STRING, service);
    }

    if span.debug {
        writer.field(binary_type::BOOL, 9);
        writer.bool(true);
    }
    writer.field(binary_type::I64, 10);
    writer.i64(start);
    writer.field(binary_type::I64, 11);
    writer.i64(micros(span.duration_nanos));
    if span.trace_id.high_u64() != 0 {
        writer.field(binary_type::I64, 12);
        writer.i64(span.trace_id.high_u64() as i64);
    }
    writer.stop();
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::generator::{GeneratorSettings, TraceGenerator};

    #[test]
    fn body_decodes_back_to_the_same_spans() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let spans: Vec<Span> = (0..30)
            .flat_map(|n| generator.next_trace(1_700_000_000_000_000_000 + n * 100_000))
            .collect();
        let body = encode_v1_thrift(&spans);
        let batch = weft_codec::zipkin_v1::decode_thrift(&body)
            .unwrap_or_else(|error| panic!("body does not decode: {error}"));
        assert_eq!(batch.len(), spans.len());
        let by_id: HashMap<_, &Span> = batch
            .spans
            .iter()
            .map(|span| ((span.trace_id, span.span_id), span))
            .collect();
        for original in &spans {
            let span = by_id
                .get(&(original.trace_id, original.span_id))
                .unwrap_or_else(|| panic!("span {} missing", original.span_id.to_hex()));
            assert!(
                span.name.eq_ignore_ascii_case(&original.name),
                "{}",
                span.name
            );
            assert_eq!(span.parent_span_id, original.parent_span_id);
            assert_eq!(
                span.start_unix_nanos,
                original.start_unix_nanos / 1000 * 1000
            );
            assert_eq!(
                span.service_name().map(str::to_ascii_lowercase),
                original.service_name().map(str::to_ascii_lowercase)
            );
            if matches!(original.kind, SpanKind::Server | SpanKind::Client) {
                assert_eq!(span.kind, original.kind, "{}", original.name);
            }
            assert_eq!(span.is_error(), original.is_error(), "{}", original.name);
        }
    }
}
