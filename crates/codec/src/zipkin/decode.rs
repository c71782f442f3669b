//! Zipkin v2 JSON to model. Parses into borrowed raw structs first (so ids and names
//! without escapes are not copied), then validates and converts span by span.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use weft_model::span::PEER_SERVICE;
use weft_model::{
    AttributeValue, Event, IdError, InstrumentationScope, KeyValue, Resource, Span, SpanBatch,
    SpanId, SpanKind, Status, StatusCode, TraceId,
};

use super::raw::{RawEndpoint, RawId, RawSpan};
use super::{
    AddressFamily, NET_HOST_IP, NET_HOST_IPV6, NET_HOST_PORT, NET_PEER_IP, NET_PEER_IPV6,
    NET_PEER_PORT, address_family,
};
use crate::DecodeError;

/// Zipkin's answer when v1 JSON is posted to the v2 endpoint, verbatim for compatibility.
const V1_REJECTION: &str = "Expected a JSON_V2 encoded list, but received: JSON_V1";

pub(super) fn decode_v2_json(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    let Some(&first) = body.iter().find(|byte| !byte.is_ascii_whitespace()) else {
        return Ok(SpanBatch::default());
    };
    if first == b'{' {
        return Err(DecodeError::new(
            "expected a JSON_V2 encoded list of spans, but received a JSON object",
        ));
    }
    let raw_spans: Vec<RawSpan<'_>> = serde_json::from_slice(body)
        .map_err(|error| describe_json_error::<RawSpan<'_>>(body, error))?;
    if raw_spans.iter().any(RawSpan::looks_like_v1) {
        return Err(DecodeError::new(V1_REJECTION));
    }
    let mut converter = SpanConverter::default();
    let mut spans = Vec::with_capacity(raw_spans.len());
    for (index, raw_span) in raw_spans.into_iter().enumerate() {
        spans.push(converter.convert(raw_span, index)?);
    }
    Ok(SpanBatch { spans })
}

/// Validates raw Zipkin v2 spans and maps them to the model, sharing one resource per
/// local service name and one empty scope across everything it converts. Every Zipkin
/// decoder (v2 JSON, v2 protobuf, v1 after its v1 -> v2 conversion) goes through here.
#[derive(Default)]
pub(crate) struct SpanConverter {
    resources: ResourceCache,
    scope: Arc<InstrumentationScope>,
}

impl SpanConverter {
    /// Converts one span; an error names `index` (the span's position in the request)
    /// and the field.
    pub(crate) fn convert(&mut self, raw: RawSpan<'_>, index: usize) -> Result<Span, DecodeError> {
        convert_span(raw, &mut self.resources, &self.scope)
            .map_err(|reason| DecodeError::new(format!("span {index}: {reason}")))
    }
}

/// Re-reads a body that failed to parse as a list of `T`, tracking the JSON path, so that
/// the error names the span index and field
/// (`span 3: tags.foo: invalid type ... at line 1 column 80`).
pub(crate) fn describe_json_error<'de, T: serde::Deserialize<'de>>(
    body: &'de [u8],
    error: serde_json::Error,
) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let (path, inner) = match serde_path_to_error::deserialize::<_, Vec<T>>(&mut deserializer) {
        Err(tracked) => (tracked.path().to_string(), tracked.into_inner()),
        Ok(_) => (String::new(), error),
    };
    // Paths look like `[3].tags.foo`; say "span 3" and the field.
    if let Some(rest) = path.strip_prefix('[')
        && let Some((index, field)) = rest.split_once(']')
    {
        let field = field.trim_start_matches('.');
        return if field.is_empty() {
            DecodeError::new(format!("span {index}: {inner}"))
        } else {
            DecodeError::new(format!("span {index}: {field}: {inner}"))
        };
    }
    DecodeError::new(format!("invalid json: {inner}"))
}

/// Shares one `Arc<Resource>` per distinct local service name in a batch.
#[derive(Default)]
struct ResourceCache {
    by_service_name: HashMap<String, Arc<Resource>>,
    without_service_name: Option<Arc<Resource>>,
}

impl ResourceCache {
    fn get(&mut self, service_name: Option<&str>) -> Arc<Resource> {
        match service_name {
            Some(name) if !name.is_empty() => {
                if let Some(resource) = self.by_service_name.get(name) {
                    return Arc::clone(resource);
                }
                let resource = Arc::new(Resource::for_service(name));
                self.by_service_name
                    .insert(name.to_owned(), Arc::clone(&resource));
                resource
            }
            _ => Arc::clone(
                self.without_service_name
                    .get_or_insert_with(|| Arc::new(Resource::default())),
            ),
        }
    }
}

