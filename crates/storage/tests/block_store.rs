//! The shared block-store suite: every case runs against the local backend and, when
//! `WEFT_TEST_S3_ENDPOINT` is set, against a real S3-compatible server (see
//! `support/mod.rs`).

mod support;

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use weft_model::{KeyValue, Span, SpanFilter, SpanId, SpanKind, TenantId, TimeWindow, TraceId};
use weft_storage::{
    BlockId, BlockReader, BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore,
    RowGroupRows, StorageError, TraceDigest, WalSegmentRange, block_order,
};

use support::Backend;
use support::random_spans::random_spans;

/// Small row groups so that every case crosses group boundaries and splits traces.
const SMALL_GROUPS: RowGroupRows = RowGroupRows {
    target_rows: 60,
    max_rows: 150,
};

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

fn sorted(spans: &[Span]) -> Vec<Span> {
    let mut sorted = spans.to_vec();
    sorted.sort_by(block_order);
    sorted
}

fn by_trace(spans: &[Span]) -> BTreeMap<TraceId, Vec<Span>> {
    let mut traces: BTreeMap<TraceId, Vec<Span>> = BTreeMap::new();
    for span in sorted(spans) {
        traces.entry(span.trace_id).or_default().push(span);
    }
    traces
}

fn digest_of(spans: &[Span]) -> TraceDigest {
    let mut digest = TraceDigest::new(spans[0].trace_id);
    spans.iter().for_each(|span| digest.add_span(span));
    digest
}

async fn write(backend: &Backend, tenant: &TenantId, spans: &[Span]) -> BlockId {
    backend
        .store
        .write_block(tenant, spans, &BlockWriteOptions::default())
        .await
        .expect("block written")
        .expect("not empty")
        .block_id
}

async fn all_spans(reader: &dyn BlockReader) -> Vec<Span> {
    let chunks: Vec<Vec<Span>> = reader.spans().try_collect().await.expect("spans stream");
    chunks.into_iter().flatten().collect()
}

async fn round_trip_is_exact_for_every_field(backend: &Backend) {
    let tenant = tenant("round-trip");
    let spans = random_spans(7, 300, 40);
    let expected = sorted(&spans);
    let options = BlockWriteOptions {
        indexed_attribute_keys: vec![String::from("http.route")],
        wal_segments: Some(WalSegmentRange { first: 3, last: 4 }),
        // Unsorted, overlapping and adjacent: the writer stores the normalised union.
        input_wal_segments: vec![
            WalSegmentRange { first: 9, last: 9 },
            WalSegmentRange { first: 1, last: 2 },
            WalSegmentRange { first: 7, last: 8 },
        ],
        compaction_level: 2,
        compacted_from: vec![BlockId::from_parts(1, 2)],
        ingested_unix_nanos: Some((10, 20)),
        catalog_limits: weft_model::CatalogLimits::default(),
    };
    let meta = backend
        .store
        .write_block(&tenant, &spans, &options)
        .await
        .expect("written")
        .expect("not empty");
    assert_eq!(meta.span_count, spans.len() as u64);
    assert_eq!(meta.trace_count, by_trace(&spans).len() as u64);
    assert!(
        meta.row_group_count > 10,
        "{} row groups",
        meta.row_group_count
    );
    assert_eq!(
        (meta.ingested_min_unix_nanos, meta.ingested_max_unix_nanos),
        (10, 20)
    );
    assert_eq!(meta.compacted_from, options.compacted_from);
    assert_eq!(meta.compaction_level, 2);
    assert_eq!(meta.wal_segments, options.wal_segments);
    assert_eq!(
        meta.input_wal_segments,
        vec![
            WalSegmentRange { first: 1, last: 2 },
            WalSegmentRange { first: 7, last: 9 },
        ]
    );
    let mut names = weft_model::NameIndex::default();
    spans
        .iter()
        .for_each(|span| names.add_span(span, &options.indexed_attribute_keys));
    assert_eq!(
        meta.names, names,
        "the catalog too equals the per-span reference"
    );
    assert!(!meta.names.attributes.is_empty());
    assert_eq!(
        backend
            .store
            .read_meta(&tenant, meta.block_id)
            .await
            .expect("meta"),
        meta
    );

    let reader = backend
        .store
        .open_block(&tenant, meta.block_id)
        .await
        .expect("opens");
    let read = all_spans(reader.as_ref()).await;
    assert_eq!(read.len(), expected.len());
    for (index, (read, expected)) in read.iter().zip(&expected).enumerate() {
        assert_eq!(read, expected, "span {index} differs on {}", backend.name);
    }
    for (trace_id, trace) in by_trace(&spans) {
        assert!(reader.may_contain_trace(trace_id).await.expect("bloom"));
        assert_eq!(reader.trace(trace_id).await.expect("lookup"), trace);
    }
}
on_every_backend!(SMALL_GROUPS, round_trip_is_exact_for_every_field);

