//! OTLP protobuf (prost types) to model, and the span validation shared with OTLP/JSON.

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as proto_common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as ProtoValue;
use opentelemetry_proto::tonic::trace::v1 as proto_trace;
use prost::Message;
use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanBatch, SpanId,
    SpanKind, Status, StatusCode, TraceId,
};

use super::{OtlpDecoded, ResolveResource};
use crate::DecodeError;

fn invalid_protobuf(error: prost::DecodeError) -> DecodeError {
    DecodeError::new(format!("invalid protobuf: {error}"))
}

pub(super) fn decode_proto(body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    let request = ExportTraceServiceRequest::decode(body).map_err(invalid_protobuf)?;
    Ok(from_request(request))
}

pub(super) fn from_request(request: ExportTraceServiceRequest) -> OtlpDecoded {
    let groups = request.resource_spans.into_iter().map(|resource_spans| {
        let resource = resource_spans
            .resource
            .map(convert_resource)
            .unwrap_or_default();
        (Arc::new(resource), resource_spans.scope_spans)
    });
    convert_groups(groups.collect())
}

/// `ExportTraceServiceRequest` with each `ResourceSpans` split into its parts.
#[derive(Clone, PartialEq, prost::Message)]
struct RequestParts {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpansParts>,
}

/// `ResourceSpans` with its resource and scopes still encoded. Every occurrence of the
/// `resource` field is kept: protobuf merges them, as decoding their concatenation does.
#[derive(Clone, PartialEq, prost::Message)]
struct ResourceSpansParts {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    resource: Vec<Bytes>,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    scope_spans: Vec<Bytes>,
    /// Decoded only so that it is checked as `ResourceSpans` checks it (UTF-8).
    #[prost(string, tag = "3")]
    schema_url: String,
}

pub(super) fn decode_proto_resolving(
    body: Bytes,
    resolve: &mut ResolveResource<'_>,
) -> Result<OtlpDecoded, DecodeError> {
    let request = RequestParts::decode(body).map_err(invalid_protobuf)?;
    let mut groups = Vec::with_capacity(request.resource_spans.len());
    for parts in request.resource_spans {
        let scope_spans = parts
            .scope_spans
            .into_iter()
            .map(proto_trace::ScopeSpans::decode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid_protobuf)?;
        let resource = match parts.resource.as_slice() {
            [] => resolve(&[])?,
            [only] => resolve(only)?,
            several => resolve(&several.concat())?,
        };
        groups.push((resource, scope_spans));
    }
    Ok(convert_groups(groups))
}

pub(super) fn decode_resource(bytes: &[u8]) -> Result<Resource, DecodeError> {
    opentelemetry_proto::tonic::resource::v1::Resource::decode(bytes)
        .map(convert_resource)
        .map_err(invalid_protobuf)
}

/// Spans of each resource's scopes, in order; invalid spans counted.
fn convert_groups(groups: Vec<(Arc<Resource>, Vec<proto_trace::ScopeSpans>)>) -> OtlpDecoded {
    let span_count = groups
        .iter()
        .flat_map(|(_, scopes)| scopes)
        .map(|scope_spans| scope_spans.spans.len())
        .sum();
    let mut spans = Vec::with_capacity(span_count);
    let mut rejections = Rejections::default();
    for (resource_index, (resource, scopes)) in groups.into_iter().enumerate() {
        for (scope_index, scope_spans) in scopes.into_iter().enumerate() {
            let scope = Arc::new(scope_spans.scope.map(convert_scope).unwrap_or_default());
            for (span_index, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource, &scope) {
                    Ok(span) => spans.push(span),
                    Err(reason) => rejections
                        .reject(|| span_path(resource_index, scope_index, span_index, &reason)),
                }
            }
        }
    }
    rejections.finish(spans)
}

/// The JSON path of a span in a request, followed by why it was rejected.
pub(super) fn span_path(
    resource_index: usize,
    scope_index: usize,
    span_index: usize,
    reason: &str,
) -> String {
    format!(
        "resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]: {reason}"
    )
}

/// Counts rejected spans and keeps the first reason, formatting only that one.
#[derive(Default)]
pub(super) struct Rejections {
    count: u64,
    first_message: String,
}

impl Rejections {
    pub(super) fn reject(&mut self, message: impl FnOnce() -> String) {
        if self.count == 0 {
            self.first_message = message();
        }
        self.count += 1;
    }

    pub(super) fn finish(self, spans: Vec<Span>) -> OtlpDecoded {
        OtlpDecoded {
            batch: SpanBatch { spans },
            rejected_spans: self.count,
            rejection_message: self.first_message,
        }
    }
}

/// The validated ids of a span: trace id, span id, parent.
pub(super) type SpanIds = (TraceId, SpanId, Option<SpanId>);

/// Validates binary ids as OTLP requires: a 16-byte non-zero trace id, an 8-byte
/// non-zero span id, and a parent that is empty (root) or 8 bytes (all zeros = root).
pub(super) fn validate_ids(
    trace_id: &[u8],
    span_id: &[u8],
    parent_span_id: &[u8],
) -> Result<SpanIds, String> {
    let trace_id = trace_id_16(trace_id, "traceId")?;
    let span_id = span_id_8(span_id, "spanId")?;
    let parent_span_id = match parent_span_id.len() {
        0 => None,
        8 => SpanId::from_bytes(parent_span_id).ok(),
        other => {
            return Err(format!(
                "parentSpanId has {other} bytes, expected 8 or none"
            ));
        }
    };
    Ok((trace_id, span_id, parent_span_id))
}

