use std::sync::Arc;

use super::*;
use crate::push::PushedLabels;

const NOW_OFFSET_NANOS: i64 = 1_000_000;

fn config(directory: &std::path::Path) -> LogsConfig {
    LogsConfig {
        storage_path: directory.to_owned(),
        ..LogsConfig::default()
    }
}

async fn open(config: LogsConfig) -> (Arc<LogStore>, ChunkStore) {
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let store = LogStore::open(config, chunk_store.clone())
        .await
        .expect("open");
    (store, chunk_store)
}

fn stream(labels: &str, lines: &[&str]) -> PushedStream {
    let now = now_unix_nanos();
    PushedStream {
        labels: PushedLabels::Text(labels.to_owned()),
        entries: lines
            .iter()
            .enumerate()
            .map(|(index, line)| Entry {
                timestamp_unix_nanos: now - NOW_OFFSET_NANOS + index as i64,
                line: (*line).to_owned(),
                structured_metadata: Vec::new(),
            })
            .collect(),
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

#[tokio::test]
async fn a_streams_rate_refuses_only_the_entries_over_it() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(LogsConfig {
        per_stream_rate_limit_bytes: 10,
        per_stream_rate_limit_burst_bytes: 10,
        ..config(directory.path())
    })
    .await;
    let summary = store
        .push(
            &tenant("a"),
            vec![
                stream(r#"{app="x"}"#, &["0123456789", "more", "again"]),
                stream(r#"{app="y"}"#, &["0123456789"]),
            ],
        )
        .await
        .expect("push");
    assert_eq!(summary.accepted_entries, 2);
    assert!(summary.rate_limited());
    assert_eq!(summary.rejections.len(), 1);
    assert_eq!(
        summary.rejections[0].reason,
        DiscardReason::PerStreamRateLimit
    );
    assert_eq!(summary.rejections[0].entries, 2);
    assert!(
        summary.rejections[0].message.contains(
            "(limit: 10B/sec) while attempting to ingest for stream '{app=\"x\"}' totaling 9B"
        ),
        "{}",
        summary.rejections[0].message
    );
}

#[tokio::test]
async fn the_tenant_rate_refuses_a_push_whole() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(LogsConfig {
        ingestion_rate_mb: 1.0 / 1024.0,
        ingestion_burst_size_mb: 1.0 / 1024.0,
        ..config(directory.path())
    })
    .await;
    let big = "x".repeat(600);
    store
        .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&big])])
        .await
        .expect("within the burst");
    let failure = store
        .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&big, "y"])])
        .await
        .expect_err("over the rate");
    assert_eq!(
        failure.to_string(),
        "Ingestion rate limit exceeded for user a (limit: 1024 bytes/sec) while attempting to ingest '2' lines totaling '601' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    );
    // Another tenant has its own bucket.
    store
        .push(&tenant("b"), vec![stream(r#"{app="x"}"#, &[&big])])
        .await
        .expect("other tenant");
}

#[tokio::test]
async fn active_streams_are_limited_until_their_heads_are_flushed() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(LogsConfig {
        max_streams_per_user: 1,
        ..config(directory.path())
    })
    .await;
    let summary = store
        .push(
            &tenant("a"),
            vec![
                stream(r#"{app="x"}"#, &["one"]),
                stream(r#"{app="y"}"#, &["two"]),
            ],
        )
        .await
        .expect("push");
    assert_eq!(summary.accepted_entries, 1);
    assert_eq!(summary.rejections[0].reason, DiscardReason::StreamLimit);
    assert!(summary.rejections[0].message.starts_with(
        "Maximum active stream limit exceeded when trying to create stream {app=\"y\"}"
    ));
    // The active stream takes more; once flushed it no longer counts.
    let summary = store
        .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &["three"])])
        .await
        .expect("push");
    assert!(summary.rejections.is_empty());
    store.flush(true).await.expect("flush");
    let summary = store
        .push(&tenant("a"), vec![stream(r#"{app="y"}"#, &["four"])])
        .await
        .expect("push");
    assert!(summary.rejections.is_empty(), "{:?}", summary.rejections);
}

#[tokio::test]
async fn full_heads_are_cut_into_chunks_and_then_refuse_what_still_does_not_fit() {
    let directory = tempfile::tempdir().expect("tempdir");
    let line = "l".repeat(100);
    let one_entry = entry_memory_bytes(&Entry {
        timestamp_unix_nanos: 0,
        line: line.clone(),
        structured_metadata: Vec::new(),
    });
    let (store, chunk_store) = open(LogsConfig {
        max_head_bytes: one_entry * 3,
        ..config(directory.path())
    })
    .await;
    for _ in 0..3 {
        store
            .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&line])])
            .await
            .expect("fits");
    }
    assert_eq!(store.head_memory_bytes(), one_entry * 3);
    assert!(chunk_store.load_index().await.expect("index").is_empty());
    // The fourth does not fit: every head is cut into a chunk first, then it goes in.
    store
        .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&line])])
        .await
        .expect("room was made");
    assert_eq!(store.head_memory_bytes(), one_entry);
    assert_eq!(chunk_store.load_index().await.expect("index").len(), 1);
    // A push larger than the whole budget is refused with back-pressure.
    let failure = store
        .push(
            &tenant("a"),
            vec![stream(r#"{app="x"}"#, &[&line, &line, &line, &line])],
        )
        .await
        .expect_err("never fits");
    assert!(
        matches!(failure, PushFailure::HeadMemoryFull(_)),
        "{failure}"
    );
    assert!(
        failure.to_string().contains("logs.max_head_bytes"),
        "{failure}"
    );
    assert_eq!(store.head_memory_bytes(), 0);
}

#[tokio::test]
async fn concurrent_pushes_are_all_acknowledged_and_replayed() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, chunk_store) = open(config(directory.path())).await;
    let pushes: Vec<_> = (0..24)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                let labels = format!(r#"{{app="x", shard="{}"}}"#, index % 4);
                let line = format!("line {index}");
                store
                    .push(&tenant("a"), vec![stream(&labels, &[&line])])
                    .await
                    .map(|summary| summary.accepted_entries)
            })
        })
        .collect();
    for push in pushes {
        assert_eq!(push.await.expect("join").expect("push"), 1);
    }
    drop(store);
    let reopened = LogStore::open(config(directory.path()), chunk_store)
        .await
        .expect("reopen");
    let state = reopened.read_state();
    let replayed: usize = state.heads.values().map(|head| head.entries.len()).sum();
    assert_eq!(replayed, 24);
    assert_eq!(state.active_streams.get(&tenant("a")), Some(&4));
}

