//! Model to Zipkin v2 JSON, written straight into a byte buffer (read hot path). The
//! derivation of endpoints, tags and annotation values ([`zipkin_fields`],
//! [`annotation_value`]) is shared with the protobuf encoder so both write the same span.

use std::borrow::Cow;

use weft_model::span::PEER_SERVICE;
use weft_model::{AttributeValue, Event, Span, SpanKind, StatusCode};

use super::{
    AddressFamily, NET_HOST_IP, NET_HOST_IPV6, NET_HOST_PORT, NET_PEER_IP, NET_PEER_IPV6,
    NET_PEER_PORT, address_family,
};
use crate::json_write::{
    write_hex_string, write_lowercase_string, write_plain_object, write_string, write_u64,
};

/// Newer semantic-convention keys used for the remote address when the `net.peer.*`
/// ones are absent.
const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
const NETWORK_PEER_PORT: &str = "network.peer.port";

pub(super) fn encode_v2_json(spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + spans.len() * 384);
    let mut scratch = Scratch::default();
    write_span_list(&mut out, spans, &mut scratch);
    out
}

pub(super) fn encode_v2_traces_json(traces: &[Vec<Span>]) -> Vec<u8> {
    let span_count: usize = traces.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(2 + traces.len() * 3 + span_count * 384);
    let mut scratch = Scratch::default();
    out.push(b'[');
    for (index, trace) in traces.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_span_list(&mut out, trace, &mut scratch);
    }
    out.push(b']');
    out
}

/// Buffers reused across spans.
#[derive(Default)]
struct Scratch {
    annotation_value: Vec<u8>,
}

fn write_span_list(out: &mut Vec<u8>, spans: &[Span], scratch: &mut Scratch) {
    let mut tags: Vec<(&str, Cow<'_, str>)> = Vec::new();
    out.push(b'[');
    for (index, span) in spans.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_span(out, span, &mut tags, scratch);
    }
    out.push(b']');
}

/// A Zipkin endpoint derived from a span. The service name is as stored (the encoders
/// lowercase it); addresses are text that [`address_family`] accepted.
#[derive(Default)]
pub(super) struct Endpoint<'a> {
    pub(super) service_name: Option<&'a str>,
    pub(super) ipv4: Option<&'a str>,
    pub(super) ipv6: Option<&'a str>,
    pub(super) port: Option<u16>,
}

impl Endpoint<'_> {
    pub(super) fn is_empty(&self) -> bool {
        self.service_name.is_none()
            && self.ipv4.is_none()
            && self.ipv6.is_none()
            && self.port.is_none()
    }
}