/// A 16-byte, non-zero trace id; the error names `field`.
pub(super) fn trace_id_16(bytes: &[u8], field: &str) -> Result<TraceId, String> {
    let array: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("{field} has {} bytes, expected 16", bytes.len()))?;
    if array == [0u8; 16] {
        return Err(format!("{field} is all zeros"));
    }
    Ok(TraceId(array))
}

/// An 8-byte, non-zero span id; the error names `field`.
pub(super) fn span_id_8(bytes: &[u8], field: &str) -> Result<SpanId, String> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("{field} has {} bytes, expected 8", bytes.len()))?;
    if array == [0u8; 8] {
        return Err(format!("{field} is all zeros"));
    }
    Ok(SpanId(array))
}

/// `end - start`, or 0 when the end is before the start.
pub(super) fn duration_nanos(start_unix_nanos: u64, end_unix_nanos: u64) -> u64 {
    end_unix_nanos.saturating_sub(start_unix_nanos)
}

fn convert_span(
    span: proto_trace::Span,
    resource: &Arc<Resource>,
    scope: &Arc<InstrumentationScope>,
) -> Result<Span, String> {
    let (trace_id, span_id, parent_span_id) =
        validate_ids(&span.trace_id, &span.span_id, &span.parent_span_id)?;
    let mut dropped_links_count = span.dropped_links_count;
    let mut links = Vec::with_capacity(span.links.len());
    for link in span.links {
        match convert_link(link) {
            Some(link) => links.push(link),
            None => dropped_links_count = dropped_links_count.saturating_add(1),
        }
    }
    let status = span.status.map(convert_status).unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        name: span.name,
        kind: SpanKind::from_otlp(span.kind),
        start_unix_nanos: span.start_time_unix_nano,
        duration_nanos: duration_nanos(span.start_time_unix_nano, span.end_time_unix_nano),
        status,
        attributes: convert_attributes(span.attributes),
        events: span.events.into_iter().map(convert_event).collect(),
        links,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
        flags: span.flags,
        dropped_attributes_count: span.dropped_attributes_count,
        dropped_events_count: span.dropped_events_count,
        dropped_links_count,
        shared: false,
        debug: false,
    })
}

fn convert_status(status: proto_trace::Status) -> Status {
    Status {
        code: StatusCode::from_otlp(status.code),
        message: status.message,
    }
}

fn convert_event(event: proto_trace::span::Event) -> Event {
    Event {
        time_unix_nanos: event.time_unix_nano,
        name: event.name,
        attributes: convert_attributes(event.attributes),
        dropped_attributes_count: event.dropped_attributes_count,
    }
}

/// A link with valid ids, or `None` (the caller counts it as dropped).
fn convert_link(link: proto_trace::span::Link) -> Option<Link> {
    let trace_id = trace_id_16(&link.trace_id, "traceId").ok()?;
    let span_id = span_id_8(&link.span_id, "spanId").ok()?;
    Some(Link {
        trace_id,
        span_id,
        trace_state: link.trace_state,
        attributes: convert_attributes(link.attributes),
        dropped_attributes_count: link.dropped_attributes_count,
        flags: link.flags,
    })
}

fn convert_resource(resource: opentelemetry_proto::tonic::resource::v1::Resource) -> Resource {
    Resource {
        attributes: convert_attributes(resource.attributes),
        dropped_attributes_count: resource.dropped_attributes_count,
    }
}

fn convert_scope(scope: proto_common::InstrumentationScope) -> InstrumentationScope {
    InstrumentationScope {
        name: scope.name,
        version: scope.version,
        attributes: convert_attributes(scope.attributes),
    }
}

fn convert_attributes(attributes: Vec<proto_common::KeyValue>) -> Vec<KeyValue> {
    attributes.into_iter().map(convert_key_value).collect()
}

fn convert_key_value(pair: proto_common::KeyValue) -> KeyValue {
    KeyValue {
        key: pair.key,
        value: pair
            .value
            .map(convert_any_value)
            .unwrap_or(AttributeValue::Empty),
    }
}

fn convert_any_value(value: proto_common::AnyValue) -> AttributeValue {
    match value.value {
        Some(ProtoValue::StringValue(text)) => AttributeValue::String(text),
        Some(ProtoValue::BoolValue(flag)) => AttributeValue::Bool(flag),
        Some(ProtoValue::IntValue(number)) => AttributeValue::Int(number),
        Some(ProtoValue::DoubleValue(number)) => AttributeValue::Double(number),
        Some(ProtoValue::BytesValue(bytes)) => AttributeValue::Bytes(bytes),
        Some(ProtoValue::ArrayValue(array)) => {
            AttributeValue::Array(array.values.into_iter().map(convert_any_value).collect())
        }
        Some(ProtoValue::KvlistValue(list)) => {
            AttributeValue::KeyValueList(convert_attributes(list.values))
        }
        // Profiling-only string-table reference: treated as absent, as the proto says.
        Some(ProtoValue::StringValueStrindex(_)) | None => AttributeValue::Empty,
    }
}
