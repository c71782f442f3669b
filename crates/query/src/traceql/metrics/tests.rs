//! Metrics over hand-built spans with answers worked out by hand.

use std::sync::Arc;

use weft_model::{AttributeValue, KeyValue, Resource, Span, SpanId, StatusCode, TraceId};

use super::log2::{Bucket, bucketize, quantile};
use super::*;
use crate::traceql::parse;

const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
/// A multiple of every step used here.
const T0: u64 = 1_700_000_000 * SECOND;
const T0_MS: i64 = 1_700_000_000_000;

fn span(trace: u64, id: u64, service: &str, offset_ms: u64, duration_ms: u64) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = T0 + offset_ms * MS;
    span.duration_nanos = duration_ms * MS;
    span.attributes
        .push(KeyValue::new("size", AttributeValue::Int(id as i64 * 10)));
    span
}

/// Trace 1 (service api): spans at +1 s (100 ms), +2 s (300 ms), +12 s (1 s).
/// Trace 2 (service db): spans at +5 s (50 ms), +15 s (2 s, error), +20 s (500 ms).
fn traces() -> Vec<Vec<Span>> {
    let mut error = span(2, 5, "db", 15_000, 2_000);
    error.status.code = StatusCode::Error;
    vec![
        vec![
            span(1, 1, "api", 1_000, 100),
            span(1, 2, "api", 2_000, 300),
            span(1, 3, "api", 12_000, 1_000),
        ],
        vec![
            span(2, 4, "db", 5_000, 50),
            error,
            span(2, 6, "db", 20_000, 500),
        ],
    ]
}

fn range(start: u64, end: u64, step: u64) -> RangeRequest {
    RangeRequest {
        start_unix_nanos: start,
        end_unix_nanos: end,
        step_nanos: step,
        instant: false,
        max_exemplars: 0,
    }
}

fn run(query: &str, request: RangeRequest) -> Vec<Series> {
    let query = parse(query).expect("query parses");
    let spec = query.metrics_spec().expect("metrics query");
    let mut aggregator = MetricsAggregator::new(spec, request);
    for trace in traces() {
        let observations = query.metrics_observations(&trace).expect("evaluates");
        aggregator.observe(&observations);
    }
    aggregator.finish()
}

/// Each series as `labels => [(seconds after T0, value)]`.
fn table(series: &[Series]) -> Vec<(String, Vec<(i64, f64)>)> {
    series
        .iter()
        .map(|series| {
            let labels: Vec<String> = series
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={}", value.to_text()))
                .collect();
            let samples = series
                .samples
                .iter()
                .map(|s| ((s.timestamp_millis - T0_MS) / 1000, s.value))
                .collect();
            (labels.join(","), samples)
        })
        .collect()
}

fn three_steps() -> RangeRequest {
    range(T0, T0 + 30 * SECOND, 10 * SECOND)
}

fn expect(query: &str, expected: &[(&str, &[(i64, f64)])]) {
    let got = table(&run(query, three_steps()));
    let expected: Vec<(String, Vec<(i64, f64)>)> = expected
        .iter()
        .map(|(labels, samples)| (labels.to_string(), samples.to_vec()))
        .collect();
    assert_eq!(got, expected, "{query}");
}

#[test]
fn count_and_rate_fill_empty_intervals_with_zero() {
    // Intervals are right-closed: the span at +20 s counts in (10 s, 20 s].
    expect(
        "{ } | count_over_time()",
        &[(
            "__name__=count_over_time",
            &[(10, 3.0), (20, 3.0), (30, 0.0)],
        )],
    );
    expect(
        "{ } | rate()",
        &[("__name__=rate", &[(10, 0.3), (20, 0.3), (30, 0.0)])],
    );
}

#[test]
fn by_groups_and_names_labels_as_the_query_does() {
    expect(
        "{ } | count_over_time() by (resource.service.name)",
        &[
            (
                "resource.service.name=api",
                &[(10, 2.0), (20, 1.0), (30, 0.0)],
            ),
            (
                "resource.service.name=db",
                &[(10, 1.0), (20, 2.0), (30, 0.0)],
            ),
        ],
    );
    expect(
        "{ } | rate() by (span.missing)",
        &[("span.missing=nil", &[(10, 0.3), (20, 0.3), (30, 0.0)])],
    );
    expect(
        "{ status = error } | count_over_time() by (.service.name, span.missing)",
        &[(".service.name=db", &[(10, 0.0), (20, 1.0), (30, 0.0)])],
    );
}

