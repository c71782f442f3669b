//! Blocks, spans and readers for the tests.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use weft_compactor::{CompactorConfig, visible_blocks};
use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TenantId, TraceId};
use weft_storage::store::block_order;
use weft_storage::{
    BlockId, BlockMeta, BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore, RowGroupRows,
};

pub const HOUR: u64 = 3_600_000_000_000;
pub const DAY: u64 = 24 * HOUR;

pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// The start of the day that began 3 days ago: windows there are settled and within
/// the default 7 day retention.
pub fn settled_day() -> u64 {
    (now_unix_nanos() - 3 * DAY) / DAY * DAY
}

/// A local store with small row groups, so that merges read many batches per input.
pub fn store(dir: &Path) -> Arc<dyn BlockStore> {
    let store = ObjectBlockStore::local(dir, CacheConfig::default())
        .expect("local store opens")
        .with_row_group_rows(RowGroupRows {
            target_rows: 700,
            max_rows: 1_000,
        });
    Arc::new(store)
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

/// A config that merges whatever a settled window holds.
pub fn config() -> CompactorConfig {
    CompactorConfig::default()
}

/// A span with some content, deterministic from its numbers.
pub fn span(trace: u64, span_number: u64, start_unix_nanos: u64) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(trace.wrapping_mul(0x9e37_79b9), trace),
        SpanId::from_u64(span_number + 1),
        format!("op-{}", span_number % 11),
    );
    span.start_unix_nanos = start_unix_nanos;
    span.duration_nanos = 1_000 + span_number % 97;
    span.kind = if span_number.is_multiple_of(3) {
        SpanKind::Server
    } else {
        SpanKind::Client
    };
    span.parent_span_id =
        (!span_number.is_multiple_of(5)).then(|| SpanId::from_u64(span_number / 5 + 1));
    span.resource = Arc::new(Resource::for_service(format!("svc-{}", trace % 4)));
    span.attributes.push(KeyValue::new(
        "http.route",
        format!("/r/{}", span_number % 13),
    ));
    span
}

/// Deterministic xorshift.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes a level-`level` block of `spans` ingested at `ingested_unix_nanos`.
pub async fn write(
    store: &Arc<dyn BlockStore>,
    tenant: &TenantId,
    spans: &[Span],
    level: u32,
    ingested_unix_nanos: u64,
) -> BlockMeta {
    let options = BlockWriteOptions {
        compaction_level: level,
        ingested_unix_nanos: Some((ingested_unix_nanos, ingested_unix_nanos)),
        ..BlockWriteOptions::default()
    };
    store
        .write_block(tenant, spans, &options)
        .await
        .expect("block written")
        .expect("block not empty")
}

/// Metas of all complete blocks of `tenant`, oldest id first. A block deleted between
/// the listing and its read (a running compactor's cleanup) is left out.
pub async fn metas(store: &Arc<dyn BlockStore>, tenant: &TenantId) -> Vec<BlockMeta> {
    let listing = store.list_blocks(tenant).await.expect("lists");
    let mut metas = Vec::new();
    for block_id in listing.complete {
        match store.read_meta(tenant, block_id).await {
            Ok(meta) => metas.push(meta),
            Err(error) if error.is_not_found() => {}
            Err(error) => panic!("meta of {block_id}: {error}"),
        }
    }
    metas
}

/// Every span of one block, in the order the block gives them.
pub async fn block_spans(
    store: &Arc<dyn BlockStore>,
    tenant: &TenantId,
    block_id: BlockId,
) -> Vec<Span> {
    let reader = store.open_block(tenant, block_id).await.expect("opens");
    let batches: Vec<Vec<Span>> = reader.spans().try_collect().await.expect("reads");
    batches.into_iter().flatten().collect()
}

/// What a reader sees: the spans of the visible blocks, sorted into block order.
pub async fn visible_spans(store: &Arc<dyn BlockStore>, tenant: &TenantId) -> Vec<Span> {
    let metas = metas(store, tenant).await;
    let mut spans = Vec::new();
    for block_id in visible_blocks(&metas) {
        spans.extend(block_spans(store, tenant, block_id).await);
    }
    spans.sort_by(block_order);
    spans
}

/// `spans` sorted into block order.
pub fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(block_order);
    spans
}

pub const NO_GRACE: Duration = Duration::ZERO;
