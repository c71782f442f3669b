use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use futures::stream;
use weft_model::{KeyValue, Resource, SpanId, SpanKind, TraceId};
use weft_storage::BlockMeta;

use super::*;

/// A writer that keeps what it is given and checks block order, like the real one.
#[derive(Default)]
struct CollectingWriter {
    spans: Vec<Span>,
    /// Spans the inputs had given when each push happened (shared with the inputs).
    pulled: Arc<AtomicU64>,
    /// Most spans the merge held at a push: pulled minus written before it.
    max_held: u64,
}

#[async_trait]
impl BlockWriter for CollectingWriter {
    async fn push(&mut self, spans: &[Span]) -> Result<(), StorageError> {
        let held = self.pulled.load(AtomicOrdering::SeqCst) - self.spans.len() as u64;
        self.max_held = self.max_held.max(held);
        for span in spans {
            if let Some(last) = self.spans.last() {
                assert_ne!(block_order(last, span), Ordering::Greater, "out of order");
            }
            self.spans.push(span.clone());
        }
        Ok(())
    }

    fn span_count(&self) -> u64 {
        self.spans.len() as u64
    }

    fn written_bytes(&self) -> u64 {
        0
    }

    async fn finish(self: Box<Self>) -> Result<Option<BlockMeta>, StorageError> {
        Ok(None)
    }

    async fn abort(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

fn span(trace: u64, span_number: u64, start_unix_nanos: u64) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(trace, trace),
        SpanId::from_u64(span_number),
        format!("op-{}", span_number % 7),
    );
    span.start_unix_nanos = start_unix_nanos;
    span.duration_nanos = 1_000 + span_number % 13;
    span.resource = Arc::new(Resource::for_service(format!("svc-{}", trace % 3)));
    span
}

/// Deterministic xorshift, enough to scatter spans over inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

type Input = (BlockId, BoxStream<'static, Result<Vec<Span>, StorageError>>);

/// One input per element of `blocks`, sorted into block order, in batches of `batch`.
fn inputs(blocks: Vec<Vec<Span>>, batch: usize, pulled: &Arc<AtomicU64>) -> Vec<Input> {
    blocks
        .into_iter()
        .enumerate()
        .map(|(index, mut spans)| {
            spans.sort_by(block_order);
            let batches: Vec<Vec<Span>> = spans.chunks(batch).map(<[Span]>::to_vec).collect();
            let pulled = Arc::clone(pulled);
            let stream = stream::iter(batches.into_iter().map(Ok))
                .inspect(move |batch: &Result<Vec<Span>, StorageError>| {
                    if let Ok(batch) = batch {
                        pulled.fetch_add(batch.len() as u64, AtomicOrdering::SeqCst);
                    }
                })
                .boxed();
            (BlockId::from_parts(index as u64, 0), stream)
        })
        .collect()
}

async fn merge(
    blocks: Vec<Vec<Span>>,
    batch: usize,
) -> (Result<MergeStats, CompactorError>, CollectingWriter) {
    let mut writer = CollectingWriter::default();
    let streams = inputs(blocks, batch, &writer.pulled);
    let stop = AtomicBool::new(false);
    let result = merge_into(&TenantId::single(), streams, &mut writer, &stop).await;
    (result, writer)
}

#[tokio::test]
async fn merge_keeps_every_span_once_in_block_order() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut blocks = vec![Vec::new(); 5];
    let mut all = Vec::new();
    for number in 0..20_000u64 {
        let trace = rng.next() % 300;
        let span = span(trace, number, 1_000 + rng.next() % 50);
        blocks[(rng.next() % 5) as usize].push(span.clone());
        all.push(span);
    }
    all.sort_by(block_order);
    let (result, writer) = merge(blocks, 777).await;
    let stats = result.expect("merges");
    assert_eq!(stats.spans_read, 20_000);
    assert_eq!(stats.spans_written, 20_000);
    assert_eq!(stats.spans_deduplicated, 0);
    assert_eq!(writer.spans, all);
}

