use std::sync::Arc;

use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TraceId};

use super::*;

const MINUTE: u64 = DEPENDENCY_BUCKET_NANOS;
/// A bucket boundary.
const T0: u64 = 28_333_333 * MINUTE;

fn window(start_unix_nanos: u64, end_unix_nanos: u64) -> TimeWindow {
    TimeWindow {
        start_unix_nanos,
        end_unix_nanos,
    }
}

fn trace_id(trace: u64) -> TraceId {
    TraceId::from_halves(0, trace)
}

/// A self-contained part: `from`'s root and its client calling `to` (one link from -> to).
fn call(trace: u64, from: &str, to: &str, error: bool) -> Vec<LinkSpan> {
    let mut root = Span::new(trace_id(trace), SpanId::from_u64(1), "job");
    root.resource = Arc::new(Resource::for_service(from));
    let mut span = Span::new(trace_id(trace), SpanId::from_u64(2), "call");
    span.parent_span_id = Some(root.span_id);
    span.kind = SpanKind::Client;
    span.resource = Arc::new(Resource::for_service(from));
    span.attributes.push(KeyValue::new("peer.service", to));
    if error {
        span.attributes.push(KeyValue::new("error", "boom"));
    }
    vec![LinkSpan::from_span(&root), LinkSpan::from_span(&span)]
}

fn sum(buckets: &DependencyBuckets, window: TimeWindow) -> Vec<(String, String, u64, u64)> {
    let mut linker = DependencyLinker::new();
    buckets.sum_whole_buckets(window, &mut linker);
    linker
        .links()
        .into_iter()
        .map(|link| (link.parent, link.child, link.call_count, link.error_count))
        .collect()
}

#[test]
fn split_window_separates_whole_buckets_from_the_edges() {
    // Aligned on both sides: all whole.
    assert_eq!(
        split_window(window(T0, T0 + 2 * MINUTE - 1)),
        (Some(window(T0, T0 + 2 * MINUTE - 1)), Vec::new())
    );
    // Cut on both sides.
    assert_eq!(
        split_window(window(T0 + 5, T0 + 3 * MINUTE + 7)),
        (
            Some(window(T0 + MINUTE, T0 + 3 * MINUTE - 1)),
            vec![
                window(T0 + 5, T0 + MINUTE - 1),
                window(T0 + 3 * MINUTE, T0 + 3 * MINUTE + 7)
            ]
        )
    );
    // Ends one nanosecond short of a bucket end: that bucket is an edge.
    assert_eq!(
        split_window(window(T0, T0 + 2 * MINUTE - 2)),
        (
            Some(window(T0, T0 + MINUTE - 1)),
            vec![window(T0 + MINUTE, T0 + 2 * MINUTE - 2)]
        )
    );
    // Inside one bucket, or across one boundary without a whole bucket: all edge.
    let small = window(T0 + 1, T0 + 10);
    assert_eq!(split_window(small), (None, vec![small]));
    let across = window(T0 + MINUTE - 1, T0 + MINUTE + 1);
    assert_eq!(split_window(across), (None, vec![across]));
    // Extremes do not overflow.
    let all = window(0, u64::MAX);
    let (whole, edges) = split_window(all);
    assert_eq!(whole.map(|w| w.start_unix_nanos), Some(0));
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].end_unix_nanos, u64::MAX);
    assert_eq!(split_window(window(5, 4)), (None, Vec::new()));
}

#[test]
fn whole_buckets_inside_the_window_are_summed_and_cut_ones_are_not() {
    let mut buckets = DependencyBuckets::new();
    buckets.add_part(T0 + 10, trace_id(1), call(1, "a", "b", false));
    buckets.add_part(T0 + MINUTE + 10, trace_id(2), call(2, "a", "b", true));
    buckets.add_part(T0 + 2 * MINUTE, trace_id(3), call(3, "b", "c", false));
    buckets.add_part(0, trace_id(4), call(4, "x", "y", false));
    let a_b = |calls, errors| (String::from("a"), String::from("b"), calls, errors);
    assert_eq!(
        sum(&buckets, window(T0, T0 + 2 * MINUTE - 1)),
        vec![a_b(2, 1)]
    );
    // The window cuts the first bucket (starts 1 ns late): only the second is whole.
    assert_eq!(
        sum(&buckets, window(T0 + 1, T0 + 2 * MINUTE - 1)),
        vec![a_b(1, 1)]
    );
    // The window ends 1 ns before the third bucket's end: not counted.
    assert_eq!(
        sum(&buckets, window(T0 + MINUTE, T0 + 3 * MINUTE - 2)),
        vec![a_b(1, 1)]
    );
    assert_eq!(sum(&buckets, window(T0 + 1, T0 + 100)), Vec::new());
    assert_eq!(
        sum(&buckets, window(0, u64::MAX)).len(),
        2,
        "no timestamp, no link"
    );
}

