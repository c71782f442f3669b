//! `TraceReader::scan`: whole traces come with their spans, traces stored in parts come
//! as candidates, filters are applied, and the steps say which traces are complete.

mod support;

use std::collections::HashMap;

use futures::StreamExt;
use support::{TempDir, batch, config, now_unix_nanos, resource, span, trace_id};
use weft_ingester::Ingester;
use weft_model::{
    ScanBatch, ScanRequest, SpanBatch, SpanFilter, SpanSink, TenantId, TimeWindow, TraceId,
    TraceReader,
};

const SECOND_NANOS: u64 = 1_000_000_000;

async fn scan_all(ingester: &Ingester, window: TimeWindow, filter: SpanFilter) -> Vec<ScanBatch> {
    ingester
        .scan(ScanRequest {
            tenant: TenantId::single(),
            window,
            filter,
            max_candidates: 1_000,
        })
        .map(|step| step.expect("scan step"))
        .collect()
        .await
}

/// Per trace: (reported whole with this many spans, or as a candidate).
fn found(steps: &[ScanBatch]) -> HashMap<TraceId, Vec<Option<usize>>> {
    let mut found: HashMap<TraceId, Vec<Option<usize>>> = HashMap::new();
    for step in steps {
        for trace in &step.traces {
            if trace.whole {
                assert_eq!(trace.summary.span_count as usize, trace.spans.len());
            } else {
                assert!(trace.spans.is_empty(), "a candidate comes without spans");
            }
            found
                .entry(trace.summary.trace_id)
                .or_default()
                .push(trace.whole.then_some(trace.spans.len()));
        }
    }
    found
}

#[tokio::test]
async fn whole_traces_come_with_their_spans_and_split_ones_as_candidates() {
    let directory = TempDir::new("scan");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    // Traces 1..=3 whole in a block; trace 10's root in that block too.
    ingester
        .push(&tenant, batch("frontend", 1, 3, 5, start))
        .await
        .expect("push");
    let backend = resource("backend");
    ingester
        .push(
            &tenant,
            SpanBatch::from(vec![span(&backend, 10, 1, start + SECOND_NANOS)]),
        )
        .await
        .expect("push");
    ingester.cut_head().await.expect("cuts");
    // Trace 10's child and trace 20 (whole) stay in the head.
    ingester
        .push(
            &tenant,
            SpanBatch::from(vec![
                span(&backend, 10, 2, start + SECOND_NANOS + 10),
                span(&backend, 20, 1, start + 2 * SECOND_NANOS),
                span(&backend, 20, 2, start + 2 * SECOND_NANOS + 10),
            ]),
        )
        .await
        .expect("push");

    let window = TimeWindow {
        start_unix_nanos: start,
        end_unix_nanos: start + 10 * SECOND_NANOS,
    };
    let steps = scan_all(&ingester, window, SpanFilter::default()).await;
    let found = found(&steps);
    for trace in 1..=3 {
        assert_eq!(found[&trace_id(trace)], vec![Some(5)], "trace {trace}");
    }
    assert_eq!(found[&trace_id(20)], vec![Some(2)], "whole in the head");
    assert!(
        !found[&trace_id(10)].is_empty() && found[&trace_id(10)].iter().all(Option::is_none),
        "a trace in a block and the head is a candidate: {:?}",
        found[&trace_id(10)]
    );
    assert_eq!(found.len(), 5);
    assert_eq!(
        steps.last().map(|step| step.complete_above_unix_nanos),
        Some(0),
        "the last step says the scan saw everything"
    );
    assert!(
        steps[0].complete_above_unix_nanos >= start + SECOND_NANOS,
        "after the heads, traces newer than the block's data are complete"
    );

    // A window that holds none of them.
    let later = TimeWindow {
        start_unix_nanos: start + 3_600 * SECOND_NANOS,
        end_unix_nanos: start + 7_200 * SECOND_NANOS,
    };
    assert!(found_none(
        &scan_all(&ingester, later, SpanFilter::default()).await
    ));
}

fn found_none(steps: &[ScanBatch]) -> bool {
    steps.iter().all(|step| step.traces.is_empty())
}

