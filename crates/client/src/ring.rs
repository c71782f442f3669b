//! The byte-bounded span ring buffer with sequence numbers that scrapers read with their
//! own cursors.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::encode::{BodySizeBound, EncodedSpan, encode_export_request};

/// Bytes charged per held span on top of its protobuf encoding: an estimate of the
/// bookkeeping (the queue slot, the shared-bytes header and the allocation) so that many
/// tiny spans cannot hold far more memory than the budget says.
pub const SPAN_OVERHEAD_BYTES: usize = 64;

/// Default [`RingBuffer`] capacity: 16 MiB of spans.
pub const DEFAULT_CAPACITY_BYTES: usize = 16 * 1024 * 1024;

/// Why [`RingBuffer::push`] refused a span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The span alone costs more than the whole buffer may hold.
    #[error(
        "span of {span_cost_bytes} bytes (encoding plus overhead) exceeds the ring buffer capacity of {capacity_bytes} bytes"
    )]
    SpanLargerThanCapacity {
        /// What the span would cost: its encoding plus [`SPAN_OVERHEAD_BYTES`].
        span_cost_bytes: usize,
        /// The buffer's capacity.
        capacity_bytes: usize,
    },
}

/// What one [`RingBuffer::read`] copied out.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The spans with sequence numbers `first_sequence..next_sequence`, in order.
    pub spans: Vec<EncodedSpan>,
    /// Sequence number of the first span in `spans`, or where it would be when empty.
    pub first_sequence: u64,
    /// The cursor to read from next time (exclusive end of `spans`).
    pub next_sequence: u64,
    /// Spans between the reader's cursor and `first_sequence` that were evicted before
    /// this reader saw them (0 when none, when the cursor was absent, or when the cursor
    /// was beyond the buffer's end).
    pub dropped_spans: u64,
    /// Spans evicted from, or refused by, the buffer since it was created.
    pub dropped_spans_total: u64,
}

impl Batch {
    /// Encodes the spans as one OTLP `ExportTraceServiceRequest` (see
    /// [`encode_export_request`]).
    pub fn encode_export_request(&self) -> Bytes {
        encode_export_request(&self.spans)
    }
}

/// Counters and occupancy of a [`RingBuffer`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingStats {
    /// Spans held now.
    pub held_spans: usize,
    /// Bytes charged for the held spans (encodings plus [`SPAN_OVERHEAD_BYTES`] each).
    pub held_bytes: usize,
    /// Sequence number of the oldest held span (equals `next_sequence` when empty).
    pub first_sequence: u64,
    /// Sequence number the next pushed span gets; also the number of spans accepted
    /// since the buffer was created.
    pub next_sequence: u64,
    /// Spans evicted to make room since the buffer was created.
    pub evicted_spans_total: u64,
    /// Spans refused by [`RingBuffer::push`] because they alone exceed the capacity.
    pub refused_spans_total: u64,
}

#[derive(Debug)]
struct RingState {
    spans: VecDeque<EncodedSpan>,
    /// Sequence number of `spans[0]`; equals the next sequence number when empty.
    first_sequence: u64,
    held_bytes: usize,
    evicted_spans_total: u64,
}

impl RingState {
    fn next_sequence(&self) -> u64 {
        self.first_sequence + self.spans.len() as u64
    }
}

/// A thread-safe ring of finished spans bounded in bytes, each span numbered with a
/// `u64` sequence that starts at 0 and increases by one per accepted span.
///
/// Reads never remove spans: any number of readers, each with its own cursor, see every
/// span that is still held. Only [`push`](RingBuffer::push) evicts, oldest first, when
/// the charged bytes would exceed the capacity, and every eviction is counted.
///
/// Both operations take one short lock. `push` does no encoding or allocation beyond the
/// queue's amortised growth; `read` only clones reference-counted handles to the spans
/// it returns, and the response body is encoded after the lock is released.
#[derive(Debug)]
pub struct RingBuffer {
    state: Mutex<RingState>,
    capacity_bytes: usize,
    refused_spans_total: AtomicU64,
    instance_id: String,
}

impl Default for RingBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY_BYTES)
    }
}

