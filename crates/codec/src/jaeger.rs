//! Jaeger: Thrift (agent `emitBatch` over UDP in compact and binary protocol, collector
//! HTTP `Batch` in binary protocol) and protobuf (`jaeger.api_v2`), mapped to the model by
//! OpenTelemetry's Jaeger rules.
//!
//! # Wire forms
//!
//! | entry point | input |
//! |---|---|
//! | [`decode_agent_compact`] | one UDP datagram (agent port 6831): a compact-protocol message `Agent.emitBatch` (header `0x82`, version 1, type call or oneway, sequence id, name) whose arguments struct holds the `Batch` in field 1 |
//! | [`decode_agent_binary`] | one UDP datagram (agent port 6832): the same call in the binary protocol, with a strict (`0x8001`) or old non-strict message header |
//! | [`decode_batch_binary`] | a collector HTTP body (`POST /api/traces`, `application/x-thrift`): one binary-protocol `Batch` struct, no message header |
//! | [`decode_post_spans_request`], [`from_post_spans_request`] | a protobuf `jaeger.api_v2.PostSpansRequest` (gRPC `CollectorService/PostSpans`, port 14250); message types in [`proto`] |
//!
//! Thrift is read with [`crate::thrift::Reader`]: unknown fields are skipped, fields of an
//! unexpected type are skipped, strings that are not UTF-8 are read with U+FFFD
//! replacements, trailing bytes after the message are ignored. A call other than
//! `emitBatch` (the agent's legacy `emitZipkinBatch`) is rejected.
//!
//! # Jaeger to model
//!
//! Follows the OpenTelemetry Collector's Jaeger receiver (`pkg/translator/jaeger`), which
//! implements the OpenTelemetry specification's Jaeger mapping in the receiving direction.
//!
//! | Jaeger | model |
//! |---|---|
//! | `Process.serviceName` | resource attribute `service.name` (left out when empty); one shared `Arc<Resource>` per batch (protobuf: per distinct span process, else the batch's process) |
//! | `Process.tags` | resource attributes after `service.name`, typed as below |
//! | `traceIdHigh`, `traceIdLow` (Thrift i64 halves) / `trace_id` (protobuf, 16 bytes; 8 bytes read as a 64-bit id) | `trace_id`, big-endian high then low half |
//! | `spanId` (i64) / `span_id` (8 bytes) | `span_id`, big-endian |
//! | `parentSpanId` (Thrift; 0 = none) | `parent_span_id` |
//! | `references`: the first `CHILD_OF` in the same trace | `parent_span_id` when the span has no `parentSpanId` (protobuf has none, so this is its only parent) |
//! | `references`: every other reference | `links`, with link attribute `opentracing.ref_type` = `child_of` / `follows_from`; the reference naming the parent is not repeated as a link; a reference with a zero (or, in protobuf, malformed) id is dropped and counted in `dropped_links_count` |
//! | `operationName` | `name` |
//! | `startTime`, `duration` (µs; protobuf `Timestamp`/`Duration`) | `start_unix_nanos`, `duration_nanos` (× 1000; negative = 0) |
//! | `flags` bit 1 (sampled) | `flags` = `0x01` (the W3C sampled flag) |
//! | `flags` bit 2 (debug) | `debug = true`; other bits (firehose) are dropped |
//! | `tags` | span attributes: `STRING` -> string, `DOUBLE` -> double, `BOOL` -> bool, `LONG` -> int, `BINARY` -> bytes; an unknown type -> string `<Unknown Jaeger TagType N>`; order and repeated keys kept |
//! | tag `span.kind` = `client`/`server`/`producer`/`consumer`/`internal` | `kind`, tag removed (other values stay a tag; no tag = `Unspecified`) |
//! | tag `error` = bool `true` | status `Error` with message = tag `otel.status_description` (removed) else `http.status_message` (kept) else `""`; the `error` tag is removed (an `error` tag of another type or value stays a tag, and [`weft_model::Span::is_error`] still sees it) |
//! | tag `otel.status_code` `OK`/`ERROR` (any case) | status `Ok`/`Error` with message = `otel.status_description` (removed), unless `error` = `true` already set the status; `otel.status_code` is always removed |
//! | tag `w3c.tracestate` (string) | `trace_state`, tag removed |
//! | tags `otel.scope.name` (else `otel.library.name`), `otel.scope.version` (else `otel.library.version`) | the instrumentation scope, tags removed (a legacy tag is also removed when it equals the one used); one shared `Arc` per distinct scope in a request |
//! | `logs[]` | `events`: `time_unix_nanos` = timestamp × 1000; `name` = the first `event` field (as text; removed from the fields), else the first `message` field (OpenTelemetry's Jaeger exporter puts the event name there), else `""`; the other fields are the event's attributes |
//!
//! The Zipkin encoder then writes status `Error` as Zipkin's `error` tag and events as
//! annotations, so Zipkin readers see Jaeger errors and logs.
//!
//! Where this differs from the Collector: `span.kind` tags with an unknown value are kept
//! instead of dropped; the Collector's fallback from `http.status_code` to an error status
//! is not applied (a Jaeger span read back through Jaeger's or Zipkin's API would
//! otherwise gain an error the sender did not set); the process tags `hostname` and
//! `jaeger.version` are kept as they are rather than renamed to `host.name` and
//! `telemetry.sdk.version`; a missing `Process` (required in Thrift) is accepted as a
//! resource without attributes.
//!
//! # Rejections
//!
//! Jaeger has no partial success, so one invalid span rejects the whole request with a
//! message naming the span index and field: `span 3: traceIdHigh and traceIdLow are both
//! 0`, `span 3: spanId is 0`, `span 0: traceId: binary id has 5 bytes, expected 8 or 16`.
//! Malformed input names what failed and the byte offset, e.g. `span 2: thrift:
//! unexpected end of input at byte 512`, or `invalid protobuf: ...`. An empty batch (no
//! spans, or a `PostSpansRequest` without a batch) is an empty [`SpanBatch`].

