//! Durability: replay, torn WAL tails, crashes between block write and WAL deletion
//! (with and without a merge of the block in between), shutdown, retention.

mod support;

use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use support::{TempDir, batch, config, files, now_unix_nanos, trace_id};
use weft_ingester::{Ingester, WalFsyncPolicy};
use weft_model::{PushError, Span, SpanSink, TenantId, TimeWindow, TraceReader};
use weft_storage::{BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore};

const HOUR_NANOS: u64 = 3_600_000_000_000;

async fn span_count(ingester: &Ingester, tenant: &TenantId, trace: u64) -> usize {
    ingester
        .trace(tenant, trace_id(trace))
        .await
        .expect("reads")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_the_wal_and_cuts_it_to_blocks() {
    let directory = TempDir::new("replay");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - HOUR_NANOS;
    for policy in [WalFsyncPolicy::Always, WalFsyncPolicy::Interval] {
        let mut config = config(directory.path());
        config.wal_fsync_policy = policy;
        let ingester = Ingester::open_local(config.clone()).await.expect("opens");
        ingester
            .push(&tenant, batch("frontend", 0, 10, 4, start))
            .await
            .expect("push");
        ingester
            .push(&tenant, batch("frontend", 10, 10, 4, start))
            .await
            .expect("push");
        // A crash: no shutdown. With either policy the data reached the OS before the ack.
        drop(ingester);

        let reopened = Ingester::open_local(config).await.expect("reopens");
        for trace in [0, 9, 10, 19] {
            assert_eq!(
                span_count(&reopened, &tenant, trace).await,
                4,
                "{policy:?} trace {trace}"
            );
        }
        // The replayed head was cut to a block and its segments deleted.
        assert_eq!(
            files(&directory.path().join("wal")).len(),
            1,
            "only the new segment is left"
        );
        assert!(!files(&directory.path().join("blocks/single-tenant")).is_empty());
        reopened.shutdown().await.expect("shuts down");
        std::fs::remove_dir_all(directory.path()).expect("clean");
    }
}

#[tokio::test]
async fn a_torn_or_damaged_wal_tail_loses_only_the_unacknowledged_record() {
    let directory = TempDir::new("torn");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - HOUR_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    ingester
        .push(&tenant, batch("frontend", 0, 3, 2, start))
        .await
        .expect("push");
    ingester
        .push(&tenant, batch("frontend", 3, 3, 2, start))
        .await
        .expect("push");
    drop(ingester);
    // Simulate a write torn by a crash: the last record loses its final bytes.
    let wal = directory.path().join("wal");
    let segment = wal.join(&files(&wal)[0]);
    let bytes = std::fs::read(&segment).expect("read");
    std::fs::write(&segment, &bytes[..bytes.len() - 7]).expect("truncate");

    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens despite the tear");
    assert_eq!(span_count(&reopened, &tenant, 0).await, 2);
    assert_eq!(span_count(&reopened, &tenant, 2).await, 2);
    assert_eq!(
        span_count(&reopened, &tenant, 3).await,
        0,
        "the torn record is gone"
    );
    reopened
        .push(&tenant, batch("frontend", 3, 3, 2, start))
        .await
        .expect("push");
    drop(reopened);

    // Garbage appended after good records is ignored the same way.
    let wal_files = files(&wal);
    let segment = wal.join(wal_files.last().expect("segment"));
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    std::fs::write(&segment, &bytes).expect("append garbage");
    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    assert_eq!(span_count(&reopened, &tenant, 3).await, 2);
    assert_eq!(
        span_count(&reopened, &tenant, 0).await,
        2,
        "no duplicates from the earlier block"
    );
}

/// Cuts the head to blocks, then drops the ingester (a crash) and puts the WAL
/// segments the cut deleted back, as if the crash came before their deletion.
async fn cut_then_crash_before_wal_deletion(ingester: Arc<Ingester>, wal: &Path) {
    let saved: Vec<(String, Vec<u8>)> = files(wal)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(wal.join(&name)).expect("read");
            (name, bytes)
        })
        .collect();
    ingester.cut_head().await.expect("cuts");
    drop(ingester);
    for (name, bytes) in &saved {
        std::fs::write(wal.join(name), bytes).expect("restore");
    }
}