async fn streaming_writer_checks_order_and_commits_atomically(backend: &Backend) {
    let tenant = tenant("atomic");
    let spans = sorted(&random_spans(11, 40, 10));
    let mut writer = backend
        .store
        .writer(&tenant, &BlockWriteOptions::default())
        .await
        .expect("writer");
    writer.push(&spans[..100]).await.expect("first push");
    writer.push(&spans[100..]).await.expect("second push");
    assert_eq!(writer.span_count(), spans.len() as u64);
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert!(listing.complete.is_empty(), "no meta.json yet: not visible");
    let meta = writer.finish().await.expect("finish").expect("not empty");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![meta.block_id]);
    assert!(listing.incomplete.is_empty());

    // Out of order: an error, and abort leaves nothing behind.
    let mut writer = backend
        .store
        .writer(&tenant, &BlockWriteOptions::default())
        .await
        .expect("writer");
    writer.push(&spans[50..60]).await.expect("in order");
    let error = writer.push(&spans[..1]).await.expect_err("out of order");
    assert!(matches!(error, StorageError::InvalidInput(_)), "{error}");
    writer.abort().await.expect("abort");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![meta.block_id]);
    assert!(
        listing.incomplete.is_empty(),
        "abort removed the files: {listing:?}"
    );

    // A block whose meta.json is missing (a crash before the commit) is incomplete,
    // never complete, and cannot be opened; deleting it removes its files.
    let second = write(backend, &tenant, &spans).await;
    let meta_path = backend.object(tenant.as_str(), &second.to_string(), "meta.json");
    backend
        .raw
        .delete(&meta_path)
        .await
        .expect("remove meta.json");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![meta.block_id]);
    assert_eq!(listing.incomplete.len(), 1);
    assert_eq!(listing.incomplete[0].0, second);
    assert!(listing.incomplete[0].1 > 0, "modification time is known");
    assert!(matches!(
        backend.store.open_block(&tenant, second).await,
        Err(StorageError::NotFound { .. })
    ));
    backend
        .store
        .delete_block(&tenant, second)
        .await
        .expect("delete incomplete");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert!(listing.incomplete.is_empty());

    // No spans: nothing written.
    let writer = backend
        .store
        .writer(&tenant, &BlockWriteOptions::default())
        .await
        .expect("writer");
    assert!(writer.finish().await.expect("finish").is_none());
    assert!(
        backend
            .store
            .write_block(&tenant, &[], &BlockWriteOptions::default())
            .await
            .expect("empty")
            .is_none()
    );
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![meta.block_id]);
}
on_every_backend!(
    SMALL_GROUPS,
    streaming_writer_checks_order_and_commits_atomically
);

async fn lookups_of_absent_traces_are_empty_and_mostly_stopped_by_the_bloom(backend: &Backend) {
    let tenant = tenant("absent");
    let spans = random_spans(13, 200, 8);
    let block = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    let present = by_trace(&spans);
    let mut bloom_hits = 0;
    for n in 1..=2_000u64 {
        let id = TraceId::from_halves(n, u64::MAX - n);
        if present.contains_key(&id) {
            continue;
        }
        if reader.may_contain_trace(id).await.expect("bloom") {
            bloom_hits += 1;
        }
        if n <= 50 {
            assert!(reader.trace(id).await.expect("lookup").is_empty());
        }
    }
    assert!(
        bloom_hits < 100,
        "{bloom_hits} bloom false positives in 2000"
    );
    // Ids between stored ones reach the row groups and still find nothing.
    let ids: Vec<TraceId> = present.keys().copied().collect();
    for pair in ids.windows(2).take(20) {
        let mut between = pair[0];
        between.0[15] ^= 1;
        if !present.contains_key(&between) {
            assert!(reader.trace(between).await.expect("lookup").is_empty());
        }
    }
}
on_every_backend!(
    SMALL_GROUPS,
    lookups_of_absent_traces_are_empty_and_mostly_stopped_by_the_bloom
);

