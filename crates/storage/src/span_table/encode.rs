//! The hot encoder: writes a `StoredSpan` in postcard's wire format directly.
//!
//! Going through serde costs a call and a capacity check per byte of varint and per
//! field; writing the known layout straight into a `Vec` is about twice as fast, and
//! spans are encoded once per WAL record and once per block. The bytes must equal what
//! postcard makes of `StoredSpanRef` (see `docs/format/wal-v0.md`); the tests in
//! `super::tests` compare both on spans that use every field and every value variant.
//! Decoding stays with serde.

use weft_model::{AttributeValue, Event, KeyValue, Link, Span, SpanKind, StatusCode};

/// Appends `value` as a LEB128 varint: postcard's form of lengths, variant indexes and
/// unsigned integers.
#[inline]
pub(super) fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn write_str(text: &str, out: &mut Vec<u8>) {
    write_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

#[inline]
fn write_bool(value: bool, out: &mut Vec<u8>) {
    out.push(u8::from(value));
}

/// Variant index of `SpanKind` in declaration order (serde's derive numbering).
fn kind_index(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Variant index of `StatusCode` in declaration order.
fn status_index(code: StatusCode) -> u64 {
    match code {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

fn write_value(value: &AttributeValue, out: &mut Vec<u8>) {
    // Variant indexes follow the declaration order of `AttributeValue`.
    match value {
        AttributeValue::String(text) => {
            out.push(0);
            write_str(text, out);
        }
        AttributeValue::Bool(flag) => {
            out.push(1);
            write_bool(*flag, out);
        }
        AttributeValue::Int(number) => {
            out.push(2);
            write_varint(((number << 1) ^ (number >> 63)) as u64, out);
        }
        AttributeValue::Double(number) => {
            out.push(3);
            out.extend_from_slice(&number.to_bits().to_le_bytes());
        }
        AttributeValue::Bytes(bytes) => {
            out.push(4);
            write_varint(bytes.len() as u64, out);
            out.extend_from_slice(bytes);
        }
        AttributeValue::Array(values) => {
            out.push(5);
            write_varint(values.len() as u64, out);
            for value in values {
                write_value(value, out);
            }
        }
        AttributeValue::KeyValueList(pairs) => {
            out.push(6);
            write_attributes(pairs, out);
        }
        AttributeValue::Empty => out.push(7),
    }
}

fn write_attributes(attributes: &[KeyValue], out: &mut Vec<u8>) {
    write_varint(attributes.len() as u64, out);
    for pair in attributes {
        write_str(&pair.key, out);
        write_value(&pair.value, out);
    }
}

fn write_events(events: &[Event], out: &mut Vec<u8>) {
    write_varint(events.len() as u64, out);
    for event in events {
        write_varint(event.time_unix_nanos, out);
        write_str(&event.name, out);
        write_attributes(&event.attributes, out);
        write_varint(u64::from(event.dropped_attributes_count), out);
    }
}

fn write_links(links: &[Link], out: &mut Vec<u8>) {
    write_varint(links.len() as u64, out);
    for link in links {
        out.extend_from_slice(&link.trace_id.0);
        out.extend_from_slice(&link.span_id.0);
        write_str(&link.trace_state, out);
        write_attributes(&link.attributes, out);
        write_varint(u64::from(link.dropped_attributes_count), out);
        write_varint(u64::from(link.flags), out);
    }
}

/// Appends one stored span: the fields of `StoredSpanRef`, in its order, with the
/// span's resource and scope replaced by their indexes in the table. Returns the offset
/// of the index fields from the span's first byte.
pub(super) fn write_span(
    span: &Span,
    resource_index: u32,
    scope_index: u32,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    write_fields_before_indexes(span, out);
    let indexes_at = out.len() - start;
    write_varint(u64::from(resource_index), out);
    write_varint(u64::from(scope_index), out);
    write_fields_after_indexes(span, out);
    indexes_at
}

/// Fields 1 to 12 of a stored span.
fn write_fields_before_indexes(span: &Span, out: &mut Vec<u8>) {
    out.extend_from_slice(&span.trace_id.0);
    out.extend_from_slice(&span.span_id.0);
    match span.parent_span_id {
        Some(parent) => {
            out.push(1);
            out.extend_from_slice(&parent.0);
        }
        None => out.push(0),
    }
    write_str(&span.trace_state, out);
    write_str(&span.name, out);
    write_varint(kind_index(span.kind), out);
    write_varint(span.start_unix_nanos, out);
    write_varint(span.duration_nanos, out);
    write_varint(status_index(span.status.code), out);
    write_str(&span.status.message, out);
    write_attributes(&span.attributes, out);
    write_events(&span.events, out);
    write_links(&span.links, out);
}

/// Fields 15 to 20 of a stored span.
fn write_fields_after_indexes(span: &Span, out: &mut Vec<u8>) {
    write_varint(u64::from(span.flags), out);
    write_varint(u64::from(span.dropped_attributes_count), out);
    write_varint(u64::from(span.dropped_events_count), out);
    write_varint(u64::from(span.dropped_links_count), out);
    write_bool(span.shared, out);
    write_bool(span.debug, out);
}

/// The length of the LEB128 varint at the start of `bytes` if it is a valid `u32`
/// varint (at most 5 bytes, the last without a continuation bit).
pub(super) fn u32_varint_length(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .take(5)
        .position(|byte| byte & 0x80 == 0)
        .map(|last| last + 1)
}
