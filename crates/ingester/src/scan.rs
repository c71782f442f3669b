//! [`TraceReader::scan`](weft_model::TraceReader::scan) over the heads and blocks: the
//! heads first, then blocks newest first (by their latest span end), each block a
//! share of a row group at a time, two shares decoding at once. A trace part that no other head
//! or block can hold (their bloom filters say so) is the whole trace and goes to the
//! consumer with its spans; other parts go as candidates for the consumer to load
//! whole. The scan runs ahead of its consumer by a bounded number of steps and stops
//! when the consumer drops the stream. Errors are storage errors, so that the reader can
//! tell a block compacted away during the scan ([`StorageError::is_not_found`]).

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;
use weft_model::{ScanBatch, ScanRequest, ScannedTrace, Span, TimeWindow};
use weft_storage::{BlockReader, ScanPlan, StorageError, TraceDigest};

use crate::head::TenantHead;
use crate::ingester::Snapshot;
use crate::read::PART_SKEW_NANOS;

/// Scan units (shares of a row group) of one block decoded at once.
const CONCURRENT_SCAN_UNITS: usize = 2;

/// Steps a scan may run ahead of its consumer.
const STEPS_AHEAD: usize = 2;

/// What every step of one scan shares.
struct ScanContext {
    heads: Vec<Arc<TenantHead>>,
    blocks: Vec<Arc<dyn BlockReader>>,
    request: ScanRequest,
    /// The window widened by [`PART_SKEW_NANOS`]: parts of a trace cut into another
    /// block have their own, possibly earlier or later, timestamps.
    outer: TimeWindow,
}

/// Starts a scan of `snapshot` on its own task and returns its steps.
pub(crate) fn scan(
    snapshot: Snapshot,
    request: ScanRequest,
) -> BoxStream<'static, Result<ScanBatch, StorageError>> {
    let Snapshot { heads, blocks } = snapshot;
    let outer = TimeWindow {
        start_unix_nanos: request
            .window
            .start_unix_nanos
            .saturating_sub(PART_SKEW_NANOS),
        end_unix_nanos: request
            .window
            .end_unix_nanos
            .saturating_add(PART_SKEW_NANOS),
    };
    let context = Arc::new(ScanContext {
        heads,
        blocks,
        request,
        outer,
    });
    let (sender, receiver) = mpsc::channel(STEPS_AHEAD);
    tokio::spawn(async move {
        if let Err(error) = produce(context, &sender).await {
            let _ = sender.send(Err(error)).await;
        }
    });
    stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|step| (step, receiver))
    })
    .boxed()
}

type Sender = mpsc::Sender<Result<ScanBatch, StorageError>>;

