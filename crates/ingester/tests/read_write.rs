//! Pushing and reading back: head, blocks, search merging, names, limits, concurrency.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{TempDir, batch, config, now_unix_nanos, resource, span, trace_id};
use weft_ingester::Ingester;
use weft_model::{SpanBatch, SpanFilter, SpanSink, TenantId, TimeWindow, TraceReader};

const SECOND_NANOS: u64 = 1_000_000_000;

fn window(start_unix_nanos: u64, end_unix_nanos: u64) -> TimeWindow {
    TimeWindow {
        start_unix_nanos,
        end_unix_nanos,
    }
}

#[tokio::test]
async fn pushed_spans_are_readable_from_the_head_and_after_a_cut_from_blocks() {
    let directory = TempDir::new("push-read");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    let outcome = ingester
        .push(&tenant, batch("frontend", 0, 3, 5, start))
        .await
        .expect("push");
    assert_eq!(outcome.accepted_spans, 15);
    assert_eq!(outcome.rejected_spans, 0);

    for phase in ["head", "block"] {
        let spans = ingester.trace(&tenant, trace_id(1)).await.expect("reads");
        assert_eq!(spans.len(), 5, "{phase}");
        assert!(spans.iter().all(|span| span.trace_id == trace_id(1)));
        assert!(
            ingester
                .trace(&tenant, trace_id(77))
                .await
                .expect("reads")
                .is_empty()
        );
        let other = TenantId::parse("other").expect("tenant");
        assert!(
            ingester
                .trace(&other, trace_id(1))
                .await
                .expect("reads")
                .is_empty(),
            "tenants are separate"
        );

        let summaries = ingester
            .summaries(
                &tenant,
                window(start, start + SECOND_NANOS),
                &SpanFilter::default(),
                10,
            )
            .await
            .expect("search");
        assert_eq!(summaries.len(), 3, "{phase}");
        assert_eq!(summaries[0].trace_id, trace_id(2), "newest first");
        assert_eq!(summaries[0].root_service_name, "frontend");
        assert_eq!(summaries[0].root_span_name, "GET /api/1");
        assert_eq!(summaries[0].span_count, 5);
        assert_eq!(summaries[0].timestamp_unix_nanos, start + 2 * 1_000 + 1);
        let limited = ingester
            .summaries(
                &tenant,
                window(start, start + SECOND_NANOS),
                &SpanFilter::for_service(Some("FRONTEND")),
                2,
            )
            .await
            .expect("search");
        assert_eq!(
            limited.iter().map(|s| s.trace_id).collect::<Vec<_>>(),
            vec![trace_id(2), trace_id(1)]
        );
        let none = ingester
            .summaries(
                &tenant,
                window(start, start + SECOND_NANOS),
                &SpanFilter::for_service(Some("backend")),
                10,
            )
            .await
            .expect("search");
        assert!(none.is_empty());
        // Both ends of the window are inclusive.
        let exact = start + 1_000 + 1;
        let one = ingester
            .summaries(&tenant, window(exact, exact), &SpanFilter::default(), 10)
            .await
            .expect("search");
        assert_eq!(one.len(), 1);

        let names = ingester.names(&tenant).await.expect("names");
        assert!(names.services.contains("frontend"));
        assert!(names.span_names["frontend"].contains("GET /api/1"));
        assert!(names.remote_services["frontend"].contains("backend.internal"));
        assert!(names.attribute_values["http.request.method"].contains("GET"));

        ingester.cut_head().await.expect("cuts");
    }
}

#[tokio::test]
async fn a_trace_split_over_head_and_block_is_one_summary() {
    let directory = TempDir::new("merge");
    let tenant = TenantId::single();
    let base = now_unix_nanos() - 600 * SECOND_NANOS;
    let ingester = Ingester::open_local(config(directory.path()))
        .await
        .expect("opens");
    let frontend = resource("frontend");
    let backend = resource("backend");
    // The root (at base + 10s) goes to a block; a child that started earlier stays in the head.
    ingester
        .push(
            &tenant,
            SpanBatch::from(vec![span(&frontend, 1, 1, base + 10 * SECOND_NANOS)]),
        )
        .await
        .expect("push");
    ingester.cut_head().await.expect("cuts");
    ingester
        .push(
            &tenant,
            SpanBatch::from(vec![span(&backend, 1, 2, base + 5 * SECOND_NANOS)]),
        )
        .await
        .expect("push");

    let around_root = window(base + 9 * SECOND_NANOS, base + 11 * SECOND_NANOS);
    let found = ingester
        .summaries(
            &tenant,
            around_root,
            &SpanFilter::for_service(Some("backend")),
            10,
        )
        .await
        .expect("search");
    assert_eq!(
        found.len(),
        1,
        "the service of the head part counts for the whole trace"
    );
    assert_eq!(found[0].span_count, 2);
    assert_eq!(
        found[0].timestamp_unix_nanos,
        base + 10 * SECOND_NANOS,
        "the root's start"
    );
    assert_eq!(found[0].start_unix_nanos, base + 5 * SECOND_NANOS);
    assert_eq!(found[0].root_service_name, "frontend");
    let around_child = window(base + 4 * SECOND_NANOS, base + 6 * SECOND_NANOS);
    let found = ingester
        .summaries(&tenant, around_child, &SpanFilter::default(), 10)
        .await
        .expect("search");
    assert!(
        found.is_empty(),
        "the merged timestamp is the root's, outside this window"
    );
    assert_eq!(
        ingester
            .trace(&tenant, trace_id(1))
            .await
            .expect("reads")
            .len(),
        2
    );
    let names = ingester.names(&tenant).await.expect("names");
    assert_eq!(names.services.len(), 2, "names from head and block");
}

