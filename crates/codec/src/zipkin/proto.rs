//! Zipkin v2 protobuf (`zipkin.proto3.ListOfSpans`), both ways.
//!
//! Decoding turns each protobuf span into the raw v2 span the JSON decoder produces
//! (`raw::RawSpan`), so validation and the mapping to the model are the JSON decoder's
//! (`decode::SpanConverter`). Encoding derives endpoints, tags and annotation values with
//! the JSON encoder's code (`encode::zipkin_fields`, `encode::annotation_value`), so both
//! encoders write the same span.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;
use weft_model::{Span, SpanBatch, SpanKind};

use super::decode::SpanConverter;
use super::encode::{Endpoint, annotation_value, zipkin_fields};
use super::raw::{Micros, Present, RawAnnotation, RawEndpoint, RawId, RawSpan, Tags, Text};
use crate::DecodeError;

/// `zipkin.proto3.ListOfSpans`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub(super) spans: Vec<ProtoSpan>,
}

/// `zipkin.proto3.Span`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ProtoSpan {
    /// 8 or 16 bytes, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub(super) trace_id: Vec<u8>,
    /// Empty for a root span, else 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub(super) parent_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub(super) id: Vec<u8>,
    /// `Span.Kind`: 0 unspecified, 1 client, 2 server, 3 producer, 4 consumer.
    #[prost(int32, tag = "4")]
    pub(super) kind: i32,
    #[prost(string, tag = "5")]
    pub(super) name: String,
    /// Epoch microseconds; 0 = absent.
    #[prost(fixed64, tag = "6")]
    pub(super) timestamp: u64,
    /// Microseconds; 0 = absent.
    #[prost(uint64, tag = "7")]
    pub(super) duration: u64,
    #[prost(message, optional, tag = "8")]
    pub(super) local_endpoint: Option<ProtoEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub(super) remote_endpoint: Option<ProtoEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub(super) annotations: Vec<ProtoAnnotation>,
    /// `map<string, string>`, read as its wire form (repeated entries) to keep the order
    /// sent, so that a repeated key resolves as in JSON (the last wins).
    #[prost(message, repeated, tag = "11")]
    pub(super) tags: Vec<TagEntry>,
    #[prost(bool, tag = "12")]
    pub(super) debug: bool,
    #[prost(bool, tag = "13")]
    pub(super) shared: bool,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ProtoEndpoint {
    #[prost(string, tag = "1")]
    pub(super) service_name: String,
    /// 4 bytes, or empty.
    #[prost(bytes = "vec", tag = "2")]
    pub(super) ipv4: Vec<u8>,
    /// 16 bytes, or empty.
    #[prost(bytes = "vec", tag = "3")]
    pub(super) ipv6: Vec<u8>,
    /// 0 = absent.
    #[prost(int32, tag = "4")]
    pub(super) port: i32,
}

/// `zipkin.proto3.Annotation`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct ProtoAnnotation {
    /// Epoch microseconds.
    #[prost(fixed64, tag = "1")]
    pub(super) timestamp: u64,
    #[prost(string, tag = "2")]
    pub(super) value: String,
}

/// One entry of the `tags` map on the wire.
#[derive(Clone, PartialEq, Message)]
pub(super) struct TagEntry {
    #[prost(string, tag = "1")]
    pub(super) key: String,
    #[prost(string, tag = "2")]
    pub(super) value: String,
}

pub(super) fn decode_v2_proto(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    let list = ListOfSpans::decode(body)
        .map_err(|error| DecodeError::new(format!("invalid zipkin protobuf: {error}")))?;
    let mut converter = SpanConverter::default();
    let mut spans = Vec::with_capacity(list.spans.len());
    for (index, span) in list.spans.into_iter().enumerate() {
        spans.push(converter.convert(raw_span(span), index)?);
    }
    Ok(SpanBatch { spans })
}

