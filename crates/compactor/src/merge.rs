//! The streaming k-way merge of blocks, with duplicate removal.
//!
//! Each input is a stream of span batches in block order (one Parquet row group per
//! batch). The merge holds the current batch of every input, one span per input in a
//! heap, and one output batch: memory is bounded by about one row group per input plus
//! [`OUTPUT_BATCH_SPANS`] spans, whatever the size of the blocks or of a single trace.
//!
//! Spans with equal block-order keys (trace id, start, span id, kind) come out of the
//! merge next to each other. Such a span is dropped when it equals, field for field, a
//! span of the same key already kept: replicas of one span written by several
//! ingesters, or one span scraped twice. Spans that share the key but differ in content
//! (say, one with an extra attribute) are all kept. The comparison looks back at most
//! [`MAX_DUPLICATE_RUN`] kept spans of the same key, which bounds the work on
//! adversarial input (a duplicate further back survives).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use futures::StreamExt;
use futures::stream::BoxStream;
use weft_model::{Span, TenantId};
use weft_storage::store::block_order;
use weft_storage::{BlockId, BlockWriter, StorageError};

use crate::error::CompactorError;

/// Spans handed to the writer per push (besides a trailing run of equal keys, which is
/// kept back for duplicate checks).
pub(crate) const OUTPUT_BATCH_SPANS: usize = 4096;

/// How many kept spans of one key a new span of that key is compared with.
pub(crate) const MAX_DUPLICATE_RUN: usize = 64;

/// The spans of one input block, one batch (row group) per item, in block order.
pub(crate) type SpanBatches<'a> = BoxStream<'a, Result<Vec<Span>, StorageError>>;

/// Span counts of one merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MergeStats {
    /// Spans the inputs gave.
    pub spans_read: u64,
    /// Spans pushed to the writer.
    pub spans_written: u64,
    /// Exact duplicates dropped.
    pub spans_deduplicated: u64,
}

/// One input of the merge: its stream and the rest of its current batch.
struct MergeInput<'a> {
    block_id: BlockId,
    stream: SpanBatches<'a>,
    pending: std::vec::IntoIter<Span>,
}

impl MergeInput<'_> {
    async fn next_span(&mut self) -> Result<Option<Span>, StorageError> {
        loop {
            if let Some(span) = self.pending.next() {
                return Ok(Some(span));
            }
            match self.stream.next().await {
                // Replacing the iterator frees the previous batch before the next
                // one is used, so an input holds one batch at a time.
                Some(Ok(batch)) => self.pending = batch.into_iter(),
                Some(Err(error)) => return Err(error),
                None => return Ok(None),
            }
        }
    }
}

/// The smallest pending span of one input. Ordered so that `BinaryHeap` (a max-heap)
/// pops the smallest span first, ties going to the lower input index.
struct Head {
    span: Span,
    input: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        block_order(&other.span, &self.span).then_with(|| other.input.cmp(&self.input))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// The output batch. Its tail from `run_start` holds the kept spans of the key being
/// merged, so that further spans of that key can be compared with them.
struct DedupBuffer {
    spans: Vec<Span>,
    run_start: usize,
}

impl DedupBuffer {
    fn new() -> Self {
        DedupBuffer {
            spans: Vec::with_capacity(OUTPUT_BATCH_SPANS + MAX_DUPLICATE_RUN),
            run_start: 0,
        }
    }

    /// Adds `span` unless it duplicates a kept span of its key; false when dropped.
    fn offer(&mut self, span: Span) -> bool {
        let same_key = self
            .spans
            .last()
            .is_some_and(|last| block_order(last, &span) == Ordering::Equal);
        if same_key {
            let look_back_from = self.retained_from();
            if self.spans[look_back_from..].contains(&span) {
                return false;
            }
        } else {
            self.run_start = self.spans.len();
        }
        self.spans.push(span);
        true
    }

    /// Index of the first span that must stay for duplicate checks.
    fn retained_from(&self) -> usize {
        self.run_start
            .max(self.spans.len().saturating_sub(MAX_DUPLICATE_RUN))
    }

    /// Pushes what no longer takes part in duplicate checks when that is a full batch
    /// (everything when `all`). Returns the spans pushed.
    async fn flush(
        &mut self,
        writer: &mut dyn BlockWriter,
        all: bool,
    ) -> Result<u64, StorageError> {
        let flushable = if all {
            self.spans.len()
        } else {
            self.retained_from()
        };
        if flushable == 0 || (!all && flushable < OUTPUT_BATCH_SPANS) {
            return Ok(0);
        }
        writer.push(&self.spans[..flushable]).await?;
        self.spans.drain(..flushable);
        self.run_start = self.run_start.saturating_sub(flushable);
        Ok(flushable as u64)
    }
}

/// Merges `inputs` (each `(block id, spans in block order)`) into `writer` in block
/// order, dropping exact duplicates. Checks `stop` before every push to the writer and
/// returns [`CompactorError::Stopped`] when it is set. Does not finish or abort the
/// writer: the caller does, depending on the result.
pub(crate) async fn merge_into(
    tenant: &TenantId,
    inputs: Vec<(BlockId, SpanBatches<'_>)>,
    writer: &mut dyn BlockWriter,
    stop: &AtomicBool,
) -> Result<MergeStats, CompactorError> {
    let mut inputs: Vec<MergeInput<'_>> = inputs
        .into_iter()
        .map(|(block_id, stream)| MergeInput {
            block_id,
            stream,
            pending: Vec::new().into_iter(),
        })
        .collect();
    let mut heap = BinaryHeap::with_capacity(inputs.len());
    for (index, input) in inputs.iter_mut().enumerate() {
        if let Some(span) = input.next_span().await? {
            heap.push(Head { span, input: index });
        }
    }

    let mut stats = MergeStats::default();
    let mut output = DedupBuffer::new();
    while let Some(Head { span, input }) = heap.pop() {
        stats.spans_read += 1;
        let source = &mut inputs[input];
        if let Some(next) = source.next_span().await? {
            if block_order(&next, &span) == Ordering::Less {
                return Err(CompactorError::InputOutOfOrder {
                    tenant: tenant.clone(),
                    block_id: source.block_id,
                });
            }
            heap.push(Head { span: next, input });
        }
        if !output.offer(span) {
            stats.spans_deduplicated += 1;
            continue;
        }
        if output.spans.len() >= OUTPUT_BATCH_SPANS {
            if stop.load(AtomicOrdering::Relaxed) {
                return Err(CompactorError::Stopped);
            }
            stats.spans_written += output.flush(writer, false).await?;
        }
    }
    if stop.load(AtomicOrdering::Relaxed) {
        return Err(CompactorError::Stopped);
    }
    stats.spans_written += output.flush(writer, true).await?;
    Ok(stats)
}

#[cfg(test)]
mod tests;
