//! Jaeger Thrift (`jaeger.thrift`, `agent.thrift`) straight into the model, in either
//! protocol, with [`crate::thrift::Reader`]. No intermediate Jaeger structs: strings are
//! borrowed from the input until they become model strings.

use std::borrow::Cow;
use std::sync::Arc;

use weft_model::{AttributeValue, KeyValue, Resource, Span, SpanBatch, SpanId, TraceId};

use super::mapping::{self, Reference, SharedParts};
use crate::DecodeError;
use crate::thrift::{FieldType, MessageType, Protocol, Reader, ThriftError};

/// The agent method that carries a Jaeger batch.
const EMIT_BATCH: &str = "emitBatch";

/// Thrift `TagType` numbers (they differ from protobuf's `ValueType`).
const TAG_STRING: i32 = 0;
const TAG_DOUBLE: i32 = 1;
const TAG_BOOL: i32 = 2;
const TAG_LONG: i32 = 3;
const TAG_BINARY: i32 = 4;

/// Spans pre-allocated per batch at most, whatever the list header claims: the header is
/// only bounded by the input size, and a model span is far larger than its minimum wire
/// size.
const MAX_PREALLOCATED: usize = 256;

/// `Agent.emitBatch(1: Batch batch)`: message header, then the arguments struct.
pub(super) fn decode_agent(datagram: &[u8], protocol: Protocol) -> Result<SpanBatch, DecodeError> {
    let mut reader = Reader::new(datagram, protocol);
    let header = reader.read_message_begin()?;
    if header.name != EMIT_BATCH {
        return Err(DecodeError::new(format!(
            "agent method {:?} is not supported, expected {EMIT_BATCH:?}",
            header.name
        )));
    }
    if !matches!(header.message_type, MessageType::Call | MessageType::Oneway) {
        return Err(DecodeError::new(format!(
            "emitBatch message type {:?} is not a call",
            header.message_type
        )));
    }
    let mut batch = None;
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::Struct) => batch = Some(read_batch(&mut reader)?),
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    batch.ok_or_else(|| DecodeError::new("emitBatch arguments have no batch (field 1)"))
}

/// A bare `Batch` struct (the collector's HTTP body).
pub(super) fn decode_batch(body: &[u8], protocol: Protocol) -> Result<SpanBatch, DecodeError> {
    let mut reader = Reader::new(body, protocol);
    read_batch(&mut reader)
}

/// `Batch { 1: Process process, 2: list<Span> spans, 3: seqNo, 4: stats }`. The process
/// may come after the spans; every span gets the batch's one resource.
fn read_batch(reader: &mut Reader<'_>) -> Result<SpanBatch, DecodeError> {
    let mut resource = None;
    let mut spans = Vec::new();
    let mut shared = SharedParts::default();
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::Struct) => {
                let process = read_process(reader)
                    .map_err(|error| DecodeError::new(format!("process: {error}")))?;
                resource = Some(Arc::new(process));
            }
            (2, FieldType::List) => {
                let (element_type, length) = reader.read_list_begin()?;
                if element_type != FieldType::Struct {
                    skip_elements(reader, element_type, length)?;
                    continue;
                }
                spans.reserve(length.min(MAX_PREALLOCATED));
                for _ in 0..length {
                    let index = spans.len();
                    let span = read_span(reader, &mut shared)
                        .map_err(|error| DecodeError::new(format!("span {index}: {error}")))?;
                    spans.push(span);
                }
            }
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    if let Some(resource) = resource {
        for span in &mut spans {
            span.resource = Arc::clone(&resource);
        }
    }
    Ok(SpanBatch { spans })
}

/// Why one span was rejected: unreadable, or invalid ids.
#[derive(Debug, thiserror::Error)]
enum SpanError {
    #[error(transparent)]
    Thrift(#[from] ThriftError),
    #[error("{0}")]
    Invalid(&'static str),
}

/// `Process { 1: serviceName, 2: list<Tag> tags }` as a resource: `service.name` first
/// (left out when empty), then the tags.
fn read_process(reader: &mut Reader<'_>) -> Result<Resource, ThriftError> {
    let mut service_name = None;
    let mut tags = Vec::new();
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::Binary) => service_name = Some(reader.read_string_lossy()?),
            (2, FieldType::List) => tags = read_tags(reader)?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    let mut attributes = Vec::with_capacity(tags.len() + 1);
    if let Some(name) = service_name.filter(|name| !name.is_empty()) {
        attributes.push(KeyValue::new(
            weft_model::span::SERVICE_NAME,
            name.into_owned(),
        ));
    }
    attributes.extend(tags);
    Ok(Resource {
        attributes,
        dropped_attributes_count: 0,
    })
}

fn read_span(reader: &mut Reader<'_>, shared: &mut SharedParts) -> Result<Span, SpanError> {
    let mut trace_id_low = 0i64;
    let mut trace_id_high = 0i64;
    let mut span_id = 0i64;
    let mut parent_span_id = 0i64;
    let mut operation_name = Cow::Borrowed("");
    let mut references = Vec::new();
    let mut flags = 0i32;
    let mut start_time_micros = 0i64;
    let mut duration_micros = 0i64;
    let mut tags = Vec::new();
    let mut events = Vec::new();
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I64) => trace_id_low = reader.read_i64()?,
            (2, FieldType::I64) => trace_id_high = reader.read_i64()?,
            (3, FieldType::I64) => span_id = reader.read_i64()?,
            (4, FieldType::I64) => parent_span_id = reader.read_i64()?,
            (5, FieldType::Binary) => operation_name = reader.read_string_lossy()?,
            (6, FieldType::List) => references = read_list(reader, read_reference)?,
            (7, FieldType::I32) => flags = reader.read_i32()?,
            (8, FieldType::I64) => start_time_micros = reader.read_i64()?,
            (9, FieldType::I64) => duration_micros = reader.read_i64()?,
            (10, FieldType::List) => tags = read_tags(reader)?,
            (11, FieldType::List) => events = read_list(reader, read_log)?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;