/// Protobuf's defaults (empty, 0) are JSON's absent fields.
fn raw_span(span: ProtoSpan) -> RawSpan<'static> {
    let non_empty_id = |bytes: Vec<u8>| (!bytes.is_empty()).then_some(RawId::Bytes(bytes));
    let kind = match span.kind {
        1 => Some("CLIENT"),
        2 => Some("SERVER"),
        3 => Some("PRODUCER"),
        4 => Some("CONSUMER"),
        // 0, and numbers from a newer schema (protobuf enums are open): no kind.
        _ => None,
    };
    RawSpan {
        trace_id: non_empty_id(span.trace_id),
        id: non_empty_id(span.id),
        parent_id: non_empty_id(span.parent_id),
        kind: kind.map(|kind| Text(Cow::Borrowed(kind))),
        name: (!span.name.is_empty()).then_some(span.name),
        timestamp: (span.timestamp != 0).then_some(Micros(span.timestamp)),
        duration: (span.duration != 0).then_some(Micros(span.duration)),
        local_endpoint: span.local_endpoint.map(raw_endpoint),
        remote_endpoint: span.remote_endpoint.map(raw_endpoint),
        annotations: Some(
            span.annotations
                .into_iter()
                .map(|annotation| RawAnnotation {
                    timestamp: Some(Micros(annotation.timestamp)),
                    value: Some(annotation.value),
                    endpoint: Present(false),
                })
                .collect(),
        ),
        tags: Some(Tags(
            span.tags
                .into_iter()
                .map(|entry| (entry.key, entry.value))
                .collect(),
        )),
        debug: Some(span.debug),
        shared: Some(span.shared),
        binary_annotations: Present(false),
    }
}

/// Addresses of the wrong length are dropped, as JSON drops addresses that do not parse.
fn raw_endpoint(endpoint: ProtoEndpoint) -> RawEndpoint<'static> {
    let ipv4 = <[u8; 4]>::try_from(endpoint.ipv4.as_slice())
        .ok()
        .map(|octets| Text(Cow::Owned(Ipv4Addr::from(octets).to_string())));
    let ipv6 = <[u8; 16]>::try_from(endpoint.ipv6.as_slice())
        .ok()
        .map(|octets| Text(Cow::Owned(Ipv6Addr::from(octets).to_string())));
    RawEndpoint {
        service_name: (!endpoint.service_name.is_empty())
            .then_some(Text(Cow::Owned(endpoint.service_name))),
        ipv4,
        ipv6,
        port: (endpoint.port != 0).then_some(i64::from(endpoint.port)),
    }
}

pub(super) fn encode_v2_proto(spans: &[Span]) -> Vec<u8> {
    let mut tags = Vec::new();
    let mut scratch = Vec::new();
    let list = ListOfSpans {
        spans: spans
            .iter()
            .map(|span| proto_span(span, &mut tags, &mut scratch))
            .collect(),
    };
    list.encode_to_vec()
}

fn proto_span<'a>(
    span: &'a Span,
    tags: &mut Vec<(&'a str, Cow<'a, str>)>,
    scratch: &mut Vec<u8>,
) -> ProtoSpan {
    let (local, remote) = zipkin_fields(span, tags);
    let trace_id = if span.trace_id.is_64_bit() {
        span.trace_id.0[8..].to_vec()
    } else {
        span.trace_id.0.to_vec()
    };
    let kind = match span.kind {
        SpanKind::Client => 1,
        SpanKind::Server => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
        SpanKind::Internal | SpanKind::Unspecified => 0,
    };
    ProtoSpan {
        trace_id,
        parent_id: span
            .parent_span_id
            .map_or_else(Vec::new, |parent| parent.0.to_vec()),
        id: span.span_id.0.to_vec(),
        kind,
        name: span.name.to_lowercase(),
        timestamp: span.start_unix_nanos / 1000,
        duration: match span.duration_nanos {
            0 => 0,
            nanos => (nanos / 1000).max(1),
        },
        local_endpoint: proto_endpoint(&local),
        remote_endpoint: proto_endpoint(&remote),
        annotations: span
            .events
            .iter()
            .map(|event| ProtoAnnotation {
                timestamp: event.time_unix_nanos / 1000,
                value: annotation_value(event, scratch).into_owned(),
            })
            .collect(),
        tags: tags
            .drain(..)
            .map(|(key, value)| TagEntry {
                key: key.to_owned(),
                value: value.into_owned(),
            })
            .collect(),
        debug: span.debug,
        shared: span.shared,
    }
}

fn proto_endpoint(endpoint: &Endpoint<'_>) -> Option<ProtoEndpoint> {
    if endpoint.is_empty() {
        return None;
    }
    Some(ProtoEndpoint {
        service_name: endpoint
            .service_name
            .map(str::to_lowercase)
            .unwrap_or_default(),
        ipv4: endpoint
            .ipv4
            .and_then(ipv4_octets)
            .map_or_else(Vec::new, |octets| octets.to_vec()),
        ipv6: endpoint
            .ipv6
            .and_then(|text| text.parse::<Ipv6Addr>().ok())
            .map_or_else(Vec::new, |address| address.octets().to_vec()),
        port: endpoint.port.map_or(0, i32::from),
    })
}

/// Dotted-quad text (leading zeros allowed, as `address_family` accepts) as 4 bytes.
fn ipv4_octets(text: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        *octet = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(octets)
}

#[cfg(test)]
mod tests;