#[tokio::test]
async fn a_head_is_cut_as_soon_as_it_reaches_the_target_size() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, chunk_store) = open(LogsConfig {
        chunk_target_bytes: 1_000,
        // Far away: only the size of the head can cause the cut.
        flush_check_period: std::time::Duration::from_secs(3600),
        ..config(directory.path())
    })
    .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The periodic pass runs once at start; let it pass before the pushes.
    let maintenance = tokio::spawn(store.clone().run_maintenance(stopped));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let line = "l".repeat(300);
    store
        .push(
            &tenant("a"),
            vec![stream(r#"{app="small"}"#, &["one line"])],
        )
        .await
        .expect("push");
    for _ in 0..2 {
        store
            .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&line, &line])])
            .await
            .expect("push");
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    let chunks = loop {
        let chunks = chunk_store.load_index().await.expect("index");
        if !chunks.is_empty() || Instant::now() > deadline {
            break chunks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(chunks.len(), 1, "the full head and only it is cut");
    assert_eq!(chunks[0].entries, 4);
    assert_eq!(chunks[0].labels.to_string(), r#"{app="x"}"#);
    let small = entry_memory_bytes(&Entry {
        timestamp_unix_nanos: 0,
        line: String::from("one line"),
        structured_metadata: Vec::new(),
    });
    assert_eq!(store.head_memory_bytes(), small);
    stop.send(true).expect("stop");
    maintenance.await.expect("maintenance");
    assert_eq!(chunk_store.load_index().await.expect("index").len(), 2);
}

#[tokio::test]
async fn a_replay_after_a_crash_skips_the_entries_a_chunk_already_holds() {
    let directory = tempfile::tempdir().expect("tempdir");
    let settings = LogsConfig {
        chunk_target_bytes: 1_000,
        ..config(directory.path())
    };
    let (store, chunk_store) = open(settings.clone()).await;
    let line = "l".repeat(600);
    store
        .push(
            &tenant("a"),
            vec![
                stream(r#"{app="x"}"#, &[&line, &line]),
                stream(r#"{app="small"}"#, &["one line"]),
            ],
        )
        .await
        .expect("push");
    // The size cut: {app="x"} goes into a chunk, its entries stay in the WAL segment.
    assert_eq!(store.cut(false, false).await.expect("cut"), 1);
    store
        .push(&tenant("a"), vec![stream(r#"{app="x"}"#, &[&line])])
        .await
        .expect("push after the cut");
    // A crash: no shutdown flush.
    drop(store);
    let reopened = LogStore::open(settings, chunk_store).await.expect("reopen");
    let state = reopened.read_state();
    let held = |labels: &str| {
        state
            .heads
            .iter()
            .find(|((_, set), _)| set.to_string() == labels)
            .map_or(0, |(_, head)| head.entries.len())
    };
    assert_eq!(
        held(r#"{app="x"}"#),
        1,
        "only the entry pushed after the cut"
    );
    assert_eq!(held(r#"{app="small"}"#), 1);
}

fn stream_at(labels: &str, timestamp_unix_nanos: i64, line: &str) -> PushedStream {
    PushedStream {
        labels: PushedLabels::Text(labels.to_owned()),
        entries: vec![Entry {
            timestamp_unix_nanos,
            line: line.to_owned(),
            structured_metadata: Vec::new(),
        }],
    }
}

#[tokio::test]
async fn retention_deletes_expired_chunks_by_stream_rule_then_their_files() {
    let directory = tempfile::tempdir().expect("tempdir");
    let hour = std::time::Duration::from_secs(3600);
    let settings = LogsConfig {
        retention_period: hour,
        retention_stream: vec![crate::retention::StreamRetention {
            selector: String::from(r#"{app="audit"}"#),
            priority: 1,
            period: std::time::Duration::ZERO,
        }],
        query_timeout: std::time::Duration::from_millis(200),
        ..config(directory.path())
    };
    let (store, chunk_store) = open(settings.clone()).await;
    let now = now_unix_nanos();
    let hour_nanos = 3_600_000_000_000;
    store
        .push(
            &tenant("a"),
            vec![
                stream_at(r#"{app="old"}"#, now - 2 * hour_nanos, "old"),
                stream_at(r#"{app="audit"}"#, now - 2 * hour_nanos, "kept forever"),
                stream_at(r#"{app="new"}"#, now - hour_nanos / 2, "new"),
            ],
        )
        .await
        .expect("push");
    assert_eq!(store.flush(true).await.expect("flush"), 3);
    let pass = store.apply_retention(now).await.expect("retention");
    assert_eq!(pass.expired_chunks, 1);
    assert_eq!(
        pass.deleted_chunk_files, 0,
        "files wait for queries to finish"
    );
    let listed: Vec<String> = chunk_store
        .load_index()
        .await
        .expect("index")
        .iter()
        .map(|meta| meta.labels.to_string())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(
        !listed.contains(&String::from(r#"{app="old"}"#)),
        "{listed:?}"
    );
    assert_eq!(store.read_state().chunks.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let pass = store.apply_retention(now).await.expect("retention");
    assert_eq!(
        pass,
        RetentionPass {
            expired_chunks: 0,
            deleted_chunk_files: 1
        }
    );
    // A chunk file without its meta (a crash between the two) is deleted once it is
    // old enough not to be one another process is writing right now.
    let kept = chunk_store.load_index().await.expect("index");
    chunk_store
        .delete_meta(&kept[0])
        .await
        .expect("delete meta");
    let hour = std::time::Duration::from_secs(3600);
    let orphans = |age| {
        let chunk_store = chunk_store.clone();
        async move {
            let index = chunk_store.load().await.expect("index");
            chunk_store
                .delete_orphan_chunks(age, &index)
                .await
                .expect("orphans")
        }
    };
    assert_eq!(orphans(hour).await, 0, "too young");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(orphans(std::time::Duration::ZERO).await, 1);
    assert_eq!(orphans(std::time::Duration::ZERO).await, 0);
    drop(store);
    let reopened = LogStore::open(settings, chunk_store.clone())
        .await
        .expect("reopen");
    assert_eq!(reopened.read_state().chunks.len(), 1);
}

#[tokio::test]
async fn past_days_are_compacted_into_day_indexes_that_retention_rewrites() {
    let directory = tempfile::tempdir().expect("tempdir");
    let hour = std::time::Duration::from_secs(3600);
    let settings = LogsConfig {
        retention_period: hour * 30,
        query_timeout: std::time::Duration::ZERO,
        ..config(directory.path())
    };
    let (store, chunk_store) = open(settings.clone()).await;
    let now = now_unix_nanos();
    let hour_nanos = 3_600_000_000_000;
    let day_nanos = 24 * hour_nanos;
    // Two days back (one of them past retention), yesterday, and today.
    let today_start = now - now.rem_euclid(day_nanos);
    let pushed = [
        ("two-days", today_start - day_nanos - hour_nanos),
        ("yesterday-a", today_start - 2 * hour_nanos),
        ("yesterday-b", today_start - hour_nanos),
        ("today", now - 1_000),
    ];
    for (app, at) in pushed {
        store
            .push(
                &tenant("a"),
                vec![stream_at(&format!(r#"{{app="{app}"}}"#), at, app)],
            )
            .await
            .expect("push");
    }
    assert_eq!(store.flush(true).await.expect("flush"), 4);
    assert_eq!(store.compact_index(now).await.expect("compact"), 3);
    let loaded = chunk_store.load().await.expect("load");
    assert_eq!(loaded.chunks.len(), 4);
    assert_eq!(loaded.loose.len(), 1, "today's chunk keeps its meta file");
    assert_eq!(loaded.days.len(), 2, "{:?}", loaded.days);
    assert_eq!(store.compact_index(now).await.expect("compact again"), 0);
    // Chunks whose meta files were folded into a day index are not orphans, however old.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        chunk_store
            .delete_orphan_chunks(std::time::Duration::ZERO, &loaded)
            .await
            .expect("orphans"),
        0
    );
    for meta in &loaded.chunks {
        chunk_store.read(meta).await.expect("chunk file kept");
    }
    // A reopened store sees every chunk, from the day indexes and the meta file.
    drop(store);
    let store = LogStore::open(settings.clone(), chunk_store.clone())
        .await
        .expect("reopen");
    assert_eq!(store.read_state().chunks.len(), 4);
    // Retention (30 h) takes the chunk of two days back: its day index goes too.
    let pass = store.apply_retention(now).await.expect("retention");
    assert_eq!(pass.expired_chunks, 1);
    let loaded = chunk_store.load().await.expect("load");
    let mut apps: Vec<String> = loaded
        .chunks
        .iter()
        .map(|meta| meta.labels.to_string())
        .collect();
    apps.sort();
    assert_eq!(
        apps,
        [
            r#"{app="today"}"#,
            r#"{app="yesterday-a"}"#,
            r#"{app="yesterday-b"}"#
        ]
    );
    assert_eq!(loaded.days.len(), 1);
    // With a shorter retention, yesterday's first chunk goes: its day index is rewritten.
    drop(store);
    let shorter = LogsConfig {
        retention_period: std::time::Duration::from_nanos(
            (now - (today_start - 2 * hour_nanos) - 1) as u64,
        ),
        ..settings
    };
    let store = LogStore::open(shorter, chunk_store.clone())
        .await
        .expect("reopen");
    assert_eq!(
        store
            .apply_retention(now)
            .await
            .expect("retention")
            .expired_chunks,
        1
    );
    let loaded = chunk_store.load().await.expect("load");
    assert_eq!(loaded.chunks.len(), 2, "{:?}", loaded.chunks);
    assert_eq!(loaded.days.len(), 1);
}
