use weft_model::{KeyValue, Link, SpanId, SpanKind};

use super::{BASE, hex, span, with_host};
use crate::{AnalyticsError, Limits, OrphanPolicy, TreeOptions, critical_path};

/// (span id, start, end) of each segment, offsets from BASE.
fn segments(spans: &[weft_model::Span], options: &TreeOptions) -> Vec<(u64, u64, u64)> {
    let path = critical_path(spans, options, &Limits::default()).expect("critical path");
    let total: u64 = path
        .segments
        .iter()
        .map(|segment| segment.duration_nanos)
        .sum();
    assert_eq!(total, path.total_nanos, "segments cover the root exactly");
    path.segments
        .iter()
        .map(|segment| {
            (
                u64::from_str_radix(&segment.span_id, 16).expect("hex id"),
                segment.start_unix_nanos - BASE,
                segment.end_unix_nanos - BASE,
            )
        })
        .collect()
}

#[test]
fn sequential_children_alternate_with_parent_self_time() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "api", "auth", SpanKind::Internal, 10, 30),
        span(3, Some(1), "api", "query", SpanKind::Internal, 40, 90),
    ];
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![
            (1, 0, 10),
            (2, 10, 30),
            (1, 30, 40),
            (3, 40, 90),
            (1, 90, 100)
        ]
    );
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    let self_times: Vec<(String, u64)> = path
        .spans
        .iter()
        .map(|span| (span.span_id.clone(), span.self_time_on_path_nanos))
        .collect();
    assert_eq!(self_times, vec![(hex(3), 50), (hex(1), 30), (hex(2), 20)]);
    assert_eq!(path.spans[0].fraction_of_total, 0.5);
}

#[test]
fn parallel_children_the_last_to_finish_at_each_point_is_on_the_path() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "a", "A", SpanKind::Client, 10, 80),
        span(3, Some(1), "b", "B", SpanKind::Client, 10, 60),
        span(4, Some(1), "c", "C", SpanKind::Client, 20, 90),
    ];
    // From 100 back: C ends last (90); at C's start (20) A is still running, B too but
    // A ends later; at A's start (10) nothing is.
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![(1, 0, 10), (2, 10, 20), (4, 20, 90), (1, 90, 100)]
    );
}

#[test]
fn grandchildren_in_parallel_are_walked_inside_their_parent() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "api", "A", SpanKind::Internal, 10, 90),
        span(3, Some(2), "api", "A1", SpanKind::Internal, 20, 50),
        span(4, Some(2), "api", "A2", SpanKind::Internal, 30, 80),
    ];
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![
            (1, 0, 10),
            (2, 10, 20),
            (3, 20, 30),
            (4, 30, 80),
            (2, 80, 90),
            (1, 90, 100)
        ]
    );
}

#[test]
fn async_children_are_left_off_and_late_sync_children_are_clipped() {
    let mut follows_from = span(5, None, "mailer", "send", SpanKind::Internal, 20, 200);
    follows_from.links.push(Link {
        trace_id: follows_from.trace_id,
        span_id: SpanId::from_u64(1),
        trace_state: String::new(),
        attributes: vec![KeyValue::new("opentracing.ref_type", "follows_from")],
        dropped_attributes_count: 0,
        flags: 0,
    });
    let spans = vec![
        span(1, None, "api", "POST /order", SpanKind::Server, 0, 100),
        span(2, Some(1), "api", "publish", SpanKind::Producer, 10, 20),
        span(3, Some(2), "worker", "consume", SpanKind::Consumer, 50, 300),
        span(4, Some(1), "api", "background", SpanKind::Internal, 60, 150),
        follows_from,
    ];
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![(1, 0, 10), (2, 10, 20), (1, 20, 60), (4, 60, 100)]
    );
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.async_span_count, 2);
    assert_eq!(path.total_nanos, 100);
}

