use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TenantId, TimeWindow, TraceId};

use super::*;
use crate::meta::WalSegmentRange;
use crate::span_table::{StoredSpanBytes, StoredValues};
use crate::store::{StoredBlock, StoredTrace};

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

/// Builds the stored form of `spans` the way the ingester's head does: records of a few
/// spans each, resources and scopes numbered by distinct encoding, traces sorted.
struct StoredCorpus {
    records: Vec<crate::span_table::LocatedSpans>,
    resources: Vec<Vec<u8>>,
    scopes: Vec<Vec<u8>>,
    digests: Vec<crate::digest::TraceDigest>,
    /// (record, span) per trace, sorted by start.
    placements: Vec<Vec<(usize, usize)>>,
    names: weft_model::NameIndex,
}

impl StoredCorpus {
    fn new(spans: &[Span], indexed_keys: &[String]) -> StoredCorpus {
        use std::collections::BTreeMap;
        let records: Vec<_> = spans
            .chunks(7)
            .map(|chunk| crate::span_table::encode_spans_located(chunk, b"hdr").expect("encodes"))
            .collect();
        let mut resources: Vec<Vec<u8>> = Vec::new();
        let mut scopes: Vec<Vec<u8>> = Vec::new();
        let mut by_trace: BTreeMap<TraceId, Vec<(u64, usize, usize)>> = BTreeMap::new();
        for (record_index, record) in records.iter().enumerate() {
            for (span_index, location) in record.spans.iter().enumerate() {
                for (table, encoded) in [
                    (&mut resources, record.resource_bytes(location.resource)),
                    (&mut scopes, record.scope_bytes(location.scope)),
                ] {
                    let encoded = encoded.expect("in range").to_vec();
                    if !table.contains(&encoded) {
                        table.push(encoded);
                    }
                }
                let bytes = location.span_bytes(&record.bytes).expect("in range");
                let trace_id = TraceId(bytes[..16].try_into().expect("16 bytes"));
                by_trace.entry(trace_id).or_default().push((
                    location.start_unix_nanos,
                    record_index,
                    span_index,
                ));
            }
        }
        let mut digests = Vec::new();
        let mut placements = Vec::new();
        let mut names = crate::names::NameCollector::new(indexed_keys);
        for (trace_id, mut members) in by_trace {
            members.sort();
            let mut digest = crate::digest::TraceDigest::new(trace_id);
            for span in spans.iter().filter(|span| span.trace_id == trace_id) {
                digest.add_span(span);
                names.add_span(span);
            }
            digests.push(digest);
            placements.push(members.iter().map(|&(_, r, s)| (r, s)).collect());
        }
        StoredCorpus {
            records,
            resources,
            scopes,
            digests,
            placements,
            names: names.into_name_index(),
        }
    }

    fn write(
        &self,
        store: &LocalBlockStore,
        edit: impl FnOnce(&mut Vec<StoredTrace<'_>>, &mut Vec<StoredSpanBytes<'_>>),
    ) -> Result<Option<BlockMeta>, StorageError> {
        let position = |table: &[Vec<u8>], encoded: Option<&[u8]>| {
            table
                .iter()
                .position(|known| Some(known.as_slice()) == encoded)
                .expect("known") as u32
        };
        let mut spans = Vec::new();
        let mut traces = Vec::new();
        for (digest, members) in self.digests.iter().zip(&self.placements) {
            let first = spans.len();
            for &(record_index, span_index) in members {
                let record = &self.records[record_index];
                let location = record.spans[span_index];
                spans.push(StoredSpanBytes {
                    bytes: location.span_bytes(&record.bytes).expect("in range"),
                    indexes_at: location.indexes_at as usize,
                    resource_id: position(
                        &self.resources,
                        record.resource_bytes(location.resource),
                    ),
                    scope_id: position(&self.scopes, record.scope_bytes(location.scope)),
                });
            }
            traces.push(StoredTrace {
                digest,
                spans: first..spans.len(),
            });
        }
        edit(&mut traces, &mut spans);
        let resources: Vec<&[u8]> = self.resources.iter().map(Vec::as_slice).collect();
        let scopes: Vec<&[u8]> = self.scopes.iter().map(Vec::as_slice).collect();
        let block = StoredBlock {
            traces: &traces,
            spans: &spans,
            values: StoredValues {
                resources: &resources,
                scopes: &scopes,
            },
            names: &self.names,
        };
        let options = BlockWriteOptions {
            indexed_attribute_keys: vec![String::from("http.request.method")],
            wal_segments: Some(WalSegmentRange { first: 3, last: 4 }),
            target_chunk_bytes: 2048,
            ..BlockWriteOptions::default()
        };
        store.write_stored_block(&TenantId::single(), &block, &options)
    }
}

#[test]
fn stored_blocks_read_back_like_blocks_written_from_spans() {
    let directory = TempDir::new("stored");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let spans = corpus(60, 4);
    let keys = vec![String::from("http.request.method")];
    let corpus = StoredCorpus::new(&spans, &keys);
    let stored = corpus
        .write(&store, |_, _| {})
        .expect("writes")
        .expect("not empty");
    let plain = write(&store, &spans, 2048);
    assert_eq!(stored.span_count, plain.span_count);
    assert_eq!(stored.trace_count, plain.trace_count);
    assert_eq!(stored.names, plain.names);
    assert_eq!(stored.min_start_unix_nanos, plain.min_start_unix_nanos);
    assert_eq!(stored.max_end_unix_nanos, plain.max_end_unix_nanos);
    assert!(stored.chunk_count > 1, "small chunks make several");
    let tenant = TenantId::single();
    let stored_reader = store.open_block(&tenant, stored.block_id).expect("opens");
    let plain_reader = store.open_block(&tenant, plain.block_id).expect("opens");
    let mut all: Vec<TraceId> = spans.iter().map(|span| span.trace_id).collect();
    all.sort();
    all.dedup();
    for &trace_id in &all {
        assert_eq!(
            stored_reader.trace(trace_id).expect("reads"),
            plain_reader.trace(trace_id).expect("reads")
        );
    }
    assert_eq!(stored_reader.digests(&all), plain_reader.digests(&all));
}

#[test]
fn stored_blocks_refuse_input_that_would_make_a_wrong_block() {
    let directory = TempDir::new("stored-invalid");
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let spans = corpus(5, 2);
    let corpus = StoredCorpus::new(&spans, &[]);
    let unsorted = corpus.write(&store, |traces, _| traces.swap(0, 1));
    assert!(
        matches!(unsorted, Err(StorageError::Encode { .. })),
        "{unsorted:?}"
    );
    let stranger = corpus.write(&store, |traces, _| traces[0].spans = 2..4);
    assert!(
        matches!(stranger, Err(StorageError::Encode { .. })),
        "{stranger:?}"
    );
    let outside = corpus.write(&store, |traces, _| traces[4].spans = 8..11);
    assert!(
        matches!(outside, Err(StorageError::Encode { .. })),
        "{outside:?}"
    );
    let bad_resource = corpus.write(&store, |_, spans| spans[3].resource_id = 99);
    assert!(
        matches!(bad_resource, Err(StorageError::Encode { .. })),
        "{bad_resource:?}"
    );
    assert!(
        store
            .list_blocks(&TenantId::single())
            .expect("list")
            .is_empty(),
        "failed writes leave no block"
    );
    let empty = corpus.write(&store, |traces, spans| {
        traces.clear();
        spans.clear();
    });
    assert!(matches!(empty, Ok(None)));
}