#[test]
fn over_time_functions_read_durations_in_seconds() {
    let by = "by (resource.service.name)";
    expect(
        &format!("{{ }} | sum_over_time(duration) {by}"),
        &[
            ("resource.service.name=api", &[(10, 0.4), (20, 1.0)]),
            ("resource.service.name=db", &[(10, 0.05), (20, 2.5)]),
        ],
    );
    expect(
        &format!("{{ }} | min_over_time(duration) {by}"),
        &[
            ("resource.service.name=api", &[(10, 0.1), (20, 1.0)]),
            ("resource.service.name=db", &[(10, 0.05), (20, 0.5)]),
        ],
    );
    expect(
        &format!("{{ }} | max_over_time(duration) {by}"),
        &[
            ("resource.service.name=api", &[(10, 0.3), (20, 1.0)]),
            ("resource.service.name=db", &[(10, 0.05), (20, 2.0)]),
        ],
    );
    expect(
        &format!("{{ }} | avg_over_time(duration) {by}"),
        &[
            ("resource.service.name=api", &[(10, 0.2), (20, 1.0)]),
            ("resource.service.name=db", &[(10, 0.05), (20, 1.25)]),
        ],
    );
    expect(
        "{ } | sum_over_time(span.size)",
        &[("__name__=sum_over_time", &[(10, 70.0), (20, 140.0)])],
    );
}

#[test]
fn quantiles_use_power_of_two_buckets() {
    // Interval 1: 50, 100, 300 ms -> buckets 2^26, 2^27, 2^29 ns; interval 2: 0.5, 1, 2 s.
    expect(
        "{ } | quantile_over_time(duration, 0.5, 0.9)",
        &[
            ("p=0.5", &[(10, 0.134217728), (20, 1.073741824), (30, 0.0)]),
            ("p=0.9", &[(10, 0.536870912), (20, 2.147483648), (30, 0.0)]),
        ],
    );
    expect(
        "{ } | histogram_over_time(duration)",
        &[
            ("__bucket=0.067108864", &[(10, 1.0), (20, 0.0), (30, 0.0)]),
            ("__bucket=0.134217728", &[(10, 1.0), (20, 0.0), (30, 0.0)]),
            ("__bucket=0.536870912", &[(10, 1.0), (20, 1.0), (30, 0.0)]),
            ("__bucket=1.073741824", &[(10, 0.0), (20, 1.0), (30, 0.0)]),
            ("__bucket=2.147483648", &[(10, 0.0), (20, 1.0), (30, 0.0)]),
        ],
    );
}

#[test]
fn log2_buckets_and_interpolation() {
    assert_eq!(bucketize(1), None);
    assert_eq!(bucketize(2), Some(2.0));
    assert_eq!(bucketize(3), Some(4.0));
    assert_eq!(bucketize(1024), Some(1024.0));
    assert_eq!(bucketize(1025), Some(2048.0));
    let two = [Bucket { max: 1.0, count: 2 }, Bucket { max: 4.0, count: 2 }];
    // The 3rd of 4 samples: halfway (in log2) between 2^0 and 2^2.
    assert_eq!(quantile(0.75, &two), 2.0);
    assert_eq!(quantile(0.5, &two), 1.0);
    assert_eq!(quantile(1.0, &two), 4.0);
    let one = [Bucket { max: 8.0, count: 4 }];
    assert!((quantile(0.5, &one) - 2f64.powf(2.5)).abs() < 1e-12);
    assert_eq!(quantile(0.5, &[]), 0.0);
    assert_eq!(quantile(1.5, &two), 0.0);
    // A uniform distribution over 1..=1024 ms: the median lies in the 512 ms bucket.
    let mut buckets: Vec<Bucket> = Vec::new();
    for ms in 1..=1024u64 {
        let max = bucketize(ms * MS).expect("bucket") / 1e9;
        match buckets.iter_mut().find(|b| b.max == max) {
            Some(b) => b.count += 1,
            None => buckets.push(Bucket { max, count: 1 }),
        }
    }
    let median = quantile(0.5, &buckets);
    assert!(median > 0.268 && median <= 0.537, "{median}");
}

