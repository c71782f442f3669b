use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TenantId, TimeWindow, TraceId};

use super::*;
use crate::meta::WalSegmentRange;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "weft-storage-{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            now_unix_nanos()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BASE: u64 = 1_700_000_000_000_000_000;

/// `traces` traces of `spans_per_trace` spans; span 0 of each is the root.
fn corpus(traces: u64, spans_per_trace: u64) -> Vec<Span> {
    let frontend = Arc::new(Resource::for_service("frontend"));
    let backend = Arc::new(Resource::for_service("backend"));
    let mut spans = Vec::new();
    for trace in 0..traces {
        let trace_id = TraceId::from_halves(trace.wrapping_mul(0x9e37_79b9_7f4a_7c15), trace + 1);
        for index in 0..spans_per_trace {
            let mut span = Span::new(
                trace_id,
                SpanId::from_u64(index + 1),
                format!("op-{}", index % 3),
            );
            span.parent_span_id = (index > 0).then(|| SpanId::from_u64(1));
            span.start_unix_nanos = BASE + trace * 1_000 + index;
            span.duration_nanos = 500;
            span.kind = SpanKind::Client;
            span.attributes = vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("peer.service", "db"),
            ];
            span.resource = if index == 0 {
                frontend.clone()
            } else {
                backend.clone()
            };
            spans.push(span);
        }
    }
    // Reverse so the writer has to sort.
    spans.reverse();
    spans
}

fn write(store: &LocalBlockStore, spans: &[Span], target_chunk_bytes: usize) -> BlockMeta {
    let refs: Vec<&Span> = spans.iter().collect();
    let options = BlockWriteOptions {
        indexed_attribute_keys: vec![String::from("http.request.method")],
        wal_segments: Some(WalSegmentRange { first: 3, last: 4 }),
        target_chunk_bytes,
        ..BlockWriteOptions::default()
    };
    store
        .write_block(&TenantId::single(), &refs, &options)
        .expect("block written")
        .expect("block not empty")
}

#[test]
fn a_written_block_returns_every_trace_with_its_spans_sorted() {
    let directory = TempDir::new("roundtrip");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let spans = corpus(200, 7);
    let meta = write(&store, &spans, 16 * 1024);
    assert!(meta.chunk_count > 1, "small target makes several chunks");
    assert_eq!(meta.span_count, 1400);
    assert_eq!(meta.trace_count, 200);
    assert_eq!(meta.min_start_unix_nanos, BASE);
    assert_eq!(meta.max_end_unix_nanos, BASE + 199 * 1_000 + 6 + 500);
    assert_eq!(
        meta.wal_segments,
        Some(WalSegmentRange { first: 3, last: 4 })
    );
    assert!(meta.names.services.contains("frontend"));
    assert!(meta.names.remote_services["backend"].contains("db"));
    assert!(meta.names.attribute_values["http.request.method"].contains("GET"));

    let tenant = TenantId::single();
    assert_eq!(
        store.list_blocks(&tenant).expect("list"),
        vec![meta.block_id]
    );
    let reader = store.open_block(&tenant, meta.block_id).expect("opens");
    assert_eq!(reader.meta(), &meta);
    for trace in [0u64, 57, 199] {
        let trace_id = TraceId::from_halves(trace.wrapping_mul(0x9e37_79b9_7f4a_7c15), trace + 1);
        assert!(reader.contains_trace(trace_id));
        let found = reader.trace(trace_id).expect("reads");
        let mut expected: Vec<Span> = spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        expected.sort_by_key(|s| s.start_unix_nanos);
        assert_eq!(found, expected);
        assert!(
            Arc::ptr_eq(&found[1].resource, &found[2].resource),
            "resources shared again"
        );
    }
    let unknown = TraceId::from_halves(1, 1);
    assert!(!reader.contains_trace(unknown));
    assert!(reader.trace(unknown).expect("reads").is_empty());
}

#[test]
fn window_and_digest_lookups_use_the_index() {
    let directory = TempDir::new("digests");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let meta = write(&store, &corpus(100, 3), 1 << 20);
    let reader = store
        .open_block(&TenantId::single(), meta.block_id)
        .expect("opens");
    let window = TimeWindow {
        start_unix_nanos: BASE + 10 * 1_000,
        end_unix_nanos: BASE + 19 * 1_000,
    };
    let mut ids = reader.trace_ids_in_window(window);
    assert_eq!(
        ids.len(),
        10,
        "roots at BASE + trace * 1000, both ends inclusive"
    );
    ids.sort();
    let digests = reader.digests(&ids);
    assert_eq!(digests.len(), 10);
    for digest in &digests {
        assert_eq!(digest.span_count, 3);
        assert_eq!(digest.services, ["backend", "frontend"]);
        let root = digest.root.as_ref().expect("root");
        assert_eq!(root.service_name, "frontend");
        assert_eq!(root.span_name, "op-0");
    }
    // The merge-join path (many ids) finds the same as the binary-search path.
    let mut all: Vec<TraceId> = reader.trace_ids_in_window(TimeWindow {
        start_unix_nanos: 0,
        end_unix_nanos: u64::MAX,
    });
    all.sort();
    assert_eq!(reader.digests(&all).len(), 100);
}

