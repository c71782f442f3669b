use weft_model::{KeyValue, SpanKind};

use super::{failed, in_trace, span};
use crate::{Connection, Limits, ServiceMapOptions, service_map};

fn checkout(trace: u64, backend_ms: u64, backend_fails: bool) -> Vec<weft_model::Span> {
    let backend = span(
        3,
        Some(2),
        "backend",
        "get",
        SpanKind::Server,
        15,
        15 + backend_ms,
    );
    let mut db_call = span(4, Some(1), "frontend", "query", SpanKind::Client, 60, 90);
    db_call.attributes.push(KeyValue::new("peer.service", "db"));
    in_trace(
        vec![
            span(1, None, "frontend", "GET /", SpanKind::Server, 0, 100),
            span(
                2,
                Some(1),
                "frontend",
                "call",
                SpanKind::Client,
                10,
                20 + backend_ms,
            ),
            if backend_fails {
                failed(backend)
            } else {
                backend
            },
            db_call,
            span(5, Some(3), "backend", "publish", SpanKind::Producer, 20, 25),
            span(
                6,
                Some(5),
                "worker",
                "consume",
                SpanKind::Consumer,
                20 + 10 * trace,
                300,
            ),
            // No kinds at all: a cross-service parent and child.
            span(
                7,
                Some(3),
                "backend",
                "plain",
                SpanKind::Unspecified,
                16,
                18,
            ),
            span(8, Some(7), "cache", "lookup", SpanKind::Unspecified, 16, 17),
        ],
        trace,
    )
}

#[test]
fn edges_count_calls_errors_and_latency_by_connection() {
    let traces = vec![
        checkout(1, 30, false),
        checkout(2, 50, true),
        checkout(3, 70, false),
    ];
    let map = service_map(
        &traces,
        &ServiceMapOptions {
            window_nanos: Some(2_000_000_000),
            ..ServiceMapOptions::default()
        },
        &Limits::default(),
    )
    .expect("map");
    let edges: Vec<(&str, &str, Connection, u64, u64)> = map
        .edges
        .iter()
        .map(|edge| {
            (
                edge.caller.as_str(),
                edge.callee.as_str(),
                edge.connection,
                edge.stats.call_count,
                edge.stats.error_count,
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            ("backend", "cache", Connection::Inferred, 3, 0),
            ("backend", "worker", Connection::Messaging, 3, 0),
            ("frontend", "backend", Connection::Rpc, 3, 1),
            ("frontend", "db", Connection::Rpc, 3, 0),
        ]
    );
    let rpc = &map.edges[2].stats;
    // Client durations 40, 60, 80.
    assert_eq!(
        (
            rpc.latency.p50_nanos,
            rpc.latency.p95_nanos,
            rpc.latency.max_nanos
        ),
        (60, 80, 80)
    );
    assert_eq!(rpc.latency.mean_nanos, 60.0);
    assert_eq!(rpc.calls_per_second, Some(1.5));
    assert!((rpc.error_rate - 1.0 / 3.0).abs() < 1e-12);
    // Delivery: consumer start less producer start = 10 * trace.
    let messaging = &map.edges[1].stats.latency;
    assert_eq!(
        (
            messaging.min_nanos,
            messaging.p50_nanos,
            messaging.max_nanos
        ),
        (10, 20, 30)
    );
    // Kind-less call: the child's duration.
    assert_eq!(map.edges[0].stats.latency.total_nanos, 3);

    let nodes: Vec<(&str, u64, u64, u64)> = map
        .nodes
        .iter()
        .map(|node| {
            (
                node.service.as_str(),
                node.span_count,
                node.error_span_count,
                node.server.call_count,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("backend", 9, 1, 3),
            ("cache", 3, 0, 3),
            ("db", 0, 0, 0),
            ("frontend", 9, 0, 3),
            ("worker", 3, 0, 3),
        ]
    );
    let backend_server = &map.nodes[0].server;
    assert_eq!(backend_server.error_count, 1);
    assert_eq!(
        (
            backend_server.latency.p50_nanos,
            backend_server.latency.p99_nanos
        ),
        (50, 70)
    );
    assert_eq!(map.coverage.traces_analyzed, 3);
    assert!(!map.coverage.truncated);
}

#[test]
fn limits_skip_traces_and_fold_nodes_with_flags() {
    let traces = vec![
        checkout(1, 30, false),
        checkout(2, 50, true),
        checkout(3, 70, false),
    ];
    let two_traces = Limits {
        max_traces: 2,
        ..Limits::default()
    };
    let map = service_map(&traces, &ServiceMapOptions::default(), &two_traces).expect("map");
    assert_eq!(map.coverage.traces_analyzed, 2);
    assert_eq!(map.coverage.traces_skipped_over_limits, 1);
    assert!(map.coverage.truncated);
    let few_spans = Limits {
        max_spans_per_trace: 7,
        ..Limits::default()
    };
    let map = service_map(&traces, &ServiceMapOptions::default(), &few_spans).expect("map");
    assert_eq!(map.coverage.traces_skipped_too_many_spans, 3);
    assert!(map.nodes.is_empty());
    let two_nodes = Limits {
        max_nodes: 2,
        ..Limits::default()
    };
    let map = service_map(&traces, &ServiceMapOptions::default(), &two_nodes).expect("map");
    assert_eq!(map.nodes.len(), 2);
    assert!(map.edges.len() <= 2);
    assert!(map.coverage.spans_dropped_over_max_nodes > 0);
    assert!(map.coverage.truncated);
}