fn convert_span(
    raw: RawSpan<'_>,
    resources: &mut ResourceCache,
    scope: &Arc<InstrumentationScope>,
) -> Result<Span, String> {
    let trace_id = match &raw.trace_id {
        None => return Err("traceId is missing".to_owned()),
        Some(id) => parse_trace_id(id).map_err(|error| describe_id_error("traceId", &error))?,
    };
    let span_id = match &raw.id {
        None => return Err("id is missing".to_owned()),
        Some(id) => parse_span_id(id).map_err(|error| describe_id_error("id", &error))?,
    };
    let parent_span_id = match &raw.parent_id {
        None => None,
        Some(RawId::Hex(text)) if text.is_empty() => None,
        Some(RawId::Bytes(bytes)) if bytes.is_empty() => None,
        Some(id) => match parse_span_id(id) {
            Ok(id) => Some(id),
            Err(IdError::AllZeros(_)) => None,
            Err(error) => return Err(describe_id_error("parentId", &error)),
        },
    };
    let kind = match raw.kind.as_deref() {
        None => SpanKind::Unspecified,
        Some("CLIENT") => SpanKind::Client,
        Some("SERVER") => SpanKind::Server,
        Some("PRODUCER") => SpanKind::Producer,
        Some("CONSUMER") => SpanKind::Consumer,
        Some(other) => {
            return Err(format!(
                "kind {:?} is not one of CLIENT, SERVER, PRODUCER, CONSUMER",
                shorten(other)
            ));
        }
    };

    let mut attributes = dedupe_tags(raw.tags.map(|tags| tags.0).unwrap_or_default());
    let status = status_from_tags(&attributes);

    let local = raw.local_endpoint.unwrap_or_default();
    let resource = resources.get(local.service_name.as_deref());
    add_endpoint_attributes(
        &mut attributes,
        &local,
        "localEndpoint",
        [NET_HOST_IP, NET_HOST_IPV6, NET_HOST_PORT],
    )?;
    if let Some(remote) = &raw.remote_endpoint {
        if let Some(name) = remote
            .service_name
            .as_deref()
            .filter(|name| !name.is_empty())
        {
            set_attribute(
                &mut attributes,
                PEER_SERVICE,
                AttributeValue::String(name.to_owned()),
            );
        }
        add_endpoint_attributes(
            &mut attributes,
            remote,
            "remoteEndpoint",
            [NET_PEER_IP, NET_PEER_IPV6, NET_PEER_PORT],
        )?;
    }

    let mut events = Vec::with_capacity(raw.annotations.as_ref().map_or(0, Vec::len));
    for (index, annotation) in raw.annotations.unwrap_or_default().into_iter().enumerate() {
        let Some(timestamp) = annotation.timestamp else {
            return Err(format!("annotations[{index}].timestamp is missing"));
        };
        let Some(value) = annotation.value else {
            return Err(format!("annotations[{index}].value is missing"));
        };
        events.push(Event {
            time_unix_nanos: micros_to_nanos(timestamp.0),
            name: value,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
    }

    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: String::new(),
        name: raw.name.unwrap_or_default(),
        kind,
        start_unix_nanos: raw.timestamp.map_or(0, |micros| micros_to_nanos(micros.0)),
        duration_nanos: raw.duration.map_or(0, |micros| micros_to_nanos(micros.0)),
        status,
        attributes,
        events,
        links: Vec::new(),
        resource,
        scope: Arc::clone(scope),
        flags: 0,
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        shared: raw.shared.unwrap_or(false),
        debug: raw.debug.unwrap_or(false),
    })
}

fn parse_trace_id(id: &RawId<'_>) -> Result<TraceId, IdError> {
    match id {
        RawId::Hex(text) => TraceId::from_hex(text),
        RawId::Bytes(bytes) => {
            TraceId::from_bytes(bytes).map_err(|error| name_zero_bytes(error, bytes))
        }
        RawId::Integer(value) => {
            let id = TraceId::from_halves((value >> 64) as u64, *value as u64);
            if *value == 0 {
                Err(IdError::AllZeros(id.to_zipkin_hex()))
            } else {
                Ok(id)
            }
        }
    }
}

fn parse_span_id(id: &RawId<'_>) -> Result<SpanId, IdError> {
    match id {
        RawId::Hex(text) => SpanId::from_hex(text),
        RawId::Bytes(bytes) => {
            SpanId::from_bytes(bytes).map_err(|error| name_zero_bytes(error, bytes))
        }
        RawId::Integer(value) => match u64::try_from(*value) {
            Ok(0) => Err(IdError::AllZeros("0000000000000000".to_owned())),
            Ok(value) => Ok(SpanId::from_u64(value)),
            Err(_) => Err(IdError::TooLong(format!("{value:x}"), 16)),
        },
    }
}

