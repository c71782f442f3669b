//! A block's precomputed dependency links (`dependencies.json`): written with the block,
//! equal to linking its traces one by one, and absent from blocks written before it.

mod support;

use std::sync::Arc;

use object_store::{ObjectStoreExt, PutPayload};
use weft_model::{
    DependencyLinker, KeyValue, Resource, Span, SpanId, SpanKind, TenantId, TimeWindow, TraceId,
};
use weft_storage::{
    BlockMeta, BlockStore, BlockWriteOptions, DEPENDENCY_BUCKET_NANOS, RowGroupRows, StorageError,
};

const T0: u64 = 28_333_333 * DEPENDENCY_BUCKET_NANOS;

fn span(trace: u64, id: u64, parent: Option<u64>, kind: SpanKind, service: &str) -> Span {
    let mut span = Span::new(TraceId::from_halves(1, trace), SpanId::from_u64(id), "op");
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.kind = kind;
    span.resource = Arc::new(Resource::for_service(service));
    span.duration_nanos = 1_000;
    span
}

/// frontend (root server) -> backend (client + server) -> db (client, uninstrumented).
fn three_tier(trace: u64, start: u64, failing: bool) -> Vec<Span> {
    let mut root = span(trace, 1, None, SpanKind::Server, "frontend");
    let mut client = span(trace, 2, Some(1), SpanKind::Client, "frontend");
    client
        .attributes
        .push(KeyValue::new("peer.service", "backend"));
    let mut server = span(trace, 3, Some(2), SpanKind::Server, "backend");
    let mut db = span(trace, 4, Some(3), SpanKind::Client, "backend");
    db.attributes.push(KeyValue::new("peer.service", "db"));
    if failing {
        db.attributes.push(KeyValue::new("error", "timeout"));
    }
    for (offset, span) in [&mut root, &mut client, &mut server, &mut db]
        .into_iter()
        .enumerate()
    {
        span.start_unix_nanos = start + offset as u64;
    }
    vec![root, client, server, db]
}

fn tenant() -> TenantId {
    TenantId::parse("deps").expect("valid tenant")
}

fn everything() -> TimeWindow {
    TimeWindow {
        start_unix_nanos: 0,
        end_unix_nanos: u64::MAX,
    }
}

#[tokio::test]
async fn a_written_block_has_its_links_per_minute_and_old_blocks_have_none() {
    let backend = support::local(RowGroupRows::default());
    let traces = [
        three_tier(1, T0 + 5, false),
        three_tier(2, T0 + 7, true),
        three_tier(3, T0 + 3 * DEPENDENCY_BUCKET_NANOS, false),
    ];
    let spans: Vec<Span> = traces.iter().flatten().cloned().collect();
    let meta = backend
        .store
        .write_block(&tenant(), &spans, &BlockWriteOptions::default())
        .await
        .expect("writes")
        .expect("a block");
    assert!(meta.dependencies_bytes.is_some_and(|bytes| bytes > 0));
    let block = backend
        .store
        .open_block(&tenant(), meta.block_id)
        .await
        .expect("opens");
    let buckets = block
        .dependencies()
        .await
        .expect("reads")
        .expect("the block has links");

    let mut expected = DependencyLinker::new();
    for trace in &traces {
        expected.put_trace(trace);
    }
    let mut all = DependencyLinker::new();
    buckets.sum_whole_buckets(everything(), &mut all);
    assert_eq!(all.links(), expected.links());
    assert_eq!(
        all.links().len(),
        2,
        "frontend -> backend and backend -> db"
    );

    let mut first_minute = DependencyLinker::new();
    buckets.sum_whole_buckets(
        TimeWindow {
            start_unix_nanos: T0,
            end_unix_nanos: T0 + DEPENDENCY_BUCKET_NANOS - 1,
        },
        &mut first_minute,
    );
    let counts: Vec<(String, String, u64, u64)> = first_minute
        .links()
        .into_iter()
        .map(|link| (link.parent, link.child, link.call_count, link.error_count))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("backend".into(), "db".into(), 2, 1),
            ("frontend".into(), "backend".into(), 2, 0),
        ]
    );

    // The same block as a build without the file wrote it: no links, no error.
    let block_name = meta.block_id.to_string();
    let mut old: BlockMeta = meta.clone();
    old.dependencies_bytes = None;
    let old_json = old.to_json().expect("encodes");
    assert!(!String::from_utf8_lossy(&old_json).contains("dependencies_bytes"));
    let meta_path = backend.object("deps", &block_name, "meta.json");
    backend
        .raw
        .put(&meta_path, PutPayload::from(old_json))
        .await
        .expect("rewrites meta.json");
    let old_block = backend
        .store
        .open_block(&tenant(), meta.block_id)
        .await
        .expect("opens");
    assert!(old_block.dependencies().await.expect("reads").is_none());

    // A file whose size disagrees with meta.json is corrupt, never trusted.
    let mut wrong = meta.clone();
    wrong.dependencies_bytes = meta.dependencies_bytes.map(|bytes| bytes + 1);
    backend
        .raw
        .put(
            &meta_path,
            PutPayload::from(wrong.to_json().expect("encodes")),
        )
        .await
        .expect("rewrites meta.json");
    let wrong_block = backend
        .store
        .open_block(&tenant(), meta.block_id)
        .await
        .expect("opens");
    assert!(matches!(
        wrong_block.dependencies().await,
        Err(StorageError::Corrupt { .. })
    ));
}
