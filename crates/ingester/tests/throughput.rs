//! Push throughput through the whole ingester (encode, WAL group commit with fsync,
//! head insert). Ignored by default; run with
//! `cargo test --release -p weft-ingester --test throughput -- --ignored --nocapture`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{TempDir, config, now_unix_nanos, resource, span};
use weft_ingester::{Ingester, WalFsyncPolicy};
use weft_model::{SpanBatch, SpanSink, TenantId, TraceReader};

const PUSHERS: usize = 8;
const BATCHES_PER_PUSHER: usize = 40;
const TRACES_PER_BATCH: u64 = 50;
const SPANS_PER_TRACE: u64 = 20;

fn batches(pusher: usize) -> Vec<SpanBatch> {
    let start = now_unix_nanos();
    (0..BATCHES_PER_PUSHER)
        .map(|index| {
            let resource = resource(&format!("service-{}", (pusher + index) % 7));
            let first_trace = ((pusher * BATCHES_PER_PUSHER + index) as u64) * TRACES_PER_BATCH;
            let mut spans = Vec::with_capacity((TRACES_PER_BATCH * SPANS_PER_TRACE) as usize);
            for trace in first_trace..first_trace + TRACES_PER_BATCH {
                for id in 1..=SPANS_PER_TRACE {
                    spans.push(span(&resource, trace, id, start + id * 1_000));
                }
            }
            SpanBatch::from(spans)
        })
        .collect()
}

async fn measure(policy: WalFsyncPolicy) -> f64 {
    let directory = TempDir::new("throughput");
    let mut config = config(directory.path());
    config.wal_fsync_policy = policy;
    config.wal_fsync_interval = Duration::from_millis(100);
    let ingester = Ingester::open_local(config).await.expect("opens");
    let tenant = TenantId::single();
    let work: Vec<Vec<SpanBatch>> = (0..PUSHERS).map(batches).collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for batches in work {
        let ingester: Arc<Ingester> = ingester.clone();
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            for batch in batches {
                ingester.push(&tenant, batch).await.expect("push");
            }
        }));
    }
    for task in tasks {
        task.await.expect("pusher");
    }
    let elapsed = started.elapsed();
    let spans = (PUSHERS * BATCHES_PER_PUSHER) as u64 * TRACES_PER_BATCH * SPANS_PER_TRACE;
    let per_second = spans as f64 / elapsed.as_secs_f64();
    println!(
        "{policy:?}: {spans} spans in {PUSHERS}x{BATCHES_PER_PUSHER} batches of 1000: {:.0} ms, {:.0} spans/s, {:.2} us/span",
        elapsed.as_secs_f64() * 1000.0,
        per_second,
        elapsed.as_secs_f64() * 1e6 / spans as f64
    );
    let cut_started = Instant::now();
    ingester.shutdown().await.expect("shuts down");
    println!(
        "{policy:?}: shutdown (cut {spans} spans to a block) took {:.0} ms",
        cut_started.elapsed().as_secs_f64() * 1000.0
    );
    let block_bytes: u64 = walk_bytes(&directory.path().join("blocks"));
    println!(
        "{policy:?}: blocks hold {block_bytes} bytes, {:.1} bytes/span",
        block_bytes as f64 / spans as f64
    );
    let lookups = 200u64;
    let lookup_started = Instant::now();
    for trace in 0..lookups {
        let found = ingester
            .trace(&tenant, support::trace_id(trace * 37))
            .await
            .expect("reads");
        assert_eq!(found.len() as u64, SPANS_PER_TRACE);
    }
    println!(
        "{policy:?}: trace lookup from a block: {:.0} us each",
        lookup_started.elapsed().as_secs_f64() * 1e6 / lookups as f64
    );
    per_second
}

fn walk_bytes(directory: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk_bytes(&path)
            } else {
                entry.metadata().map(|meta| meta.len()).unwrap_or(0)
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run in release"]
async fn push_throughput_with_fsync() {
    measure(WalFsyncPolicy::Always).await;
    measure(WalFsyncPolicy::Interval).await;
}