#[test]
fn a_server_outside_its_client_is_centred_in_it_with_its_descendants() {
    let spans = vec![
        with_host(
            span(1, None, "web", "GET /", SpanKind::Server, 900, 1200),
            "10.0.0.1",
        ),
        with_host(
            span(2, Some(1), "web", "call api", SpanKind::Client, 1000, 1100),
            "10.0.0.1",
        ),
        // The api host's clock is 510 behind: its spans were recorded 510 too early.
        with_host(
            span(3, Some(2), "api", "handle", SpanKind::Server, 500, 580),
            "10.0.0.2",
        ),
        with_host(
            span(4, Some(3), "api", "db", SpanKind::Internal, 520, 560),
            "10.0.0.2",
        ),
    ];
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.clock_skew.corrected_span_count, 1);
    assert_eq!(path.clock_skew.corrections[0].span_id, hex(3));
    assert_eq!(path.clock_skew.corrections[0].shift_nanos, 510);
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![
            (1, 900, 1000),
            (2, 1000, 1010),
            (3, 1010, 1030),
            (4, 1030, 1070),
            (3, 1070, 1090),
            (2, 1090, 1100),
            (1, 1100, 1200)
        ]
    );
    // Without correction the server lies before its client and is not on the path.
    let uncorrected = TreeOptions {
        correct_clock_skew: false,
        ..TreeOptions::default()
    };
    assert_eq!(
        segments(&spans, &uncorrected),
        vec![(1, 900, 1000), (2, 1000, 1100), (1, 1100, 1200)]
    );
}

#[test]
fn skew_is_not_corrected_inside_the_parent_nor_for_a_longer_child() {
    let inside = vec![
        with_host(
            span(1, None, "web", "GET /", SpanKind::Client, 0, 100),
            "10.0.0.1",
        ),
        with_host(
            span(2, Some(1), "api", "h", SpanKind::Server, 5, 60),
            "10.0.0.2",
        ),
    ];
    let path = critical_path(&inside, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.clock_skew.corrected_span_count, 0);
    assert_eq!(path.segments[1].start_unix_nanos - BASE, 5);
    let longer = vec![
        with_host(
            span(1, None, "web", "GET /", SpanKind::Client, 0, 100),
            "10.0.0.1",
        ),
        with_host(
            span(2, Some(1), "api", "h", SpanKind::Server, 500, 650),
            "10.0.0.2",
        ),
    ];
    let path = critical_path(&longer, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.clock_skew.uncorrectable_span_count, 1);
    assert_eq!(path.clock_skew.corrected_span_count, 0);
}

#[test]
fn orphans_attach_to_the_root_or_stand_alone() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(7, Some(99), "db", "SELECT", SpanKind::Server, 20, 40),
    ];
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![(1, 0, 20), (7, 20, 40), (1, 40, 100)]
    );
    let separate = TreeOptions {
        orphans: OrphanPolicy::SeparateRoots,
        ..TreeOptions::default()
    };
    assert_eq!(segments(&spans, &separate), vec![(1, 0, 100)]);
    let path = critical_path(&spans, &separate, &Limits::default()).expect("path");
    assert_eq!(path.orphan_span_count, 1);
}

#[test]
fn a_headless_trace_takes_its_earliest_orphan_as_root() {
    let spans = vec![
        span(3, Some(99), "db", "SELECT", SpanKind::Server, 20, 40),
        span(2, Some(98), "api", "GET /", SpanKind::Server, 0, 100),
    ];
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.root_span_id, hex(2));
    assert_eq!(path.orphan_span_count, 2);
    assert_eq!(path.total_nanos, 100);
}

#[test]
fn shared_zipkin_halves_nest_server_under_client() {
    let client = span(2, Some(1), "web", "get", SpanKind::Client, 10, 90);
    let mut server = span(2, Some(1), "api", "get", SpanKind::Server, 20, 80);
    server.shared = true;
    let spans = vec![
        span(1, None, "web", "GET /", SpanKind::Server, 0, 100),
        server,
        client,
        span(3, Some(2), "api", "db", SpanKind::Client, 30, 70),
    ];
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![
            (1, 0, 10),
            (2, 10, 20),
            (2, 20, 30),
            (3, 30, 70),
            (2, 70, 80),
            (2, 80, 90),
            (1, 90, 100)
        ]
    );
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    let services: Vec<&str> = path.segments.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, ["web", "web", "api", "api", "api", "web", "web"]);
}

