use weft_model::SpanKind;

use super::{in_trace, span};
use crate::{
    Limits, Presence, TreeOptions, calling_context_tree, compare_trace_sets, compare_traces,
};

#[test]
fn contexts_merge_across_traces_with_inclusive_and_exclusive_time() {
    let traces = vec![
        in_trace(
            vec![
                span(1, None, "web", "GET /a", SpanKind::Server, 0, 100),
                span(2, Some(1), "api", "get", SpanKind::Server, 0, 100),
                span(3, Some(2), "db", "q", SpanKind::Client, 10, 60),
                span(4, Some(2), "db", "q", SpanKind::Client, 40, 80),
            ],
            1,
        ),
        in_trace(
            vec![
                span(1, None, "web", "GET /a", SpanKind::Server, 0, 50),
                span(2, Some(1), "api", "get", SpanKind::Server, 5, 45),
                span(3, Some(2), "db", "q", SpanKind::Client, 10, 20),
            ],
            2,
        ),
        in_trace(
            vec![
                span(1, None, "web", "GET /b", SpanKind::Server, 0, 30),
                span(2, Some(1), "api", "get", SpanKind::Server, 10, 20),
            ],
            3,
        ),
    ];
    let tree =
        calling_context_tree(&traces, &TreeOptions::default(), &Limits::default()).expect("cct");
    assert_eq!(tree.trace_count, 3);
    let nodes: Vec<(u32, Option<u32>, &str, &str, u64, u64)> = tree
        .nodes
        .iter()
        .map(|node| {
            (
                node.id,
                node.parent,
                node.service.as_str(),
                node.operation.as_str(),
                node.span_count,
                node.trace_count,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            (0, None, "web", "GET /a", 2, 2),
            (1, Some(0), "api", "get", 2, 2),
            (2, Some(1), "db", "q", 3, 2),
            (3, None, "web", "GET /b", 1, 1),
            (4, Some(3), "api", "get", 1, 1),
        ]
    );
    assert_eq!(tree.roots, vec![0, 3]);
    let api = &tree.nodes[1];
    // Trace 1: 100 less the union of [10,60] and [40,80] = 30; trace 2: 40 - 10 = 30.
    assert_eq!(api.exclusive.total_nanos, 60);
    assert_eq!(api.inclusive.total_nanos, 140);
    assert_eq!(
        (api.inclusive.p50_nanos, api.inclusive.max_nanos),
        (40, 100)
    );
    let db = &tree.nodes[2];
    assert_eq!(db.inclusive.total_nanos, 50 + 40 + 10);
    assert_eq!(db.exclusive.total_nanos, 100);
    // Trace 1's root has none of its own, trace 2's has 10 (40 of 50 in api).
    assert_eq!(tree.nodes[0].exclusive.total_nanos, 10);
}

#[test]
fn two_traces_align_by_context_ranked_by_time_difference() {
    let a = vec![
        span(1, None, "web", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "svc-x", "x", SpanKind::Server, 10, 40),
        span(3, Some(1), "svc-y", "y", SpanKind::Server, 50, 60),
        span(4, Some(3), "svc-y", "inner", SpanKind::Internal, 52, 54),
    ];
    let b = in_trace(
        vec![
            span(1, None, "web", "GET /", SpanKind::Server, 0, 150),
            span(2, Some(1), "svc-x", "x", SpanKind::Server, 10, 100),
            span(3, Some(1), "svc-z", "z", SpanKind::Server, 100, 110),
        ],
        2,
    );
    let comparison =
        compare_traces(&a, &b, &TreeOptions::default(), &Limits::default()).expect("diff");
    // Exclusive deltas: x 30 -> 90; z 0 -> 10 (ties with the root's 60 -> 50 and wins on
    // count); y 8 -> 0; inner 2 -> 0.
    let ranked: Vec<(String, Presence, i64, i64)> = comparison
        .nodes
        .iter()
        .map(|node| {
            let last = node.path.last().expect("path");
            (
                format!("{}:{}", last.service, last.operation),
                node.presence,
                node.exclusive_delta_nanos,
                node.count_delta,
            )
        })
        .collect();
    assert_eq!(
        ranked,
        vec![
            ("svc-x:x".to_owned(), Presence::Both, 60, 0),
            ("svc-z:z".to_owned(), Presence::OnlyB, 10, 1),
            ("web:GET /".to_owned(), Presence::Both, -10, 0),
            ("svc-y:y".to_owned(), Presence::OnlyA, -8, -1),
            ("svc-y:inner".to_owned(), Presence::OnlyA, -2, -1),
        ]
    );
    // The y subtree is listed once, at its top.
    assert_eq!(comparison.only_in_a.len(), 1);
    assert_eq!(comparison.only_in_a[0].len(), 2);
    assert_eq!(comparison.only_in_a[0][1].operation, "y");
    assert_eq!(comparison.only_in_b.len(), 1);
    assert_eq!(comparison.only_in_b[0][1].service, "svc-z");
    assert_eq!(
        (comparison.a.duration_nanos, comparison.b.duration_nanos),
        (100, 150)
    );
    assert_eq!(comparison.nodes[0].a.inclusive_nanos, 30);
    assert_eq!(comparison.nodes[0].b.inclusive_nanos, 90);
}

#[test]
fn sets_rank_contexts_by_their_part_in_the_mean_difference() {
    let fast = |number| {
        in_trace(
            vec![
                span(1, None, "web", "GET /", SpanKind::Server, 0, 100),
                span(2, Some(1), "db", "q", SpanKind::Client, 10, 30),
            ],
            number,
        )
    };
    let slow = |number, with_cache: bool| {
        let mut spans = vec![
            span(1, None, "web", "GET /", SpanKind::Server, 0, 200),
            span(2, Some(1), "db", "q", SpanKind::Client, 10, 110),
        ];
        if with_cache {
            spans.push(span(3, Some(1), "cache", "get", SpanKind::Client, 120, 130));
        }
        in_trace(spans, number)
    };
    let comparison = compare_trace_sets(
        vec![fast(1), fast(2)],
        vec![slow(3, true), slow(4, false)],
        &TreeOptions::default(),
        &Limits::default(),
    )
    .expect("diff");
    assert_eq!((comparison.a.trace_count, comparison.b.trace_count), (2, 2));
    assert_eq!(comparison.a.duration.mean_nanos, 100.0);
    assert_eq!(comparison.b.duration.mean_nanos, 200.0);
    let ranked: Vec<(String, f64)> = comparison
        .nodes
        .iter()
        .map(|node| {
            let last = node.path.last().expect("path");
            (last.service.clone(), node.contribution_nanos)
        })
        .collect();
    assert_eq!(
        ranked,
        vec![
            ("db".to_owned(), 80.0),
            ("web".to_owned(), 15.0),
            ("cache".to_owned(), 5.0)
        ]
    );
    let total: f64 = ranked.iter().map(|(_, contribution)| contribution).sum();
    assert_eq!(total, 100.0);
    let cache = &comparison.nodes[2];
    assert_eq!(cache.b.trace_frequency, 0.5);
    assert_eq!(cache.a.trace_frequency, 0.0);
    assert_eq!(cache.b.exclusive_per_trace_median_nanos, 0);
    assert_eq!(cache.b.inclusive_median_nanos, 10);
    let db = &comparison.nodes[0];
    assert_eq!(
        (
            db.a.exclusive_per_trace_median_nanos,
            db.b.exclusive_per_trace_median_nanos
        ),
        (20, 100)
    );
    assert_eq!(db.b.spans_per_trace, 1.0);
}
