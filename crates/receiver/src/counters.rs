//! The receiver's counters. Each is emitted once per request with the request's total,
//! never once per span.

/// Spans accepted by the sink, labelled `protocol`.
pub const SPANS_RECEIVED_TOTAL: &str = "weft_receiver_spans_received_total";
/// Request body bytes after decompression (for gRPC: the decoded message's encoded
/// length), labelled `protocol`. Counted for every request whose body could be read.
pub const BYTES_RECEIVED_TOTAL: &str = "weft_receiver_bytes_received_total";
/// Spans not stored, labelled `protocol` and `reason`: `decode_error` (an invalid span
/// the codec skipped), `limit` (a per-span limit in the sink), or the request's reason
/// when the sink refused the whole decoded batch (`overloaded`, `unavailable`, ...).
pub const SPANS_REJECTED_TOTAL: &str = "weft_receiver_spans_rejected_total";
/// Requests answered with an error, labelled `protocol` and `reason` (the `reason` of
/// [`crate::ErrorClass`], or `limit` for a Zipkin request whose spans were partly refused).
pub const REQUESTS_REJECTED_TOTAL: &str = "weft_receiver_requests_rejected_total";

/// The `protocol` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC.
    OtlpGrpc,
    /// OTLP over HTTP, protobuf body.
    OtlpHttpProto,
    /// OTLP over HTTP, JSON body.
    OtlpHttpJson,
    /// OTLP over HTTP with a content type that is neither (only on rejections).
    OtlpHttpUnknown,
    /// Zipkin v2 JSON.
    ZipkinV2Json,
    /// Zipkin in a format not taken yet: v1, protobuf, thrift, unknown (only on rejections).
    ZipkinUnknown,
}

impl Protocol {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp_grpc",
            Protocol::OtlpHttpProto => "otlp_http_proto",
            Protocol::OtlpHttpJson => "otlp_http_json",
            Protocol::OtlpHttpUnknown => "otlp_http",
            Protocol::ZipkinV2Json => "zipkin_v2_json",
            Protocol::ZipkinUnknown => "zipkin",
        }
    }
}

pub(crate) fn record_bytes_received(protocol: Protocol, bytes: usize) {
    metrics::counter!(BYTES_RECEIVED_TOTAL, "protocol" => protocol.as_str())
        .increment(bytes as u64);
}

pub(crate) fn record_spans_received(protocol: Protocol, spans: u64) {
    if spans > 0 {
        metrics::counter!(SPANS_RECEIVED_TOTAL, "protocol" => protocol.as_str()).increment(spans);
    }
}

pub(crate) fn record_spans_rejected(protocol: Protocol, reason: &'static str, spans: u64) {
    if spans > 0 {
        metrics::counter!(
            SPANS_REJECTED_TOTAL,
            "protocol" => protocol.as_str(),
            "reason" => reason
        )
        .increment(spans);
    }
}

pub(crate) fn record_request_rejected(protocol: Protocol, reason: &'static str) {
    metrics::counter!(
        REQUESTS_REJECTED_TOTAL,
        "protocol" => protocol.as_str(),
        "reason" => reason
    )
    .increment(1);
}
