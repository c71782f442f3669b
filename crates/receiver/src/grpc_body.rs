//! The request body of a hand-written gRPC call, as tonic reads it.
//!
//! [`MeteredBody`] sits between the connection and tonic's message decoder:
//!
//! - Every data frame is charged to the call's [`Reservation`] ([`DECODE_EXPANSION`]
//!   times the bytes received so far) before tonic buffers it. When the budget has no room
//!   within its wait, the body fails and the refusal is kept in the [`CallState`], so the
//!   call can be answered with it instead of whatever tonic makes of a broken body.
//! - When the call declared `grpc-encoding: gzip`, tonic's own gzip decoding is not
//!   enabled (it would inflate the whole message into a buffer no budget accounts for);
//!   instead the compressed flag of every message prefix is cleared on the way through,
//!   so tonic hands over the message bytes as they were sent, and whether the first
//!   message was compressed is kept in the [`CallState`] for
//!   [`crate::grpc_unary`] to inflate it under the budget.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tonic::codegen::StdError;

use crate::error::ReceiveError;
use crate::grpc_unary::BoxFuture;
use crate::inflight::{DECODE_EXPANSION, Reservation};

/// What the body learns about a call that the call's answer needs. Thread-safe.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    /// Why reading the body was refused (the budget had no room), if it was.
    refusal: OnceLock<ReceiveError>,
    /// Whether the first message had its compressed flag set (only tracked for calls
    /// that declared gzip).
    first_message_compressed: AtomicBool,
}

impl CallState {
    /// The refusal met while reading the body, if any.
    pub(crate) fn refusal(&self) -> Option<&ReceiveError> {
        self.refusal.get()
    }

    /// True when the first message arrived gzip-compressed (and so still is).
    pub(crate) fn first_message_compressed(&self) -> bool {
        self.first_message_compressed.load(Ordering::Acquire)
    }
}

/// A charge waiting for room in the budget.
type PendingCharge = BoxFuture<Result<(), ReceiveError>>;

/// A request body that charges what it yields to a reservation first and, for a gzip
/// call, passes compressed messages on as they are (see the module documentation).
pub(crate) struct MeteredBody<B: Body> {
    inner: Pin<Box<B>>,
    reservation: Reservation,
    received_bytes: u64,
    /// A data frame held back while its charge waits for room.
    waiting: Option<(Frame<Bytes>, PendingCharge)>,
    /// The message framing, followed only when the call declared gzip.
    framing: Option<MessageFraming>,
    state: Arc<CallState>,
}

impl<B: Body> MeteredBody<B> {
    /// Wraps `inner`, charging `reservation`; `gzip_declared` when the call's
    /// `grpc-encoding` was gzip (and has been taken off the request, so tonic does not
    /// inflate). What is learnt goes to `state`.
    pub(crate) fn new(
        inner: B,
        reservation: Reservation,
        gzip_declared: bool,
        state: Arc<CallState>,
    ) -> Self {
        MeteredBody {
            inner: Box::pin(inner),
            reservation,
            received_bytes: 0,
            waiting: None,
            framing: gzip_declared.then(MessageFraming::default),
            state,
        }
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body + Send + 'static,
    B::Data: Send + Unpin,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
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
                    let refusal = this.state.refusal.get_or_init(|| error);
                    Err(refusal.clone().into())
                }
            }));
        }
        let frame = match ready!(this.inner.as_mut().poll_frame(context)) {
            None => return Poll::Ready(None),
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            Some(Ok(frame)) => frame,
        };
        let mut frame = frame.map_data(|mut data| data.copy_to_bytes(data.remaining()));
        if let (Some(framing), Some(data)) = (&mut this.framing, frame.data_mut()) {
            let (passed, first_compressed) = framing.clear_compressed_flags(std::mem::take(data));
            *data = passed;
            if let Some(compressed) = first_compressed {
                this.state
                    .first_message_compressed
                    .store(compressed, Ordering::Release);
            }
        }
        let Some(data) = frame.data_ref() else {
            return Poll::Ready(Some(Ok(frame)));
        };
        this.received_bytes = this.received_bytes.saturating_add(data.len() as u64);
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

