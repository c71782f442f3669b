//! What the hand-written gRPC services share: serving one unary method whose message is
//! handed over as raw bytes (see [`crate::raw_codec`]), with the message's bytes charged
//! to the in-flight budget as they arrive.
//!
//! The request body is wrapped so that every data frame is charged ([`DECODE_EXPANSION`]
//! times the bytes received so far) before tonic buffers it; when the budget has no room
//! within its wait, the body fails and the call is answered with
//! [`ReceiveError::Overloaded`] (RESOURCE_EXHAUSTED with a `RetryInfo`) instead of
//! whatever tonic makes of a broken body. The handler gets the same [`Reservation`] to
//! charge decoding to; the charge is given back when the call is answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tonic::codec::CompressionEncoding;
use tonic::codegen::StdError;

use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::inflight::{DECODE_EXPANSION, InflightBudget, Reservation};
use crate::raw_codec::RawCodec;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a unary call answers: the response message bytes, or a status.
pub(crate) type UnaryResult = Result<tonic::Response<Bytes>, tonic::Status>;

/// Serves one unary call: decodes the gRPC framing (gzip accepted, at most
/// `max_request_bytes` per message) while charging `budget`, then runs `handler` with the
/// message and the call's reservation.
pub(crate) async fn serve_unary<B, H, F>(
    request: http::Request<B>,
    budget: &InflightBudget,
    max_request_bytes: usize,
    protocol: Protocol,
    handler: H,
) -> http::Response<tonic::body::Body>
where
    B: Body + Send + 'static,
    B::Data: Send + Unpin,
    B::Error: Into<StdError> + Send + 'static,
    H: FnOnce(tonic::Request<Bytes>, Reservation) -> F + Send + 'static,
    F: Future<Output = UnaryResult> + Send + 'static,
{
    let reservation = budget.reservation();
    let overloaded = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| ChargedBody {
        inner: Box::pin(body),
        reservation: reservation.clone(),
        received_bytes: 0,
        waiting: None,
        overloaded: Arc::clone(&overloaded),
    });
    let method = OnceUnary {
        handler: Some(handler),
        reservation: reservation.clone(),
    };
    let mut grpc = tonic::server::Grpc::new(RawCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes);
    let response = grpc.unary(method, request).await;
    if overloaded.load(Ordering::Acquire) {
        let error = ReceiveError::Overloaded {
            limit_bytes: budget.capacity_bytes(),
            retry_after_seconds: 1,
        };
        counters::record_request_rejected(protocol, error.class().reason);
        tracing::debug!(protocol = protocol.as_str(), %error, "grpc request refused");
        return error.to_grpc_status().into_http();
    }
    response
}

/// Runs the handler once with the call's reservation.
struct OnceUnary<H> {
    handler: Option<H>,
    reservation: Reservation,
}

impl<H, F> tonic::server::UnaryService<Bytes> for OnceUnary<H>
where
    H: FnOnce(tonic::Request<Bytes>, Reservation) -> F + Send + 'static,
    F: Future<Output = UnaryResult> + Send + 'static,
{
    type Response = Bytes;
    type Future = BoxFuture<UnaryResult>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        match self.handler.take() {
            Some(handler) => Box::pin(handler(request, self.reservation.clone())),
            // tonic calls a unary service once per request.
            None => Box::pin(async { Err(tonic::Status::internal("unary handler called twice")) }),
        }
    }
}

/// A charge waiting for room in the budget.
type PendingCharge = BoxFuture<Result<(), ReceiveError>>;

/// A request body that charges what it yields to a reservation first.
struct ChargedBody<B: Body> {
    inner: Pin<Box<B>>,
    reservation: Reservation,
    received_bytes: u64,
    /// A data frame held back while its charge waits for room.
    waiting: Option<(Frame<B::Data>, PendingCharge)>,
    overloaded: Arc<AtomicBool>,
}

impl<B> Body for ChargedBody<B>
where
    B: Body + Send + 'static,
    B::Data: Send + Unpin,
    B::Error: Into<StdError>,
{
    type Data = B::Data;
    type Error = StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        // Every field is Unpin (the inner body is boxed).
        let this = self.get_mut();
        if let Some((_, charge)) = &mut this.waiting {
            let charged = ready!(charge.as_mut().poll(context));
            let Some((frame, _)) = this.waiting.take() else {
                return Poll::Ready(None);
            };
            return Poll::Ready(Some(match charged {
                Ok(()) => Ok(frame),
                Err(error) => {
                    this.overloaded.store(true, Ordering::Release);
                    Err(error.into())
                }
            }));
        }
        let frame = match ready!(this.inner.as_mut().poll_frame(context)) {
            None => return Poll::Ready(None),
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            Some(Ok(frame)) => frame,
        };
        let Some(data) = frame.data_ref() else {
            return Poll::Ready(Some(Ok(frame)));
        };
        this.received_bytes = this.received_bytes.saturating_add(data.remaining() as u64);
        let charge_bytes = this.received_bytes.saturating_mul(DECODE_EXPANSION);
        if this.reservation.try_grow_to(charge_bytes) {
            return Poll::Ready(Some(Ok(frame)));
        }
        let reservation = this.reservation.clone();
        this.waiting = Some((
            frame,
            Box::pin(async move { reservation.grow_to(charge_bytes).await }),
        ));
        // Poll the charge right away so its waker is registered.
        Pin::new(this).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