#[tokio::test]
async fn a_crash_between_block_write_and_wal_deletion_does_not_duplicate() {
    let directory = TempDir::new("crash");
    let team_a = TenantId::parse("team-a").expect("tenant");
    let team_b = TenantId::parse("team-b").expect("tenant");
    let start = now_unix_nanos() - HOUR_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    ingester
        .push(&team_a, batch("frontend", 0, 5, 3, start))
        .await
        .expect("push");
    ingester
        .push(&team_b, batch("backend", 0, 5, 3, start))
        .await
        .expect("push");
    ingester
        .push(&team_a, batch("frontend", 5, 5, 3, start))
        .await
        .expect("push");

    cut_then_crash_before_wal_deletion(ingester, &directory.path().join("wal")).await;
    // Remove team-b's block, as if the crash came before it was written.
    let team_b_blocks = directory.path().join("blocks/team-b");
    std::fs::remove_dir_all(&team_b_blocks).expect("remove team-b block");

    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    for trace in 0..10 {
        assert_eq!(
            span_count(&reopened, &team_a, trace).await,
            3,
            "team-a trace {trace} once"
        );
    }
    for trace in 0..5 {
        assert_eq!(
            span_count(&reopened, &team_b, trace).await,
            3,
            "team-b trace {trace} restored"
        );
    }
    let window = TimeWindow {
        start_unix_nanos: 0,
        end_unix_nanos: u64::MAX,
    };
    let summaries = reopened
        .summaries(&team_a, window, &weft_model::SpanFilter::default(), 100)
        .await
        .expect("search");
    assert_eq!(summaries.len(), 10);
    assert!(summaries.iter().all(|summary| summary.span_count == 3));
    // A second restart finds everything exactly once too.
    reopened.shutdown().await.expect("shuts down");
    let again = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    assert_eq!(span_count(&again, &team_a, 7).await, 3);
    assert_eq!(span_count(&again, &team_b, 4).await, 3);
}

/// Guards the WAL ranges a merged block inherits: a crash after a cut block was
/// committed but before its WAL segments were deleted, then a merge of that block (which
/// deletes it), must not make the next start replay its records again.
#[tokio::test]
async fn a_crash_before_wal_deletion_then_a_merge_of_the_block_does_not_duplicate() {
    let directory = TempDir::new("crash-merge");
    let tenant = TenantId::parse("team-a").expect("tenant");
    let start = now_unix_nanos() - HOUR_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    ingester
        .push(&tenant, batch("frontend", 0, 5, 3, start))
        .await
        .expect("push");
    ingester
        .push(&tenant, batch("frontend", 5, 5, 3, start))
        .await
        .expect("push");
    let wal = directory.path().join("wal");
    cut_then_crash_before_wal_deletion(ingester, &wal).await;

    // The compactor merges the cut block away: it writes a block that replaces it, then
    // deletes it. Done here through the storage API as the compactor does it.
    let store = ObjectBlockStore::local(&directory.path().join("blocks"), CacheConfig::default())
        .expect("store");
    let listing = store.list_blocks(&tenant).await.expect("lists");
    let [cut] = listing.complete.as_slice() else {
        panic!("one cut block expected: {listing:?}");
    };
    let cut_meta = store.read_meta(&tenant, *cut).await.expect("meta");
    assert!(
        cut_meta.wal_segments.is_some(),
        "a cut block records its segments"
    );
    let reader = store.open_block(&tenant, *cut).await.expect("opens");
    let batches: Vec<Vec<Span>> = reader.spans().try_collect().await.expect("spans");
    let spans: Vec<Span> = batches.into_iter().flatten().collect();
    let options = BlockWriteOptions {
        compaction_level: 1,
        compacted_from: vec![*cut],
        input_wal_segments: cut_meta.covered_wal_segments().collect(),
        ingested_unix_nanos: Some((
            cut_meta.ingested_min_unix_nanos,
            cut_meta.ingested_max_unix_nanos,
        )),
        ..BlockWriteOptions::default()
    };
    let merged = store
        .write_block(&tenant, &spans, &options)
        .await
        .expect("merged block written")
        .expect("not empty");
    drop(reader);
    store
        .delete_block(&tenant, *cut)
        .await
        .expect("input deleted");

    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    for trace in 0..10 {
        assert_eq!(
            span_count(&reopened, &tenant, trace).await,
            3,
            "trace {trace} once"
        );
    }
    // Nothing was replayed: no block was cut from the restored segments, which are gone.
    assert_eq!(
        files(&directory.path().join("blocks/team-a")),
        vec![merged.block_id.to_string()],
        "only the merged block"
    );
    assert_eq!(files(&wal).len(), 1, "only the new segment is left");
}

#[tokio::test]
async fn shutdown_refuses_pushes_and_leaves_everything_in_blocks() {
    let directory = TempDir::new("shutdown");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - HOUR_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    assert!(ingester.is_ready());
    ingester
        .push(&tenant, batch("frontend", 0, 4, 2, start))
        .await
        .expect("push");
    ingester.shutdown().await.expect("shuts down");
    assert!(!ingester.is_ready());
    let refused = ingester
        .push(&tenant, batch("frontend", 9, 1, 1, start))
        .await;
    assert!(
        matches!(refused, Err(PushError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        span_count(&ingester, &tenant, 3).await,
        2,
        "reads still work"
    );
    ingester
        .shutdown()
        .await
        .expect("a second shutdown is harmless");

    let blocks = files(&directory.path().join("blocks/single-tenant"));
    assert_eq!(blocks.len(), 1);
    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    assert_eq!(span_count(&reopened, &tenant, 3).await, 2);
    assert_eq!(
        files(&directory.path().join("blocks/single-tenant")),
        blocks,
        "nothing replayed"
    );
}