/// Bytes of the prefix before every gRPC message: the compressed flag, then the message
/// length as a big-endian `u32`.
const PREFIX_BYTES: usize = 5;

/// The compressed flag's value for a compressed message.
const COMPRESSED: u8 = 1;

/// Where a reader is in a stream of length-prefixed gRPC messages.
#[derive(Debug, Default)]
struct MessageFraming {
    /// The prefix being read; the first `prefix_filled` bytes are valid.
    prefix: [u8; PREFIX_BYTES],
    prefix_filled: usize,
    /// Bytes of the current message still to come before the next prefix.
    message_bytes_left: u64,
    /// Prefixes read in full so far.
    messages_started: u64,
}

impl MessageFraming {
    /// Follows `chunk`, the next bytes of the stream, and returns it with the compressed
    /// flag of every message prefix in it cleared (copied only when there was one to
    /// clear), together with whether the first message of the stream is compressed when
    /// its flag is in this chunk. Flags other than 0 and 1 are left for tonic to refuse.
    fn clear_compressed_flags(&mut self, chunk: Bytes) -> (Bytes, Option<bool>) {
        let mut cleared: Option<BytesMut> = None;
        let mut first_compressed = None;
        let mut offset = 0;
        while offset < chunk.len() {
            if self.message_bytes_left > 0 {
                let available = (chunk.len() - offset) as u64;
                let skipped = self.message_bytes_left.min(available);
                self.message_bytes_left -= skipped;
                // `skipped` is at most what is left of the chunk, so it fits in usize.
                offset += usize::try_from(skipped).unwrap_or(chunk.len() - offset);
                continue;
            }
            let byte = chunk[offset];
            if self.prefix_filled == 0 {
                if self.messages_started == 0 {
                    first_compressed = Some(byte == COMPRESSED);
                }
                if byte == COMPRESSED {
                    let copy = cleared.get_or_insert_with(|| BytesMut::from(&chunk[..]));
                    copy[offset] = 0;
                }
            }
            self.prefix[self.prefix_filled] = byte;
            self.prefix_filled += 1;
            offset += 1;
            if self.prefix_filled == PREFIX_BYTES {
                let [_, length @ ..] = self.prefix;
                self.message_bytes_left = u64::from(u32::from_be_bytes(length));
                self.prefix_filled = 0;
                self.messages_started += 1;
            }
        }
        (cleared.map_or(chunk, BytesMut::freeze), first_compressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut out = vec![flag];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn flags_are_cleared_wherever_the_chunks_split_the_prefixes() {
        let mut stream = framed(1, b"first message");
        stream.extend(framed(1, b""));
        stream.extend(framed(1, b"third"));
        let mut expected = framed(0, b"first message");
        expected.extend(framed(0, b""));
        expected.extend(framed(0, b"third"));
        for chunk_bytes in 1..=stream.len() {
            let mut framing = MessageFraming::default();
            let mut out = Vec::new();
            let mut first = None;
            for chunk in stream.chunks(chunk_bytes) {
                let (passed, seen) = framing.clear_compressed_flags(Bytes::copy_from_slice(chunk));
                first = first.or(seen);
                out.extend_from_slice(&passed);
            }
            assert_eq!(out, expected, "chunks of {chunk_bytes} bytes");
            assert_eq!(first, Some(true), "chunks of {chunk_bytes} bytes");
        }
    }

    #[test]
    fn uncompressed_messages_pass_untouched() {
        let stream = Bytes::from(framed(0, b"plain \x01 bytes"));
        let mut framing = MessageFraming::default();
        let (passed, first) = framing.clear_compressed_flags(stream.clone());
        assert_eq!(passed, stream);
        assert_eq!(first, Some(false));
        // A flag tonic does not know is left for it to refuse.
        let mut framing = MessageFraming::default();
        let odd = Bytes::from(framed(2, b"x"));
        assert_eq!(framing.clear_compressed_flags(odd.clone()).0, odd);
    }
}
