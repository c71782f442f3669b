//! Merges: every span once, in order; duplicates; levels and windows; large traces.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use weft_compactor::{Compactor, CompactorConfig};
use weft_model::KeyValue;
use weft_storage::store::block_order;
use weft_storage::{BlockWriteOptions, WalSegmentRange};

use crate::support::*;

#[tokio::test]
async fn merging_many_blocks_keeps_every_span_exactly_once_in_block_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("merge");
    let base = settled_day();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut all = Vec::new();
    let mut inputs = BTreeSet::new();
    for block in 0..6u64 {
        let spans: Vec<_> = (0..2_000u64)
            .map(|index| {
                let number = block * 10_000 + index;
                span(rng.next() % 500, number, base + rng.next() % HOUR)
            })
            .collect();
        all.extend(spans.iter().cloned());
        let meta = write(&store, &tenant, &spans, 0, base + block * 60_000_000_000).await;
        inputs.insert(meta.block_id);
    }

    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.jobs, 1);
    assert_eq!(report.blocks_compacted, 6);
    assert_eq!(report.spans_written, 12_000);
    assert_eq!(report.spans_deduplicated, 0);
    assert_eq!(report.failures, 0);

    let metas = metas(&store, &tenant).await;
    assert_eq!(metas.len(), 1, "inputs deleted, one merged block");
    let merged = &metas[0];
    assert_eq!(merged.compaction_level, 1);
    assert_eq!(merged.span_count, 12_000);
    assert_eq!(
        merged
            .compacted_from
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
        inputs
    );
    assert_eq!(merged.ingested_min_unix_nanos, base);
    assert_eq!(merged.ingested_max_unix_nanos, base + 5 * 60_000_000_000);
    let spans = block_spans(&store, &tenant, merged.block_id).await;
    assert!(
        spans
            .windows(2)
            .all(|pair| block_order(&pair[0], &pair[1]).is_le())
    );
    assert_eq!(spans, sorted(all));

    let again = compactor.run_once().await.expect("second pass");
    assert_eq!(again.jobs, 0, "a lone merged block stays as it is");
}

#[tokio::test]
async fn exact_duplicates_across_blocks_are_removed_and_near_duplicates_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("dedupe");
    let base = settled_day();
    let original = span(7, 1, base + 10);
    let other = span(7, 2, base + 20);
    let mut near = original.clone();
    near.attributes.push(KeyValue::new("retry", true));
    let unrelated = span(8, 1, base + 30);
    write(&store, &tenant, &[original.clone(), other.clone()], 0, base).await;
    write(
        &store,
        &tenant,
        &[original.clone(), near.clone(), unrelated.clone()],
        0,
        base + 1,
    )
    .await;
    write(
        &store,
        &tenant,
        &[original.clone(), other.clone()],
        0,
        base + 2,
    )
    .await;

    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.jobs, 1);
    assert_eq!(
        report.spans_deduplicated, 3,
        "two copies of original, one of other"
    );
    assert_eq!(
        visible_spans(&store, &tenant).await,
        sorted(vec![original, near, other, unrelated])
    );
}

#[tokio::test]
async fn blocks_merge_per_level_within_their_ingest_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("levels");
    let base = settled_day();
    // Hours 1 and 2 of the day hold two blocks each, hour 3 one.
    let hours = [1u64, 1, 2, 2, 3];
    let mut all = Vec::new();
    for (index, hour) in hours.iter().enumerate() {
        let spans: Vec<_> = (0..50u64)
            .map(|number| span(index as u64, number, base + hour * HOUR))
            .collect();
        all.extend(spans.iter().cloned());
        write(
            &store,
            &tenant,
            &spans,
            0,
            base + hour * HOUR + index as u64,
        )
        .await;
    }
    // Only the hour windows are settled; the day is not.
    let config = CompactorConfig {
        window_settle_delay: Duration::from_secs(3600),
        ..config()
    };
    let compactor = Compactor::new(Arc::clone(&store), config).expect("valid config");
    let report = compactor
        .run_once_at(base + 5 * HOUR)
        .await
        .expect("first pass");
    assert_eq!(report.jobs, 2, "hours 1 and 2 merge, hour 3 has one block");
    let levels: Vec<u32> = metas(&store, &tenant)
        .await
        .iter()
        .map(|meta| meta.compaction_level)
        .collect();
    assert_eq!(levels.iter().filter(|level| **level == 1).count(), 2);
    assert_eq!(levels.iter().filter(|level| **level == 0).count(), 1);

    let report = compactor
        .run_once_at(base + DAY + 2 * HOUR)
        .await
        .expect("second pass");
    assert_eq!(report.jobs, 1, "the two level-1 blocks of the day merge");
    let metas = metas(&store, &tenant).await;
    let mut levels: Vec<u32> = metas.iter().map(|meta| meta.compaction_level).collect();
    levels.sort_unstable();
    assert_eq!(
        levels,
        vec![0, 2],
        "the lone level-0 block is not mixed with level 1"
    );
    assert_eq!(visible_spans(&store, &tenant).await, sorted(all));
}

