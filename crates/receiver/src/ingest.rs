//! The steps every listener shares once it holds a request's payload: count the spans
//! on the wire, decode, hand the batch to the sink and count.

use bytes::Bytes;
use weft_codec::DecodeError;
use weft_model::{PushOutcome, SpanBatch, SpanSink, TenantId};

use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::inflight::{DECODE_EXPANSION, DECODED_SPAN_BYTES, Reservation};

/// A decoded request: the valid spans and what the decoder skipped.
pub(crate) struct Decoded {
    pub(crate) batch: SpanBatch,
    /// Spans the decoder skipped as invalid.
    pub(crate) rejected_spans: u64,
    /// Why the first skipped span was skipped; empty when none were.
    pub(crate) rejection_message: String,
}

impl From<SpanBatch> for Decoded {
    fn from(batch: SpanBatch) -> Self {
        Decoded {
            batch,
            rejected_spans: 0,
            rejection_message: String::new(),
        }
    }
}

impl From<weft_codec::otlp::OtlpDecoded> for Decoded {
    fn from(decoded: weft_codec::otlp::OtlpDecoded) -> Self {
        Decoded {
            batch: decoded.batch,
            rejected_spans: decoded.rejected_spans,
            rejection_message: decoded.rejection_message,
        }
    }
}

/// Stores `decoded` through `sink` and returns the combined outcome: the sink's accepted
/// spans, and rejections from the decoder and the sink added up, with both messages.
///
/// - No valid span but some skipped: the request is bad data as a whole and fails with
///   [`ReceiveError::Decode`] (HTTP 400, gRPC INVALID_ARGUMENT) rather than a partial
///   success that stored nothing.
/// - No span at all: success without calling the sink.
/// - The sink refused the batch: its error, with the batch's spans counted as rejected
///   under the error's reason.
pub(crate) async fn store(
    sink: &dyn SpanSink,
    tenant: &TenantId,
    protocol: Protocol,
    decoded: Decoded,
) -> Result<PushOutcome, ReceiveError> {
    let Decoded {
        batch,
        rejected_spans: decode_rejected,
        rejection_message: decode_message,
    } = decoded;
    counters::record_spans_rejected(protocol, "decode_error", decode_rejected);
    if batch.is_empty() {
        if decode_rejected > 0 {
            return Err(ReceiveError::Decode(DecodeError::new(format!(
                "all {decode_rejected} spans are invalid; first: {decode_message}"
            ))));
        }
        return Ok(PushOutcome::default());
    }

    let batch_spans = batch.len() as u64;
    let outcome = match sink.push(tenant, batch).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let error = ReceiveError::Push(error);
            counters::record_spans_rejected(protocol, error.class().reason, batch_spans);
            return Err(error);
        }
    };
    counters::record_spans_received(protocol, outcome.accepted_spans);
    counters::record_spans_rejected(protocol, "limit", outcome.rejected_spans);

    let rejection_message = match (
        decode_message.is_empty(),
        outcome.rejection_message.is_empty(),
    ) {
        (true, _) => outcome.rejection_message,
        (false, true) => decode_message,
        (false, false) => format!("{decode_message}; {}", outcome.rejection_message),
    };
    Ok(PushOutcome {
        accepted_spans: outcome.accepted_spans,
        rejected_spans: outcome.rejected_spans + decode_rejected,
        rejection_message,
    })
}

/// Bodies up to this many bytes are inflated, counted and decoded on the async worker;
/// larger ones on tokio's blocking pool, so a big request does not stall other requests.
pub(crate) const INLINE_WORK_BYTES: usize = 256 * 1024;

/// Runs CPU-heavy `work` on a body of `payload_bytes`: inline when the body is small,
/// on the blocking pool otherwise. A panic in the work is an `Unavailable` error.
pub(crate) async fn run_cpu<T, W>(payload_bytes: usize, work: W) -> Result<T, ReceiveError>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    if payload_bytes <= INLINE_WORK_BYTES {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ReceiveError::Push(weft_model::PushError::Unavailable(format!(
            "decoding task failed: {error}"
        )))
    })
}

/// A wire format a request listener takes: its two passes over a payload. Both must not
/// panic on any input; they run off the async worker for a large payload.
pub(crate) trait SpanFormat: Copy + Send + 'static {
    /// What decoding gives.
    type Decoded: Into<Decoded> + Send + 'static;

    /// The spans in `payload`, counted without decoding them.
    fn count_spans(self, payload: &[u8]) -> Result<u64, DecodeError>;

    /// Decodes `payload`.
    fn decode(self, payload: &[u8]) -> Result<Self::Decoded, DecodeError>;
}

/// A wire format given as its two functions (for formats that need no state to choose
/// between them).
#[derive(Debug)]
pub(crate) struct FormatFns<T> {
    /// Counts the spans of a payload without decoding them.
    pub(crate) count_spans: fn(&[u8]) -> Result<u64, DecodeError>,
    /// Decodes a payload.
    pub(crate) decode: fn(&[u8]) -> Result<T, DecodeError>,
}

// Not derived: a derive would ask `T: Clone`, which fn pointers do not need.
impl<T> Clone for FormatFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for FormatFns<T> {}

impl<T: Into<Decoded> + Send + 'static> SpanFormat for FormatFns<T> {
    type Decoded = T;

    fn count_spans(self, payload: &[u8]) -> Result<u64, DecodeError> {
        (self.count_spans)(payload)
    }

    fn decode(self, payload: &[u8]) -> Result<T, DecodeError> {
        (self.decode)(payload)
    }
}

/// Counts the spans of `payload` in `format` before decoding it: more than `max_spans` is
/// [`ReceiveError::TooManySpans`] and nothing is decoded; otherwise the decode is charged
/// to `reservation` ([`DECODE_EXPANSION`] per body byte and [`DECODED_SPAN_BYTES`] per
/// span) before it runs. Both run off the async worker for a large payload.
pub(crate) async fn count_then_decode<F: SpanFormat>(
    payload: Bytes,
    max_spans: u64,
    reservation: &Reservation,
    format: F,
) -> Result<F::Decoded, ReceiveError> {
    let payload_bytes = payload.len();
    let for_count = payload.clone();
    let spans = run_cpu(payload_bytes, move || format.count_spans(&for_count)).await??;
    if spans > max_spans {
        return Err(ReceiveError::TooManySpans {
            spans,
            limit: max_spans,
        });
    }
    let charge = (payload_bytes as u64)
        .saturating_mul(DECODE_EXPANSION)
        .saturating_add(spans.saturating_mul(DECODED_SPAN_BYTES));
    reservation.grow_to(charge).await?;
    Ok(run_cpu(payload_bytes, move || format.decode(&payload)).await??)
}

/// [`count_then_decode`] (within the context's `max_spans_per_request`) then [`store`]
/// through the context's sink: how every request listener takes a payload it has read
/// (and inflated) under `reservation`.
pub(crate) async fn decode_and_store<F: SpanFormat>(
    context: &ReceiverContext,
    tenant: &TenantId,
    protocol: Protocol,
    payload: Bytes,
    reservation: &Reservation,
    format: F,
) -> Result<PushOutcome, ReceiveError> {
    let max_spans = context.max_spans_per_request();
    let decoded = count_then_decode(payload, max_spans, reservation, format).await?;
    store(context.sink().as_ref(), tenant, protocol, decoded.into()).await
}
