//! Zipkin v1: JSON and Thrift (`zipkincore.Span` lists), converted to the model by
//! Zipkin's own v1 -> v2 rules.

use weft_model::SpanBatch;

use crate::DecodeError;

/// Decodes a Zipkin v1 JSON list of spans (`POST /api/v1/spans`, `application/json`).
pub fn decode_json(_body: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("zipkin v1 json is not implemented yet"))
}

/// Decodes a Zipkin v1 Thrift body: a TBinaryProtocol `list<zipkincore.Span>`
/// (`POST /api/v1/spans`, `application/x-thrift`).
pub fn decode_thrift(_body: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("zipkin v1 thrift is not implemented yet"))
}
