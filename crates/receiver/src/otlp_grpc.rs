//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! The service is written without generated server code (as [`crate::jaeger_grpc`] is,
//! both on one generic unary service): the message bytes are handed over by a
//! pass-through codec so that its spans can be counted on the wire before anything is
//! decoded. On the wire it answers as tonic's generated `TraceServiceServer` would.
//!
//! - gzip-compressed requests (`grpc-encoding: gzip`) are accepted; messages over
//!   `max_request_bytes` (as received, or as they inflate) are refused with
//!   RESOURCE_EXHAUSTED without a retry hint, which OTLP clients do not retry (see
//!   [`crate::grpc_limit`]). So are messages with more spans than the context's
//!   `max_spans_per_request`, found before decoding.
//! - The message is charged to the in-flight budget as it arrives, as it inflates and
//!   again for decoding; without room within a second the call fails with
//!   RESOURCE_EXHAUSTED and a `RetryInfo` (retryable).
//! - The tenant comes from the `x-scope-orgid` metadata when multi-tenancy is on;
//!   without a valid one the call fails with UNAUTHENTICATED.
//! - Success carries `partial_success` only when spans were refused (invalid spans
//!   skipped by the decoder or spans over a sink limit); a request whose every span is
//!   invalid fails with INVALID_ARGUMENT. Other failures follow [`crate::ReceiveError::class`].
//! - Any other method of the service is UNIMPLEMENTED.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use weft_model::PushOutcome;

use crate::context::ReceiverContext;
use crate::counters::Protocol;
use crate::grpc_limit::OversizeAsResourceExhausted;
use crate::grpc_unary::{self, UnaryGrpcService, UnaryMethod, UnaryResult};
use crate::otlp_http::Encoding;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// The HTTP/2 path of `Export`.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP trace service, ready to add to a `tonic::transport::Server`. Build it with
/// [`otlp_grpc_service`].
pub type OtlpTraceService = UnaryGrpcService<Export>;

/// `TraceService/Export`, the one method [`OtlpTraceService`] serves, as a type (it has
/// no values).
#[derive(Debug)]
pub enum Export {}

/// The OTLP/gRPC trace service. Spans go to the context's sink for the call's tenant;
/// answers are described in the module documentation.
pub fn otlp_grpc_service(
    context: &ReceiverContext,
) -> OversizeAsResourceExhausted<OtlpTraceService> {
    grpc_unary::unary_grpc_service(context)
}

impl UnaryMethod for Export {
    const SERVICE_NAME: &'static str = SERVICE_NAME;
    const PATH: &'static str = EXPORT_PATH;
    const PROTOCOL: Protocol = Protocol::OtlpGrpc;
    type Format = Encoding;
    const FORMAT: Encoding = Encoding::Protobuf;

    fn unimplemented(_path: &str) -> tonic::Status {
        // What tonic's generated servers answer for a method they do not have.
        tonic::Status::unimplemented("")
    }

    fn answer(outcome: PushOutcome) -> UnaryResult {
        let partial_success = (outcome.rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(outcome.rejected_spans).unwrap_or(i64::MAX),
            error_message: outcome.rejection_message,
        });
        let response = ExportTraceServiceResponse { partial_success };
        Ok(tonic::Response::new(Bytes::from(response.encode_to_vec())))
    }
}