#[test]
fn buckets_round_trip_through_json_and_bad_files_are_corrupt() {
    let mut buckets = DependencyBuckets::new();
    buckets.add_part(T0 + 10, trace_id(1), call(1, "frontend", "backend", true));
    buckets.add_part(T0 + 20, trace_id(2), call(2, "frontend", "backend", false));
    buckets.add_part(
        T0 + 5 * MINUTE,
        trace_id(3),
        call(3, "backend", "db", false),
    );
    let json = buckets.to_json().expect("encodes");
    let text = String::from_utf8(json.clone()).expect("utf-8");
    assert!(
        text.contains(r#""services":["backend","db","frontend"]"#),
        "{text}"
    );
    assert!(
        text.contains("[2,0,2,1]"),
        "frontend -> backend, 2 calls, 1 error: {text}"
    );
    let parsed = DependencyBuckets::from_json(&json, "deps").expect("parses");
    let everything = window(0, u64::MAX);
    assert_eq!(sum(&parsed, everything), sum(&buckets, everything));
    assert_eq!(
        sum(&parsed, window(T0, T0 + MINUTE - 1)),
        vec![(String::from("frontend"), String::from("backend"), 2, 1)]
    );

    let bad = [
        r#"{"format_version":2,"bucket_seconds":60,"services":[],"buckets":[]}"#,
        r#"{"format_version":1,"bucket_seconds":1,"services":[],"buckets":[]}"#,
        r#"{"format_version":1,"bucket_seconds":18446744073709551615,"services":[],"buckets":[]}"#,
        r#"{"format_version":1,"bucket_seconds":60,"services":["a"],"buckets":[{"start_unix_nanos":0,"links":[[0,1,1,0]]}]}"#,
        r#"{"format_version":1,"bucket_seconds":60,"services":[],"buckets":[{"start_unix_nanos":7,"links":[]}]}"#,
        r#"{"format_version":1,"bucket_seconds":60,"services":[],"buckets":[],"extra":1}"#,
        "not json",
    ];
    for text in bad {
        assert!(
            matches!(
                DependencyBuckets::from_json(text.as_bytes(), "deps"),
                Err(StorageError::Corrupt { .. })
            ),
            "{text}"
        );
    }
}

#[test]
fn parts_that_are_not_self_contained_are_recorded_by_trace_id_not_linked() {
    let mut buckets = DependencyBuckets::new();
    buckets.add_part(T0 + 10, trace_id(1), call(1, "a", "b", false));
    // The client alone: its parent is in another part.
    let client_only = call(2, "a", "b", false).split_off(1);
    buckets.add_part(T0 + MINUTE + 10, trace_id(2), client_only.clone());
    buckets.add_part(T0 + 3 * MINUTE, trace_id(3), client_only.clone());
    let everything = window(0, u64::MAX);
    assert_eq!(
        sum(&buckets, everything),
        vec![(String::from("a"), String::from("b"), 1, 0)]
    );
    assert!(!buckets.sums_every_part());
    let split = |buckets: &DependencyBuckets, window| -> Vec<TraceId> {
        buckets.split_traces_in(window).collect()
    };
    assert_eq!(split(&buckets, everything), [trace_id(2), trace_id(3)]);
    // By bucket: any bucket the window overlaps.
    assert_eq!(
        split(&buckets, window(T0 + MINUTE + 59, T0 + MINUTE + 59)),
        [trace_id(2)]
    );
    assert_eq!(split(&buckets, window(T0, T0 + MINUTE - 1)), []);

    let json = buckets.to_json().expect("encodes");
    let text = String::from_utf8(json.clone()).expect("utf-8");
    assert!(text.contains(&trace_id(2).to_hex()), "{text}");
    let parsed = DependencyBuckets::from_json(&json, "deps").expect("parses");
    assert_eq!(split(&parsed, everything), [trace_id(2), trace_id(3)]);
    assert_eq!(sum(&parsed, everything), sum(&buckets, everything));
    assert!(!parsed.sums_every_part());

    // A file written before split traces were recorded summed every part.
    let old = r#"{"format_version":1,"bucket_seconds":60,"services":["a","b"],"buckets":[{"start_unix_nanos":0,"links":[[0,1,1,0]]}]}"#;
    let old = DependencyBuckets::from_json(old.as_bytes(), "deps").expect("parses");
    assert!(old.sums_every_part());
    assert_eq!(split(&old, everything), []);

    let bad = [
        r#"{"format_version":1,"bucket_seconds":60,"services":[],"buckets":[],"split_traces":[{"start_unix_nanos":7,"trace_ids":[]}]}"#,
        r#"{"format_version":1,"bucket_seconds":60,"services":[],"buckets":[],"split_traces":[{"start_unix_nanos":0,"trace_ids":["xyz"]}]}"#,
        r#"{"format_version":1,"bucket_seconds":60,"services":[],"buckets":[],"split_traces":[{"start_unix_nanos":0,"trace_ids":[]},{"start_unix_nanos":0,"trace_ids":[]}]}"#,
    ];
    for text in bad {
        assert!(
            matches!(
                DependencyBuckets::from_json(text.as_bytes(), "deps"),
                Err(StorageError::Corrupt { .. })
            ),
            "{text}"
        );
    }
}
