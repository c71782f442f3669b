//! Tail sampling at cut time: whole traces kept or dropped after the decision wait,
//! waiting traces carried through the WAL, late spans following the decision, a crash
//! during the wait, and early decisions when waiting traces would overflow the head.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{TempDir, config, now_unix_nanos, resource, span, trace_id};
use weft_ingester::{Ingester, IngesterConfig, TailSampling, TailVerdict, TraceDecider};
use weft_model::{KeyValue, Span, SpanBatch, SpanSink, TenantId, TraceReader};

/// Keeps traces with a span tagged `keep=true`; counts its decisions.
#[derive(Default)]
struct KeepTagged {
    decisions: AtomicU64,
}

impl TraceDecider for KeepTagged {
    fn decide(&self, _: &TenantId, spans: &[Span], _: Instant) -> TailVerdict {
        self.decisions.fetch_add(1, Ordering::SeqCst);
        let keep = spans
            .iter()
            .any(|span| span.attributes.contains(&KeyValue::new("keep", true)));
        TailVerdict {
            keep,
            policy: Arc::from(if keep { "tagged" } else { "none" }),
        }
    }
}

fn sampling(decider: &Arc<KeepTagged>, wait: Duration) -> TailSampling {
    TailSampling {
        decider: decider.clone(),
        decision_wait: wait,
        decision_cache_size: 1_000,
    }
}

/// `spans` spans of trace `trace`, tagged `keep=true` when `keep`.
fn trace(trace: u64, first_span: u64, spans: u64, keep: bool) -> Vec<Span> {
    let resource = resource("checkout");
    (first_span..first_span + spans)
        .map(|id| {
            let mut span = span(&resource, trace, id, now_unix_nanos() - 1_000_000_000);
            if keep {
                span.attributes.push(KeyValue::new("keep", true));
            }
            span
        })
        .collect()
}

async fn push(ingester: &Ingester, spans: Vec<Span>) {
    ingester
        .push(&TenantId::single(), SpanBatch::from(spans))
        .await
        .expect("push");
}

async fn span_count(ingester: &Ingester, trace: u64) -> usize {
    ingester
        .trace(&TenantId::single(), trace_id(trace))
        .await
        .expect("read")
        .len()
}

async fn open(settings: IngesterConfig, tail: Option<TailSampling>) -> Arc<Ingester> {
    let store = weft_storage::ObjectBlockStore::local(
        &settings.storage_path.join("blocks"),
        weft_storage::CacheConfig::default(),
    )
    .expect("store");
    Ingester::open_sampled(settings, Arc::new(store), tail)
        .await
        .expect("opens")
}