mod decode_proto;
mod decode_thrift;
mod mapping;
pub mod proto;

use weft_model::SpanBatch;

use crate::DecodeError;
use crate::thrift::Protocol;

/// Link attribute holding the Jaeger reference type (`child_of` or `follows_from`).
pub const OPENTRACING_REF_TYPE: &str = "opentracing.ref_type";
/// Jaeger tag naming the span kind.
pub const SPAN_KIND: &str = "span.kind";
/// Tag holding the OpenTelemetry status code (`OK`, `ERROR`).
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
/// Tag holding the OpenTelemetry status message.
pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
/// Tag holding the W3C trace state.
pub const W3C_TRACESTATE: &str = "w3c.tracestate";
/// Tag holding the instrumentation scope name.
pub const OTEL_SCOPE_NAME: &str = "otel.scope.name";
/// Tag holding the instrumentation scope version.
pub const OTEL_SCOPE_VERSION: &str = "otel.scope.version";
/// Legacy tag holding the instrumentation scope name.
pub const OTEL_LIBRARY_NAME: &str = "otel.library.name";
/// Legacy tag holding the instrumentation scope version.
pub const OTEL_LIBRARY_VERSION: &str = "otel.library.version";
/// Log field naming the event.
pub const EVENT_FIELD: &str = "event";
/// Log field naming the event when there is no `event` field.
pub const MESSAGE_FIELD: &str = "message";

/// Decodes one UDP datagram of the agent's compact-protocol `Agent.emitBatch` call.
/// Errors (never panics) on malformed input, another method, or an invalid span; see
/// the module docs for the mapping.
pub fn decode_agent_compact(datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_thrift::decode_agent(datagram, Protocol::Compact)
}

/// Decodes one UDP datagram of the agent's binary-protocol `Agent.emitBatch` call
/// (strict or non-strict message header). Errors as [`decode_agent_compact`].
pub fn decode_agent_binary(datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_thrift::decode_agent(datagram, Protocol::Binary)
}

/// Decodes a collector HTTP body (`POST /api/traces`): one binary-protocol `Batch` struct.
/// Errors as [`decode_agent_compact`].
pub fn decode_batch_binary(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_thrift::decode_batch(body, Protocol::Binary)
}

/// Decodes a protobuf `jaeger.api_v2.PostSpansRequest` (the gRPC collector's request
/// message bytes). Errors on invalid protobuf (`invalid protobuf: ...`) or an invalid
/// span; an empty message is an empty batch.
pub fn decode_post_spans_request(message: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_proto::decode_post_spans_request(message)
}

/// Converts an already-decoded `PostSpansRequest` (as tonic hands it over with
/// `tonic_prost::ProstCodec<proto::PostSpansResponse, proto::PostSpansRequest>`), moving
/// its strings into the model. Errors when a span's ids are invalid (zero, or a trace id
/// that is not 8 or 16 bytes, a span id that is not 8), naming the span index.
pub fn from_post_spans_request(request: proto::PostSpansRequest) -> Result<SpanBatch, DecodeError> {
    decode_proto::from_post_spans_request(request)
}

#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod test_fixture;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_proto;
