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
/// [`crate::ErrorClass`], or `limit` for a Zipkin or Jaeger request whose spans were partly
/// refused). For the Jaeger agent's UDP listeners a request is one datagram: `decode_error`
/// for a malformed one, `overloaded` for one dropped because the push queue was full.
pub const REQUESTS_REJECTED_TOTAL: &str = "weft_receiver_requests_rejected_total";
/// Datagrams the kernel dropped on a UDP listener's socket because its receive buffer
/// was full (the `drops` column of `/proc/net/udp`), labelled `listener` (`jaeger_compact`,
/// `jaeger_binary`). Read from the kernel every few seconds; Linux only.
pub const UDP_KERNEL_DROPS_TOTAL: &str = "weft_receiver_udp_kernel_drops_total";
/// Bytes waiting in a UDP listener's socket receive buffer when last read (the
/// `rx_queue` column of `/proc/net/udp`), labelled `listener`. Linux only.
pub const UDP_RECEIVE_QUEUE_BYTES: &str = "weft_receiver_udp_receive_queue_bytes";

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
    /// OTLP logs over gRPC (`LogsService/Export`).
    OtlpLogsGrpc,
    /// OTLP logs over HTTP, protobuf body.
    OtlpLogsHttpProto,
    /// OTLP logs over HTTP, JSON body.
    OtlpLogsHttpJson,
    /// Zipkin v2 JSON.
    ZipkinV2Json,
    /// Zipkin v2 protobuf (`zipkin.proto3.ListOfSpans`).
    ZipkinV2Proto,
    /// Zipkin v1 JSON.
    ZipkinV1Json,
    /// Zipkin v1 Thrift (TBinaryProtocol `list<zipkincore.Span>`).
    ZipkinV1Thrift,
    /// Zipkin with a content type the path does not take (only on rejections).
    ZipkinUnknown,
    /// Jaeger collector HTTP, binary Thrift `Batch`.
    JaegerHttpThrift,
    /// Jaeger collector HTTP with a content type it does not take (only on rejections).
    JaegerHttpUnknown,
    /// Jaeger collector gRPC, `jaeger.api_v2.CollectorService/PostSpans`.
    JaegerGrpc,
    /// Jaeger agent UDP, compact Thrift `emitBatch`.
    JaegerThriftCompact,
    /// Jaeger agent UDP, binary Thrift `emitBatch`.
    JaegerThriftBinary,
}

impl Protocol {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp_grpc",
            Protocol::OtlpHttpProto => "otlp_http_proto",
            Protocol::OtlpHttpJson => "otlp_http_json",
            Protocol::OtlpHttpUnknown => "otlp_http",
            Protocol::OtlpLogsGrpc => "otlp_logs_grpc",
            Protocol::OtlpLogsHttpProto => "otlp_logs_http_proto",
            Protocol::OtlpLogsHttpJson => "otlp_logs_http_json",
            Protocol::ZipkinV2Json => "zipkin_v2_json",
            Protocol::ZipkinV2Proto => "zipkin_v2_proto",
            Protocol::ZipkinV1Json => "zipkin_v1_json",
            Protocol::ZipkinV1Thrift => "zipkin_v1_thrift",
            Protocol::ZipkinUnknown => "zipkin",
            Protocol::JaegerHttpThrift => "jaeger_http_thrift",
            Protocol::JaegerHttpUnknown => "jaeger_http",
            Protocol::JaegerGrpc => "jaeger_grpc",
            Protocol::JaegerThriftCompact => "jaeger_thrift_compact",
            Protocol::JaegerThriftBinary => "jaeger_thrift_binary",
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