/// Replaces the placeholder in an all-zeros error on binary input with the bytes in hex.
fn name_zero_bytes(error: IdError, bytes: &[u8]) -> IdError {
    match error {
        IdError::AllZeros(_) => IdError::AllZeros("00".repeat(bytes.len())),
        other => other,
    }
}

fn micros_to_nanos(micros: u64) -> u64 {
    micros.saturating_mul(1000)
}

/// Status from Zipkin's `error` tag, else from an OpenTelemetry `otel.status_code` tag.
fn status_from_tags(attributes: &[KeyValue]) -> Status {
    let mut status = Status::default();
    for pair in attributes {
        match (pair.key.as_str(), &pair.value) {
            ("error", AttributeValue::String(message)) => {
                return Status {
                    code: StatusCode::Error,
                    message: message.clone(),
                };
            }
            ("otel.status_code", AttributeValue::String(code)) => match code.as_str() {
                "ERROR" => status.code = StatusCode::Error,
                "OK" => status.code = StatusCode::Ok,
                _ => {}
            },
            _ => {}
        }
    }
    status
}

/// Adds an endpoint's address and port as span attributes under `keys` = (ip, ipv6 when
/// both families are set, port).
fn add_endpoint_attributes(
    attributes: &mut Vec<KeyValue>,
    endpoint: &RawEndpoint<'_>,
    field: &str,
    [ip_key, ipv6_key, port_key]: [&str; 3],
) -> Result<(), String> {
    let ipv4 = endpoint
        .ipv4
        .as_deref()
        .filter(|text| address_family(text) == Some(AddressFamily::V4));
    let ipv6 = endpoint
        .ipv6
        .as_deref()
        .filter(|text| address_family(text) == Some(AddressFamily::V6));
    match (ipv4, ipv6) {
        (Some(ipv4), Some(ipv6)) => {
            set_attribute(attributes, ip_key, AttributeValue::String(ipv4.to_owned()));
            set_attribute(
                attributes,
                ipv6_key,
                AttributeValue::String(ipv6.to_owned()),
            );
        }
        (Some(address), None) | (None, Some(address)) => {
            set_attribute(
                attributes,
                ip_key,
                AttributeValue::String(address.to_owned()),
            );
        }
        (None, None) => {}
    }
    match endpoint.port {
        Some(port) if port > 65535 => return Err(format!("{field}.port {port} is out of range")),
        Some(port) if port > 0 => set_attribute(attributes, port_key, AttributeValue::Int(port)),
        _ => {}
    }
    Ok(())
}

/// Sets `key` to `value`, replacing an existing attribute with that key.
fn set_attribute(attributes: &mut Vec<KeyValue>, key: &str, value: AttributeValue) {
    match attributes.iter_mut().find(|pair| pair.key == key) {
        Some(pair) => pair.value = value,
        None => attributes.push(KeyValue {
            key: key.to_owned(),
            value,
        }),
    }
}

/// Tags as string attributes; for a repeated key the last value wins (as in Zipkin's
/// map). Linear for any number of tags.
fn dedupe_tags(tags: Vec<(String, String)>) -> Vec<KeyValue> {
    // keep[i]: no later tag has the same key. Walk from the end to find them.
    let mut keep = vec![true; tags.len()];
    if tags.len() <= 16 {
        for later in 1..tags.len() {
            for earlier in 0..later {
                if tags[earlier].0 == tags[later].0 {
                    keep[earlier] = false;
                }
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(tags.len());
        for (index, (key, _)) in tags.iter().enumerate().rev() {
            if !seen.insert(key.as_str()) {
                keep[index] = false;
            }
        }
    }
    tags.into_iter()
        .zip(keep)
        .filter(|(_, keep)| *keep)
        .map(|((key, value), _)| KeyValue {
            key,
            value: AttributeValue::String(value),
        })
        .collect()
}

fn describe_id_error(field: &str, error: &IdError) -> String {
    match error {
        IdError::Empty => format!("{field} is empty"),
        IdError::TooLong(text, limit) => format!(
            "{field} {:?} is longer than {limit} hex characters",
            shorten(text)
        ),
        IdError::NotHex(text) => format!("{field} {:?} is not hex", shorten(text)),
        IdError::AllZeros(text) => format!("{field} {:?} is all zeros", shorten(text)),
        IdError::WrongLength(length, expected) => {
            format!("{field} has {length} bytes, expected {expected}")
        }
    }
}

/// At most 40 characters of a value, for error messages.
fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((end, _)) => Cow::Owned(format!("{}...", &text[..end])),
        None => Cow::Borrowed(text),
    }
}