impl RingBuffer {
    /// A ring holding at most `capacity_bytes` of spans (encodings plus
    /// [`SPAN_OVERHEAD_BYTES`] each), with a fresh random instance id.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            state: Mutex::new(RingState {
                spans: VecDeque::new(),
                first_sequence: 0,
                held_bytes: 0,
                evicted_spans_total: 0,
            }),
            capacity_bytes,
            refused_spans_total: AtomicU64::new(0),
            instance_id: random_instance_id(),
        }
    }

    /// The capacity in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Random identifier of this buffer, 16 lowercase hex digits. Sequence numbers are
    /// only comparable between reads that saw the same instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// What a span is charged against the capacity.
    pub fn span_cost_bytes(span: &EncodedSpan) -> usize {
        span.span_bytes().len() + SPAN_OVERHEAD_BYTES
    }

    /// Appends `span`, evicting the oldest spans until it fits, and returns its sequence
    /// number. A span that alone exceeds the capacity is refused (nothing is evicted, no
    /// sequence number is used) and counted in [`Batch::dropped_spans_total`].
    pub fn push(&self, span: EncodedSpan) -> Result<u64, PushError> {
        let span_cost_bytes = Self::span_cost_bytes(&span);
        if span_cost_bytes > self.capacity_bytes {
            self.refused_spans_total.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::SpanLargerThanCapacity {
                span_cost_bytes,
                capacity_bytes: self.capacity_bytes,
            });
        }
        let mut state = self.lock();
        while state.held_bytes + span_cost_bytes > self.capacity_bytes {
            let Some(evicted) = state.spans.pop_front() else {
                break;
            };
            state.held_bytes -= Self::span_cost_bytes(&evicted);
            state.first_sequence += 1;
            state.evicted_spans_total += 1;
        }
        let sequence = state.next_sequence();
        state.spans.push_back(span);
        state.held_bytes += span_cost_bytes;
        Ok(sequence)
    }

    /// Copies out the spans from `cursor` on (absent: from the oldest held), stopping
    /// before the OTLP body of the batch could exceed `max_body_bytes`; at least one span
    /// is returned whenever one is available, even if it alone exceeds the budget, so a
    /// reader always progresses.
    ///
    /// A cursor older than the oldest held span starts at the oldest and reports the gap
    /// as [`Batch::dropped_spans`]; a cursor beyond the next sequence number (a cursor
    /// from another instance) starts at the oldest with nothing counted as dropped.
    pub fn read(&self, cursor: Option<u64>, max_body_bytes: u64) -> Batch {
        let refused_spans_total = self.refused_spans_total.load(Ordering::Relaxed);
        let state = self.lock();
        let oldest = state.first_sequence;
        let next = state.next_sequence();
        let (first_sequence, dropped_spans) = match cursor {
            None => (oldest, 0),
            Some(cursor) if cursor < oldest => (oldest, oldest - cursor),
            Some(cursor) if cursor > next => (oldest, 0),
            Some(cursor) => (cursor, 0),
        };
        let mut spans = Vec::new();
        let mut bound = BodySizeBound::default();
        let skip = (first_sequence - oldest) as usize;
        for span in state.spans.iter().skip(skip) {
            if !spans.is_empty() && bound.bound_with(span) > max_body_bytes {
                break;
            }
            bound.add(span);
            spans.push(span.clone());
        }
        let evicted_spans_total = state.evicted_spans_total;
        drop(state);
        Batch {
            next_sequence: first_sequence + spans.len() as u64,
            spans,
            first_sequence,
            dropped_spans,
            dropped_spans_total: evicted_spans_total + refused_spans_total,
        }
    }

    /// Current occupancy and counters.
    pub fn stats(&self) -> RingStats {
        let state = self.lock();
        RingStats {
            held_spans: state.spans.len(),
            held_bytes: state.held_bytes,
            first_sequence: state.first_sequence,
            next_sequence: state.next_sequence(),
            evicted_spans_total: state.evicted_spans_total,
            refused_spans_total: self.refused_spans_total.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        // The state is consistent after every statement that can panic (none of them
        // leave it half-updated), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 64 random bits as hex, from the standard library's randomly keyed hasher mixed with
/// the time, the process id and a per-process counter (no random-number crate needed).
fn random_instance_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}
