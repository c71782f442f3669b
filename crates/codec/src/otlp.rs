//! OTLP traces: protobuf and JSON (OTLP/JSON rules: hex ids, integer enums, int64 as
//! strings or numbers, unknown fields ignored).

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
    /// Why the first rejected span was rejected; empty when none were.
    pub rejection_message: String,
}

/// Converts an already-decoded protobuf request (as tonic hands it over).
pub fn from_request(_request: ExportTraceServiceRequest) -> OtlpDecoded {
    unimplemented!("filled in by the codec work")
}

/// Decodes an `ExportTraceServiceRequest` in protobuf. Errors when the bytes are not a
/// valid message; invalid individual spans are counted in [`OtlpDecoded`] instead.
pub fn decode_proto(_body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    unimplemented!("filled in by the codec work")
}

/// Decodes an `ExportTraceServiceRequest` in OTLP/JSON.
pub fn decode_json(_body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    unimplemented!("filled in by the codec work")
}

/// Groups spans by resource and scope into OTLP `ResourceSpans`.
pub fn to_resource_spans(_spans: &[Span]) -> Vec<ResourceSpans> {
    unimplemented!("filled in by the codec work")
}