#[tokio::test]
async fn merged_blocks_keep_the_wal_ranges_of_their_inputs_through_every_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("wal-ranges");
    let base = settled_day();
    let range = |first, last| WalSegmentRange { first, last };
    // Hour 1: segments 1-2 and 3 (adjacent); hour 2: 5-6 and 9 (gaps at 4, 7 and 8).
    let blocks = [
        (1u64, range(1, 2)),
        (1, range(3, 3)),
        (2, range(5, 6)),
        (2, range(9, 9)),
    ];
    for (index, (hour, wal_segments)) in blocks.into_iter().enumerate() {
        let ingested = base + hour * HOUR + index as u64;
        let options = BlockWriteOptions {
            wal_segments: Some(wal_segments),
            ingested_unix_nanos: Some((ingested, ingested)),
            ..BlockWriteOptions::default()
        };
        store
            .write_block(
                &tenant,
                &[span(index as u64, 1, base + hour * HOUR)],
                &options,
            )
            .await
            .expect("written")
            .expect("not empty");
    }
    let config = CompactorConfig {
        window_settle_delay: Duration::from_secs(3600),
        ..config()
    };
    let compactor = Compactor::new(Arc::clone(&store), config).expect("valid config");
    let report = compactor
        .run_once_at(base + 5 * HOUR)
        .await
        .expect("first pass");
    assert_eq!(report.jobs, 2, "each hour merges into a level-1 block");
    let mut inherited: Vec<Vec<WalSegmentRange>> = metas(&store, &tenant)
        .await
        .into_iter()
        .map(|meta| {
            assert_eq!(meta.compaction_level, 1);
            assert_eq!(
                meta.wal_segments, None,
                "a merged block was not cut from a WAL"
            );
            meta.input_wal_segments
        })
        .collect();
    inherited.sort_by_key(|ranges| ranges.first().map(|range| range.first));
    assert_eq!(
        inherited,
        vec![vec![range(1, 3)], vec![range(5, 6), range(9, 9)]],
        "adjacent ranges merge, gaps stay"
    );

    let report = compactor
        .run_once_at(base + DAY + 2 * HOUR)
        .await
        .expect("second pass");
    assert_eq!(report.jobs, 1, "the day's level-1 blocks merge");
    let metas = metas(&store, &tenant).await;
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].compaction_level, 2);
    assert_eq!(
        metas[0].covered_wal_segments().collect::<Vec<_>>(),
        vec![range(1, 3), range(5, 6), range(9, 9)],
        "inherited ranges are passed on"
    );
}

#[tokio::test]
async fn a_large_trace_spread_over_many_blocks_merges_into_one_block() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("large");
    let base = settled_day();
    const BLOCKS: u64 = 8;
    const SPANS_PER_BLOCK: u64 = 20_000;
    for block in 0..BLOCKS {
        let spans: Vec<_> = (0..SPANS_PER_BLOCK)
            .map(|index| {
                let number = index * BLOCKS + block;
                span(99, number, base + number / 4)
            })
            .collect();
        write(&store, &tenant, &spans, 0, base + block).await;
    }
    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.jobs, 1);
    assert_eq!(report.spans_written, BLOCKS * SPANS_PER_BLOCK);
    let metas = metas(&store, &tenant).await;
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].trace_count, 1);
    let spans = block_spans(&store, &tenant, metas[0].block_id).await;
    assert_eq!(spans.len() as u64, BLOCKS * SPANS_PER_BLOCK);
    assert!(
        spans
            .windows(2)
            .all(|pair| block_order(&pair[0], &pair[1]).is_lt())
    );
}

#[tokio::test]
async fn the_loop_runs_a_pass_at_once_and_ends_on_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("loop");
    let base = settled_day();
    write(&store, &tenant, &[span(1, 1, base)], 0, base).await;
    write(&store, &tenant, &[span(1, 2, base)], 0, base + 1).await;
    let config = CompactorConfig {
        interval: Duration::from_secs(3600),
        ..config()
    };
    let compactor = Arc::new(Compactor::new(Arc::clone(&store), config).expect("valid config"));
    let (shutdown, shutdown_receiver) = tokio::sync::watch::channel(false);
    let handle = Arc::clone(&compactor).spawn(shutdown_receiver);
    let mut merged = false;
    for _ in 0..200 {
        if metas(&store, &tenant).await.len() == 1 {
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        merged,
        "the first pass runs without waiting for the interval"
    );
    shutdown.send(true).expect("loop listens");
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("loop ends promptly")
        .expect("loop does not panic");
    assert!(
        compactor.run_once().await.is_err(),
        "a stopped compactor runs no more passes"
    );
}

#[tokio::test]
async fn a_block_of_another_format_version_neither_blocks_merges_nor_is_touched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("foreign");
    let base = settled_day();
    write(&store, &tenant, &[span(1, 1, base)], 0, base).await;
    write(&store, &tenant, &[span(1, 2, base)], 0, base + 1).await;
    let foreign_dir = dir
        .path()
        .join(tenant.as_str())
        .join(weft_storage::BlockId::generate().to_string());
    std::fs::create_dir_all(&foreign_dir).expect("creates dir");
    std::fs::write(
        foreign_dir.join("meta.json"),
        br#"{"format": "weft-block", "format_version": 0}"#,
    )
    .expect("writes");

    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.jobs, 1);
    assert_eq!(report.failures, 0);
    assert!(
        foreign_dir.join("meta.json").exists(),
        "left for the operator"
    );
    let again = compactor.run_once().await.expect("second pass");
    assert_eq!(again.failures, 0);
}

#[test]
fn a_pass_can_be_spawned_on_any_runtime_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("temp dir");
    let compactor = Compactor::new(store(dir.path()), config()).expect("valid config");
    let pass = compactor.run_once();
    assert_send(&pass);
}
