//! Model to OTLP: prost `ResourceSpans` and OTLP/JSON text.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1 as proto_common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as ProtoValue;
use opentelemetry_proto::tonic::resource::v1 as proto_resource;
use opentelemetry_proto::tonic::trace::v1 as proto_trace;
use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanKind,
    StatusCode,
};

use super::JsonStyle;

use crate::json_write::{
    write_f64, write_hex_string, write_i64, write_string, write_u64, write_u64_string,
};

/// Spans of one resource, split by scope.
struct ResourceGroup<'a> {
    resource: &'a Arc<Resource>,
    scopes: Vec<ScopeGroup<'a>>,
}

/// Spans of one scope within a resource.
struct ScopeGroup<'a> {
    scope: &'a Arc<InstrumentationScope>,
    spans: Vec<&'a Span>,
}

/// Groups spans by resource, then scope: pointer-equal `Arc`s first (remembered per
/// pointer, so each distinct `Arc` is compared by value at most once per group list),
/// then equal values. Order of first appearance is kept.
fn group_spans(spans: &[Span]) -> Vec<ResourceGroup<'_>> {
    let mut groups: Vec<ResourceGroup<'_>> = Vec::new();
    let mut resource_by_pointer: HashMap<*const Resource, usize> = HashMap::new();
    // (resource group, scope pointer) -> scope group index.
    let mut scope_by_pointer: HashMap<(usize, *const InstrumentationScope), usize> = HashMap::new();
    for span in spans {
        let resource_pointer = Arc::as_ptr(&span.resource);
        let resource_index = *resource_by_pointer
            .entry(resource_pointer)
            .or_insert_with(|| {
                match groups
                    .iter()
                    .position(|group| **group.resource == *span.resource)
                {
                    Some(index) => index,
                    None => {
                        groups.push(ResourceGroup {
                            resource: &span.resource,
                            scopes: Vec::new(),
                        });
                        groups.len() - 1
                    }
                }
            });
        let Some(group) = groups.get_mut(resource_index) else {
            continue; // Unreachable: indices come from `groups` itself.
        };
        let scope_pointer = Arc::as_ptr(&span.scope);
        let scope_index = *scope_by_pointer
            .entry((resource_index, scope_pointer))
            .or_insert_with(|| {
                match group
                    .scopes
                    .iter()
                    .position(|scope| **scope.scope == *span.scope)
                {
                    Some(index) => index,
                    None => {
                        group.scopes.push(ScopeGroup {
                            scope: &span.scope,
                            spans: Vec::new(),
                        });
                        group.scopes.len() - 1
                    }
                }
            });
        if let Some(scope_group) = group.scopes.get_mut(scope_index) {
            scope_group.spans.push(span);
        }
    }
    groups
}