#[tokio::test]
async fn the_filter_leaves_out_whole_traces_that_miss_a_criterion() {
    let directory = TempDir::new("scan-filter");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    ingester
        .push(&tenant, batch("frontend", 1, 4, 3, start))
        .await
        .expect("push");
    ingester
        .push(&tenant, batch("backend", 11, 2, 3, start))
        .await
        .expect("push");
    let window = TimeWindow {
        start_unix_nanos: start,
        end_unix_nanos: start + 10 * SECOND_NANOS,
    };
    for phase in ["head", "block"] {
        let steps = scan_all(&ingester, window, SpanFilter::for_service(Some("backend"))).await;
        let found = found(&steps);
        assert_eq!(found.len(), 2, "{phase}: {found:?}");
        assert_eq!(found[&trace_id(11)], vec![Some(3)], "{phase}");
        assert_eq!(found[&trace_id(12)], vec![Some(3)], "{phase}");
        // Two criteria, of which every trace meets only one: none can match.
        let filter = SpanFilter {
            service_name: Some(String::from("backend")),
            span_name: Some(String::from("no such span")),
            ..SpanFilter::default()
        };
        assert!(
            found_none(&scan_all(&ingester, window, filter).await),
            "{phase}"
        );
        ingester.cut_head().await.expect("cuts");
    }
}

#[tokio::test]
async fn a_consumer_that_stops_early_stops_the_scan() {
    let directory = TempDir::new("scan-stop");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    for round in 0..4u64 {
        ingester
            .push(
                &tenant,
                batch("frontend", 100 * round, 50, 3, start + round),
            )
            .await
            .expect("push");
        ingester.cut_head().await.expect("cuts");
    }
    let mut steps = ingester.scan(ScanRequest {
        tenant: tenant.clone(),
        window: TimeWindow {
            start_unix_nanos: start,
            end_unix_nanos: start + 10 * SECOND_NANOS,
        },
        filter: SpanFilter::default(),
        max_candidates: 1_000,
    });
    let first = steps.next().await.expect("a step").expect("scans");
    assert!(first.complete_above_unix_nanos > 0);
    drop(steps);
    // The reader keeps working after an abandoned scan.
    let steps = scan_all(
        &ingester,
        TimeWindow {
            start_unix_nanos: start,
            end_unix_nanos: start + 10 * SECOND_NANOS,
        },
        SpanFilter::default(),
    )
    .await;
    assert_eq!(found(&steps).len(), 200);
}

#[tokio::test]
async fn a_block_compacted_away_during_a_scan_is_read_from_its_replacement() {
    use weft_storage::{BlockStore, BlockWriteOptions, ObjectBlockStore};

    let directory = TempDir::new("scan-replaced");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    ingester
        .push(&tenant, batch("frontend", 1, 6, 4, start))
        .await
        .expect("push");
    ingester.cut_head().await.expect("cuts");
    let window = TimeWindow {
        start_unix_nanos: start,
        end_unix_nanos: start + 10 * SECOND_NANOS,
    };
    assert_eq!(
        found(&scan_all(&ingester, window, SpanFilter::default()).await).len(),
        6
    );

    // What a compaction does behind the ingester's back: the same spans in a new block,
    // the old block deleted. The ingester's block list still names the old one.
    let store = ObjectBlockStore::local(
        &directory.path().join("blocks"),
        weft_storage::CacheConfig::default(),
    )
    .expect("store");
    let old = store.list_blocks(&tenant).await.expect("lists").complete;
    assert_eq!(old.len(), 1);
    let mut spans = Vec::new();
    for trace in 1..=6 {
        spans.extend(
            ingester
                .trace(&tenant, trace_id(trace))
                .await
                .expect("reads"),
        );
    }
    store
        .write_block(&tenant, &spans, &BlockWriteOptions::default())
        .await
        .expect("writes the replacement");
    store.delete_block(&tenant, old[0]).await.expect("deletes");

    let steps = scan_all(&ingester, window, SpanFilter::default()).await;
    let found = found(&steps);
    assert_eq!(found.len(), 6, "{found:?}");
    for trace in 1..=6 {
        assert_eq!(
            found[&trace_id(trace)],
            vec![Some(4)],
            "trace {trace} once, whole"
        );
    }
}
