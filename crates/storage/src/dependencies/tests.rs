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

/// A client of `from` calling `to`, alone in its trace (one link from -> to).
fn call(trace: u64, from: &str, to: &str, error: bool) -> Vec<LinkSpan> {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(1), "call");
    span.kind = SpanKind::Client;
    span.resource = Arc::new(Resource::for_service(from));
    span.attributes.push(KeyValue::new("peer.service", to));
    if error {
        span.attributes.push(KeyValue::new("error", "boom"));
    }
    vec![LinkSpan::from_span(&span)]
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
    buckets.add_part(T0 + 10, call(1, "a", "b", false));
    buckets.add_part(T0 + MINUTE + 10, call(2, "a", "b", true));
    buckets.add_part(T0 + 2 * MINUTE, call(3, "b", "c", false));
    buckets.add_part(0, call(4, "x", "y", false));
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
    buckets.add_part(T0 + 10, call(1, "frontend", "backend", true));
    buckets.add_part(T0 + 20, call(2, "frontend", "backend", false));
    buckets.add_part(T0 + 5 * MINUTE, call(3, "backend", "db", false));
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
