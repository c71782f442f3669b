use super::*;
use crate::logql::{Query, parse};
use crate::push::{PushedLabels, PushedStream};
use crate::{ChunkStore, LogsConfig};

fn config(directory: &std::path::Path) -> LogsConfig {
    LogsConfig {
        storage_path: directory.to_owned(),
        chunk_block_bytes: 64,
        ..LogsConfig::default()
    }
}

fn log_query(text: &str) -> LogQuery {
    match parse(text).expect("parses") {
        Query::Log(query) => query,
        Query::Metric(_) => panic!("a log query"),
    }
}

fn pushed(labels: &str, entries: &[(i64, &str)]) -> PushedStream {
    PushedStream {
        labels: PushedLabels::Text(labels.to_owned()),
        entries: entries
            .iter()
            .map(|&(timestamp, line)| Entry {
                timestamp_unix_nanos: timestamp,
                line: line.to_owned(),
                structured_metadata: Vec::new(),
            })
            .collect(),
    }
}

fn lines(results: &[StreamResult]) -> Vec<(String, i64, String)> {
    results
        .iter()
        .flat_map(|stream| {
            stream.entries.iter().map(|entry| {
                (
                    stream.labels.get("job").unwrap_or("").to_owned(),
                    entry.timestamp_unix_nanos,
                    entry.line.clone(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn queries_see_heads_chunks_and_a_reopened_store_alike() {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects.clone(), &object_store::path::Path::default());
    let store = LogStore::open(config(directory.path()), chunk_store.clone())
        .await
        .expect("open");
    let tenant = TenantId::single();
    let now = crate::time::now_unix_nanos();
    let summary = store
        .push(
            &tenant,
            vec![
                pushed(
                    r#"{job="api", env="prod"}"#,
                    &[(now - 30, "GET /a 200"), (now - 10, "GET /b 500 error")],
                ),
                pushed(
                    r#"{job="db"}"#,
                    &[(now - 20, "slow query error"), (now - 5, "checkpoint")],
                ),
            ],
        )
        .await
        .expect("push");
    assert_eq!(summary.accepted_entries, 4);
    let everything = Bounds {
        start_unix_nanos: now - 1000,
        end_unix_nanos: now + 1,
        limit: 100,
        direction: Direction::Backward,
    };
    let expected_errors = vec![
        (
            String::from("api"),
            now - 10,
            String::from("GET /b 500 error"),
        ),
        (
            String::from("db"),
            now - 20,
            String::from("slow query error"),
        ),
    ];
    let query = log_query(r#"{job=~"api|db"} |= "error""#);
    let (results, _) = run_log_query(&store, &tenant, &query, everything)
        .await
        .expect("query");
    assert_eq!(lines(&results), expected_errors);

    assert_eq!(store.flush(true).await.expect("flush"), 2);
    let (results, stats) = run_log_query(&store, &tenant, &query, everything)
        .await
        .expect("query");
    assert_eq!(lines(&results), expected_errors);
    assert_eq!(stats.chunks_downloaded, 2);

    // Limit and direction pick across streams.
    let newest_two = Bounds {
        limit: 2,
        ..everything
    };
    let (results, _) = run_log_query(
        &store,
        &tenant,
        &log_query(r#"{job=~".+", env=~".*"}"#),
        newest_two,
    )
    .await
    .expect("query");
    let mut timestamps: Vec<i64> = lines(&results).into_iter().map(|(_, ts, _)| ts).collect();
    timestamps.sort();
    assert_eq!(timestamps, vec![now - 10, now - 5]);
    let oldest = Bounds {
        limit: 1,
        direction: Direction::Forward,
        ..everything
    };
    let (results, _) = run_log_query(&store, &tenant, &log_query(r#"{job="api"}"#), oldest)
        .await
        .expect("query");
    assert_eq!(
        lines(&results),
        vec![(String::from("api"), now - 30, String::from("GET /a 200"))]
    );
    // End is exclusive.
    let before = Bounds {
        end_unix_nanos: now - 10,
        ..everything
    };
    let (results, _) = run_log_query(&store, &tenant, &query, before)
        .await
        .expect("query");
    assert_eq!(lines(&results), expected_errors[1..].to_vec());

    // Unflushed entries survive through the WAL, flushed ones through the chunk index;
    // a replayed copy of a flushed entry is returned once.
    store
        .push(
            &tenant,
            vec![pushed(r#"{job="db"}"#, &[(now - 1, "late error")])],
        )
        .await
        .expect("push");
    drop(store);
    let reopened = LogStore::open(config(directory.path()), chunk_store)
        .await
        .expect("reopen");
    let (results, _) = run_log_query(&reopened, &tenant, &query, everything)
        .await
        .expect("query");
    assert_eq!(lines(&results).len(), 3);
    let series = series(&reopened, &tenant, &[], now - 1000, now + 1);
    assert_eq!(series.len(), 2);

    // The bytes budget stops a query.
    let mut tight = config(directory.path());
    tight.max_query_bytes_scanned = 10;
    drop(reopened);
    let objects_again = ChunkStore::new(objects, &object_store::path::Path::default());
    let limited = LogStore::open(tight, objects_again).await.expect("reopen");
    let error = run_log_query(&limited, &tenant, &query, everything)
        .await
        .expect_err("over budget");
    assert!(error.to_string().contains("too many bytes"), "{error}");
}

#[tokio::test]
async fn log_query_results_are_grouped_by_the_labels_after_the_pipeline() {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let store = LogStore::open(config(directory.path()), chunk_store)
        .await
        .expect("open");
    let tenant = TenantId::single();
    let now = crate::time::now_unix_nanos();
    let mut stream = pushed(
        r#"{job="api"}"#,
        &[
            (now - 40, r#"{"level":"error","status":500,"path":"/a"}"#),
            (now - 30, r#"{"level":"info","status":200,"path":"/b"}"#),
            (now - 20, r#"{"level":"error","status":503,"path":"/c"}"#),
            (now - 10, "not json"),
        ],
    );
    stream.entries[0].structured_metadata = vec![(String::from("trace_id"), String::from("t1"))];
    store.push(&tenant, vec![stream]).await.expect("push");
    let everything = Bounds {
        start_unix_nanos: now - 1000,
        end_unix_nanos: now + 1,
        limit: 100,
        direction: Direction::Forward,
    };
    let query = log_query(
        r#"{job="api"} | json | __error__="" | status >= 500 | line_format "{{.path}} {{.status}}" | drop path"#,
    );
    let (results, _) = run_log_query(&store, &tenant, &query, everything)
        .await
        .expect("query");
    let streams: Vec<(String, Vec<String>)> = results
        .iter()
        .map(|stream| {
            (
                stream.labels.to_string(),
                stream
                    .entries
                    .iter()
                    .map(|entry| entry.line.clone())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        streams,
        vec![
            (
                String::from(r#"{job="api", level="error", status="500", trace_id="t1"}"#),
                vec![String::from("/a 500")]
            ),
            (
                String::from(r#"{job="api", level="error", status="503"}"#),
                vec![String::from("/c 503")]
            ),
        ]
    );
}

#[test]
fn the_required_literal_is_the_first_plain_contains_of_the_leading_filters() {
    let literal = |text: &str| required_literal(&log_query(text)).map(str::to_owned);
    assert_eq!(literal(r#"{a="b"} |= "x""#).as_deref(), Some("x"));
    assert_eq!(
        literal(r#"{a="b"} != "y" |~ "z" |= "x" |= "w""#).as_deref(),
        Some("x")
    );
    assert_eq!(literal(r#"{a="b"} |= "x" or "y""#), None);
    assert_eq!(literal(r#"{a="b"} |= """#), None);
    assert_eq!(literal(r#"{a="b"} |~ "x""#), None);
    // After a stage that may rewrite the line, a filter says nothing of the stored line.
    assert_eq!(literal(r#"{a="b"} | line_format "x" |= "x""#), None);
    assert_eq!(literal(r#"{a="b"}"#), None);
}

/// The needle search over a block's lines against a regex filter (which reads every
/// line) on random lines, in chunks and heads, both directions, with limits.
#[tokio::test]
async fn needle_search_finds_what_a_regex_filter_finds() {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let store = LogStore::open(config(directory.path()), chunk_store)
        .await
        .expect("open");
    let tenant = TenantId::single();
    let now = crate::time::now_unix_nanos();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |bound: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    };
    let pieces = ["ne", "ed", "le", "need", "needle", "x", "", "é"];
    for round in 0..4 {
        let mut streams = Vec::new();
        for job in ["a", "b"] {
            let mut entries = Vec::new();
            for index in 0..200 {
                let line: String = (0..next(6)).map(|_| pieces[next(8) as usize]).collect();
                entries.push((now - 100_000 + round * 20_000 + index * 50, line));
            }
            let borrowed: Vec<(i64, &str)> = entries
                .iter()
                .map(|(time, line)| (*time, line.as_str()))
                .collect();
            streams.push(pushed(&format!(r#"{{job="{job}"}}"#), &borrowed));
        }
        store.push(&tenant, streams).await.expect("push");
        if round < 3 {
            store.flush(true).await.expect("flush");
        }
    }
    for (direction, limit) in [
        (Direction::Backward, 1000),
        (Direction::Forward, 1000),
        (Direction::Backward, 7),
        (Direction::Forward, 7),
    ] {
        let bounds = Bounds {
            start_unix_nanos: now - 90_000,
            end_unix_nanos: now - 25_000,
            limit,
            direction,
        };
        for (needle, regex) in [
            (r#"{job=~"a|b"} |= "needle""#, r#"{job=~"a|b"} |~ "needle""#),
            (
                r#"{job="a"} |= "eed" != "x""#,
                r#"{job="a"} |~ "eed" != "x""#,
            ),
            (r#"{job="b"} |= "é""#, r#"{job="b"} |~ "é""#),
        ] {
            let (found, _) = run_log_query(&store, &tenant, &log_query(needle), bounds)
                .await
                .expect("needle query");
            let (expected, _) = run_log_query(&store, &tenant, &log_query(regex), bounds)
                .await
                .expect("regex query");
            assert!(!expected.is_empty(), "{regex}");
            assert_eq!(lines(&found), lines(&expected), "{needle}");
        }
    }
}

#[tokio::test]
async fn a_limited_query_stops_reading_chunks_past_the_limit() {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let store = LogStore::open(config(directory.path()), chunk_store)
        .await
        .expect("open");
    let tenant = TenantId::single();
    let now = crate::time::now_unix_nanos();
    // Twenty chunks of ten entries each, oldest first, on two streams.
    for chunk in 0..20i64 {
        let base = now - 1_000_000 + chunk * 1_000;
        let entries: Vec<(i64, String)> = (0..10)
            .map(|index| (base + index * 10, format!("line {chunk}-{index}")))
            .collect();
        let borrowed: Vec<(i64, &str)> = entries
            .iter()
            .map(|(at, line)| (*at, line.as_str()))
            .collect();
        let labels = if chunk % 2 == 0 {
            r#"{job="even"}"#
        } else {
            r#"{job="odd"}"#
        };
        store
            .push(&tenant, vec![pushed(labels, &borrowed)])
            .await
            .expect("push");
        store.flush(true).await.expect("flush");
    }
    let query = log_query(r#"{job=~"even|odd"}"#);
    for direction in [Direction::Backward, Direction::Forward] {
        let bounds = Bounds {
            start_unix_nanos: now - 2_000_000,
            end_unix_nanos: now,
            limit: 15,
            direction,
        };
        let (results, stats) = run_log_query(&store, &tenant, &query, bounds)
            .await
            .expect("query");
        let mut found: Vec<String> = lines(&results)
            .into_iter()
            .map(|(_, _, line)| line)
            .collect();
        found.sort();
        let mut wanted: Vec<String> = match direction {
            Direction::Backward => (18..20)
                .flat_map(|chunk| (0..10).map(move |index| format!("line {chunk}-{index}")))
                .skip(5)
                .collect(),
            Direction::Forward => (0..2)
                .flat_map(|chunk| (0..10).map(move |index| format!("line {chunk}-{index}")))
                .take(15)
                .collect(),
        };
        wanted.sort();
        assert_eq!(found, wanted, "{direction:?}");
        assert!(
            stats.chunks_downloaded < 20,
            "{direction:?}: read {} of 20 chunks",
            stats.chunks_downloaded
        );
    }
}
