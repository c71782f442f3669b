//! Zipkin v2 JSON and protobuf, both ways, with Zipkin's leniency (short ids padded, any case, unknown
//! fields ignored) and its rejections.
//!
//! # Zipkin v2 JSON to model ([`decode_v2_json`])
//!
//! | Zipkin v2 field | model |
//! |---|---|
//! | `traceId` (1 to 32 hex digits, any case) | `trace_id`; under 16 digits left-padded to 16, 17 to 31 padded to 32 (so 64-bit ids have a zero high half) |
//! | `id` (1 to 16 hex digits) | `span_id`, left-padded |
//! | `parentId` | `parent_span_id`; absent, `null`, `""` or all zeros = root |
//! | `kind` `CLIENT`/`SERVER`/`PRODUCER`/`CONSUMER` | `kind`; absent = `Unspecified` |
//! | `name` | `name`, kept as sent (readers lowercase) |
//! | `timestamp`, `duration` (µs; absent, `null` or negative = 0) | `start_unix_nanos`, `duration_nanos` (× 1000) |
//! | `localEndpoint.serviceName` | resource attribute `service.name`, kept as sent; one shared `Arc<Resource>` per distinct name in a batch; no name = a resource without attributes |
//! | `localEndpoint.ipv4` / `ipv6` | span attribute `net.host.ip` (string); when both are set, `ipv6` goes to `net.host.ipv6` |
//! | `localEndpoint.port` | span attribute `net.host.port` (int) |
//! | `remoteEndpoint.serviceName` | span attribute `peer.service` |
//! | `remoteEndpoint.ipv4` / `ipv6` | `net.peer.ip` (and `net.peer.ipv6` when both are set) |
//! | `remoteEndpoint.port` | `net.peer.port` (int) |
//! | `tags` | span attributes, string values (numbers and booleans are accepted and kept as their JSON text); for a repeated key the last value wins; endpoint attributes above replace tags with the same key |
//! | tag `error` | also status `Error` with message = the tag value (the tag stays) |
//! | tag `otel.status_code` `OK`/`ERROR` (no `error` tag) | also status `Ok`/`Error` (the tag stays) |
//! | `annotations[]` `{timestamp, value}` | events: `name` = value, `time_unix_nanos` = timestamp × 1000 |
//! | `debug`, `shared` | `debug`, `shared` |
//! | anything else | ignored |
//!
//! Ports of 0 or below are "absent", IP addresses that do not parse are dropped (as Zipkin
//! does). The scope is empty. An empty body (or only whitespace) or `[]` is an empty batch.
//!
//! Rejected, failing the whole request with a message that names the span index and
//! field: a missing, empty, non-hex, over-long (more than 32 / 16 digits) or all-zero
//! `traceId` or `id`; a non-hex or over-long `parentId`; a `kind` outside the four above;
//! a port above 65535; an annotation without `timestamp` or `value`; a `null` tag value;
//! a wrongly typed field; malformed JSON (the message gives line and column); a body that
//! is not a list; and Zipkin v1 JSON (spans with `binaryAnnotations` or annotations with an
//! `endpoint`), answered with Zipkin's own text
//! `Expected a JSON_V2 encoded list, but received: JSON_V1`.
//!
//! # Model to Zipkin v2 JSON ([`encode_v2_json`], [`encode_v2_traces_json`])
//!
//! Zipkin's own shape: lowercase hex ids, a trace id of 16 digits when its high half is
//! zero and 32 otherwise, absent fields omitted (no `null`, no empty `tags` or
//! `annotations`), field order as Zipkin writes it. For spans from OTLP this follows the
//! OpenTelemetry "Zipkin exporter" mapping:
//!
//! - `timestamp`/`duration` in µs (truncated), omitted when 0; a duration below 1 µs that
//!   is not 0 is written as 1.
//! - `name` and both endpoints' `serviceName` are lowercased, as Zipkin stores them.
//! - `kind`: `Internal` and `Unspecified` have no kind.
//! - `localEndpoint`: `serviceName` from the resource's `service.name`; `ipv4` or `ipv6`
//!   (by the address family) from `net.host.ip`, `ipv6` from `net.host.ipv6`; `port` from
//!   `net.host.port` (int, or a string holding a port).
//! - `remoteEndpoint`: `serviceName` from `Span::remote_service_name()` (`peer.service`,
//!   then for client and producer spans `server.address` or `net.peer.name` when it is a
//!   host name, never an IP address, as Zipkin leaves address-only endpoints unnamed);
//!   address from
//!   `net.peer.ip`, else `network.peer.address`, and `net.peer.ipv6`; port from
//!   `net.peer.port`, else `network.peer.port`.
//! - Attributes used for an endpoint (and `peer.service` when it named the remote
//!   service) are not repeated as tags; an attribute that is not a valid address or port
//!   stays a tag. All other span attributes become tags: strings as they are, other
//!   values as `AttributeValue::to_text()`; an `error` attribute that is `false` is
//!   left out. Resource attributes other than `service.name` are not written.
//! - Status `Error` adds tag `error` = status message (`""` when none) unless an `error`
//!   attribute exists. Status `Ok`/`Error` adds `otel.status_code` = `OK`/`ERROR` unless
//!   that attribute exists or the status came from Zipkin's own `error` tag (status
//!   `Error` whose message equals the `error` attribute), so Zipkin spans read back as
//!   they were sent.
//! - A non-empty scope name adds `otel.scope.name` and `otel.library.name`, a non-empty
//!   version `otel.scope.version` and `otel.library.version`, unless already attributes.
//! - Events become annotations (µs timestamp): the value is the event name, or for an
//!   event with attributes `"<name>":{<attributes as JSON>}` as the OpenTelemetry spec
//!   shows, e.g. `"exception":{"exception.type":"IOError","count":3}`.
//! - Tags are written sorted by key (as Zipkin does); for a repeated key the first wins.
//! - Trace state, links, flags, dropped counts and the remaining resource and scope
//!   attributes have no Zipkin field and are not written.
//!
//! Round trip: a Zipkin v2 span decoded and encoded again is the same JSON value, except
//! that names are lowercased and ids are normalised.
//!
//! # Zipkin v2 protobuf ([`decode_v2_proto`], [`encode_v2_proto`])
//!
//! `zipkin.proto3.ListOfSpans` (`zipkin.proto`) is read into the same intermediate as
//! JSON, so the mapping and the rejections above apply unchanged; error messages name
//! fields by their JSON names (`span 2: traceId has 5 bytes, expected 8 or 16`). What
//! differs is only the wire form:
//!
//! - ids are big-endian bytes: `trace_id` 8 or 16 bytes (8 = a 64-bit id), `id` 8 bytes,
//!   `parent_id` empty (root) or 8 bytes; all zeros is rejected for `trace_id` and `id`
//!   and means root for `parent_id`; any other length is rejected;
//! - `timestamp` (fixed64), `duration` (uint64) in µs, 0 = absent;
//! - `kind` 1 to 4 = `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`; 0 and unknown numbers
//!   (protobuf enums are open) = no kind;
//! - `Endpoint.ipv4` is 4 bytes and `ipv6` 16 bytes, turned into text (`10.0.0.4`, the
//!   canonical IPv6 form); other lengths are dropped like unparsable JSON addresses;
//!   `port` 0 = absent;
//! - protobuf has no `null` and no absent scalars, so an annotation always has a
//!   timestamp and a value (0 and `""` when not sent);
//! - `tags` is read in wire order, so a repeated key resolves as in JSON (the last wins);
//! - a body that is not valid protobuf, or a string that is not UTF-8, fails with
//!   `invalid zipkin protobuf: ...`; an empty body is an empty batch.
//!
//! Encoding writes exactly what the JSON encoder writes, field for field (same endpoints,
//! tags, lowercasing, µs truncation), with the wire forms above. Round trip: JSON decoded,
//! encoded as protobuf, decoded and encoded as JSON again is the original encoding,
//! except that IPv4 addresses lose leading zeros (`10.0.0.04` is `10.0.0.4` in 4 bytes)
//! and IPv6 addresses come back in canonical form, as with Zipkin itself.

