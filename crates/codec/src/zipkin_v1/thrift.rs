//! Zipkin v1 Thrift (`zipkincore.thrift`, TBinaryProtocol) into [`V1Span`]s. Fields of
//! an unexpected type and unknown fields are skipped, as Thrift's generated code does.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::convert::{V1Annotation, V1BinaryAnnotation, V1Span, V1Value, is_empty_endpoint};
use crate::DecodeError;
use crate::thrift::{FieldType, Reader, ThriftError};
use crate::zipkin::{RawEndpoint, RawId, Text};

/// `zipkincore.AnnotationType.BOOL`.
const ANNOTATION_TYPE_BOOL: i32 = 0;
/// `zipkincore.AnnotationType.STRING`.
const ANNOTATION_TYPE_STRING: i32 = 6;

/// Reads the body: a `list<Span>` header (element type struct, `i32` size) and the spans.
/// An empty body is no spans; bytes after the list are ignored, as Zipkin does.
pub(super) fn read_spans(body: &[u8]) -> Result<Vec<V1Span<'_>>, DecodeError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader::binary(body);
    let (element_type, length) = reader
        .read_list_begin()
        .map_err(|error| DecodeError::new(format!("expected a thrift list of spans: {error}")))?;
    if element_type != FieldType::Struct {
        return Err(DecodeError::new(format!(
            "expected a thrift list of spans (structs), found a list of {element_type:?}"
        )));
    }
    // Each span takes at least one byte on the wire; the reader checked `length` against
    // the input, but a span in memory is much larger, so cap the pre-allocation.
    let mut spans = Vec::with_capacity(length.min(1024));
    for index in 0..length {
        let span = read_span(&mut reader)
            .map_err(|error| DecodeError::new(format!("span {index}: {error}")))?;
        spans.push(span);
    }
    Ok(spans)
}

fn read_span<'a>(reader: &mut Reader<'a>) -> Result<V1Span<'a>, ThriftError> {
    let mut trace_id_low = None;
    let mut trace_id_high = 0i64;
    let mut span = V1Span {
        trace_id: None,
        id: None,
        parent_id: None,
        name: None,
        timestamp: 0,
        duration: 0,
        debug: false,
        annotations: Vec::new(),
        binary_annotations: Vec::new(),
    };
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I64) => trace_id_low = Some(reader.read_i64()?),
            (3, FieldType::Binary) => span.name = Some(reader.read_string_lossy()?),
            (4, FieldType::I64) => span.id = Some(integer_id(0, reader.read_i64()?)),
            (5, FieldType::I64) => span.parent_id = Some(integer_id(0, reader.read_i64()?)),
            (6, FieldType::List) => {
                read_structs(reader, &mut span.annotations, read_annotation)?;
            }
            (8, FieldType::List) => {
                read_structs(reader, &mut span.binary_annotations, read_binary_annotation)?;
            }
            (9, FieldType::Bool) => span.debug = reader.read_bool()?,
            (10, FieldType::I64) => span.timestamp = micros(reader.read_i64()?),
            (11, FieldType::I64) => span.duration = micros(reader.read_i64()?),
            (12, FieldType::I64) => trace_id_high = reader.read_i64()?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    span.trace_id = trace_id_low.map(|low| integer_id(trace_id_high, low));
    Ok(span)
}

/// An id from Thrift's signed halves (two's complement, as Zipkin reads them).
fn integer_id(high: i64, low: i64) -> RawId<'static> {
    RawId::Integer((u128::from(high as u64) << 64) | u128::from(low as u64))
}

/// Negative timestamps and durations are absent (0).
fn micros(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Reads a `list<struct>` field with `read_one` per element, appending what it returns;
/// a list of another element type is skipped.
fn read_structs<'a, T>(
    reader: &mut Reader<'a>,
    out: &mut Vec<T>,
    read_one: fn(&mut Reader<'a>) -> Result<Option<T>, ThriftError>,
) -> Result<(), ThriftError> {
    let (element_type, length) = reader.read_list_begin()?;
    if element_type != FieldType::Struct {
        for _ in 0..length {
            reader.skip(element_type)?;
        }
        return Ok(());
    }
    out.reserve(length.min(64));
    for _ in 0..length {
        if let Some(item) = read_one(reader)? {
            out.push(item);
        }
    }
    Ok(())
}

/// An annotation; `None` (dropped) without a value.
fn read_annotation<'a>(reader: &mut Reader<'a>) -> Result<Option<V1Annotation<'a>>, ThriftError> {
    let mut timestamp = 0;
    let mut value = None;
    let mut endpoint = None;
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I64) => timestamp = micros(reader.read_i64()?),
            (2, FieldType::Binary) => value = Some(reader.read_string_lossy()?),
            (3, FieldType::Struct) => endpoint = read_endpoint(reader)?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    Ok(value.map(|value| V1Annotation {
        timestamp,
        value,
        endpoint,
    }))
}

/// A binary annotation; `None` (dropped) without a key. Only `STRING` values and `BOOL`
/// true are kept (see [`V1Value`]).
fn read_binary_annotation<'a>(
    reader: &mut Reader<'a>,
) -> Result<Option<V1BinaryAnnotation<'a>>, ThriftError> {
    let mut key = None;
    let mut value: &[u8] = &[];
    let mut annotation_type = None;
    let mut endpoint = None;
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::Binary) => key = Some(reader.read_string_lossy()?),
            (2, FieldType::Binary) => value = reader.read_binary()?,
            (3, FieldType::I32) => annotation_type = Some(reader.read_i32()?),
            (4, FieldType::Struct) => endpoint = read_endpoint(reader)?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    let value = match annotation_type {
        Some(ANNOTATION_TYPE_STRING) => V1Value::String(String::from_utf8_lossy(value)),
        Some(ANNOTATION_TYPE_BOOL) if value == [1] => V1Value::True,
        _ => V1Value::Other,
    };
    Ok(key.map(|key| V1BinaryAnnotation {
        key,
        value,
        endpoint,
    }))
}

/// An endpoint; `None` when it carries nothing. `ipv4` 0 and `port` 0 are absent; the
/// port is read as unsigned (Java writes ports above 32767 as negative `i16`s); an
/// `ipv6` that is not 16 bytes is dropped.
fn read_endpoint<'a>(reader: &mut Reader<'a>) -> Result<Option<RawEndpoint<'a>>, ThriftError> {
    let mut endpoint = RawEndpoint::default();
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I32) => {
                let address = reader.read_i32()? as u32;
                endpoint.ipv4 =
                    (address != 0).then(|| Text(Cow::Owned(Ipv4Addr::from(address).to_string())));
            }
            (2, FieldType::I16) => {
                let port = reader.read_i16()? as u16;
                endpoint.port = (port != 0).then_some(i64::from(port));
            }
            (3, FieldType::Binary) => {
                endpoint.service_name = Some(Text(reader.read_string_lossy()?));
            }
            (4, FieldType::Binary) => {
                endpoint.ipv6 = <[u8; 16]>::try_from(reader.read_binary()?)
                    .ok()
                    .map(|octets| Text(Cow::Owned(Ipv6Addr::from(octets).to_string())));
            }
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    Ok((!is_empty_endpoint(&endpoint)).then_some(endpoint))
}
