//! OTLP traces: protobuf and JSON (OTLP/JSON rules: hex ids, integer enums, int64 as
//! strings or numbers, unknown fields ignored).
//!
//! Decoding keeps everything the model can hold: resource and scope (one shared `Arc` per
//! `ResourceSpans` / `ScopeSpans`), all attribute value kinds, events, links, status,
//! trace state, flags and dropped counts. What the model has no room for is dropped:
//! `schemaUrl`, the scope's `droppedAttributesCount`, the resource's `entityRefs`, and the
//! profiling-only `*_strindex` fields.
//!
//! Invalid spans do not fail the request: a span whose trace id is not 16 non-zero bytes,
//! whose span id is not 8 non-zero bytes, or whose parent id is neither empty nor 8 bytes
//! is skipped and counted in [`OtlpDecoded::rejected_spans`], as OTLP's `partial_success`
//! expects. An all-zero 8-byte parent id is read as "no parent". A link whose ids are
//! invalid is dropped and counted in the span's `dropped_links_count`.
//!
//! Times: `start_unix_nanos = startTimeUnixNano`, `duration_nanos = end - start`, 0 when
//! the end is before the start.

mod encode;
mod json;
mod json_scalars;
mod proto;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use weft_model::{Span, SpanBatch};

use crate::DecodeError;

/// A decoded OTLP request: the valid spans, and how many were dropped as invalid (for the
/// OTLP `partial_success` answer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtlpDecoded {
    /// Spans that were valid.
    pub batch: SpanBatch,
    /// Spans skipped because they were invalid (bad ids, ...).
    pub rejected_spans: u64,
    /// Why the first rejected span was rejected; empty when none were. Names the span by
    /// its JSON path, e.g. `resourceSpans[0].scopeSpans[1].spans[3]: traceId is all zeros`.
    pub rejection_message: String,
}

/// Converts an already-decoded protobuf request (as tonic hands it over). Takes the
/// request by value and moves its strings into the model. Never fails: invalid spans
/// are counted in [`OtlpDecoded::rejected_spans`].
pub fn from_request(request: ExportTraceServiceRequest) -> OtlpDecoded {
    proto::from_request(request)
}

/// Decodes an `ExportTraceServiceRequest` in protobuf. Errors when the bytes are not a
/// valid message (`invalid protobuf: ...`); invalid individual spans are counted in
/// [`OtlpDecoded`] instead. An empty body is an empty request.
pub fn decode_proto(body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    proto::decode_proto(body)
}

/// Decodes an `ExportTraceServiceRequest` in OTLP/JSON: lowerCamelCase keys, ids as hex
/// (any case), enums as integers (or their proto names), 64-bit integers as strings or
/// numbers, `bytesValue` as base64, unknown fields ignored, `null` read as the default.
/// A body without `resourceSpans` is an empty request. Errors when the body is not JSON
/// of that shape, naming the JSON path; ids that are not hex only reject their span.
pub fn decode_json(body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    json::decode_json(body)
}

/// Groups spans by resource and scope into OTLP `ResourceSpans`: spans sharing an
/// `Arc` (or holding equal values) land in one group; groups keep the order in which
/// they first appear and spans keep their order within a group. The inverse of
/// [`from_request`] for everything the model holds.
pub fn to_resource_spans(spans: &[Span]) -> Vec<ResourceSpans> {
    encode::to_resource_spans(spans)
}

/// Encodes spans as an OTLP/JSON `ExportTraceServiceRequest` / `TracesData` body:
/// `{"resourceSpans":[...]}` with hex ids, 64-bit integers as strings, integer enums,
/// grouped like [`to_resource_spans`]. [`decode_json`] reads it back unchanged.
pub fn encode_json(spans: &[Span]) -> Vec<u8> {
    encode::encode_json(spans)
}

#[cfg(test)]
pub(crate) mod tests;