#[tokio::test]
async fn exact_duplicates_are_dropped_and_near_duplicates_kept() {
    let original = span(1, 10, 5_000);
    let mut near = original.clone();
    near.attributes.push(KeyValue::new("retry", true));
    let mut server_half = original.clone();
    server_half.kind = SpanKind::Server;
    let mut other_resource = original.clone();
    other_resource.resource = Arc::new(Resource::for_service("elsewhere"));
    let neighbour = span(1, 11, 5_000);
    let blocks = vec![
        vec![original.clone(), neighbour.clone()],
        vec![near.clone(), original.clone(), server_half.clone()],
        vec![
            original.clone(),
            near.clone(),
            other_resource.clone(),
            neighbour.clone(),
        ],
    ];
    let (result, writer) = merge(blocks, 2).await;
    let stats = result.expect("merges");
    assert_eq!(stats.spans_read, 9);
    assert_eq!(
        stats.spans_deduplicated, 4,
        "two copies of original, one of near, one of neighbour"
    );
    assert_eq!(stats.spans_written, 5);
    for expected in [&original, &near, &other_resource, &server_half, &neighbour] {
        assert_eq!(
            writer.spans.iter().filter(|span| *span == expected).count(),
            1,
            "{expected:?} kept exactly once"
        );
    }
}

#[tokio::test]
async fn duplicates_are_found_in_long_runs_across_output_batches() {
    // Many distinct spans share one key, spread over the output batch boundary; each
    // appears in two inputs and must be kept once.
    let distinct: Vec<Span> = (0..40u64)
        .map(|index| {
            let mut span = span(2, 1, 7_000);
            span.attributes.push(KeyValue::new("index", index as i64));
            span
        })
        .collect();
    let filler: Vec<Span> = (0..OUTPUT_BATCH_SPANS as u64 - 10)
        .map(|number| span(1, number, 1))
        .collect();
    let mut first = filler.clone();
    first.extend(distinct.iter().cloned());
    let second = distinct.clone();
    let (result, writer) = merge(vec![first, second], 1000).await;
    let stats = result.expect("merges");
    assert_eq!(stats.spans_deduplicated, 40);
    assert_eq!(writer.spans.len(), filler.len() + 40);
}

#[tokio::test]
async fn a_large_trace_merges_holding_about_one_batch_per_input() {
    const INPUTS: usize = 8;
    const BATCH: usize = 1_000;
    let mut blocks = vec![Vec::new(); INPUTS];
    for number in 0..160_000u64 {
        blocks[(number % INPUTS as u64) as usize].push(span(42, number, 1_000 + number / 3));
    }
    let (result, writer) = merge(blocks, BATCH).await;
    let stats = result.expect("merges");
    assert_eq!(stats.spans_written, 160_000);
    let bound = (INPUTS * BATCH + OUTPUT_BATCH_SPANS + MAX_DUPLICATE_RUN + INPUTS) as u64;
    assert!(
        writer.max_held <= bound,
        "merge held {} spans, bound {bound}",
        writer.max_held
    );
    assert!(writer.max_held > 0);
}

#[tokio::test]
async fn out_of_order_input_is_an_error_naming_the_block() {
    let mut writer = CollectingWriter::default();
    let batches = vec![Ok(vec![span(2, 1, 1), span(1, 1, 1)])];
    let unsorted: Vec<Input> = vec![(BlockId::from_parts(9, 9), stream::iter(batches).boxed())];
    let stop = AtomicBool::new(false);
    let error = merge_into(&TenantId::single(), unsorted, &mut writer, &stop)
        .await
        .expect_err("unsorted input");
    assert!(
        matches!(error, CompactorError::InputOutOfOrder { block_id, .. } if block_id == BlockId::from_parts(9, 9)),
        "{error}"
    );
}

#[tokio::test]
async fn a_read_error_or_a_stop_ends_the_merge() {
    let mut writer = CollectingWriter::default();
    let batches = vec![
        Ok(vec![span(1, 1, 1)]),
        Err(StorageError::corrupt("block x", "bad page")),
    ];
    let failing: Vec<Input> = vec![(BlockId::from_parts(1, 1), stream::iter(batches).boxed())];
    let stop = AtomicBool::new(false);
    let error = merge_into(&TenantId::single(), failing, &mut writer, &stop)
        .await
        .expect_err("read error");
    assert!(matches!(error, CompactorError::Storage(_)), "{error}");

    let blocks = vec![(0..10_000).map(|number| span(1, number, 1)).collect()];
    let stopped = inputs(blocks, 100, &writer.pulled);
    let stop = AtomicBool::new(true);
    let error = merge_into(&TenantId::single(), stopped, &mut writer, &stop)
        .await
        .expect_err("stopped");
    assert!(matches!(error, CompactorError::Stopped), "{error}");
}