pub(super) fn to_resource_spans(spans: &[Span]) -> Vec<proto_trace::ResourceSpans> {
    group_spans(spans)
        .into_iter()
        .map(|group| proto_trace::ResourceSpans {
            resource: Some(proto_resource::Resource {
                attributes: proto_attributes(&group.resource.attributes),
                dropped_attributes_count: group.resource.dropped_attributes_count,
                entity_refs: Vec::new(),
            }),
            scope_spans: group
                .scopes
                .into_iter()
                .map(|scope_group| proto_trace::ScopeSpans {
                    scope: Some(proto_common::InstrumentationScope {
                        name: scope_group.scope.name.clone(),
                        version: scope_group.scope.version.clone(),
                        attributes: proto_attributes(&scope_group.scope.attributes),
                        dropped_attributes_count: 0,
                    }),
                    spans: scope_group.spans.into_iter().map(proto_span).collect(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect()
}

fn proto_span(span: &Span) -> proto_trace::Span {
    let status = if span.status.code == StatusCode::Unset && span.status.message.is_empty() {
        None
    } else {
        Some(proto_trace::Status {
            message: span.status.message.clone(),
            code: span.status.code.to_otlp(),
        })
    };
    proto_trace::Span {
        trace_id: span.trace_id.0.to_vec(),
        span_id: span.span_id.0.to_vec(),
        trace_state: span.trace_state.clone(),
        parent_span_id: span
            .parent_span_id
            .map(|id| id.0.to_vec())
            .unwrap_or_default(),
        flags: span.flags,
        name: span.name.clone(),
        kind: span.kind.to_otlp(),
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos(),
        attributes: proto_attributes(&span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span.events.iter().map(proto_event).collect(),
        dropped_events_count: span.dropped_events_count,
        links: span.links.iter().map(proto_link).collect(),
        dropped_links_count: span.dropped_links_count,
        status,
    }
}

fn proto_event(event: &Event) -> proto_trace::span::Event {
    proto_trace::span::Event {
        time_unix_nano: event.time_unix_nanos,
        name: event.name.clone(),
        attributes: proto_attributes(&event.attributes),
        dropped_attributes_count: event.dropped_attributes_count,
    }
}

fn proto_link(link: &Link) -> proto_trace::span::Link {
    proto_trace::span::Link {
        trace_id: link.trace_id.0.to_vec(),
        span_id: link.span_id.0.to_vec(),
        trace_state: link.trace_state.clone(),
        attributes: proto_attributes(&link.attributes),
        dropped_attributes_count: link.dropped_attributes_count,
        flags: link.flags,
    }
}

fn proto_attributes(attributes: &[KeyValue]) -> Vec<proto_common::KeyValue> {
    attributes
        .iter()
        .map(|pair| proto_common::KeyValue {
            key: pair.key.clone(),
            value: Some(proto_any_value(&pair.value)),
            key_strindex: 0,
        })
        .collect()
}

fn proto_any_value(value: &AttributeValue) -> proto_common::AnyValue {
    let value = match value {
        AttributeValue::String(text) => Some(ProtoValue::StringValue(text.clone())),
        AttributeValue::Bool(flag) => Some(ProtoValue::BoolValue(*flag)),
        AttributeValue::Int(number) => Some(ProtoValue::IntValue(*number)),
        AttributeValue::Double(number) => Some(ProtoValue::DoubleValue(*number)),
        AttributeValue::Bytes(bytes) => Some(ProtoValue::BytesValue(bytes.clone())),
        AttributeValue::Array(values) => Some(ProtoValue::ArrayValue(proto_common::ArrayValue {
            values: values.iter().map(proto_any_value).collect(),
        })),
        AttributeValue::KeyValueList(pairs) => {
            Some(ProtoValue::KvlistValue(proto_common::KeyValueList {
                values: proto_attributes(pairs),
            }))
        }
        AttributeValue::Empty => None,
    };
    proto_common::AnyValue { value }
}

pub(super) fn encode_json(spans: &[Span], style: JsonStyle) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + spans.len() * 512);
    out.extend_from_slice(match style {
        JsonStyle::Otlp => b"{\"resourceSpans\":[".as_slice(),
        JsonStyle::TempoV1 => b"{\"batches\":[".as_slice(),
        JsonStyle::TempoV2 => b"{\"resourceSpans\":[".as_slice(),
    });
    for (group_index, group) in group_spans(spans).iter().enumerate() {
        if group_index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"resource\":{\"attributes\":");
        write_attributes(&mut out, &group.resource.attributes);
        write_count(
            &mut out,
            b"droppedAttributesCount",
            group.resource.dropped_attributes_count,
        );
        out.extend_from_slice(b"},\"scopeSpans\":[");
        for (scope_index, scope_group) in group.scopes.iter().enumerate() {
            if scope_index > 0 {
                out.push(b',');
            }
            let scope = &scope_group.scope;
            out.extend_from_slice(b"{\"scope\":{\"name\":");
            write_string(&mut out, &scope.name);
            out.extend_from_slice(b",\"version\":");
            write_string(&mut out, &scope.version);
            out.extend_from_slice(b",\"attributes\":");
            write_attributes(&mut out, &scope.attributes);
            out.extend_from_slice(b"},\"spans\":[");
            for (span_index, span) in scope_group.spans.iter().enumerate() {
                if span_index > 0 {
                    out.push(b',');
                }
                write_span(&mut out, span, style);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// Writes `,"name":N` when `count` is not zero.
fn write_count(out: &mut Vec<u8>, name: &[u8], count: u32) {
    if count != 0 {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
        write_u64(out, u64::from(count));
    }
}

/// Writes an id as OTLP/JSON does (lowercase hex) or as Tempo's gogo/jsonpb does
/// (standard base64).
fn write_id(out: &mut Vec<u8>, bytes: &[u8], style: JsonStyle) {
    match style {
        JsonStyle::Otlp => write_hex_string(out, bytes),
        JsonStyle::TempoV1 | JsonStyle::TempoV2 => {
            out.push(b'"');
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
}

/// Writes `,"name":<id>`.
fn write_id_field(out: &mut Vec<u8>, name: &[u8], bytes: &[u8], style: JsonStyle) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    write_id(out, bytes, style);
}

/// Writes an enum as its number (OTLP/JSON) or its proto name (jsonpb's default).
fn write_enum(out: &mut Vec<u8>, number: i32, name: &str, style: JsonStyle) {
    match style {
        JsonStyle::Otlp => write_i64(out, i64::from(number)),
        JsonStyle::TempoV1 | JsonStyle::TempoV2 => write_string(out, name),
    }
}

fn write_span(out: &mut Vec<u8>, span: &Span, style: JsonStyle) {
    out.push(b'{');
    out.extend_from_slice(b"\"traceId\":");
    write_id(out, &span.trace_id.0, style);
    write_id_field(out, b"spanId", &span.span_id.0, style);
    if let Some(parent) = &span.parent_span_id {
        write_id_field(out, b"parentSpanId", &parent.0, style);
    }
    if !span.trace_state.is_empty() {
        out.extend_from_slice(b",\"traceState\":");
        write_string(out, &span.trace_state);
    }
    write_count(out, b"flags", span.flags);
    out.extend_from_slice(b",\"name\":");
    write_string(out, &span.name);
    out.extend_from_slice(b",\"kind\":");
    write_enum(
        out,
        span.kind.to_otlp(),
        span_kind_proto_name(span.kind),
        style,
    );
    out.extend_from_slice(b",\"startTimeUnixNano\":");
    write_u64_string(out, span.start_unix_nanos);
    out.extend_from_slice(b",\"endTimeUnixNano\":");
    write_u64_string(out, span.end_unix_nanos());
    out.extend_from_slice(b",\"attributes\":");
    write_attributes(out, &span.attributes);
    write_count(
        out,
        b"droppedAttributesCount",
        span.dropped_attributes_count,
    );
    if !span.events.is_empty() {
        out.extend_from_slice(b",\"events\":[");
        for (index, event) in span.events.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"timeUnixNano\":");
            write_u64_string(out, event.time_unix_nanos);
            out.extend_from_slice(b",\"name\":");
            write_string(out, &event.name);
            out.extend_from_slice(b",\"attributes\":");
            write_attributes(out, &event.attributes);
            write_count(
                out,
                b"droppedAttributesCount",
                event.dropped_attributes_count,
            );
            out.push(b'}');
        }
        out.push(b']');
    }
    write_count(out, b"droppedEventsCount", span.dropped_events_count);
    if !span.links.is_empty() {
        out.extend_from_slice(b",\"links\":[");
        for (index, link) in span.links.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"traceId\":");
            write_id(out, &link.trace_id.0, style);
            write_id_field(out, b"spanId", &link.span_id.0, style);
            if !link.trace_state.is_empty() {
                out.extend_from_slice(b",\"traceState\":");
                write_string(out, &link.trace_state);
            }
            out.extend_from_slice(b",\"attributes\":");
            write_attributes(out, &link.attributes);
            write_count(
                out,
                b"droppedAttributesCount",
                link.dropped_attributes_count,
            );
            write_count(out, b"flags", link.flags);
            out.push(b'}');
        }
        out.push(b']');
    }
    write_count(out, b"droppedLinksCount", span.dropped_links_count);
    out.extend_from_slice(b",\"status\":{");
    let code = span.status.code.to_otlp();
    if code != 0 {
        out.extend_from_slice(b"\"code\":");
        write_enum(out, code, status_code_proto_name(span.status.code), style);
    }
    if !span.status.message.is_empty() {
        if code != 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"message\":");
        write_string(out, &span.status.message);
    }
    out.extend_from_slice(b"}}");
}

fn span_kind_proto_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_code_proto_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// Writes `[{"key":..,"value":{..}}, ...]`.
fn write_attributes(out: &mut Vec<u8>, attributes: &[KeyValue]) {
    out.push(b'[');
    for (index, pair) in attributes.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        write_string(out, &pair.key);
        out.extend_from_slice(b",\"value\":");
        write_any_value(out, &pair.value);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes an OTLP/JSON `AnyValue` object.
fn write_any_value(out: &mut Vec<u8>, value: &AttributeValue) {
    match value {
        AttributeValue::String(text) => {
            out.extend_from_slice(b"{\"stringValue\":");
            write_string(out, text);
        }
        AttributeValue::Bool(flag) => {
            out.extend_from_slice(if *flag {
                b"{\"boolValue\":true"
            } else {
                b"{\"boolValue\":false"
            });
        }
        AttributeValue::Int(number) => {
            out.extend_from_slice(b"{\"intValue\":\"");
            write_i64(out, *number);
            out.push(b'"');
        }
        AttributeValue::Double(number) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            write_f64(out, *number);
        }
        AttributeValue::Bytes(bytes) => {
            out.extend_from_slice(b"{\"bytesValue\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
        AttributeValue::Array(values) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (index, item) in values.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_any_value(out, item);
            }
            out.extend_from_slice(b"]}");
        }
        AttributeValue::KeyValueList(pairs) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":");
            write_attributes(out, pairs);
            out.push(b'}');
        }
        AttributeValue::Empty => out.push(b'{'),
    }
    out.push(b'}');
}