/// Open blocks do not pin their bloom filters: with a bloom cache too small for any of
/// them, every lookup reads the bloom again and still answers right; with the default
/// cache a repeated lookup of an absent trace reads nothing.
#[tokio::test]
async fn bloom_filters_live_in_the_bounded_cache_not_in_open_blocks() {
    let tenant = tenant("bloom-cache");
    let spans = random_spans(17, 60, 6);
    let traces = by_trace(&spans);
    let absent = TraceId::from_halves(3, 3);
    for (max_bloom_bytes, rereads) in [(1, true), (CacheConfig::default().max_bloom_bytes, false)] {
        let directory = tempfile::tempdir().expect("temp dir");
        let cache = CacheConfig {
            max_bloom_bytes,
            ..CacheConfig::default()
        };
        let store = ObjectBlockStore::local(directory.path(), cache).expect("store");
        let mut readers = Vec::new();
        for chunk in spans.chunks(spans.len() / 3 + 1) {
            let meta = store
                .write_block(&tenant, chunk, &BlockWriteOptions::default())
                .await
                .expect("written")
                .expect("not empty");
            readers.push(
                store
                    .open_block(&tenant, meta.block_id)
                    .await
                    .expect("opens"),
            );
        }
        for round in 0..2 {
            for (trace_id, trace) in &traces {
                let mut found = Vec::new();
                for reader in &readers {
                    found.extend(reader.trace(*trace_id).await.expect("lookup"));
                }
                found.sort_by(block_order);
                assert_eq!(&found, trace, "round {round}, cache {max_bloom_bytes}");
            }
            let before = store.bytes_read();
            for reader in &readers {
                assert!(reader.trace(absent).await.expect("lookup").is_empty());
            }
            let bloom_bytes: u64 = readers.iter().map(|reader| reader.meta().bloom_bytes).sum();
            let read = store.bytes_read() - before;
            if rereads {
                assert!(
                    read >= bloom_bytes,
                    "read {read} of {bloom_bytes} bloom bytes"
                );
            } else {
                assert_eq!(read, 0, "round {round}: blooms come from the cache");
            }
        }
    }
}

async fn a_lookup_reads_only_the_pages_of_its_trace(backend: &Backend) {
    let tenant = tenant("pruning");
    let spans = random_spans(17, 6_000, 20);
    let block = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    let meta = reader.meta().clone();
    assert!(meta.row_group_count >= 2, "{} groups", meta.row_group_count);
    let traces = by_trace(&spans);
    let (first_id, first) = traces.iter().next().expect("a trace");
    assert_eq!(
        &reader.trace(*first_id).await.expect("lookup"),
        first,
        "loads the footer"
    );
    for (trace_id, trace) in traces.iter().skip(1).step_by(97) {
        let before = backend.store.bytes_read();
        assert_eq!(&reader.trace(*trace_id).await.expect("lookup"), trace);
        let read = backend.store.bytes_read() - before;
        // Less than half of one row group: only the trace's group, and in it only
        // the pages (plus dictionaries) that hold the trace.
        let group_bytes = meta.data_bytes / meta.row_group_count;
        assert!(
            read * 2 < group_bytes,
            "a lookup read {read} bytes, a row group has {group_bytes} on {}",
            backend.name
        );
    }
}
on_every_backend!(
    RowGroupRows {
        target_rows: 30_000,
        max_rows: 60_000
    },
    a_lookup_reads_only_the_pages_of_its_trace
);

