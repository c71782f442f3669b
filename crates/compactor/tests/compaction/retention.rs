//! Retention by ingest time, per tenant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use weft_compactor::{Compactor, CompactorConfig};
use weft_storage::BlockWriteOptions;

use crate::support::*;

#[tokio::test]
async fn retention_uses_the_tenant_override_else_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let short = tenant("short");
    let long = tenant("long");
    let now = now_unix_nanos();
    let two_days_ago = now - 2 * DAY;
    // Span times say nothing: an old span ingested just now is kept.
    let old_short = write(&store, &short, &[span(1, 1, now)], 0, two_days_ago).await;
    let fresh_short = write(&store, &short, &[span(1, 2, 1_000)], 0, now - HOUR).await;
    let old_long = write(&store, &long, &[span(1, 1, now)], 0, two_days_ago).await;
    let ancient_long = write(&store, &long, &[span(1, 3, now)], 0, now - 9 * DAY).await;

    let config = CompactorConfig {
        level_windows: Vec::new(),
        tenant_retention: BTreeMap::from([("short".to_owned(), Duration::from_secs(24 * 3600))]),
        ..config()
    };
    let compactor = Compactor::new(Arc::clone(&store), config).expect("valid config");
    assert_eq!(
        compactor.retention_for(&short),
        Duration::from_secs(24 * 3600)
    );
    assert_eq!(
        compactor.retention_for(&long),
        Duration::from_secs(7 * 24 * 3600)
    );
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.retention_deleted, 2);
    let short_ids: Vec<_> = metas(&store, &short)
        .await
        .iter()
        .map(|meta| meta.block_id)
        .collect();
    assert_eq!(short_ids, vec![fresh_short.block_id]);
    assert!(!short_ids.contains(&old_short.block_id));
    let long_ids: Vec<_> = metas(&store, &long)
        .await
        .iter()
        .map(|meta| meta.block_id)
        .collect();
    assert_eq!(long_ids, vec![old_long.block_id]);
    assert!(!long_ids.contains(&ancient_long.block_id));
}

#[tokio::test]
async fn a_merged_block_is_not_dropped_by_retention_while_its_inputs_exist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let tenant = tenant("pinned");
    let now = now_unix_nanos();
    let old = now - 10 * DAY;
    let input = write(&store, &tenant, &[span(1, 1, old)], 0, old).await;
    let options = BlockWriteOptions {
        compaction_level: 1,
        compacted_from: vec![input.block_id],
        ingested_unix_nanos: Some((old, old)),
        ..BlockWriteOptions::default()
    };
    let merged = store
        .write_block(&tenant, &[span(1, 1, old)], &options)
        .await
        .expect("writes")
        .expect("not empty");
    let compactor = Compactor::new(Arc::clone(&store), config()).expect("valid config");
    // The superseded input goes first, then the merged block by retention, so at no
    // time is the input visible again.
    let report = compactor.run_once().await.expect("pass");
    assert_eq!(report.superseded_deleted, 1);
    assert_eq!(report.retention_deleted, 1);
    let listing = store.list_blocks(&tenant).await.expect("lists");
    assert!(
        listing.complete.is_empty(),
        "{listing:?}, merged {:?}",
        merged.block_id
    );
}