/// Attribute keys that went into an endpoint and are therefore not written as tags.
#[derive(Default)]
struct ConsumedKeys {
    keys: [&'static str; 7],
    count: usize,
}

impl ConsumedKeys {
    fn add(&mut self, key: &'static str) {
        if self.count < self.keys.len() {
            self.keys[self.count] = key;
            self.count += 1;
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.keys[..self.count].contains(&key)
    }
}

/// The first attribute `key` if it is a string holding an IP address.
fn ip_attribute<'a>(span: &'a Span, key: &str) -> Option<(&'a str, AddressFamily)> {
    let text = span.attribute(key)?.as_str()?;
    address_family(text).map(|family| (text, family))
}

/// The first attribute `key` if it is a port: an int in 1..=65535, or such a string.
fn port_attribute(span: &Span, key: &str) -> Option<u16> {
    let port = match span.attribute(key)? {
        AttributeValue::Int(number) => u16::try_from(*number).ok()?,
        AttributeValue::String(text) => text.parse::<u16>().ok()?,
        _ => return None,
    };
    (port != 0).then_some(port)
}

/// Fills an endpoint's address and port from `ip_keys` (first match wins), `ipv6_key`
/// and `port_keys`, recording the keys used.
fn endpoint_address<'a>(
    span: &'a Span,
    endpoint: &mut Endpoint<'a>,
    consumed: &mut ConsumedKeys,
    ip_keys: &[&'static str],
    ipv6_key: &'static str,
    port_keys: &[&'static str],
) {
    for &key in ip_keys {
        if let Some((text, address)) = ip_attribute(span, key) {
            match address {
                AddressFamily::V4 => endpoint.ipv4 = Some(text),
                AddressFamily::V6 => endpoint.ipv6 = Some(text),
            }
            consumed.add(key);
            break;
        }
    }
    if endpoint.ipv6.is_none()
        && let Some((text, AddressFamily::V6)) = ip_attribute(span, ipv6_key)
    {
        endpoint.ipv6 = Some(text);
        consumed.add(ipv6_key);
    }
    for &key in port_keys {
        if let Some(port) = port_attribute(span, key) {
            endpoint.port = Some(port);
            consumed.add(key);
            break;
        }
    }
}

/// Derives a span's Zipkin endpoints (local, remote) and fills `tags` (cleared first)
/// with its Zipkin tags: sorted by key, one per key. See the module docs of `zipkin`.
pub(super) fn zipkin_fields<'a>(
    span: &'a Span,
    tags: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> (Endpoint<'a>, Endpoint<'a>) {
    tags.clear();
    let mut consumed = ConsumedKeys::default();
    let mut local = Endpoint {
        service_name: span.service_name(),
        ..Endpoint::default()
    };
    endpoint_address(
        span,
        &mut local,
        &mut consumed,
        &[NET_HOST_IP],
        NET_HOST_IPV6,
        &[NET_HOST_PORT],
    );
    let mut remote = Endpoint {
        service_name: span.remote_service_name(),
        ..Endpoint::default()
    };
    if remote.service_name.is_some()
        && matches!(span.attribute(PEER_SERVICE), Some(AttributeValue::String(name)) if !name.is_empty())
    {
        consumed.add(PEER_SERVICE);
    }
    endpoint_address(
        span,
        &mut remote,
        &mut consumed,
        &[NET_PEER_IP, NETWORK_PEER_ADDRESS],
        NET_PEER_IPV6,
        &[NET_PEER_PORT, NETWORK_PEER_PORT],
    );
    collect_tags(span, &consumed, tags);
    (local, remote)
}

/// An event as a Zipkin annotation value: the name, or for an event with attributes
/// OpenTelemetry's `"<name>":{<attributes as JSON>}`. `scratch` is a reusable buffer.
pub(super) fn annotation_value<'a>(event: &'a Event, scratch: &mut Vec<u8>) -> Cow<'a, str> {
    if event.attributes.is_empty() {
        return Cow::Borrowed(event.name.as_str());
    }
    scratch.clear();
    write_string(scratch, &event.name);
    scratch.push(b':');
    write_plain_object(scratch, &event.attributes);
    Cow::Owned(String::from_utf8_lossy(scratch).into_owned())
}

fn write_span<'a>(
    out: &mut Vec<u8>,
    span: &'a Span,
    tags: &mut Vec<(&'a str, Cow<'a, str>)>,
    scratch: &mut Scratch,
) {
    let (local, remote) = zipkin_fields(span, tags);

    out.extend_from_slice(b"{\"traceId\":");
    if span.trace_id.is_64_bit() {
        write_hex_string(out, &span.trace_id.0[8..]);
    } else {
        write_hex_string(out, &span.trace_id.0);
    }
    if let Some(parent) = &span.parent_span_id {
        out.extend_from_slice(b",\"parentId\":");
        write_hex_string(out, &parent.0);
    }
    out.extend_from_slice(b",\"id\":");
    write_hex_string(out, &span.span_id.0);
    let kind: &[u8] = match span.kind {
        SpanKind::Client => b",\"kind\":\"CLIENT\"",
        SpanKind::Server => b",\"kind\":\"SERVER\"",
        SpanKind::Producer => b",\"kind\":\"PRODUCER\"",
        SpanKind::Consumer => b",\"kind\":\"CONSUMER\"",
        SpanKind::Internal | SpanKind::Unspecified => b"",
    };
    out.extend_from_slice(kind);
    if !span.name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        write_lowercase_string(out, &span.name);
    }
    let timestamp_micros = span.start_unix_nanos / 1000;
    if timestamp_micros != 0 {
        out.extend_from_slice(b",\"timestamp\":");
        write_u64(out, timestamp_micros);
    }
    if span.duration_nanos != 0 {
        out.extend_from_slice(b",\"duration\":");
        write_u64(out, (span.duration_nanos / 1000).max(1));
    }
    if !local.is_empty() {
        out.extend_from_slice(b",\"localEndpoint\":");
        write_endpoint(out, &local);
    }
    if !remote.is_empty() {
        out.extend_from_slice(b",\"remoteEndpoint\":");
        write_endpoint(out, &remote);
    }
    if !span.events.is_empty() {
        out.extend_from_slice(b",\"annotations\":[");
        for (index, event) in span.events.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"timestamp\":");
            write_u64(out, event.time_unix_nanos / 1000);
            out.extend_from_slice(b",\"value\":");
            write_string(out, &annotation_value(event, &mut scratch.annotation_value));
            out.push(b'}');
        }
        out.push(b']');
    }
    if !tags.is_empty() {
        out.extend_from_slice(b",\"tags\":{");
        for (index, (key, value)) in tags.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_string(out, key);
            out.push(b':');
            write_string(out, value);
        }
        out.push(b'}');
    }
    if span.debug {
        out.extend_from_slice(b",\"debug\":true");
    }
    if span.shared {
        out.extend_from_slice(b",\"shared\":true");
    }
    out.push(b'}');
}