async fn digests_come_from_the_trace_table(backend: &Backend) {
    let tenant = tenant("digests");
    let spans = random_spans(19, 150, 12);
    let block = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    let traces = by_trace(&spans);
    let expected: Vec<TraceDigest> = traces.values().map(|trace| digest_of(trace)).collect();
    let ids: Vec<TraceId> = traces.keys().copied().collect();
    assert_eq!(reader.digests(&ids).await.expect("digests"), expected);
    let some: Vec<TraceId> = ids.iter().copied().step_by(3).collect();
    let found = reader.digests(&some).await.expect("digests");
    assert_eq!(found.len(), some.len());
    assert!(
        reader
            .digests(&[TraceId::from_halves(1, 1)])
            .await
            .expect("none")
            .is_empty()
    );

    let timestamps: Vec<u64> = expected
        .iter()
        .map(TraceDigest::timestamp_unix_nanos)
        .filter(|timestamp| *timestamp != 0)
        .collect();
    let middle = {
        let mut sorted = timestamps.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    };
    let window = TimeWindow {
        start_unix_nanos: middle,
        end_unix_nanos: u64::MAX,
    };
    let in_window: Vec<TraceDigest> = expected
        .iter()
        .filter(|digest| {
            digest.timestamp_unix_nanos() != 0 && window.contains(digest.timestamp_unix_nanos())
        })
        .cloned()
        .collect();
    assert!(!in_window.is_empty());
    assert_eq!(
        reader.digests_in_window(window).await.expect("window"),
        in_window
    );
    let empty = TimeWindow {
        start_unix_nanos: 1,
        end_unix_nanos: 2,
    };
    assert!(
        reader
            .digests_in_window(empty)
            .await
            .expect("window")
            .is_empty()
    );
}
on_every_backend!(SMALL_GROUPS, digests_come_from_the_trace_table);

fn filters() -> Vec<SpanFilter> {
    let attribute = |key: &str, value: Option<&str>| (key.to_owned(), value.map(str::to_owned));
    vec![
        SpanFilter::default(),
        SpanFilter::for_service(Some("frontend")),
        SpanFilter {
            service_name: Some("FRONTEND".into()),
            span_name: Some("get".into()),
            min_duration_nanos: Some(1_000_000),
            ..SpanFilter::default()
        },
        SpanFilter {
            remote_service_name: Some("backend.svc".into()),
            ..SpanFilter::default()
        },
        SpanFilter {
            remote_service_name: Some("db".into()),
            attributes: vec![
                attribute("http.response.status_code", Some("404")),
                attribute("error", None),
                attribute("retry", None),
                attribute("custom.key", Some("true")),
                attribute("http.route", Some("value-3")),
                attribute("server.port", Some("250")),
                attribute("db", None),
            ],
            ..SpanFilter::default()
        },
        SpanFilter {
            service_name: Some("backend".into()),
            attributes: vec![attribute("url.path", None), attribute("", Some(""))],
            max_duration_nanos: Some(5_000),
            ..SpanFilter::default()
        },
    ]
}

async fn search_masks_equal_the_model_span_masks(backend: &Backend) {
    let tenant = tenant("search");
    let mut spans = random_spans(23, 250, 12);
    for (index, span) in spans.iter_mut().enumerate().step_by(7) {
        span.name = String::from(if index % 2 == 0 { "GET" } else { "get" });
        span.attributes.push(KeyValue::new("retry", index as i64));
    }
    let block = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    let traces = by_trace(&spans);
    let window = TimeWindow {
        start_unix_nanos: 1,
        end_unix_nanos: u64::MAX,
    };
    for filter in filters() {
        let mut expected = Vec::new();
        for trace in traces.values() {
            let digest = digest_of(trace);
            if digest.timestamp_unix_nanos() == 0 {
                continue;
            }
            let met = filter.spans_mask(trace.iter());
            if met != 0 || filter.criteria_count() == 0 {
                expected.push((digest, met));
            }
        }
        let found: Vec<(TraceDigest, u64)> = reader
            .search(window, &filter)
            .await
            .expect("search")
            .into_iter()
            .map(|found| (found.digest, found.met))
            .collect();
        assert_eq!(found, expected, "filter {filter:?} on {}", backend.name);
    }
}
on_every_backend!(SMALL_GROUPS, search_masks_equal_the_model_span_masks);

