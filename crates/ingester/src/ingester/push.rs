//! [`SpanSink`] for the ingester: one push, or several batches stored as one.
//!
//! Either way the spans go through the same steps once: the memory check, the
//! `max_spans_per_trace` limit, the head's duplicate check, one WAL record (appended,
//! and fsynced under the `always` policy, before anything is acknowledged) and one head
//! insert. Batches pushed together are only told apart for their outcomes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use weft_model::{PushError, PushOutcome, Span, SpanBatch, SpanSink, TenantId, TraceId};

use super::{Ingester, WAL_QUEUE_TIMEOUT, overloaded};
use crate::head::Head;
use crate::wal::{self, WalAppendError};

/// Spans of the traces that reached `max_spans_per_trace`, per batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct TraceLimitRejections {
    /// Rejected spans of each batch, in batch order.
    rejected_spans: Vec<u64>,
    /// The first rejected span's trace, per batch.
    first_rejected: Vec<Option<TraceId>>,
}

/// Maps positions in the concatenation of batches, visited in increasing order, to the
/// index of the batch they came from.
struct BatchOfPosition<'a> {
    batch_lengths: &'a [usize],
    batch: usize,
    batch_end: usize,
}

impl<'a> BatchOfPosition<'a> {
    fn new(batch_lengths: &'a [usize]) -> Self {
        Self {
            batch_lengths,
            batch: 0,
            batch_end: batch_lengths.first().copied().unwrap_or(0),
        }
    }

    /// The batch of `position`; positions must not decrease between calls.
    fn batch_of(&mut self, position: usize) -> usize {
        while position >= self.batch_end && self.batch + 1 < self.batch_lengths.len() {
            self.batch += 1;
            self.batch_end += self.batch_lengths[self.batch];
        }
        self.batch
    }
}

impl Ingester {
    /// Drops spans of traces that would exceed `max_spans_per_trace` in the head, in
    /// order (the first spans of a trace are kept), counting them per batch;
    /// `batch_lengths` splits `spans` into the batches it was made of.
    fn apply_trace_limit(
        &self,
        head: &Head,
        tenant: &TenantId,
        spans: &mut Vec<Span>,
        batch_lengths: &[usize],
    ) -> TraceLimitRejections {
        let mut rejections = TraceLimitRejections {
            rejected_spans: vec![0; batch_lengths.len()],
            first_rejected: vec![None; batch_lengths.len()],
        };
        let limit = self.config.max_spans_per_trace;
        let tenant_head = head.tenant(tenant);
        let largest = tenant_head
            .as_ref()
            .map_or(0, |head| head.largest_trace_spans());
        if largest.saturating_add(spans.len() as u64) <= limit {
            return rejections;
        }
        let mut remaining: HashMap<TraceId, u64> = HashMap::new();
        let mut batches = BatchOfPosition::new(batch_lengths);
        let mut position = 0;
        spans.retain(|span| {
            let batch = batches.batch_of(position);
            position += 1;
            let left = remaining.entry(span.trace_id).or_insert_with(|| {
                let existing = tenant_head
                    .as_ref()
                    .map_or(0, |head| head.span_count(span.trace_id));
                limit.saturating_sub(existing)
            });
            if *left > 0 {
                *left -= 1;
                true
            } else {
                rejections.rejected_spans[batch] += 1;
                rejections.first_rejected[batch].get_or_insert(span.trace_id);
                false
            }
        });
        rejections
    }

