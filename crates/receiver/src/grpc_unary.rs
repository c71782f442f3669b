//! What the hand-written gRPC services share: [`UnaryGrpcService`] serves one unary
//! method whose message is handed over as raw bytes (see [`crate::raw_codec`]) and counted,
//! decoded and stored with `weft-codec`; a [`UnaryMethod`] says what differs between the
//! services (names, codec, the success answer).
//!
//! A call goes through these steps, each charged to one [`Reservation`] on the context's
//! in-flight budget that is given back when the call is answered:
//!
//! 1. The body's data frames are charged as they arrive, before tonic buffers them (see
//!    [`crate::grpc_body`]); tonic refuses a message whose wire length is over
//!    `max_request_bytes` ([`crate::grpc_limit`] makes that RESOURCE_EXHAUSTED).
//! 2. The tenant is resolved from the `x-scope-orgid` metadata.
//! 3. A gzip-compressed message (`grpc-encoding: gzip`, the only compression accepted) is
//!    inflated here with [`body::inflate_charged`], not by tonic: the reservation grows
//!    before each chunk is inflated, so a small message that inflates to a lot either
//!    fits `max_request_bytes` and the budget or is refused (RESOURCE_EXHAUSTED, with a
//!    `RetryInfo` when it is the budget) before that memory is used.
//! 4. Spans are counted on the wire, the decode is charged, and the batch is decoded and
//!    handed to the sink ([`ingest::decode_and_store`]).
//!
//! Without room in the budget within its wait the call fails with
//! [`ReceiveError::Overloaded`] (RESOURCE_EXHAUSTED with a `RetryInfo`). Every failure
//! is counted as a rejected request of the method's protocol.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::codegen::{Body, StdError};
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use weft_model::PushOutcome;

use crate::body::{self, ContentEncoding, TENANT_HEADER};
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::grpc_body::{CallState, MeteredBody};
use crate::grpc_limit::OversizeAsResourceExhausted;
use crate::inflight::Reservation;
use crate::ingest::{self, SpanFormat};
use crate::raw_codec::RawCodec;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a unary call answers: the response message bytes, or a status.
pub(crate) type UnaryResult = Result<tonic::Response<Bytes>, tonic::Status>;

/// The request metadata naming the message compression.
const ENCODING_HEADER: &str = "grpc-encoding";

/// The one unary method of a hand-written gRPC service, as a type: what
/// [`UnaryGrpcService`] needs to know to serve it.
pub(crate) trait UnaryMethod: Send + Sync + 'static {
    /// The fully qualified gRPC service name.
    const SERVICE_NAME: &'static str;
    /// The HTTP/2 path of the method.
    const PATH: &'static str;
    /// The protocol the method's requests are counted under.
    const PROTOCOL: Protocol;
    /// The request message's wire format.
    type Format: SpanFormat;
    /// The request message's wire format, as a value.
    const FORMAT: Self::Format;

    /// The answer to a call of any other path of the service.
    fn unimplemented(path: &str) -> tonic::Status;

    /// The answer once the sink has taken the spans (some may have been refused).
    fn answer(outcome: PushOutcome) -> UnaryResult;
}

/// A gRPC service of one [`UnaryMethod`], ready to add to a
/// `tonic::transport::Server`; answers are described in the module documentation.
/// Cloning is cheap and shares the context.
pub struct UnaryGrpcService<M> {
    context: Arc<ReceiverContext>,
    method: PhantomData<fn() -> M>,
}

/// The service of `M` over `context`, with tonic's refusal of an oversize message
/// rewritten as OTLP and grpc-go answer it (see [`crate::grpc_limit`]).
pub(crate) fn unary_grpc_service<M: UnaryMethod>(
    context: &ReceiverContext,
) -> OversizeAsResourceExhausted<UnaryGrpcService<M>> {
    let service = UnaryGrpcService {
        context: Arc::new(context.clone()),
        method: PhantomData,
    };
    OversizeAsResourceExhausted::new(service, M::PROTOCOL)
}

impl<M> Clone for UnaryGrpcService<M> {
    fn clone(&self) -> Self {
        UnaryGrpcService {
            context: Arc::clone(&self.context),
            method: PhantomData,
        }
    }
}

impl<M: UnaryMethod> std::fmt::Debug for UnaryGrpcService<M> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UnaryGrpcService")
            .field("service", &M::SERVICE_NAME)
            .field("context", &self.context)
            .finish()
    }
}

impl<M: UnaryMethod> NamedService for UnaryGrpcService<M> {
    const NAME: &'static str = M::SERVICE_NAME;
}

impl<M, B> tower_service::Service<http::Request<B>> for UnaryGrpcService<M>
where
    M: UnaryMethod,
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
        if request.uri().path() != M::PATH {
            let status = M::unimplemented(request.uri().path());
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let context = Arc::clone(&self.context);
        Box::pin(async move { Ok(serve_unary::<M, B>(context, request).await) })
    }
}

