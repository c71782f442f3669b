use weft_model::SpanKind;

use super::{failed, in_trace, span};
use crate::{FlowNodeKey, FlowOptions, Limits, Workflow, flow_graph};

const US: u64 = 1_000;

fn workflow() -> Workflow {
    Workflow {
        root_service: "fe".to_owned(),
        root_operation: "GET /".to_owned(),
    }
}

/// Three traces of fe GET / calling a:x then b:y; the third calls b:y twice, the second
/// is dominated by a:x. A fourth trace is of another workflow.
fn traces() -> Vec<Vec<weft_model::Span>> {
    let root = |end| span(1, None, "fe", "GET /", SpanKind::Server, 0, end);
    vec![
        in_trace(
            vec![
                root(100 * US),
                span(2, Some(1), "a", "x", SpanKind::Server, 10 * US, 50 * US),
                span(3, Some(1), "b", "y", SpanKind::Server, 50 * US, 90 * US),
            ],
            1,
        ),
        in_trace(
            vec![
                root(100 * US),
                span(2, Some(1), "a", "x", SpanKind::Server, 10 * US, 80 * US),
                failed(span(
                    3,
                    Some(1),
                    "b",
                    "y",
                    SpanKind::Server,
                    20 * US,
                    40 * US,
                )),
            ],
            2,
        ),
        in_trace(
            vec![
                root(100 * US),
                span(2, Some(1), "a", "x", SpanKind::Server, 10 * US, 50 * US),
                span(3, Some(1), "b", "y", SpanKind::Server, 50 * US, 90 * US),
                span(4, Some(1), "b", "y", SpanKind::Server, 55 * US, 60 * US),
            ],
            3,
        ),
        in_trace(
            vec![span(1, None, "fe", "POST /", SpanKind::Server, 0, 100 * US)],
            4,
        ),
    ]
}

#[test]
fn nodes_carry_frequency_counts_latency_and_the_common_path() {
    let graph = flow_graph(
        traces(),
        &workflow(),
        &FlowOptions::default(),
        &Limits::default(),
    )
    .expect("flow");
    assert_eq!(graph.trace_count, 3);
    assert_eq!(graph.coverage.traces_skipped_other, 1);
    let nodes: Vec<(u32, &str, &str, Option<u32>, u64, u64, f64)> = graph
        .nodes
        .iter()
        .map(|node| {
            (
                node.id,
                node.service.as_str(),
                node.operation.as_str(),
                node.caller,
                node.span_count,
                node.trace_count,
                node.frequency,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            (0, "fe", "GET /", None, 3, 3, 1.0),
            (1, "a", "x", Some(0), 3, 3, 1.0),
            (2, "b", "y", Some(0), 4, 3, 1.0),
        ]
    );
    let b = &graph.nodes[2];
    assert_eq!(b.per_trace.max, 2);
    assert!((b.per_trace.mean - 4.0 / 3.0).abs() < 1e-12);
    assert_eq!(b.error_count, 1);
    // b:y durations 40, 20, 40, 5 µs.
    assert_eq!(
        (
            b.latency.p50_nanos,
            b.latency.p95_nanos,
            b.latency.min_nanos
        ),
        (20 * US, 40 * US, 5 * US)
    );
    let counted: Vec<(Option<u64>, u64)> = b
        .histogram
        .iter()
        .filter(|bucket| bucket.count > 0)
        .map(|bucket| (bucket.upper_bound_nanos, bucket.count))
        .collect();
    assert_eq!(
        counted,
        vec![(Some(5 * US), 1), (Some(20 * US), 1), (Some(50 * US), 2)]
    );
    let edges: Vec<(u32, u32, u64, u64, bool)> = graph
        .edges
        .iter()
        .map(|edge| {
            (
                edge.caller,
                edge.callee,
                edge.call_count,
                edge.trace_count,
                edge.on_common_path,
            )
        })
        .collect();
    assert_eq!(edges, vec![(0, 1, 3, 3, true), (0, 2, 4, 3, true)]);
    // Critical paths: traces 1 and 3 go root, a:x, b:y, root; trace 2 root, a:x, root.
    let common = graph.common_path.as_ref().expect("common path");
    assert_eq!(common.nodes, vec![0, 1, 2, 0]);
    assert_eq!(common.trace_count, 2);
    assert!((common.fraction - 2.0 / 3.0).abs() < 1e-12);
    assert!(graph.nodes.iter().all(|node| node.on_common_path));
}

#[test]
fn operation_keys_merge_callers_and_calling_positions_do_not() {
    let spans = vec![
        span(1, None, "fe", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "a", "x", SpanKind::Server, 10, 50),
        span(3, Some(2), "c", "z", SpanKind::Server, 20, 30),
        span(4, Some(1), "c", "z", SpanKind::Server, 60, 70),
    ];
    let by_position = flow_graph(
        [&spans],
        &workflow(),
        &FlowOptions::default(),
        &Limits::default(),
    )
    .expect("flow");
    let described: Vec<(u32, &str, Option<u32>, u32)> = by_position
        .nodes
        .iter()
        .map(|node| (node.id, node.service.as_str(), node.caller, node.depth))
        .collect();
    assert_eq!(
        described,
        vec![
            (0, "fe", None, 0),
            (1, "a", Some(0), 1),
            (2, "c", Some(0), 1),
            (3, "c", Some(1), 2)
        ]
    );
    let by_operation = flow_graph(
        [&spans],
        &workflow(),
        &FlowOptions {
            node_key: FlowNodeKey::Operation,
            ..FlowOptions::default()
        },
        &Limits::default(),
    )
    .expect("flow");
    assert_eq!(by_operation.nodes.len(), 3);
    let c = by_operation
        .nodes
        .iter()
        .find(|node| node.service == "c")
        .expect("c");
    assert_eq!((c.span_count, c.depth, c.caller), (2, 1, None));
    let into_c: Vec<u32> = by_operation
        .edges
        .iter()
        .filter(|edge| edge.callee == c.id)
        .map(|edge| edge.caller)
        .collect();
    assert_eq!(into_c.len(), 2);
}

#[test]
fn max_nodes_drops_spans_and_says_so() {
    let graph = flow_graph(
        traces(),
        &workflow(),
        &FlowOptions::default(),
        &Limits {
            max_nodes: 2,
            ..Limits::default()
        },
    )
    .expect("flow");
    assert_eq!(graph.nodes.len(), 2);
    assert_eq!(graph.coverage.spans_dropped_over_max_nodes, 4);
    assert!(graph.coverage.truncated);
}