#[test]
fn deleted_blocks_disappear_but_open_readers_keep_working() {
    let directory = TempDir::new("delete");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let spans = corpus(10, 2);
    let meta = write(&store, &spans, 1 << 20);
    let tenant = TenantId::single();
    let reader = store.open_block(&tenant, meta.block_id).expect("opens");
    store.delete_block(&tenant, meta.block_id).expect("deletes");
    assert!(store.list_blocks(&tenant).expect("list").is_empty());
    assert_eq!(
        reader.trace(spans[0].trace_id).expect("still reads").len(),
        2
    );
    store
        .delete_block(&tenant, meta.block_id)
        .expect("deleting twice is fine");
    assert!(matches!(
        store.open_block(&tenant, meta.block_id),
        Err(StorageError::NotFound { .. })
    ));
}

#[test]
fn unfinished_blocks_are_invisible_and_removed_on_open() {
    let directory = TempDir::new("temporary");
    let root = directory.0.join("blocks");
    let store = LocalBlockStore::open(&root).expect("store");
    write(&store, &corpus(3, 1), 1 << 20);
    let leftover = root.join("single-tenant").join(".tmp-0123");
    std::fs::create_dir_all(&leftover).expect("leftover");
    assert_eq!(
        store.list_blocks(&TenantId::single()).expect("list").len(),
        1
    );
    LocalBlockStore::open(&root).expect("reopens");
    assert!(!leftover.exists());
}

#[test]
fn corrupt_blocks_give_typed_errors() {
    let directory = TempDir::new("corrupt");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let spans = corpus(50, 4);
    let meta = write(&store, &spans, 1 << 20);
    let tenant = TenantId::single();
    let block_directory = directory
        .0
        .join("blocks/single-tenant")
        .join(meta.block_id.to_string());

    // A flipped byte in the data is caught by the chunk checksum when the trace is read.
    let data_path = block_directory.join("data");
    let mut data = std::fs::read(&data_path).expect("data");
    let middle = data.len() / 2;
    data[middle] ^= 0x55;
    std::fs::write(&data_path, &data).expect("write");
    let reader = store
        .open_block(&tenant, meta.block_id)
        .expect("index is intact");
    assert!(matches!(
        reader.trace(spans[0].trace_id),
        Err(StorageError::Corrupt { .. })
    ));

    // A truncated data file or a damaged index fails at open.
    std::fs::write(&data_path, &data[..middle]).expect("write");
    assert!(matches!(
        store.open_block(&tenant, meta.block_id),
        Err(StorageError::Corrupt { .. })
    ));
    std::fs::write(&data_path, &data).expect("write");
    let index_path = block_directory.join("index");
    let index = std::fs::read(&index_path).expect("index");
    for position in [0, 9, 25, index.len() - 1] {
        let mut damaged = index.clone();
        damaged[position] ^= 0x01;
        std::fs::write(&index_path, &damaged).expect("write");
        assert!(
            matches!(
                store.open_block(&tenant, meta.block_id),
                Err(StorageError::Corrupt { .. })
            ),
            "damage at {position}"
        );
    }
    std::fs::write(&index_path, &index[..10]).expect("write");
    assert!(matches!(
        store.open_block(&tenant, meta.block_id),
        Err(StorageError::Corrupt { .. })
    ));
    std::fs::write(block_directory.join("meta.json"), b"{").expect("write");
    assert!(matches!(
        store.open_block(&tenant, meta.block_id),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn blocks_are_listed_per_tenant_and_empty_input_writes_nothing() {
    let directory = TempDir::new("tenants");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let team = TenantId::parse("team-a").expect("tenant");
    let spans = corpus(2, 2);
    let refs: Vec<&Span> = spans.iter().collect();
    assert!(
        store
            .write_block(&team, &[], &BlockWriteOptions::default())
            .expect("ok")
            .is_none()
    );
    store
        .write_block(&team, &refs, &BlockWriteOptions::default())
        .expect("ok");
    store
        .write_block(&team, &refs, &BlockWriteOptions::default())
        .expect("ok");
    assert_eq!(store.tenants().expect("tenants"), vec![team.clone()]);
    let blocks = store.list_blocks(&team).expect("list");
    assert_eq!(blocks.len(), 2);
    assert!(blocks[0] <= blocks[1]);
    assert!(
        store
            .list_blocks(&TenantId::single())
            .expect("list")
            .is_empty()
    );
}
