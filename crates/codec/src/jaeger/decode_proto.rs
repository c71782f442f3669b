//! `jaeger.api_v2` protobuf messages to the model.

use std::sync::Arc;

use prost::Message;
use weft_model::{AttributeValue, KeyValue, Resource, Span, SpanBatch, SpanId, TraceId};

use super::mapping::{self, Reference, SharedParts};
use super::proto;
use crate::DecodeError;

pub(super) fn decode_post_spans_request(message: &[u8]) -> Result<SpanBatch, DecodeError> {
    let request = proto::PostSpansRequest::decode(message)
        .map_err(|error| DecodeError::new(format!("invalid protobuf: {error}")))?;
    from_post_spans_request(request)
}

pub(super) fn from_post_spans_request(
    request: proto::PostSpansRequest,
) -> Result<SpanBatch, DecodeError> {
    let Some(batch) = request.batch else {
        return Ok(SpanBatch::default());
    };
    let batch_resource = Arc::new(batch.process.map(to_resource).unwrap_or_default());
    // Spans that carry their own process usually repeat one process: keep the last one
    // built and reuse it while it is equal.
    let mut last_process: Option<(proto::Process, Arc<Resource>)> = None;
    let mut shared = SharedParts::default();
    let mut spans = Vec::with_capacity(batch.spans.len());
    for (index, mut proto_span) in batch.spans.into_iter().enumerate() {
        let resource = match proto_span.process.take() {
            None => Arc::clone(&batch_resource),
            Some(process) => match &last_process {
                Some((previous, resource)) if *previous == process => Arc::clone(resource),
                _ => {
                    let resource = Arc::new(to_resource(process.clone()));
                    last_process = Some((process, Arc::clone(&resource)));
                    resource
                }
            },
        };
        let mut span = to_span(proto_span, &mut shared)
            .map_err(|reason| DecodeError::new(format!("span {index}: {reason}")))?;
        span.resource = resource;
        spans.push(span);
    }
    Ok(SpanBatch { spans })
}

fn to_span(proto_span: proto::Span, shared: &mut SharedParts) -> Result<Span, String> {
    let trace_id =
        TraceId::from_bytes(&proto_span.trace_id).map_err(|error| format!("traceId: {error}"))?;
    let span_id =
        SpanId::from_bytes(&proto_span.span_id).map_err(|error| format!("spanId: {error}"))?;
    let mut span = shared.new_span(trace_id, span_id, proto_span.operation_name);
    span.start_unix_nanos = proto_span
        .start_time
        .map_or(0, |time| nanos(time.seconds, time.nanos));
    span.duration_nanos = proto_span
        .duration
        .map_or(0, |duration| nanos(duration.seconds, duration.nanos));
    mapping::apply_flags(&mut span, proto_span.flags);
    span.attributes = proto_span.tags.into_iter().map(to_attribute).collect();
    span.events = proto_span
        .logs
        .into_iter()
        .map(|log| {
            let time_unix_nanos = log
                .timestamp
                .map_or(0, |time| nanos(time.seconds, time.nanos));
            mapping::log_to_event(
                time_unix_nanos,
                log.fields.into_iter().map(to_attribute).collect(),
            )
        })
        .collect();
    let references: Vec<Reference> = proto_span
        .references
        .iter()
        .map(|reference| Reference {
            ref_type: reference.ref_type,
            trace_id: TraceId::from_bytes(&reference.trace_id).unwrap_or_default(),
            span_id: SpanId::from_bytes(&reference.span_id).unwrap_or_default(),
        })
        .collect();
    mapping::apply_references(&mut span, &references);
    mapping::apply_special_tags(&mut span, shared);
    Ok(span)
}

/// Seconds and nanoseconds to nanoseconds since the epoch; before the epoch (or a
/// negative duration) is 0.
fn nanos(seconds: i64, nanos: i32) -> u64 {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    u64::try_from(total.max(0)).unwrap_or(u64::MAX)
}

fn to_resource(process: proto::Process) -> Resource {
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() {
        attributes.push(KeyValue::new(
            weft_model::span::SERVICE_NAME,
            process.service_name,
        ));
    }
    attributes.extend(process.tags.into_iter().map(to_attribute));
    Resource {
        attributes,
        dropped_attributes_count: 0,
    }
}

fn to_attribute(tag: proto::KeyValue) -> KeyValue {
    let value = match proto::ValueType::try_from(tag.v_type) {
        Ok(proto::ValueType::String) => AttributeValue::String(tag.v_str),
        Ok(proto::ValueType::Bool) => AttributeValue::Bool(tag.v_bool),
        Ok(proto::ValueType::Int64) => AttributeValue::Int(tag.v_int64),
        Ok(proto::ValueType::Float64) => AttributeValue::Double(tag.v_float64),
        Ok(proto::ValueType::Binary) => AttributeValue::Bytes(tag.v_binary),
        Err(_) => AttributeValue::String(format!("<Unknown Jaeger TagType {}>", tag.v_type)),
    };
    KeyValue {
        key: tag.key,
        value,
    }
}
