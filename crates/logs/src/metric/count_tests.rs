//! The count path (entry times and line lengths from the block index) against the
//! per-entry path on random data: the same query with a `|= ""` stage, which keeps
//! every line, must give the same answer bit for bit.

use std::sync::Arc;

use super::*;
use crate::logql::{Query, parse};
use crate::push::{PushedLabels, PushedStream};
use crate::{ChunkStore, Entry, LogsConfig};

const S: i64 = 1_000_000_000;

/// xorshift64*: reproducible without a dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// `count` entries per stream at random times in `[start, start + span)`, sorted, with
/// ties (same time, other line) and repeats (same time and line).
fn random_streams(random: &mut Random, start: i64, span: i64, count: usize) -> Vec<PushedStream> {
    let levels = ["info", "error", "debug"];
    levels
        .iter()
        .map(|level| {
            let mut times: Vec<i64> = (0..count)
                .map(|_| start + random.below(span as u64) as i64)
                .collect();
            times.sort_unstable();
            let mut entries: Vec<Entry> = Vec::new();
            for mut timestamp in times {
                let previous = entries.last().cloned();
                match (random.below(10), previous) {
                    (0, Some(previous)) => timestamp = previous.timestamp_unix_nanos,
                    (1, Some(previous)) => {
                        entries.push(previous);
                        continue;
                    }
                    _ => {}
                }
                let line = "x".repeat(random.below(40) as usize);
                let structured_metadata = if *level == "debug" && random.below(3) == 0 {
                    vec![(String::from("trace_id"), format!("{:x}", random.below(4)))]
                } else {
                    Vec::new()
                };
                entries.push(Entry {
                    timestamp_unix_nanos: timestamp,
                    line: format!("level={level} {line}"),
                    structured_metadata,
                });
            }
            PushedStream {
                labels: PushedLabels::Text(format!(r#"{{job="a", level="{level}"}}"#)),
                entries,
            }
        })
        .collect()
}

fn metric(text: &str) -> MetricExpr {
    match parse(text).expect("parses") {
        Query::Metric(expr) => expr,
        Query::Log(_) => panic!("{text} is a log query"),
    }
}

async fn answer(store: &LogStore, text: &str, params: EvalParams) -> MetricValue {
    run_metric_query(
        store,
        &TenantId::single(),
        &metric(text),
        params,
        DEFAULT_MAX_SERIES,
    )
    .await
    .unwrap_or_else(|error| panic!("{text}: {error}"))
    .0
}

#[tokio::test]
async fn counting_from_times_equals_counting_lines() {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let config = LogsConfig {
        storage_path: directory.path().to_owned(),
        chunk_block_bytes: 256,
        ..LogsConfig::default()
    };
    let store = LogStore::open(config, chunk_store).await.expect("open");
    let tenant = TenantId::single();
    let base = (crate::time::now_unix_nanos() / (60 * S) - 50) * 60 * S;
    let mut random = Random(0x5eed_1234_abcd_ef01);
    // Chunks apart in time (counted from their block index), two chunks meeting in
    // time (read line by line, duplicates dropped by line), and a head.
    let minute = 60 * S;
    for (start, span, cut) in [
        (0, 10, true),
        (12, 8, true),
        (14, 4, true),
        (25, 5, true),
        (32, 6, false),
    ] {
        let streams = random_streams(&mut random, base + start * minute, span * minute, 150);
        // Every fourth entry again (a client's retry), in the next chunk or the head.
        let again: Vec<PushedStream> = streams
            .iter()
            .map(|stream| PushedStream {
                labels: stream.labels.clone(),
                entries: stream.entries.iter().step_by(4).cloned().collect(),
            })
            .collect();
        store.push(&tenant, streams).await.expect("push");
        if cut {
            store.flush(true).await.expect("flush");
        }
        if start == 12 || start == 25 {
            store.push(&tenant, again).await.expect("push again");
            if start == 12 {
                store.flush(true).await.expect("flush");
            }
        }
    }
    let functions = [
        "count_over_time",
        "rate",
        "bytes_over_time",
        "bytes_rate",
        "absent_over_time",
    ];
    let shapes = [
        "sum by (level) (F(SEL[R]))",
        "F(SEL[R])",
        "sum(F(SEL[R]))",
        "F(SEL[R] offset 90s)",
        "count(F(SEL[R]))",
    ];
    let selectors = [
        r#"{job="a"}"#,
        r#"{job="a", level!="debug"}"#,
        r#"{job="b"}"#,
    ];
    for (step_seconds, range) in [(60, "1m"), (45, "2m"), (600, "5m"), (17, "10s")] {
        let params = EvalParams {
            start_unix_nanos: base - 120 * S,
            end_unix_nanos: base + 40 * 60 * S,
            step_nanos: step_seconds * S,
        };
        for function in functions {
            for shape in shapes {
                if function == "absent_over_time" && shape.starts_with("sum") {
                    continue;
                }
                for selector in selectors {
                    let query = |selector: &str| {
                        shape
                            .replace('F', function)
                            .replace("SEL", selector)
                            .replace('R', range)
                    };
                    let counted = answer(&store, &query(selector), params).await;
                    let filtered = format!(r#"{selector} |= """#);
                    let per_entry = answer(&store, &query(&filtered), params).await;
                    assert_eq!(counted, per_entry, "{}", query(selector));
                }
            }
        }
    }
    let instant = EvalParams::instant(base + 12 * 60 * S);
    let counted = answer(&store, r#"count_over_time({job="a"}[20m])"#, instant).await;
    let per_entry = answer(&store, r#"count_over_time({job="a"} |= ""[20m])"#, instant).await;
    assert_eq!(counted, per_entry);
    let MetricValue::Vector(samples) = counted else {
        panic!("not a vector");
    };
    assert!(
        samples.len() > 3,
        "metadata labels make more series: {samples:?}"
    );
}