mod decode;
mod encode;
mod proto;
mod raw;

pub(crate) use decode::{SpanConverter, describe_json_error};
pub(crate) use raw::{Micros, Present, RawAnnotation, RawEndpoint, RawId, RawSpan, Tags, Text};

use weft_model::{Span, SpanBatch};

use crate::DecodeError;

/// Span attribute holding the local endpoint's IP address (`localEndpoint.ipv4`/`ipv6`).
pub const NET_HOST_IP: &str = "net.host.ip";
/// Span attribute holding the local endpoint's IPv6 address when it also has an IPv4 one.
pub const NET_HOST_IPV6: &str = "net.host.ipv6";
/// Span attribute holding the local endpoint's port (an int).
pub const NET_HOST_PORT: &str = "net.host.port";
/// Span attribute holding the remote endpoint's IP address (`remoteEndpoint.ipv4`/`ipv6`).
pub const NET_PEER_IP: &str = "net.peer.ip";
/// Span attribute holding the remote endpoint's IPv6 address when it also has an IPv4 one.
pub const NET_PEER_IPV6: &str = "net.peer.ipv6";
/// Span attribute holding the remote endpoint's port (an int).
pub const NET_PEER_PORT: &str = "net.peer.port";

/// The address family of an endpoint address as Zipkin reads it: dotted-quad IPv4 (each
/// part 0 to 255, leading zeros allowed, as Zipkin keeps them) or IPv6 text; `None` for
/// anything else.
fn address_family(text: &str) -> Option<AddressFamily> {
    if is_dotted_quad(text) {
        Some(AddressFamily::V4)
    } else if text.contains(':') && text.parse::<std::net::Ipv6Addr>().is_ok() {
        Some(AddressFamily::V6)
    } else {
        None
    }
}

