//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! The service is written without generated server code (as [`crate::jaeger_grpc`] is):
//! the message bytes are handed over by a pass-through codec so that its spans can be
//! counted on the wire before anything is decoded. On the wire it answers as tonic's
//! generated `TraceServiceServer` would.
//!
//! - gzip-compressed requests are accepted; messages over `max_request_bytes` (before or
//!   after decompression) are refused with RESOURCE_EXHAUSTED without a retry hint, which
//!   OTLP clients do not retry (see [`crate::grpc_limit`]). So are messages with more
//!   spans than the context's `max_spans_per_request`, found before decoding.
//! - The message is charged to the in-flight budget as it arrives and again for decoding;
//!   without room within a second the call fails with RESOURCE_EXHAUSTED and a
//!   `RetryInfo` (retryable).
//! - The tenant comes from the `x-scope-orgid` metadata when multi-tenancy is on;
//!   without a valid one the call fails with UNAUTHENTICATED.
//! - Success carries `partial_success` only when spans were refused (invalid spans
//!   skipped by the decoder or spans over a sink limit); a request whose every span is
//!   invalid fails with INVALID_ARGUMENT. Other failures follow [`ReceiveError::class`].
//! - Any other method of the service is UNIMPLEMENTED.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codegen::{Body, StdError};
use tonic::server::NamedService;
use weft_model::PushOutcome;

use crate::body::{self, TENANT_HEADER};
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::grpc_limit::OversizeAsResourceExhausted;
use crate::grpc_unary::{self, BoxFuture, UnaryResult};
use crate::inflight::Reservation;
use crate::ingest::{self, Decoded};

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// The HTTP/2 path of `Export`.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP trace service, ready to add to a `tonic::transport::Server`. Build it with
/// [`otlp_grpc_service`].
#[derive(Clone)]
pub struct OtlpTraceService {
    context: Arc<ReceiverContext>,
}

impl std::fmt::Debug for OtlpTraceService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OtlpTraceService")
            .field("context", &self.context)
            .finish()
    }
}

/// The OTLP/gRPC trace service. Spans go to the context's sink for the call's tenant;
/// answers are described in the module documentation.
pub fn otlp_grpc_service(
    context: &ReceiverContext,
) -> OversizeAsResourceExhausted<OtlpTraceService> {
    OversizeAsResourceExhausted::new(
        OtlpTraceService {
            context: Arc::new(context.clone()),
        },
        Protocol::OtlpGrpc,
    )
}

impl NamedService for OtlpTraceService {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower_service::Service<http::Request<B>> for OtlpTraceService
where
    B: Body + Send + 'static,
    B::Data: Send + Unpin,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            // What tonic's generated servers answer for a method they do not have.
            let status = tonic::Status::unimplemented("");
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let context = Arc::clone(&self.context);
        Box::pin(async move {
            let budget = context.budget().clone();
            let max_request_bytes = context.config().max_request_bytes_usize();
            let handler = move |request, reservation| export(context, request, reservation);
            Ok(grpc_unary::serve_unary(
                request,
                &budget,
                max_request_bytes,
                Protocol::OtlpGrpc,
                handler,
            )
            .await)
        })
    }
}

/// One `Export` call.
async fn export(
    context: Arc<ReceiverContext>,
    request: tonic::Request<Bytes>,
    reservation: Reservation,
) -> UnaryResult {
    match receive(&context, request, &reservation).await {
        Ok(outcome) => {
            let partial_success = (outcome.rejected_spans > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(outcome.rejected_spans).unwrap_or(i64::MAX),
                error_message: outcome.rejection_message,
            });
            let response = ExportTraceServiceResponse { partial_success };
            Ok(tonic::Response::new(Bytes::from(response.encode_to_vec())))
        }
        Err(error) => {
            let reason = error.class().reason;
            counters::record_request_rejected(Protocol::OtlpGrpc, reason);
            tracing::debug!(protocol = "otlp_grpc", reason, %error, "otlp grpc request rejected");
            Err(error.to_grpc_status())
        }
    }
}

async fn receive(
    context: &ReceiverContext,
    request: tonic::Request<Bytes>,
    reservation: &Reservation,
) -> Result<PushOutcome, ReceiveError> {
    let protocol = Protocol::OtlpGrpc;
    let tenant_value = request
        .metadata()
        .get(TENANT_HEADER)
        .map(|value| value.as_encoded_bytes());
    let tenant = body::resolve_tenant(context.config().multitenancy_enabled, tenant_value)?;
    let message = request.into_inner();
    counters::record_bytes_received(protocol, message.len());
    let decoded = ingest::count_then_decode(
        message,
        context.max_spans_per_request(),
        reservation,
        weft_codec::otlp::count_proto_spans,
        weft_codec::otlp::decode_proto,
    )
    .await?;
    ingest::store(
        context.sink().as_ref(),
        &tenant,
        protocol,
        Decoded::from(decoded),
    )
    .await
}