    /// Stores `spans`, the concatenation of batches of `batch_lengths` spans, as one WAL
    /// record; answers one outcome per batch.
    async fn store(
        &self,
        tenant: &TenantId,
        mut spans: Vec<Span>,
        batch_lengths: &[usize],
    ) -> Result<Vec<PushOutcome>, PushError> {
        let shutting_down =
            || PushError::Unavailable(String::from("the ingester is shutting down"));
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        self.wait_for_memory().await?;
        let _gate = self.gate.read().await;
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        let head = self.state().head.clone();
        let rejections = self.apply_trace_limit(&head, tenant, &mut spans, batch_lengths);
        let outcomes: Vec<PushOutcome> = batch_lengths
            .iter()
            .zip(
                rejections
                    .rejected_spans
                    .iter()
                    .zip(&rejections.first_rejected),
            )
            .map(|(&length, (&rejected_spans, first_rejected))| {
                self.outcome(length as u64, rejected_spans, *first_rejected)
            })
            .collect();
        if spans.is_empty() {
            return Ok(outcomes);
        }
        let encode = |spans: &[Span]| {
            wal::encode_record(tenant, spans)
                .map_err(|error| PushError::TooLarge(format!("spans cannot be encoded: {error}")))
        };
        let mut record = encode(&spans)?;
        // Copies of spans the head has (another scraper of the same target, a client's
        // retry) are acknowledged without being written again.
        if let Some(tenant_head) = head.tenant(tenant) {
            let copies = tenant_head.duplicates(&spans, &record);
            if !copies.is_empty() {
                metrics::counter!("weft_ingester_duplicate_spans_total")
                    .increment(copies.len() as u64);
                let mut position = 0;
                let mut copies = copies.into_iter().peekable();
                spans.retain(|_| {
                    let copy = copies.next_if_eq(&position).is_some();
                    position += 1;
                    !copy
                });
                if spans.is_empty() {
                    return Ok(outcomes);
                }
                record = encode(&spans)?;
            }
        }
        let record = Arc::new(record);
        match self.wal.append(record.clone(), WAL_QUEUE_TIMEOUT).await {
            Ok(_segment) => {}
            Err(WalAppendError::QueueFull) => {
                metrics::counter!("weft_ingester_refused_pushes_total", "reason" => "wal_queue")
                    .increment(1);
                return Err(overloaded(String::from(
                    "the write-ahead log queue is full; retry later",
                )));
            }
            Err(WalAppendError::Stopped) => return Err(shutting_down()),
            Err(WalAppendError::Failed(message)) => {
                return Err(PushError::Unavailable(format!(
                    "write-ahead log write failed: {message}"
                )));
            }
        }
        let stats = head
            .insert(
                tenant,
                &spans,
                record,
                &self.config.indexed_attribute_keys,
                self.config.attribute_catalog,
            )
            .map_err(|error| {
                // Not expected: the record was encoded from these very spans.
                tracing::error!(%error, "cannot add written spans to the head");
                PushError::Unavailable(format!("the head refused the spans: {error}"))
            })?;
        // The head keeps the encoded record; the decoded spans are freed here, on the
        // thread that most likely decoded them.
        drop(spans);
        if stats.duplicates > 0 {
            metrics::counter!("weft_ingester_duplicate_spans_total").increment(stats.duplicates);
        }
        self.memory.add(stats);
        if head.bytes() > self.config.max_head_bytes {
            self.cut_requested.notify_one();
        }
        Ok(outcomes)
    }

    /// The outcome of a stored batch of `spans` spans of which `rejected_spans` were
    /// over `max_spans_per_trace` (copies of stored spans count as accepted).
    fn outcome(
        &self,
        spans: u64,
        rejected_spans: u64,
        first_rejected: Option<TraceId>,
    ) -> PushOutcome {
        if rejected_spans == 0 {
            return PushOutcome {
                accepted_spans: spans,
                ..PushOutcome::default()
            };
        }
        metrics::counter!("weft_ingester_rejected_spans_total", "reason" => "trace_too_large")
            .increment(rejected_spans);
        PushOutcome {
            accepted_spans: spans - rejected_spans,
            rejected_spans,
            rejection_message: format!(
                "trace_too_large: {rejected_spans} spans rejected because their trace (first: {}) \
                 reached max_spans_per_trace {} in the head",
                first_rejected.unwrap_or_default(),
                self.config.max_spans_per_trace
            ),
        }
    }
}