/// Serves one call of `M`: decodes the gRPC framing (at most `max_request_bytes` per
/// message on the wire) while charging the context's budget, then inflates, decodes and
/// stores the message under the same reservation.
async fn serve_unary<M, B>(
    context: Arc<ReceiverContext>,
    mut request: http::Request<B>,
) -> http::Response<tonic::body::Body>
where
    M: UnaryMethod,
    B: Body + Send + 'static,
    B::Data: Send + Unpin,
    B::Error: Into<StdError> + Send + 'static,
{
    let gzip_declared = match take_gzip_encoding(request.headers_mut()) {
        Ok(gzip_declared) => gzip_declared,
        Err(status) => return status.into_http(),
    };
    let reservation = context.budget().reservation();
    let state = Arc::new(CallState::default());
    let request = request
        .map(|body| MeteredBody::new(body, reservation.clone(), gzip_declared, Arc::clone(&state)));
    let max_request_bytes = context.config().max_request_bytes_usize();
    let method = OnceUnary::<M> {
        context: Some(context),
        reservation,
        state: Arc::clone(&state),
        method: PhantomData,
    };
    // No compression is enabled: a gzip message reaches `OnceUnary` as it was sent.
    let mut grpc = tonic::server::Grpc::new(RawCodec).max_decoding_message_size(max_request_bytes);
    let response = grpc.unary(method, request).await;
    match state.refusal() {
        Some(refusal) => refuse(M::PROTOCOL, refusal).into_http(),
        None => response,
    }
}

/// Reads the call's `grpc-encoding`: true for gzip, which is taken off the request so
/// that tonic passes compressed messages on (see [`crate::grpc_body`]); false for none or
/// `identity`. Any other encoding is the UNIMPLEMENTED status tonic gives it, naming gzip
/// as the accepted one.
fn take_gzip_encoding(headers: &mut http::HeaderMap) -> Result<bool, tonic::Status> {
    let Some(value) = headers.get(ENCODING_HEADER) else {
        return Ok(false);
    };
    match value.as_bytes() {
        b"gzip" => {
            headers.remove(ENCODING_HEADER);
            Ok(true)
        }
        b"identity" => Ok(false),
        other => {
            let other = std::str::from_utf8(other)
                .map_or_else(|_| Cow::Owned(format!("{other:?}")), Cow::Borrowed);
            let mut status = tonic::Status::unimplemented(format!(
                "Content is compressed with `{other}` which isn't supported"
            ));
            status
                .metadata_mut()
                .insert("grpc-accept-encoding", MetadataValue::from_static("gzip"));
            Err(status)
        }
    }
}

/// Runs `M` once on the call's message with the call's reservation.
struct OnceUnary<M> {
    context: Option<Arc<ReceiverContext>>,
    reservation: Reservation,
    state: Arc<CallState>,
    method: PhantomData<fn() -> M>,
}

impl<M: UnaryMethod> tonic::server::UnaryService<Bytes> for OnceUnary<M> {
    type Response = Bytes;
    type Future = BoxFuture<UnaryResult>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        // tonic calls a unary service once per request.
        let Some(context) = self.context.take() else {
            return Box::pin(async { Err(tonic::Status::internal("unary handler called twice")) });
        };
        let reservation = self.reservation.clone();
        let compressed = self.state.first_message_compressed();
        Box::pin(async move {
            match receive::<M>(&context, request, compressed, &reservation).await {
                Ok(outcome) => M::answer(outcome),
                Err(error) => Err(refuse(M::PROTOCOL, &error)),
            }
        })
    }
}

/// Resolves the tenant, inflates the message when `compressed`, and counts, decodes and
/// stores it, all charged to `reservation`.
async fn receive<M: UnaryMethod>(
    context: &ReceiverContext,
    request: tonic::Request<Bytes>,
    compressed: bool,
    reservation: &Reservation,
) -> Result<PushOutcome, ReceiveError> {
    let tenant_value = request
        .metadata()
        .get(TENANT_HEADER)
        .map(|value| value.as_encoded_bytes());
    let tenant = body::resolve_tenant(context.config().multitenancy_enabled, tenant_value)?;
    let mut message = request.into_inner();
    if compressed {
        let limit_bytes = context.config().max_request_bytes_usize();
        message =
            body::inflate_charged(ContentEncoding::Gzip, message, limit_bytes, reservation).await?;
    }
    counters::record_bytes_received(M::PROTOCOL, message.len());
    ingest::decode_and_store(
        context,
        &tenant,
        M::PROTOCOL,
        message,
        reservation,
        M::FORMAT,
    )
    .await
}

/// Counts `error` as a rejected `protocol` request and gives its gRPC answer (see
/// [`ReceiveError::to_grpc_status`]).
fn refuse(protocol: Protocol, error: &ReceiveError) -> tonic::Status {
    let reason = error.class().reason;
    counters::record_request_rejected(protocol, reason);
    tracing::debug!(protocol = protocol.as_str(), reason, %error, "grpc request rejected");
    error.to_grpc_status()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn gzip_is_taken_off_the_request_and_identity_left() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(take_gzip_encoding(&mut headers).ok(), Some(false));
        headers.insert(ENCODING_HEADER, HeaderValue::from_static("identity"));
        assert_eq!(take_gzip_encoding(&mut headers).ok(), Some(false));
        assert!(headers.contains_key(ENCODING_HEADER));
        headers.insert(ENCODING_HEADER, HeaderValue::from_static("gzip"));
        assert_eq!(take_gzip_encoding(&mut headers).ok(), Some(true));
        assert!(!headers.contains_key(ENCODING_HEADER));
    }

    #[test]
    fn other_encodings_are_unimplemented_naming_gzip() {
        let mut headers = http::HeaderMap::new();
        headers.insert(ENCODING_HEADER, HeaderValue::from_static("zstd"));
        let status = take_gzip_encoding(&mut headers).expect_err("zstd");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert_eq!(
            status.message(),
            "Content is compressed with `zstd` which isn't supported"
        );
        assert_eq!(
            status
                .metadata()
                .get("grpc-accept-encoding")
                .map(|v| v.to_str().ok()),
            Some(Some("gzip"))
        );
    }
}