#[tokio::test]
async fn spans_over_the_per_trace_limit_are_rejected_with_a_reason() {
    let directory = TempDir::new("limit");
    let tenant = TenantId::single();
    let start = now_unix_nanos();
    let mut config = config(directory.path());
    config.max_spans_per_trace = 10;
    let ingester = Ingester::open_local(config).await.expect("opens");
    let first = ingester
        .push(&tenant, batch("frontend", 1, 1, 8, start))
        .await
        .expect("push");
    assert_eq!(first.accepted_spans, 8);
    let resource = resource("frontend");
    let mut spans: Vec<_> = (20..25).map(|id| span(&resource, 1, id, start)).collect();
    spans.push(span(&resource, 2, 1, start));
    let second = ingester
        .push(&tenant, SpanBatch::from(spans))
        .await
        .expect("push");
    assert_eq!(second.accepted_spans, 3, "2 more of trace 1, and trace 2");
    assert_eq!(second.rejected_spans, 3);
    assert!(
        second.rejection_message.starts_with("trace_too_large"),
        "{}",
        second.rejection_message
    );
    assert!(second.rejection_message.contains(&trace_id(1).to_string()));
    assert_eq!(
        ingester
            .trace(&tenant, trace_id(1))
            .await
            .expect("reads")
            .len(),
        10
    );
    assert_eq!(
        ingester
            .trace(&tenant, trace_id(2))
            .await
            .expect("reads")
            .len(),
        1
    );
    // After a cut the limit applies to the new head only.
    ingester.cut_head().await.expect("cuts");
    let third = ingester
        .push(&tenant, batch("frontend", 1, 1, 3, start))
        .await
        .expect("push");
    assert_eq!(third.accepted_spans, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_and_cuts_lose_and_duplicate_nothing() {
    let directory = TempDir::new("concurrency");
    let tenant = TenantId::single();
    let start = now_unix_nanos() - 600 * SECOND_NANOS;
    let mut config = config(directory.path());
    // Small enough that the background task cuts many times during the test.
    config.max_head_bytes = 256 * 1024;
    let ingester = Ingester::open_local(config.clone()).await.expect("opens");
    const TASKS: u64 = 16;
    const PUSHES: u64 = 25;
    const TRACES_PER_PUSH: u64 = 4;
    const SPANS_PER_TRACE: u64 = 5;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let ingester = ingester.clone();
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            for push in 0..PUSHES {
                let first_trace = (task * PUSHES + push) * TRACES_PER_PUSH;
                let service = if task % 2 == 0 { "frontend" } else { "backend" };
                let batch = batch(
                    service,
                    first_trace,
                    TRACES_PER_PUSH,
                    SPANS_PER_TRACE,
                    start,
                );
                loop {
                    match ingester.push(&tenant, batch.clone()).await {
                        Ok(outcome) => {
                            assert_eq!(outcome.accepted_spans, TRACES_PER_PUSH * SPANS_PER_TRACE);
                            break;
                        }
                        Err(weft_model::PushError::Overloaded { .. }) => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(error) => panic!("push failed: {error}"),
                    }
                }
            }
        }));
    }
    let cutter = {
        let ingester = ingester.clone();
        tokio::spawn(async move {
            for _ in 0..10 {
                ingester.cut_head().await.expect("cuts");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for task in tasks {
        task.await.expect("pusher");
    }
    cutter.await.expect("cutter");

    let traces = TASKS * PUSHES * TRACES_PER_PUSH;
    let check = |ingester: Arc<Ingester>| {
        let tenant = tenant.clone();
        async move {
            for trace in 0..traces {
                let spans = ingester
                    .trace(&tenant, trace_id(trace))
                    .await
                    .expect("reads");
                assert_eq!(spans.len() as u64, SPANS_PER_TRACE, "trace {trace}");
            }
            let all = ingester
                .summaries(
                    &tenant,
                    window(0, u64::MAX),
                    &SpanFilter::default(),
                    usize::MAX,
                )
                .await
                .expect("search");
            assert_eq!(all.len() as u64, traces);
            let frontend = ingester
                .summaries(
                    &tenant,
                    window(0, u64::MAX),
                    &SpanFilter::for_service(Some("frontend")),
                    usize::MAX,
                )
                .await
                .expect("search");
            assert_eq!(frontend.len() as u64, traces / 2);
        }
    };
    check(ingester.clone()).await;
    let blocks = std::fs::read_dir(directory.path().join("blocks/single-tenant"))
        .expect("blocks")
        .count();
    assert!(blocks > 2, "cuts happened while pushing ({blocks} blocks)");
    ingester.shutdown().await.expect("shuts down");
    let reopened = Ingester::open_local(config).await.expect("reopens");
    check(reopened).await;
}