#[tokio::test]
async fn traces_are_decided_after_the_wait_and_late_spans_follow_the_decision() {
    let directory = TempDir::new("tail-decide");
    let decider = Arc::new(KeepTagged::default());
    let wait = Duration::from_millis(600);
    let ingester = open(config(directory.path()), Some(sampling(&decider, wait))).await;
    push(&ingester, trace(1, 1, 3, true)).await;
    push(&ingester, trace(2, 1, 3, false)).await;

    // Within the wait both are carried, and stay readable.
    ingester.cut_head().await.expect("cut");
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 0);
    assert_eq!(span_count(&ingester, 1).await, 3);
    assert_eq!(span_count(&ingester, 2).await, 3);

    // A span of trace 2 arriving now restarts its wait; trace 1 waits from its first
    // arrival (carrying keeps arrival times).
    tokio::time::sleep(wait / 2).await;
    push(&ingester, trace(2, 4, 1, false)).await;
    tokio::time::sleep(wait / 2 + Duration::from_millis(50)).await;
    ingester.cut_head().await.expect("cut");
    assert_eq!(
        decider.decisions.load(Ordering::SeqCst),
        1,
        "only trace 1 is due"
    );
    assert_eq!(span_count(&ingester, 1).await, 3);
    assert_eq!(span_count(&ingester, 2).await, 4);

    tokio::time::sleep(wait).await;
    ingester.cut_head().await.expect("cut");
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 2);
    assert_eq!(span_count(&ingester, 1).await, 3, "kept");
    assert_eq!(span_count(&ingester, 2).await, 0, "dropped");

    // Late spans follow the remembered decision at the next cut, with no wait.
    push(&ingester, trace(1, 10, 2, false)).await;
    push(&ingester, trace(2, 10, 2, true)).await;
    ingester.cut_head().await.expect("cut");
    assert_eq!(
        decider.decisions.load(Ordering::SeqCst),
        2,
        "no new decision"
    );
    assert_eq!(span_count(&ingester, 1).await, 5);
    assert_eq!(span_count(&ingester, 2).await, 0);
    ingester.shutdown().await.expect("shutdown");

    // Nothing dropped survives in blocks or the WAL.
    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    assert_eq!(span_count(&reopened, 1).await, 5);
    assert_eq!(span_count(&reopened, 2).await, 0);
    reopened.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_crash_during_the_wait_loses_no_decision() {
    let directory = TempDir::new("tail-crash");
    let decider = Arc::new(KeepTagged::default());
    let wait = Duration::from_millis(500);
    let ingester = open(config(directory.path()), Some(sampling(&decider, wait))).await;
    push(&ingester, trace(5, 1, 4, true)).await;
    push(&ingester, trace(6, 1, 4, false)).await;
    // Carried once into the WAL's newer segment, then a crash (no shutdown).
    ingester.cut_head().await.expect("cut");
    drop(ingester);

    let decider = Arc::new(KeepTagged::default());
    let ingester = open(config(directory.path()), Some(sampling(&decider, wait))).await;
    assert_eq!(
        decider.decisions.load(Ordering::SeqCst),
        0,
        "replayed traces wait again"
    );
    assert_eq!(span_count(&ingester, 5).await, 4);
    assert_eq!(span_count(&ingester, 6).await, 4);
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    ingester.cut_head().await.expect("cut");
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 2);
    assert_eq!(span_count(&ingester, 5).await, 4);
    assert_eq!(span_count(&ingester, 6).await, 0);
    ingester.shutdown().await.expect("shutdown");

    let reopened = Ingester::open_local(config(directory.path()))
        .await
        .expect("reopens");
    assert_eq!(span_count(&reopened, 5).await, 4);
    assert_eq!(span_count(&reopened, 6).await, 0);
    reopened.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn waiting_traces_over_half_the_head_budget_are_decided_early() {
    let directory = TempDir::new("tail-early");
    let decider = Arc::new(KeepTagged::default());
    let settings = IngesterConfig {
        max_head_bytes: 64 * 1024 * 1024,
        ..config(directory.path())
    };
    // A long wait: nothing would be due for a minute.
    let ingester = open(settings, Some(sampling(&decider, Duration::from_secs(60)))).await;
    let mut spans = Vec::new();
    for number in 100..400u64 {
        spans.extend(trace(number, 1, 2, number % 3 == 0));
    }
    push(&ingester, spans).await;
    ingester.cut_head().await.expect("cut");
    assert_eq!(
        decider.decisions.load(Ordering::SeqCst),
        0,
        "all fit in half the head"
    );

    // With a head budget a fraction of what waits, the oldest are decided at once.
    ingester.shutdown().await.expect("shutdown");
    let decider = Arc::new(KeepTagged::default());
    let small = IngesterConfig {
        max_head_bytes: 16 * 1024,
        max_unflushed_bytes: 64 * 1024 * 1024,
        ..config(directory.path())
    };
    let ingester = open(small, Some(sampling(&decider, Duration::from_secs(60)))).await;
    ingester.cut_head().await.expect("cut");
    let decided = decider.decisions.load(Ordering::SeqCst);
    assert!(
        decided > 100,
        "most of the 300 traces decided early: {decided}"
    );
    let mut kept = 0;
    let mut dropped = 0;
    for number in 100..400u64 {
        match span_count(&ingester, number).await {
            0 => dropped += 1,
            2 => kept += 1,
            other => panic!("trace {number} has {other} spans"),
        }
        if number % 3 == 0 {
            assert_eq!(
                span_count(&ingester, number).await,
                2,
                "tagged {number} kept"
            );
        }
    }
    assert_eq!(kept + dropped, 300);
    assert!(dropped as u64 <= decided);
    ingester.shutdown().await.expect("shutdown");
}