#[async_trait]
impl SpanSink for Ingester {
    /// Appends the batch to the WAL (acknowledged only after the write, and the fsync
    /// under the `always` policy), then adds it to the head. Spans over
    /// `max_spans_per_trace` are rejected and counted; the rest are stored.
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        if batch.is_empty() {
            return Ok(PushOutcome::default());
        }
        let length = batch.len();
        let mut outcomes = self.store(tenant, batch.spans, &[length]).await?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// As [`Ingester::push`] of every batch, but with one memory check, one WAL record
    /// and one head insert for all of them. `max_spans_per_trace` applies to the spans
    /// in batch order, as if the batches had been pushed one after the other. An error
    /// (memory, WAL, shutdown) is every batch's answer.
    async fn push_batches(
        &self,
        tenant: &TenantId,
        batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        let batch_lengths: Vec<usize> = batches.iter().map(SpanBatch::len).collect();
        let mut spans = Vec::with_capacity(batch_lengths.iter().sum());
        for batch in batches {
            spans.extend(batch.spans);
        }
        if spans.is_empty() {
            return vec![Ok(PushOutcome::default()); batch_lengths.len()];
        }
        match self.store(tenant, spans, &batch_lengths).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error); batch_lengths.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::IngesterConfig;
    use crate::test_support::{TempDir, span_batch};

    #[tokio::test]
    async fn batches_pushed_together_are_stored_as_one_record_and_answered_each() {
        let directory = TempDir::new("push-batches");
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            max_spans_per_trace: 12,
            ..IngesterConfig::default()
        };
        let ingester = Ingester::open_local(config).await.expect("opens");
        let tenant = TenantId::single();
        let answers = ingester
            .push_batches(
                &tenant,
                vec![
                    span_batch(1, 1, 10),
                    SpanBatch::default(),
                    span_batch(1, 11, 10),
                    span_batch(2, 1, 5),
                ],
            )
            .await;
        let outcomes: Vec<(u64, u64)> = answers
            .iter()
            .map(|answer| {
                let outcome = answer.as_ref().expect("stored");
                (outcome.accepted_spans, outcome.rejected_spans)
            })
            .collect();
        // The limit applies in batch order: the second batch of trace 1 gets 2 of its 10.
        assert_eq!(outcomes, vec![(10, 0), (0, 0), (2, 8), (5, 0)]);
        assert!(
            answers[2]
                .as_ref()
                .is_ok_and(|outcome| outcome.rejection_message.starts_with("trace_too_large: 8")),
            "{answers:?}"
        );
        let head = ingester.state().head.clone();
        let tenant_head = head.tenant(&tenant).expect("tenant");
        assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 12);
        assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 2)), 5);
        // Copies of stored spans pushed together again are acknowledged, not rejected.
        let again = ingester
            .push_batches(&tenant, vec![span_batch(2, 1, 5), span_batch(3, 1, 3)])
            .await;
        let outcomes: Vec<(u64, u64)> = again
            .iter()
            .map(|answer| {
                let outcome = answer.as_ref().expect("stored");
                (outcome.accepted_spans, outcome.rejected_spans)
            })
            .collect();
        assert_eq!(outcomes, vec![(5, 0), (3, 0)]);
        assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 2)), 5);
        ingester.shutdown().await.expect("shuts down");
    }

    #[tokio::test]
    async fn a_refused_combined_push_is_every_batch_answer() {
        let directory = TempDir::new("push-batches-refused");
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            max_head_bytes: 1,
            max_unflushed_bytes: 1,
            max_memory_wait: Duration::from_millis(50),
            ..IngesterConfig::default()
        };
        let ingester = Ingester::open_local(config).await.expect("opens");
        let tenant = TenantId::single();
        // Holding the flush lock stands in for a block write that takes forever.
        let stalled = ingester.flush_lock.lock().await;
        ingester
            .push(&tenant, span_batch(1, 1, 10))
            .await
            .expect("under the limit");
        let answers = ingester
            .push_batches(&tenant, vec![span_batch(2, 1, 3), span_batch(3, 1, 3)])
            .await;
        assert_eq!(answers.len(), 2);
        assert!(
            answers
                .iter()
                .all(|answer| matches!(answer, Err(PushError::Overloaded { .. }))),
            "{answers:?}"
        );
        drop(stalled);
        ingester.shutdown().await.expect("shuts down");
    }

    #[test]
    fn positions_map_to_their_batch_including_empty_batches() {
        let lengths = [2, 0, 3, 1];
        let mut batches = BatchOfPosition::new(&lengths);
        let found: Vec<usize> = (0..6).map(|position| batches.batch_of(position)).collect();
        assert_eq!(found, vec![0, 0, 2, 2, 2, 3]);
    }
}