/// IPv4 or IPv6, as [`address_family`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressFamily {
    V4,
    V6,
}

fn is_dotted_quad(text: &str) -> bool {
    let mut parts = 0;
    for part in text.split('.') {
        parts += 1;
        let valid = (1..=3).contains(&part.len())
            && part.bytes().all(|byte| byte.is_ascii_digit())
            && part.parse::<u16>().is_ok_and(|number| number <= 255);
        if !valid || parts > 4 {
            return false;
        }
    }
    parts == 4
}

/// Decodes a Zipkin v2 JSON list of spans (`POST /api/v2/spans`). An empty body or `[]`
/// is an empty batch. Errors name the span index and field; see the module docs for the
/// mapping and for what is rejected.
pub fn decode_v2_json(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode::decode_v2_json(body)
}

/// Encodes spans as a Zipkin v2 JSON list (`[span, ...]`), one Zipkin span per model span,
/// in the given order. Never fails; any string content is escaped.
pub fn encode_v2_json(spans: &[Span]) -> Vec<u8> {
    encode::encode_v2_json(spans)
}

/// Decodes a Zipkin v2 protobuf `zipkin.proto3.ListOfSpans` (`POST /api/v2/spans`,
/// `application/x-protobuf`), with the same mapping and rejections as the JSON form
/// (see the module docs for the protobuf specifics). An empty body is an empty batch.
pub fn decode_v2_proto(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    proto::decode_v2_proto(body)
}

/// Encodes spans as a Zipkin v2 protobuf `zipkin.proto3.ListOfSpans`, one Zipkin span per
/// model span, in the given order, with the same content as [`encode_v2_json`]. Never
/// fails.
pub fn encode_v2_proto(spans: &[Span]) -> Vec<u8> {
    proto::encode_v2_proto(spans)
}

/// Encodes traces as a Zipkin v2 JSON list of lists (`[[span, ...], ...]`), as
/// `GET /api/v2/traces` answers.
pub fn encode_v2_traces_json(traces: &[Vec<Span>]) -> Vec<u8> {
    encode::encode_v2_traces_json(traces)
}

#[cfg(test)]
mod tests;
