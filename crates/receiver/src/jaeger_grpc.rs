//! Jaeger collector gRPC: `jaeger.api_v2.CollectorService/PostSpans`, as jaeger-agent,
//! the OpenTelemetry Collector's Jaeger exporter and Jaeger SDK gRPC reporters send it.
//!
//! The service is written without generated code (on the generic unary service
//! [`crate::otlp_grpc`] uses too): the request message bytes go straight to
//! [`weft_codec::jaeger::decode_post_spans_request`] through a pass-through codec, and
//! the answer is the empty `PostSpansResponse` (zero bytes).
//!
//! - gzip-compressed requests (`grpc-encoding: gzip`) are accepted; messages over
//!   `max_request_bytes` (as received, or as they inflate) are refused with
//!   RESOURCE_EXHAUSTED without a retry hint (see [`crate::grpc_limit`]), and so are
//!   messages with more spans than the context's `max_spans_per_request` (counted on the
//!   wire, before decoding).
//! - The message is charged to the in-flight budget as it arrives, as it inflates and
//!   again for decoding; without room within a second the call fails with
//!   RESOURCE_EXHAUSTED and a `RetryInfo`.
//! - The tenant comes from the `x-scope-orgid` metadata when multi-tenancy is on;
//!   without a valid one the call fails with UNAUTHENTICATED.
//! - A message that does not decode (bad ids, broken protobuf) is INVALID_ARGUMENT; other
//!   failures follow [`crate::ReceiveError::class`] (overload RESOURCE_EXHAUSTED with a
//!   `RetryInfo`, ...).
//! - `PostSpansResponse` has no partial-success field, so spans partly refused by the sink
//!   are INVALID_ARGUMENT `stored N of M spans; rejected M-N: <reason>` (not retryable, so
//!   the stored spans are not sent twice).
//! - Any other method of the service is UNIMPLEMENTED.

use bytes::Bytes;
use weft_model::{PushOutcome, SpanBatch};

use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::grpc_limit::OversizeAsResourceExhausted;
use crate::grpc_unary::{self, UnaryGrpcService, UnaryMethod, UnaryResult};
use crate::ingest::FormatFns;
use crate::span_count;
use crate::text_http;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "jaeger.api_v2.CollectorService";
/// The HTTP/2 path of `PostSpans`.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// The `jaeger.api_v2.CollectorService` gRPC service, ready to add to a
/// `tonic::transport::Server`. Build it with [`jaeger_grpc_service`].
pub type JaegerCollectorService = UnaryGrpcService<PostSpans>;

/// `CollectorService/PostSpans`, the one method [`JaegerCollectorService`] serves, as a
/// type (it has no values).
#[derive(Debug)]
pub enum PostSpans {}

/// The Jaeger collector gRPC service. Spans go to the context's sink for the call's
/// tenant; answers are described in the module documentation.
pub fn jaeger_grpc_service(
    context: &ReceiverContext,
) -> OversizeAsResourceExhausted<JaegerCollectorService> {
    grpc_unary::unary_grpc_service(context)
}

impl UnaryMethod for PostSpans {
    const SERVICE_NAME: &'static str = SERVICE_NAME;
    const PATH: &'static str = POST_SPANS_PATH;
    const PROTOCOL: Protocol = Protocol::JaegerGrpc;
    type Format = FormatFns<SpanBatch>;
    const FORMAT: FormatFns<SpanBatch> = FormatFns {
        count_spans: span_count::jaeger_proto,
        decode: weft_codec::jaeger::decode_post_spans_request,
    };

    fn unimplemented(path: &str) -> tonic::Status {
        tonic::Status::unimplemented(format!("unknown method {path}"))
    }

    fn answer(outcome: PushOutcome) -> UnaryResult {
        if outcome.rejected_spans == 0 {
            // An empty `PostSpansResponse` encodes to zero bytes.
            return Ok(tonic::Response::new(Bytes::new()));
        }
        counters::record_request_rejected(Self::PROTOCOL, "limit");
        Err(tonic::Status::invalid_argument(text_http::partial_message(
            &outcome,
        )))
    }
}
