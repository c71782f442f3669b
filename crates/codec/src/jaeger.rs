//! Jaeger: Thrift (agent `emitBatch` over UDP in compact and binary protocol, collector
//! HTTP `Batch` in binary protocol) and protobuf (`jaeger.api_v2`), mapped to the model by
//! OpenTelemetry's Jaeger rules.

use weft_model::SpanBatch;

use crate::DecodeError;

/// Decodes one UDP datagram of the agent's compact-protocol `Agent.emitBatch` call.
pub fn decode_agent_compact(_datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("jaeger thrift compact is not implemented yet"))
}

/// Decodes one UDP datagram of the agent's binary-protocol `Agent.emitBatch` call.
pub fn decode_agent_binary(_datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("jaeger thrift binary is not implemented yet"))
}

/// Decodes a collector HTTP body (`POST /api/traces`): one binary-protocol `Batch` struct.
pub fn decode_batch_binary(_body: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("jaeger thrift batch is not implemented yet"))
}

/// Decodes a protobuf `jaeger.api_v2.PostSpansRequest` (the gRPC collector's request
/// message bytes).
pub fn decode_post_spans_request(_message: &[u8]) -> Result<SpanBatch, DecodeError> {
    Err(DecodeError::new("jaeger protobuf is not implemented yet"))
}
