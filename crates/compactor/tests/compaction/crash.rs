//! Crash safety: a merge cut off before or after its commit loses and duplicates
//! nothing, and the next pass leaves no debris.

use std::sync::Arc;
use std::time::Duration;

use weft_compactor::{Compactor, CompactorConfig, CompactorError, visible_blocks};
use weft_storage::{BlockId, BlockWriteOptions};

use crate::support::*;

/// A config that never merges, to look at cleanup alone.
fn no_merges() -> CompactorConfig {
    CompactorConfig {
        level_windows: Vec::new(),
        ..config()
    }
}

#[tokio::test]
async fn output_committed_but_inputs_left_are_hidden_then_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("crash-after");
    let base = settled_day();
    let first = vec![span(1, 1, base), span(2, 1, base)];
    let second = vec![span(1, 2, base), span(3, 1, base)];
    let input_a = write(&store, &tenant, &first, 0, base).await;
    let input_b = write(&store, &tenant, &second, 0, base + 1).await;
    // What a merge does up to its commit, then "crashes" before deleting the inputs.
    let options = BlockWriteOptions {
        compaction_level: 1,
        compacted_from: vec![input_a.block_id, input_b.block_id],
        ingested_unix_nanos: Some((base, base + 1)),
        ..BlockWriteOptions::default()
    };
    let mut writer = store.writer(&tenant, &options).await.expect("writer");
    let all = sorted([first, second].concat());
    writer.push(&all).await.expect("push");
    let output = writer.finish().await.expect("commit").expect("not empty");

    let before = metas(&store, &tenant).await;
    assert_eq!(before.len(), 3);
    assert_eq!(visible_blocks(&before), vec![output.block_id]);
    assert_eq!(
        visible_spans(&store, &tenant).await,
        all,
        "no span shown twice"
    );

    let compactor = Compactor::new(Arc::clone(&store), no_merges()).expect("valid config");
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.superseded_deleted, 2);
    let listing = store.list_blocks(&tenant).await.expect("lists");
    assert_eq!(listing.complete, vec![output.block_id]);
    assert!(listing.incomplete.is_empty(), "{listing:?}");
    assert_eq!(visible_spans(&store, &tenant).await, all);
}

#[tokio::test]
async fn output_cut_off_before_commit_leaves_inputs_visible_and_is_removed_after_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("crash-before");
    let base = settled_day();
    let first: Vec<_> = (0..3_000)
        .map(|number| span(1, number, base + number))
        .collect();
    let second: Vec<_> = (0..3_000)
        .map(|number| span(2, number, base + number))
        .collect();
    let input_a = write(&store, &tenant, &first, 0, base).await;
    let input_b = write(&store, &tenant, &second, 0, base + 1).await;
    let options = BlockWriteOptions {
        compaction_level: 1,
        compacted_from: vec![input_a.block_id, input_b.block_id],
        ingested_unix_nanos: Some((base, base + 1)),
        ..BlockWriteOptions::default()
    };
    let mut writer = store.writer(&tenant, &options).await.expect("writer");
    let all = sorted([first, second].concat());
    writer.push(&all).await.expect("push");
    drop(writer);
    let mut listing = store.list_blocks(&tenant).await.expect("lists");
    if listing.incomplete.is_empty() {
        // The engine kept the partial output in memory; leave on disk what an
        // interrupted upload of its first file would.
        let partial = dir
            .path()
            .join(tenant.as_str())
            .join(BlockId::generate().to_string());
        std::fs::create_dir_all(&partial).expect("creates dir");
        std::fs::write(partial.join("data.parquet"), b"PAR1 cut off").expect("writes");
        listing = store.list_blocks(&tenant).await.expect("lists");
    }
    assert_eq!(listing.incomplete.len(), 1, "{listing:?}");
    assert_eq!(listing.complete, vec![input_a.block_id, input_b.block_id]);
    assert_eq!(
        visible_spans(&store, &tenant).await,
        all,
        "inputs still the truth"
    );

    let patient = Compactor::new(Arc::clone(&store), no_merges()).expect("valid config");
    let report = patient.run_once().await.expect("pass");
    assert_eq!(
        report.orphans_deleted, 0,
        "within the grace the write may be alive"
    );
    assert_eq!(
        store
            .list_blocks(&tenant)
            .await
            .expect("lists")
            .incomplete
            .len(),
        1
    );

    let report = patient.cleanup(NO_GRACE).await.expect("startup cleanup");
    assert_eq!(report.orphans_deleted, 1);
    assert_eq!(report.jobs, 0);
    let listing = store.list_blocks(&tenant).await.expect("lists");
    assert!(listing.incomplete.is_empty(), "{listing:?}");
    assert_eq!(listing.complete.len(), 2);
    assert_eq!(visible_spans(&store, &tenant).await, all);
}

#[tokio::test]
async fn incomplete_blocks_older_than_the_grace_are_removed_by_a_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("orphans");
    let base = settled_day();
    let kept = write(&store, &tenant, &[span(1, 1, base)], 0, base).await;
    let mut writer = store
        .writer(&tenant, &BlockWriteOptions::default())
        .await
        .expect("writer");
    writer.push(&[span(5, 5, base)]).await.expect("push");
    drop(writer);
    let partial = dir
        .path()
        .join(tenant.as_str())
        .join(BlockId::generate().to_string());
    std::fs::create_dir_all(&partial).expect("creates dir");
    std::fs::write(partial.join("data.parquet"), b"partial").expect("writes");
    let config = CompactorConfig {
        orphan_grace: Duration::from_secs(60),
        ..no_merges()
    };
    let compactor = Compactor::new(Arc::clone(&store), config).expect("valid config");
    let later = now_unix_nanos() + 61 * 1_000_000_000;
    let report = compactor.run_once_at(later).await.expect("pass");
    assert!(report.orphans_deleted >= 1);
    let listing = store.list_blocks(&tenant).await.expect("lists");
    assert!(listing.incomplete.is_empty(), "{listing:?}");
    assert_eq!(listing.complete, vec![kept.block_id]);
}

#[tokio::test]
async fn a_stopped_compactor_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("stopped");
    let base = settled_day();
    write(&store, &tenant, &[span(1, 1, base)], 0, base).await;
    write(&store, &tenant, &[span(1, 2, base)], 0, base + 1).await;
    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    compactor.stop();
    let error = compactor.run_once().await.expect_err("stopped");
    assert!(matches!(error, CompactorError::Stopped), "{error}");
    let listing = store.list_blocks(&tenant).await.expect("lists");
    assert_eq!(listing.complete.len(), 2);
    assert!(listing.incomplete.is_empty());
}