async fn deleted_blocks_disappear(backend: &Backend) {
    let tenant = tenant("delete");
    let spans = random_spans(29, 20, 5);
    let kept = write(backend, &tenant, &spans).await;
    let doomed = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, doomed)
        .await
        .expect("opens");
    backend
        .store
        .delete_block(&tenant, doomed)
        .await
        .expect("delete");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![kept]);
    assert!(listing.incomplete.is_empty());
    assert!(matches!(
        backend.store.open_block(&tenant, doomed).await,
        Err(StorageError::NotFound { .. })
    ));
    let (trace_id, _) = by_trace(&spans).into_iter().next().expect("trace");
    assert!(
        reader.trace(trace_id).await.is_err(),
        "an open reader fails, never panics"
    );
    backend
        .store
        .delete_block(&tenant, doomed)
        .await
        .expect("deleting twice is fine");
    backend
        .store
        .delete_block(&tenant, BlockId::from_parts(5, 5))
        .await
        .expect("deleting an unknown block is fine");
}
on_every_backend!(SMALL_GROUPS, deleted_blocks_disappear);

async fn other_format_versions_are_refused(backend: &Backend) {
    let tenant = tenant("versions");
    let block = write(backend, &tenant, &random_spans(31, 5, 3)).await;
    let path = backend.object(tenant.as_str(), &block.to_string(), "meta.json");
    let meta = backend
        .raw
        .get(&path)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let mut json: serde_json::Value = serde_json::from_slice(&meta).expect("json");
    json["format_version"] = serde_json::Value::from(0);
    json["chunk_count"] = serde_json::Value::from(3);
    backend
        .raw
        .put(
            &path,
            PutPayload::from(serde_json::to_vec(&json).expect("json")),
        )
        .await
        .expect("put");
    for result in [
        backend.store.read_meta(&tenant, block).await.map(|_| ()),
        backend.store.open_block(&tenant, block).await.map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(StorageError::UnsupportedVersion {
                    found: 0,
                    supported: 1,
                    ..
                })
            ),
            "{result:?}"
        );
    }
}
on_every_backend!(SMALL_GROUPS, other_format_versions_are_refused);

async fn corrupt_files_give_errors_not_panics(backend: &Backend) {
    let tenant = tenant("corrupt");
    let spans = random_spans(37, 30, 6);
    let (trace_id, _) = by_trace(&spans).into_iter().next().expect("trace");
    let window = TimeWindow {
        start_unix_nanos: 0,
        end_unix_nanos: u64::MAX,
    };
    for (file, garbage) in [
        ("data.parquet", b"PAR1 not really parquet PAR1".to_vec()),
        ("data.parquet", Vec::new()),
        ("traces.parquet", b"\x00\x01garbage".to_vec()),
        ("bloom", b"no thrift here".to_vec()),
        ("meta.json", b"{\"format\": 3".to_vec()),
    ] {
        let block = write(backend, &tenant, &spans).await;
        let path = backend.object(tenant.as_str(), &block.to_string(), file);
        backend
            .raw
            .put(&path, PutPayload::from(garbage))
            .await
            .expect("tamper");
        let reader = match backend.store.open_block(&tenant, block).await {
            Ok(reader) => reader,
            Err(error) => {
                assert_eq!(file, "meta.json", "{error}");
                continue;
            }
        };
        let lookup = reader.trace(trace_id).await;
        let digests = reader.digests_in_window(window).await;
        let search = reader
            .search(window, &SpanFilter::for_service(Some("db")))
            .await;
        let stream: Result<Vec<Vec<Span>>, _> = reader.spans().try_collect().await;
        match file {
            "data.parquet" => {
                assert!(
                    lookup.is_err() && stream.is_err() && search.is_err(),
                    "{file}"
                );
            }
            // Opening reads only the meta; the bloom filter is read on first use.
            "bloom" => {
                assert!(lookup.is_err(), "{file}");
                assert!(reader.may_contain_trace(trace_id).await.is_err(), "{file}");
            }
            _ => assert!(digests.is_err() && search.is_err(), "{file}"),
        }
    }
    // A footer that lies about the file size: a typed error too.
    let block = write(backend, &tenant, &spans).await;
    let path = backend.object(tenant.as_str(), &block.to_string(), "data.parquet");
    let data = backend
        .raw
        .get(&path)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    backend
        .raw
        .put(&path, PutPayload::from(data.slice(data.len() / 2..)))
        .await
        .expect("tamper");
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    assert!(reader.trace(trace_id).await.is_err());
}
on_every_backend!(SMALL_GROUPS, corrupt_files_give_errors_not_panics);