async fn produce(context: Arc<ScanContext>, sender: &Sender) -> Result<(), StorageError> {
    let outer = context.outer;
    let mut blocks: Vec<Arc<dyn BlockReader>> = context
        .blocks
        .iter()
        .filter(|block| {
            let meta = block.meta();
            meta.min_start_unix_nanos != 0
                && outer.overlaps(meta.min_start_unix_nanos, meta.max_end_unix_nanos)
        })
        .cloned()
        .collect();
    blocks.sort_by(|left, right| {
        right
            .meta()
            .max_end_unix_nanos
            .cmp(&left.meta().max_end_unix_nanos)
    });
    // Every trace above this has no part in blocks[position..]: their spans start
    // before their block's latest end, and a trace's timestamp lies at most the skew
    // after its earliest span.
    let complete_above = |position: usize| {
        blocks.get(position).map_or(0, |block| {
            block
                .meta()
                .max_end_unix_nanos
                .saturating_add(PART_SKEW_NANOS)
        })
    };

    let head_context = context.clone();
    let (traces, decoded_spans) = tokio::task::spawn_blocking(move || scan_heads(&head_context))
        .await
        .map_err(|error| StorageError::corrupt("head scan", error.to_string()))??;
    let traces = judge_head_parts(&context, traces).await?;
    let first = ScanBatch {
        traces,
        complete_above_unix_nanos: complete_above(0),
        truncated: false,
        decoded_spans,
    };
    if sender.send(Ok(first)).await.is_err() {
        return Ok(());
    }

    for (position, block) in blocks.iter().enumerate() {
        if sender.is_closed() {
            return Ok(());
        }
        let plan = block.scan_plan(outer).await?;
        let mut remaining = plan.units();
        if remaining == 0 {
            let step = ScanBatch {
                complete_above_unix_nanos: complete_above(position + 1),
                ..ScanBatch::default()
            };
            if sender.send(Ok(step)).await.is_err() {
                return Ok(());
            }
            continue;
        }
        let mut groups = stream::iter(0..plan.units())
            .map(|unit| {
                let (context, block, plan) = (context.clone(), block.clone(), plan.clone());
                tokio::spawn(async move { scan_unit(&context, &block, &plan, unit).await })
            })
            .buffered(CONCURRENT_SCAN_UNITS);
        while let Some(scanned) = groups.next().await {
            remaining -= 1;
            let (traces, decoded_spans) = scanned
                .map_err(|error| StorageError::corrupt("block scan task", error.to_string()))??;
            let step = ScanBatch {
                traces,
                complete_above_unix_nanos: if remaining == 0 {
                    complete_above(position + 1)
                } else {
                    complete_above(position)
                },
                truncated: false,
                decoded_spans,
            };
            if sender.send(Ok(step)).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A head's trace part in the window that meets some criterion (every part for a
/// filter without criteria): its head, digest, criteria met and spans.
struct HeadPart {
    head: usize,
    digest: TraceDigest,
    met: u64,
    spans: Vec<Span>,
}

fn scan_heads(context: &ScanContext) -> Result<(Vec<HeadPart>, u64), StorageError> {
    let filter = &context.request.filter;
    let criteria = filter.criteria_count() > 0;
    let mut parts = Vec::new();
    let mut decoded = 0u64;
    for (index, head) in context.heads.iter().enumerate() {
        for trace_id in head.trace_ids_in_window(context.outer) {
            let Some(digest) = head.digest(trace_id) else {
                continue;
            };
            if let Some(service) = &filter.service_name
                && !digest.has_service(service)
            {
                continue;
            }
            let spans = head.trace(trace_id)?;
            decoded += spans.len() as u64;
            let met = if criteria {
                filter.spans_mask(&spans)
            } else {
                0
            };
            if criteria && met == 0 {
                continue;
            }
            parts.push(HeadPart {
                head: index,
                digest,
                met,
                spans,
            });
        }
    }
    Ok((parts, decoded))
}

async fn judge_head_parts(
    context: &ScanContext,
    parts: Vec<HeadPart>,
) -> Result<Vec<ScannedTrace>, StorageError> {
    let mut traces = Vec::with_capacity(parts.len());
    for part in parts {
        let elsewhere =
            context.heads.iter().enumerate().any(|(index, head)| {
                index != part.head && head.digest(part.digest.trace_id).is_some()
            }) || in_other_blocks(context, None, &part.digest).await?;
        if let Some(trace) = judge(context, part.digest, part.met, part.spans, !elsewhere) {
            traces.push(trace);
        }
    }
    Ok(traces)
}

async fn scan_unit(
    context: &ScanContext,
    block: &Arc<dyn BlockReader>,
    plan: &ScanPlan,
    unit: usize,
) -> Result<(Vec<ScannedTrace>, u64), StorageError> {
    let parts = block
        .scan_group(plan, unit, &context.request.filter)
        .await?;
    let decoded = parts.iter().map(|part| part.spans.len() as u64).sum();
    let own = block.meta().block_id;
    let mut traces = Vec::with_capacity(parts.len());
    for part in parts {
        let elsewhere = context
            .heads
            .iter()
            .any(|head| head.digest(part.digest.trace_id).is_some())
            || in_other_blocks(context, Some(own), &part.digest).await?;
        if let Some(trace) = judge(context, part.digest, part.met, part.spans, !elsewhere) {
            traces.push(trace);
        }
    }
    Ok((traces, decoded))
}

/// Whether a block other than `own` may hold spans of the trace: one whose time range
/// comes within the skew of the part's and whose bloom filter admits the id.
async fn in_other_blocks(
    context: &ScanContext,
    own: Option<weft_storage::BlockId>,
    digest: &TraceDigest,
) -> Result<bool, StorageError> {
    let start = digest.start_unix_nanos.saturating_sub(PART_SKEW_NANOS);
    let end = digest.end_unix_nanos.saturating_add(PART_SKEW_NANOS);
    for block in &context.blocks {
        let meta = block.meta();
        if Some(meta.block_id) == own
            || (meta.min_start_unix_nanos != 0
                && (meta.max_end_unix_nanos < start || meta.min_start_unix_nanos > end))
        {
            continue;
        }
        if block.may_contain_trace(digest.trace_id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What the consumer gets for one part: a whole trace in the window that meets every
/// criterion, or a candidate to load whole; nothing when a whole trace cannot match.
fn judge(
    context: &ScanContext,
    digest: TraceDigest,
    met: u64,
    spans: Vec<Span>,
    whole: bool,
) -> Option<ScannedTrace> {
    let filter = &context.request.filter;
    let summary = digest.to_summary();
    if !whole {
        return Some(ScannedTrace {
            summary,
            spans: Vec::new(),
            whole: false,
        });
    }
    let full = filter.full_mask();
    let timestamp = summary.timestamp_unix_nanos;
    if timestamp == 0 || !context.request.window.contains(timestamp) || met & full != full {
        return None;
    }
    Some(ScannedTrace {
        summary,
        spans,
        whole: true,
    })
}