    let trace_id = TraceId::from_halves(trace_id_high as u64, trace_id_low as u64);
    if trace_id == TraceId::default() {
        return Err(SpanError::Invalid("traceIdHigh and traceIdLow are both 0"));
    }
    if span_id == 0 {
        return Err(SpanError::Invalid("spanId is 0"));
    }
    let mut span = shared.new_span(
        trace_id,
        SpanId::from_u64(span_id as u64),
        operation_name.into_owned(),
    );
    if parent_span_id != 0 {
        span.parent_span_id = Some(SpanId::from_u64(parent_span_id as u64));
    }
    span.start_unix_nanos = mapping::micros_to_nanos(start_time_micros);
    span.duration_nanos = mapping::micros_to_nanos(duration_micros);
    mapping::apply_flags(&mut span, flags as u32);
    span.attributes = tags;
    span.events = events;
    mapping::apply_references(&mut span, &references);
    mapping::apply_special_tags(&mut span, shared);
    Ok(span)
}

/// `SpanRef { 1: refType, 2: traceIdLow, 3: traceIdHigh, 4: spanId }`.
fn read_reference(reader: &mut Reader<'_>) -> Result<Reference, ThriftError> {
    let (mut ref_type, mut low, mut high, mut span_id) = (0i32, 0i64, 0i64, 0i64);
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I32) => ref_type = reader.read_i32()?,
            (2, FieldType::I64) => low = reader.read_i64()?,
            (3, FieldType::I64) => high = reader.read_i64()?,
            (4, FieldType::I64) => span_id = reader.read_i64()?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    Ok(Reference {
        ref_type,
        trace_id: TraceId::from_halves(high as u64, low as u64),
        span_id: SpanId::from_u64(span_id as u64),
    })
}

/// `Log { 1: timestamp (µs), 2: list<Tag> fields }` as an event.
fn read_log(reader: &mut Reader<'_>) -> Result<weft_model::Event, ThriftError> {
    let mut timestamp_micros = 0i64;
    let mut fields = Vec::new();
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::I64) => timestamp_micros = reader.read_i64()?,
            (2, FieldType::List) => fields = read_tags(reader)?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    Ok(mapping::log_to_event(
        mapping::micros_to_nanos(timestamp_micros),
        fields,
    ))
}

fn read_tags(reader: &mut Reader<'_>) -> Result<Vec<KeyValue>, ThriftError> {
    read_list(reader, read_tag)
}

/// `Tag { 1: key, 2: vType, 3: vStr, 4: vDouble, 5: vBool, 6: vLong, 7: vBinary }`: the
/// value is the field `vType` names (its zero value when absent).
fn read_tag(reader: &mut Reader<'_>) -> Result<KeyValue, ThriftError> {
    let mut key = Cow::Borrowed("");
    let mut value_type = TAG_STRING;
    let mut string_value = Cow::Borrowed("");
    let mut double_value = 0.0;
    let mut bool_value = false;
    let mut long_value = 0i64;
    let mut binary_value: &[u8] = &[];
    reader.read_struct_begin()?;
    while let Some((field_type, field_id)) = reader.read_field_begin()? {
        match (field_id, field_type) {
            (1, FieldType::Binary) => key = reader.read_string_lossy()?,
            (2, FieldType::I32) => value_type = reader.read_i32()?,
            (3, FieldType::Binary) => string_value = reader.read_string_lossy()?,
            (4, FieldType::Double) => double_value = reader.read_double()?,
            (5, FieldType::Bool) => bool_value = reader.read_bool()?,
            (6, FieldType::I64) => long_value = reader.read_i64()?,
            (7, FieldType::Binary) => binary_value = reader.read_binary()?,
            _ => reader.skip(field_type)?,
        }
    }
    reader.read_struct_end()?;
    let value = match value_type {
        TAG_STRING => AttributeValue::String(string_value.into_owned()),
        TAG_DOUBLE => AttributeValue::Double(double_value),
        TAG_BOOL => AttributeValue::Bool(bool_value),
        TAG_LONG => AttributeValue::Int(long_value),
        TAG_BINARY => AttributeValue::Bytes(binary_value.to_vec()),
        other => AttributeValue::String(format!("<Unknown Jaeger TagType {other}>")),
    };
    Ok(KeyValue {
        key: key.into_owned(),
        value,
    })
}

/// A `list<struct>` read element by element; a list of any other element type is
/// skipped and reads as empty.
fn read_list<T>(
    reader: &mut Reader<'_>,
    mut read_element: impl FnMut(&mut Reader<'_>) -> Result<T, ThriftError>,
) -> Result<Vec<T>, ThriftError> {
    let (element_type, length) = reader.read_list_begin()?;
    if element_type != FieldType::Struct {
        skip_elements(reader, element_type, length)?;
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(length.min(MAX_PREALLOCATED));
    for _ in 0..length {
        out.push(read_element(reader)?);
    }
    Ok(out)
}

fn skip_elements(
    reader: &mut Reader<'_>,
    element_type: FieldType,
    length: usize,
) -> Result<(), ThriftError> {
    for _ in 0..length {
        reader.skip(element_type)?;
    }
    Ok(())
}