async fn tenants_are_listed_sorted(backend: &Backend) {
    assert!(backend.store.tenants().await.expect("tenants").is_empty());
    let spans = random_spans(41, 3, 3);
    for name in ["team-b", "team*a", "single-tenant"] {
        write(backend, &tenant(name), &spans).await;
    }
    let tenants: Vec<String> = backend
        .store
        .tenants()
        .await
        .expect("tenants")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(tenants, ["single-tenant", "team*a", "team-b"]);
    let listing = backend
        .store
        .list_blocks(&tenant("team*a"))
        .await
        .expect("list");
    assert_eq!(listing.complete.len(), 1);
    assert!(
        backend
            .store
            .list_blocks(&tenant("nobody"))
            .await
            .expect("list")
            .complete
            .is_empty()
    );
}
on_every_backend!(SMALL_GROUPS, tenants_are_listed_sorted);

async fn spans_of_one_trace_keep_block_order_across_row_groups(backend: &Backend) {
    // One trace larger than a row group's hard maximum, with parents before and after
    // their children, is split over groups and still reads back exactly.
    let tenant = tenant("big-trace");
    let trace_id = TraceId::from_halves(9, 9);
    let mut spans = Vec::new();
    for index in 0..400u64 {
        let mut span = Span::new(
            trace_id,
            SpanId::from_u64(index + 1),
            format!("op{}", index % 5),
        );
        span.start_unix_nanos = 1_000 + (index * 7919) % 400;
        span.parent_span_id = match index {
            0 => None,
            _ => Some(SpanId::from_u64((index * 31) % 400 + 1)),
        };
        span.kind = if index % 3 == 0 {
            SpanKind::Client
        } else {
            SpanKind::Server
        };
        spans.push(span);
    }
    let block = write(backend, &tenant, &spans).await;
    let reader = backend
        .store
        .open_block(&tenant, block)
        .await
        .expect("opens");
    assert!(reader.meta().row_group_count >= 3);
    assert_eq!(all_spans(reader.as_ref()).await, sorted(&spans));
    assert_eq!(
        reader.trace(trace_id).await.expect("lookup"),
        sorted(&spans)
    );
}
on_every_backend!(
    SMALL_GROUPS,
    spans_of_one_trace_keep_block_order_across_row_groups
);

#[tokio::test]
async fn local_staging_files_of_a_cut_off_upload_are_listed_as_incomplete() {
    let backend = support::local(SMALL_GROUPS);
    let tenant = tenant("staging");
    let kept = write(&backend, &tenant, &random_spans(31, 5, 3)).await;
    // What a kill -9 in the middle of a local multipart upload leaves: a block directory
    // holding only a staging file, which the object listing does not show.
    let probe = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(probe.complete, vec![kept]);
    let root = backend
        .store
        .local_root()
        .expect("local backend")
        .join("staging");
    let cut_off = BlockId::from_parts(7, 7);
    std::fs::create_dir_all(root.join(cut_off.to_string())).expect("dir");
    std::fs::write(
        root.join(cut_off.to_string()).join("data.parquet#1"),
        b"partial",
    )
    .expect("staging file");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert_eq!(listing.complete, vec![kept]);
    assert_eq!(
        listing
            .incomplete
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        vec![cut_off]
    );
    backend
        .store
        .delete_block(&tenant, cut_off)
        .await
        .expect("delete");
    assert!(
        !root.join(cut_off.to_string()).exists(),
        "directory removed"
    );
    assert!(
        backend
            .store
            .list_blocks(&tenant)
            .await
            .expect("list")
            .incomplete
            .is_empty()
    );
}