#[test]
fn fragments_of_one_span_merge() {
    let mut late = span(2, Some(1), "api", "", SpanKind::Unspecified, 30, 95);
    late.start_unix_nanos = BASE + 30;
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "api", "work", SpanKind::Internal, 10, 50),
        late,
    ];
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.span_count, 2);
    assert_eq!(
        segments(&spans, &TreeOptions::default()),
        vec![(1, 0, 10), (2, 10, 95), (1, 95, 100)]
    );
    assert_eq!(path.segments[1].name, "work");
}

#[test]
fn parent_cycles_are_broken_not_followed() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(3), "api", "a", SpanKind::Internal, 10, 20),
        span(3, Some(2), "api", "b", SpanKind::Internal, 30, 40),
    ];
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.total_nanos, 100);
    assert_eq!(path.orphan_span_count, 1);
    assert_eq!(path.span_count, 3);
}

#[test]
fn a_deep_chain_is_walked_without_recursion() {
    let depth = 200_000u64;
    let spans: Vec<weft_model::Span> = (0..depth)
        .map(|level| {
            let parent = level.checked_sub(1).map(|parent| parent + 1);
            span(
                level + 1,
                parent,
                "svc",
                "step",
                SpanKind::Internal,
                level,
                2 * depth - level,
            )
        })
        .collect();
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    assert_eq!(path.total_nanos, 2 * depth);
    assert_eq!(path.segments.len() as u64, 2 * depth - 1);
    assert_eq!(path.spans.len() as u64, depth);
}

#[test]
fn limits_and_bad_input_are_errors() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "api", "a", SpanKind::Internal, 10, 20),
    ];
    let small = Limits {
        max_spans_per_trace: 1,
        ..Limits::default()
    };
    assert_eq!(
        critical_path(&spans, &TreeOptions::default(), &small),
        Err(AnalyticsError::TooManySpans {
            span_count: 2,
            limit: 1
        })
    );
    assert_eq!(
        critical_path(&[], &TreeOptions::default(), &Limits::default()),
        Err(AnalyticsError::EmptyTrace)
    );
    let mut untimed = span(1, None, "api", "GET /", SpanKind::Server, 0, 100);
    untimed.start_unix_nanos = 0;
    assert!(matches!(
        critical_path(&[untimed], &TreeOptions::default(), &Limits::default()),
        Err(AnalyticsError::UntimedRoot { .. })
    ));
    let zero = Limits {
        max_nodes: 0,
        ..Limits::default()
    };
    assert!(matches!(
        critical_path(&spans, &TreeOptions::default(), &zero),
        Err(AnalyticsError::InvalidLimit {
            name: "max_nodes",
            ..
        })
    ));
}

#[test]
fn the_json_shape_is_stable() {
    let spans = vec![
        span(1, None, "api", "GET /", SpanKind::Server, 0, 100),
        span(2, Some(1), "db", "SELECT", SpanKind::Client, 10, 30),
    ];
    let path = critical_path(&spans, &TreeOptions::default(), &Limits::default()).expect("path");
    let json = serde_json::to_value(&path).expect("json");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "async_span_count",
            "clock_skew",
            "end_unix_nanos",
            "orphan_span_count",
            "root_span_id",
            "segments",
            "span_count",
            "spans",
            "start_unix_nanos",
            "total_nanos",
            "trace_id"
        ]
    );
    assert_eq!(
        json["segments"][1],
        serde_json::json!({
            "span_id": hex(2),
            "service": "db",
            "name": "SELECT",
            "start_unix_nanos": BASE + 10,
            "end_unix_nanos": BASE + 30,
            "duration_nanos": 20
        })
    );
    assert_eq!(json["trace_id"], "00000000000000000000000000000001");
}
