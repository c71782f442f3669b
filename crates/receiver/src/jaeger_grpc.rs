//! Jaeger collector gRPC: `jaeger.api_v2.CollectorService/PostSpans`, as jaeger-agent,
//! the OpenTelemetry Collector's Jaeger exporter and Jaeger SDK gRPC reporters send it.
//!
//! The service is written without generated code: the request message bytes go straight
//! to [`weft_codec::jaeger::decode_post_spans_request`] through a pass-through codec, and
//! the answer is the empty `PostSpansResponse` (zero bytes).
//!
//! - gzip-compressed requests are accepted; messages over `max_request_bytes` (before or
//!   after decompression) are refused with RESOURCE_EXHAUSTED without a retry hint (see
//!   [`crate::grpc_limit`]), and so are messages with more spans than the context's
//!   `max_spans_per_request` (counted on the wire, before decoding).
//! - The message is charged to the in-flight budget as it arrives and again for decoding;
//!   without room within a second the call fails with RESOURCE_EXHAUSTED and a
//!   `RetryInfo`.
//! - The tenant comes from the `x-scope-orgid` metadata when multi-tenancy is on;
//!   without a valid one the call fails with UNAUTHENTICATED.
//! - A message that does not decode (bad ids, broken protobuf) is INVALID_ARGUMENT; other
//!   failures follow [`ReceiveError::class`] (overload RESOURCE_EXHAUSTED with a
//!   `RetryInfo`, ...).
//! - `PostSpansResponse` has no partial-success field, so spans partly refused by the sink
//!   are INVALID_ARGUMENT `stored N of M spans; rejected M-N: <reason>` (not retryable, so
//!   the stored spans are not sent twice).
//! - Any other method of the service is UNIMPLEMENTED.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
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
use crate::span_count;
use crate::text_http;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "jaeger.api_v2.CollectorService";
/// The HTTP/2 path of `PostSpans`.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// The `jaeger.api_v2.CollectorService` gRPC service, ready to add to a
/// `tonic::transport::Server`. Build it with [`jaeger_grpc_service`].
#[derive(Clone)]
pub struct JaegerCollectorService {
    context: Arc<ReceiverContext>,
}

impl std::fmt::Debug for JaegerCollectorService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JaegerCollectorService")
            .field("context", &self.context)
            .finish()
    }
}

/// The Jaeger collector gRPC service. Spans go to the context's sink for the call's
/// tenant; answers are described in the module documentation.
pub fn jaeger_grpc_service(
    context: &ReceiverContext,
) -> OversizeAsResourceExhausted<JaegerCollectorService> {
    OversizeAsResourceExhausted::new(
        JaegerCollectorService {
            context: Arc::new(context.clone()),
        },
        Protocol::JaegerGrpc,
    )
}

impl NamedService for JaegerCollectorService {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower_service::Service<http::Request<B>> for JaegerCollectorService
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
        if request.uri().path() != POST_SPANS_PATH {
            let status =
                tonic::Status::unimplemented(format!("unknown method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let context = Arc::clone(&self.context);
        Box::pin(async move {
            let budget = context.budget().clone();
            let max_request_bytes = context.config().max_request_bytes_usize();
            let handler = move |request, reservation| post_spans(context, request, reservation);
            Ok(grpc_unary::serve_unary(
                request,
                &budget,
                max_request_bytes,
                Protocol::JaegerGrpc,
                handler,
            )
            .await)
        })
    }
}

/// One `PostSpans` call.
async fn post_spans(
    context: Arc<ReceiverContext>,
    request: tonic::Request<Bytes>,
    reservation: Reservation,
) -> UnaryResult {
    let protocol = Protocol::JaegerGrpc;
    match receive(&context, request, &reservation).await {
        Ok(outcome) if outcome.rejected_spans == 0 => {
            // An empty `PostSpansResponse` encodes to zero bytes.
            Ok(tonic::Response::new(Bytes::new()))
        }
        Ok(outcome) => {
            counters::record_request_rejected(protocol, "limit");
            Err(tonic::Status::invalid_argument(text_http::partial_message(
                &outcome,
            )))
        }
        Err(error) => {
            let reason = error.class().reason;
            counters::record_request_rejected(protocol, reason);
            tracing::debug!(protocol = protocol.as_str(), reason, %error, "jaeger grpc request rejected");
            Err(error.to_grpc_status())
        }
    }
}

async fn receive(
    context: &ReceiverContext,
    request: tonic::Request<Bytes>,
    reservation: &Reservation,
) -> Result<PushOutcome, ReceiveError> {
    let protocol = Protocol::JaegerGrpc;
    let tenant_value = request
        .metadata()
        .get(TENANT_HEADER)
        .map(|value| value.as_encoded_bytes());
    let tenant = body::resolve_tenant(context.config().multitenancy_enabled, tenant_value)?;
    let message = request.into_inner();
    counters::record_bytes_received(protocol, message.len());
    let batch = ingest::count_then_decode(
        message,
        context.max_spans_per_request(),
        reservation,
        span_count::jaeger_proto,
        weft_codec::jaeger::decode_post_spans_request,
    )
    .await?;
    ingest::store(
        context.sink().as_ref(),
        &tenant,
        protocol,
        Decoded::from(batch),
    )
    .await
}
