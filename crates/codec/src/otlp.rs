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
mod span_count;

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use weft_model::{Resource, Span, SpanBatch};

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

/// Gives the resource of a `ResourceSpans` from its encoded bytes: see
/// [`decode_proto_resolving`].
pub type ResolveResource<'a> = dyn FnMut(&[u8]) -> Result<Arc<Resource>, DecodeError> + 'a;

/// Decodes a protobuf `ExportTraceServiceRequest` as [`decode_proto`] does (it accepts
/// every body that accepts, with the same spans), except that the resource of each
/// `ResourceSpans` is handed to `resolve` still encoded (its bytes, empty when absent),
/// and its spans get the resource `resolve` returns. A caller that receives the same
/// resource again and again, as a scraper does from one target, can so decode and
/// rewrite each distinct resource once and share it across requests; [`decode_resource`]
/// decodes the bytes. An error from `resolve` fails the whole body. It is more lenient in
/// one respect: each `ScopeSpans` is decoded on its own, so prost's recursion limit lets
/// values nest two levels deeper inside it than [`decode_proto`] does.
pub fn decode_proto_resolving(
    body: Bytes,
    resolve: &mut ResolveResource<'_>,
) -> Result<OtlpDecoded, DecodeError> {
    proto::decode_proto_resolving(body, resolve)
}

/// Decodes an OTLP `Resource` message (`invalid protobuf: ...` when it is not one).
pub fn decode_resource(bytes: &[u8]) -> Result<Resource, DecodeError> {
    proto::decode_resource(bytes)
}

/// Decodes an `ExportTraceServiceRequest` in OTLP/JSON: lowerCamelCase keys, ids as hex
/// (any case), enums as integers (or their proto names), 64-bit integers as strings or
/// numbers, `bytesValue` as base64, unknown fields ignored, `null` read as the default.
/// A body without `resourceSpans` is an empty request. Errors when the body is not JSON
/// of that shape, naming the JSON path; ids that are not hex only reject their span.
pub fn decode_json(body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    json::decode_json(body)
}

/// Counts the spans of a protobuf `ExportTraceServiceRequest` without decoding it (no
/// allocation), so a caller can refuse an oversize request before paying for it; see
/// [`count_protobuf_path`] for what is checked. The count is exactly the number of spans
/// [`decode_proto`] would see (valid or not). Errors (`invalid protobuf: ...`) only when
/// the framing is broken, in which case [`decode_proto`] fails as well.
pub fn count_proto_spans(body: &[u8]) -> Result<u64, DecodeError> {
    span_count::count_protobuf_path(body, &span_count::OTLP_SPANS_PATH)
}

/// Counts the spans of an OTLP/JSON body (the elements of every
/// `resourceSpans[].scopeSpans[].spans`) in one pass that builds nothing. Exact for a
/// body [`decode_json`] accepts; for a body that is not valid JSON, the spans seen before
/// the error, which bounds what [`decode_json`] builds before failing there too.
pub fn count_json_spans(body: &[u8]) -> u64 {
    span_count::count_json_spans(body)
}

/// Counts, without decoding or allocating, the occurrences of a nested protobuf field:
/// `path` lists field numbers from the outer message inwards, each but the last a message
/// field to descend into, the last the field counted (e.g. `[1, 1]` counts Jaeger
/// `PostSpansRequest.batch.spans`, `[1]` Zipkin `ListOfSpans.spans`). Not OTLP-specific;
/// it lives here because the OTLP pre-count uses it. Unknown fields are skipped by wire
/// type. Errors (`invalid protobuf: ...`) only on broken framing (truncated varint or
/// length, a length past the end of its message, wire type 6 or 7, unmatched groups,
/// field number 0), all of which prost refuses as well.
pub fn count_protobuf_path(body: &[u8], path: &[u32]) -> Result<u64, DecodeError> {
    span_count::count_protobuf_path(body, path)
}

/// Counts the elements of a JSON body that is a top-level array (the Zipkin v1 and v2
/// span lists) in one pass that builds nothing. Not OTLP-specific (see
/// [`count_protobuf_path`]). A body that is not an array counts 0; invalid JSON counts
/// the elements before the error.
pub fn count_json_array_elements(body: &[u8]) -> u64 {
    span_count::count_json_array_elements(body)
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
    encode::encode_json(spans, JsonStyle::Otlp)
}

/// The JSON dialects of a trace that readers expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// OTLP/JSON: `{"resourceSpans":[...]}`, hex ids, enums as numbers.
    Otlp,
    /// Tempo's `/api/traces` (gogo jsonpb of `tempopb.Trace`, renamed):
    /// `{"batches":[...]}`, base64 ids, enums by name.
    TempoV1,
    /// Tempo's `tempopb.Trace` in jsonpb, as nested in `/api/v2/traces`:
    /// `{"resourceSpans":[...]}`, base64 ids, enums by name.
    TempoV2,
}

/// Encodes spans as JSON in `style`, grouped like [`to_resource_spans`].
/// [`decode_json`] reads every style back (it accepts base64 ids and enum names, and
/// [`JsonStyle::TempoV1`] after renaming `batches`).
pub fn encode_json_styled(spans: &[Span], style: JsonStyle) -> Vec<u8> {
    encode::encode_json(spans, style)
}

/// Encodes spans as a protobuf `TracesData` (wire-identical to an
/// `ExportTraceServiceRequest` and to Tempo's `tempopb.Trace`).
pub fn encode_proto(spans: &[Span]) -> Vec<u8> {
    use prost::Message as _;
    opentelemetry_proto::tonic::trace::v1::TracesData {
        resource_spans: to_resource_spans(spans),
    }
    .encode_to_vec()
}

#[cfg(test)]
pub(crate) mod tests;