/// Span attributes (less the consumed ones), status and scope tags, sorted by key with
/// span attributes before synthesized tags of the same key.
fn collect_tags<'a>(
    span: &'a Span,
    consumed: &ConsumedKeys,
    tags: &mut Vec<(&'a str, Cow<'a, str>)>,
) {
    for pair in &span.attributes {
        if consumed.contains(&pair.key) {
            continue;
        }
        let value = match &pair.value {
            AttributeValue::String(text) => Cow::Borrowed(text.as_str()),
            // The spec leaves out an `error` attribute that is false.
            AttributeValue::Bool(false) if pair.key == "error" => continue,
            other => Cow::Owned(other.to_text()),
        };
        tags.push((pair.key.as_str(), value));
    }
    let has = |key: &str| span.attribute(key).is_some();
    let status = &span.status;
    if status.code == StatusCode::Error && !has("error") {
        tags.push(("error", Cow::Borrowed(status.message.as_str())));
    }
    let status_from_zipkin_error_tag = status.code == StatusCode::Error
        && span.attribute("error").and_then(AttributeValue::as_str)
            == Some(status.message.as_str());
    if !has("otel.status_code") && !status_from_zipkin_error_tag {
        match status.code {
            StatusCode::Ok => tags.push(("otel.status_code", Cow::Borrowed("OK"))),
            StatusCode::Error => tags.push(("otel.status_code", Cow::Borrowed("ERROR"))),
            StatusCode::Unset => {}
        }
    }
    let scope = &span.scope;
    if !scope.name.is_empty() {
        for key in ["otel.scope.name", "otel.library.name"] {
            if !has(key) {
                tags.push((key, Cow::Borrowed(scope.name.as_str())));
            }
        }
    }
    if !scope.version.is_empty() {
        for key in ["otel.scope.version", "otel.library.version"] {
            if !has(key) {
                tags.push((key, Cow::Borrowed(scope.version.as_str())));
            }
        }
    }
    // Stable: for a repeated key the span attribute, written first, wins.
    tags.sort_by(|left, right| left.0.cmp(right.0));
    tags.dedup_by(|later, earlier| later.0 == earlier.0);
}

fn write_endpoint(out: &mut Vec<u8>, endpoint: &Endpoint<'_>) {
    out.push(b'{');
    let mut first = true;
    let mut separator = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    if let Some(name) = endpoint.service_name {
        separator(out);
        out.extend_from_slice(b"\"serviceName\":");
        write_lowercase_string(out, name);
    }
    if let Some(ipv4) = endpoint.ipv4 {
        separator(out);
        out.extend_from_slice(b"\"ipv4\":");
        write_string(out, ipv4);
    }
    if let Some(ipv6) = endpoint.ipv6 {
        separator(out);
        out.extend_from_slice(b"\"ipv6\":");
        write_string(out, ipv6);
    }
    if let Some(port) = endpoint.port {
        separator(out);
        out.extend_from_slice(b"\"port\":");
        write_u64(out, u64::from(port));
    }
    out.push(b'}');
}