#[test]
fn topk_and_bottomk_keep_points_per_interval() {
    // Ties go to the earlier labels for topk, the later for bottomk (Tempo's order).
    expect(
        "{ } | count_over_time() by (resource.service.name) | topk(1)",
        &[
            ("resource.service.name=api", &[(10, 2.0), (30, 0.0)]),
            ("resource.service.name=db", &[(20, 2.0)]),
        ],
    );
    expect(
        "{ } | count_over_time() by (resource.service.name) | bottomk(1)",
        &[
            ("resource.service.name=api", &[(20, 1.0)]),
            ("resource.service.name=db", &[(10, 1.0), (30, 0.0)]),
        ],
    );
}

#[test]
fn step_defaults_and_alignment_follow_tempo() {
    assert_eq!(default_step_nanos(0, 3600 * SECOND), 15 * SECOND);
    assert_eq!(default_step_nanos(0, 6 * 3600 * SECOND), 60 * SECOND);
    assert_eq!(default_step_nanos(0, 30 * SECOND), 100 * MS);
    assert_eq!(default_step_nanos(0, 5 * SECOND), 50 * MS);
    assert_eq!(default_step_nanos(0, 120 * SECOND), SECOND);
    // start down to a step and one step earlier, end up to a step.
    let now = T0 + 3600 * SECOND;
    assert_eq!(
        align_range(T0 + 3 * SECOND, T0 + 25 * SECOND, 10 * SECOND, now),
        (T0 - 10 * SECOND, T0 + 30 * SECOND)
    );
    // An end after now is pulled back to now and down to a step.
    assert_eq!(
        align_range(T0, T0 + 40 * SECOND, 10 * SECOND, T0 + 27 * SECOND),
        (T0 - 10 * SECOND, T0 + 20 * SECOND)
    );
    // Unaligned requests are aligned by the mapper too: (T0, T0+10], ...
    let got = table(&run(
        "{ } | count_over_time()",
        range(T0 + 4 * SECOND, T0 + 21 * SECOND, 10 * SECOND),
    ));
    assert_eq!(
        got,
        vec![(
            "__name__=count_over_time".to_string(),
            vec![(10, 3.0), (20, 3.0), (30, 0.0)]
        )]
    );
}

#[test]
fn empty_ranges_and_instant_queries() {
    assert!(
        run(
            "{ } | rate()",
            range(T0 + 100 * SECOND, T0 + 200 * SECOND, 10 * SECOND)
        )
        .is_empty()
    );
    assert!(run("{ name = \"none\" } | rate()", three_steps()).is_empty());
    assert!(run("{ } | min_over_time(span.missing)", three_steps()).is_empty());
    let instant = RangeRequest {
        instant: true,
        ..three_steps()
    };
    // [T0, T0+30 s] holds all six spans: 6 / 30 s.
    assert_eq!(
        table(&run("{ } | rate()", instant)),
        vec![("__name__=rate".to_string(), vec![(30, 0.2)])]
    );
}

#[test]
fn exemplars_are_bounded_and_take_the_sample_value() {
    let request = RangeRequest {
        max_exemplars: 100,
        ..three_steps()
    };
    let series = run(
        "{ } | count_over_time() by (resource.service.name)",
        request,
    );
    // One per trace and series: the first span of the trace in the series.
    assert_eq!(series[0].exemplars.len(), 1);
    assert_eq!(series[0].exemplars[0].timestamp_millis, T0_MS + 1_000);
    assert_eq!(series[0].exemplars[0].value, 2.0);
    let series = run("{ } | max_over_time(duration)", request);
    assert_eq!(series[0].exemplars.len(), 2);
    assert_eq!(series[0].exemplars[1].value, 0.05);
    let none = RangeRequest {
        max_exemplars: 0,
        ..three_steps()
    };
    assert!(run("{ } | rate()", none)[0].exemplars.is_empty());
}

#[test]
fn unsupported_forms_are_named() {
    let error = parse("{ } | rate() > 2").expect("parses").metrics_spec();
    assert!(
        matches!(error, Err(MetricsError::Unsupported(_))),
        "{error:?}"
    );
    let error = parse("{ }").expect("parses").metrics_spec();
    assert_eq!(error.err(), Some(MetricsError::NotMetrics));
    let error = parse("{ } | quantile_over_time(duration, 1.5)")
        .expect("parses")
        .metrics_spec();
    assert!(matches!(error, Err(MetricsError::Invalid(_))), "{error:?}");
}
