//! Known answers for windows, step alignment, every range and vector aggregation,
//! binary operators and the JSON shapes; the last tests run whole queries over a store.

use std::sync::Arc;

use super::*;
use crate::logql::{Grouping, Query, parse};
use crate::push::{PushedLabels, PushedStream};
use crate::{ChunkStore, Entry, LogsConfig};

const S: i64 = 1_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Arc<LabelSet> {
    Arc::new(labels_from_pairs(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
    ))
}

fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        labels: labels(pairs),
        value,
    }
}

fn values(samples: &[Sample]) -> Vec<(String, f64)> {
    samples
        .iter()
        .map(|sample| (sample.labels.to_string(), sample.value))
        .collect()
}

fn points(times_seconds: &[i64], values: &[f64]) -> Vec<range::Point> {
    times_seconds
        .iter()
        .zip(values)
        .map(|(time, value)| (time * S, *value))
        .collect()
}

fn metric(text: &str) -> MetricExpr {
    match parse(text).expect("parses") {
        Query::Metric(expr) => expr,
        Query::Log(_) => panic!("{text} is a log query"),
    }
}

#[test]
fn windows_are_left_open_and_right_closed() {
    let series = points(&[10, 20, 30, 40], &[1.0, 1.0, 1.0, 1.0]);
    let ends = [30 * S, 40 * S, 50 * S, 60 * S, 70 * S];
    let windows: Vec<_> = range::windows(&series, ends.into_iter(), 20 * S).collect();
    // (10, 30] holds 20 and 30, not 10.
    assert_eq!(windows[0], (0, 1..3));
    assert_eq!(windows[1], (1, 2..4));
    assert_eq!(windows[2], (2, 3..4));
    // (40, 60] is empty: the entry at 40 left it.
    assert_eq!(windows[3].1.len(), 0);
    assert_eq!(windows[4].1.len(), 0);
}

#[test]
fn steps_run_from_start_up_to_and_including_end() {
    let params = EvalParams {
        start_unix_nanos: 0,
        end_unix_nanos: 60 * S,
        step_nanos: 20 * S,
    };
    assert_eq!(params.step_count(), 4);
    assert_eq!(params.step_time(3), 60 * S);
    let unaligned = EvalParams {
        start_unix_nanos: 5 * S,
        end_unix_nanos: 59 * S,
        step_nanos: 20 * S,
    };
    assert_eq!(unaligned.step_count(), 3);
    assert_eq!(unaligned.step_time(2), 45 * S);
    assert_eq!(unaligned.step_millis(1), 25_000);
    assert_eq!(EvalParams::instant(7 * S).step_count(), 1);
    let backwards = EvalParams {
        start_unix_nanos: 10,
        end_unix_nanos: 5,
        step_nanos: 1,
    };
    assert_eq!(backwards.step_count(), 0);
}

#[test]
fn range_functions_give_known_answers() {
    let series = points(&[1, 2, 3, 4], &[4.0, 1.0, 3.0, 2.0]);
    let run = |function, parameter, unwrap| {
        range::aggregate(function, &series, 10 * S, 5 * S, parameter, unwrap)
    };
    assert_eq!(run(RangeFunction::CountOverTime, None, false), 4.0);
    assert_eq!(run(RangeFunction::Rate, None, false), 0.4);
    assert_eq!(run(RangeFunction::Rate, None, true), 1.0);
    assert_eq!(run(RangeFunction::BytesOverTime, None, false), 10.0);
    assert_eq!(run(RangeFunction::BytesRate, None, false), 1.0);
    assert_eq!(run(RangeFunction::SumOverTime, None, true), 10.0);
    assert_eq!(run(RangeFunction::AvgOverTime, None, true), 2.5);
    assert_eq!(run(RangeFunction::MinOverTime, None, true), 1.0);
    assert_eq!(run(RangeFunction::MaxOverTime, None, true), 4.0);
    assert_eq!(run(RangeFunction::StdvarOverTime, None, true), 1.25);
    assert_eq!(
        run(RangeFunction::StddevOverTime, None, true),
        1.25_f64.sqrt()
    );
    assert_eq!(run(RangeFunction::FirstOverTime, None, true), 4.0);
    assert_eq!(run(RangeFunction::LastOverTime, None, true), 2.0);
    assert_eq!(run(RangeFunction::AbsentOverTime, None, false), 1.0);
    // Sorted 1 2 3 4: rank 0.9 * 3 = 2.7 -> 3 + 0.7 * (4 - 3).
    assert!((run(RangeFunction::QuantileOverTime, Some(0.9), true) - 3.7).abs() < 1e-12);
    assert_eq!(run(RangeFunction::QuantileOverTime, Some(0.0), true), 1.0);
    assert_eq!(run(RangeFunction::QuantileOverTime, Some(1.0), true), 4.0);
    assert_eq!(
        run(RangeFunction::QuantileOverTime, Some(1.5), true),
        f64::INFINITY
    );
    assert_eq!(
        run(RangeFunction::QuantileOverTime, Some(-0.5), true),
        f64::NEG_INFINITY
    );
}

#[test]
fn rate_counter_extrapolates_and_handles_resets() {
    // A counter 0, 10, 20, 30 at 1 s spacing in a 10 s window ending at 4 s: 30 over
    // 3 s sampled, extrapolated half a gap at the end and down to zero at the start.
    let series = points(&[1, 2, 3, 4], &[0.0, 10.0, 20.0, 30.0]);
    let rate = range::aggregate(
        RangeFunction::RateCounter,
        &series,
        10 * S,
        4 * S,
        None,
        true,
    );
    // to_start = min(avg/2 = 0.5, to_zero = 0) = 0, to_end = 0 (window ends at the last
    // sample): 30 * (3 / 3) / 10 s.
    assert!((rate - 3.0).abs() < 1e-12, "{rate}");
    // A reset from 30 to 5 counts as 30 + 5.
    let reset = points(&[1, 2, 3], &[10.0, 30.0, 5.0]);
    let value = range::aggregate(
        RangeFunction::RateCounter,
        &reset,
        10 * S,
        3 * S,
        None,
        true,
    );
    // increase = 5 - 10 + 30 = 25; to_start: avg gap 1 s, to_zero = 2 * 10/25 = 0.8 ->
    // min(0.5, 0.8) = 0.5; to_end 0: 25 * (2.5 / 2) / 10.
    assert!((value - 3.125).abs() < 1e-12, "{value}");
    let single = points(&[1], &[5.0]);
    assert_eq!(
        range::aggregate(
            RangeFunction::RateCounter,
            &single,
            10 * S,
            3 * S,
            None,
            true
        ),
        0.0
    );
}

fn by(names: &[&str]) -> Grouping {
    Grouping {
        without: false,
        labels: names.iter().map(|name| (*name).to_owned()).collect(),
    }
}

fn without(names: &[&str]) -> Grouping {
    Grouping {
        without: true,
        labels: names.iter().map(|name| (*name).to_owned()).collect(),
    }
}

fn input() -> Vec<Sample> {
    vec![
        sample(&[("level", "info"), ("pod", "a")], 1.0),
        sample(&[("level", "info"), ("pod", "b")], 3.0),
        sample(&[("level", "error"), ("pod", "a")], 5.0),
        sample(&[("level", "error"), ("pod", "c")], 2.0),
        sample(&[("pod", "d")], 4.0),
    ]
}

#[test]
fn vector_aggregations_group_by_and_without() {
    let sum = vector::aggregate(VectorFunction::Sum, Some(&by(&["level"])), None, input());
    assert_eq!(
        values(&sum),
        vec![
            (String::from("{level=\"info\"}"), 4.0),
            (String::from("{level=\"error\"}"), 7.0),
            (String::from("{}"), 4.0),
        ]
    );
    let total = vector::aggregate(VectorFunction::Sum, None, None, input());
    assert_eq!(values(&total), vec![(String::from("{}"), 15.0)]);
    let max = vector::aggregate(
        VectorFunction::Max,
        Some(&without(&["level"])),
        None,
        input(),
    );
    assert_eq!(
        values(&max),
        vec![
            (String::from("{pod=\"a\"}"), 5.0),
            (String::from("{pod=\"b\"}"), 3.0),
            (String::from("{pod=\"c\"}"), 2.0),
            (String::from("{pod=\"d\"}"), 4.0),
        ]
    );
    let run = |function| vector::aggregate(function, None, None, input())[0].value;
    assert_eq!(run(VectorFunction::Avg), 3.0);
    assert_eq!(run(VectorFunction::Min), 1.0);
    assert_eq!(run(VectorFunction::Count), 5.0);
    assert_eq!(run(VectorFunction::Stdvar), 2.0);
    assert_eq!(run(VectorFunction::Stddev), 2.0_f64.sqrt());
}

#[test]
fn topk_bottomk_and_sort_keep_the_original_labels() {
    let top = vector::aggregate(VectorFunction::Topk, None, Some(2), input());
    assert_eq!(
        values(&top),
        vec![
            (String::from("{level=\"error\", pod=\"a\"}"), 5.0),
            (String::from("{pod=\"d\"}"), 4.0),
        ]
    );
    let bottom = vector::aggregate(
        VectorFunction::Bottomk,
        Some(&by(&["level"])),
        Some(1),
        input(),
    );
    assert_eq!(
        values(&bottom),
        vec![
            (String::from("{level=\"info\", pod=\"a\"}"), 1.0),
            (String::from("{level=\"error\", pod=\"c\"}"), 2.0),
            (String::from("{pod=\"d\"}"), 4.0),
        ]
    );
    let mut with_nan = input();
    with_nan.push(sample(&[("pod", "e")], f64::NAN));
    let sorted = vector::aggregate(VectorFunction::Sort, None, None, with_nan.clone());
    let order: Vec<f64> = sorted.iter().map(|sample| sample.value).collect();
    assert_eq!(&order[..5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(order[5].is_nan());
    let descending = vector::aggregate(VectorFunction::SortDesc, None, None, with_nan);
    assert_eq!(descending[0].value, 5.0);
    assert!(descending[5].value.is_nan());
    assert!(vector::aggregate(VectorFunction::Topk, None, Some(0), input()).is_empty());
}

#[test]
fn scalar_operators_filter_or_return_bool() {
    let samples = vec![sample(&[("a", "1")], 2.0), sample(&[("a", "2")], 5.0)];
    let greater = binary::with_scalar(BinaryOp::Greater, false, 3.0, false, samples.clone());
    assert_eq!(values(&greater), vec![(String::from("{a=\"2\"}"), 5.0)]);
    let as_bool = binary::with_scalar(BinaryOp::Greater, true, 3.0, false, samples.clone());
    assert_eq!(
        as_bool.iter().map(|s| s.value).collect::<Vec<_>>(),
        vec![0.0, 1.0]
    );
    // 3 < x keeps the samples above 3 with their own value.
    let flipped = binary::with_scalar(BinaryOp::Less, false, 3.0, true, samples.clone());
    assert_eq!(values(&flipped), vec![(String::from("{a=\"2\"}"), 5.0)]);
    let minus = binary::with_scalar(BinaryOp::Sub, false, 10.0, true, samples.clone());
    assert_eq!(
        minus.iter().map(|s| s.value).collect::<Vec<_>>(),
        vec![8.0, 5.0]
    );
    let divided = binary::with_scalar(BinaryOp::Div, false, 0.0, false, samples.clone());
    assert!(divided[0].value.is_nan());
    let modulo = binary::with_scalar(BinaryOp::Mod, false, 3.0, false, samples);
    assert_eq!(modulo[1].value, 2.0);
}

fn matching(
    on: bool,
    names: &[&str],
    cardinality: Cardinality,
    include: &[&str],
) -> VectorMatching {
    VectorMatching {
        on,
        labels: names.iter().map(|name| (*name).to_owned()).collect(),
        cardinality,
        include: include.iter().map(|name| (*name).to_owned()).collect(),
    }
}

use crate::logql::{BinaryOp, Cardinality, VectorMatching};

#[test]
fn vector_matching_one_to_one_many_to_one_and_errors() {
    let left = vec![
        sample(&[("level", "info"), ("pod", "a")], 6.0),
        sample(&[("level", "error"), ("pod", "a")], 2.0),
        sample(&[("level", "info"), ("pod", "b")], 9.0),
    ];
    let right = vec![
        sample(&[("pod", "a"), ("zone", "x")], 2.0),
        sample(&[("pod", "b"), ("zone", "y")], 3.0),
    ];
    let on_pod = matching(true, &["pod"], Cardinality::ManyToOne, &["zone"]);
    let ratio = binary::vectors(
        BinaryOp::Div,
        false,
        Some(&on_pod),
        left.clone(),
        right.clone(),
    )
    .expect("ok");
    assert_eq!(
        values(&ratio),
        vec![
            (String::from("{level=\"info\", pod=\"a\", zone=\"x\"}"), 3.0),
            (
                String::from("{level=\"error\", pod=\"a\", zone=\"x\"}"),
                1.0
            ),
            (String::from("{level=\"info\", pod=\"b\", zone=\"y\"}"), 3.0),
        ]
    );
    // One-to-one with on(pod): two left series match pod="a".
    let one_to_one = matching(true, &["pod"], Cardinality::OneToOne, &[]);
    let error = binary::vectors(
        BinaryOp::Div,
        false,
        Some(&one_to_one),
        left.clone(),
        right.clone(),
    )
    .expect_err("many-to-one needs group_left");
    assert!(
        error
            .to_string()
            .contains("many-to-one matching must be explicit")
    );
    // Duplicates on the "one" side.
    let error = binary::vectors(
        BinaryOp::Div,
        false,
        Some(&on_pod),
        right.clone(),
        left.clone(),
    )
    .expect_err("duplicate right");
    assert!(
        error
            .to_string()
            .contains("found duplicate series on the right hand-side")
    );
    // group_right: the many side is on the right; labels come from it.
    let right_many = matching(true, &["pod"], Cardinality::OneToMany, &[]);
    let flipped = binary::vectors(
        BinaryOp::Sub,
        false,
        Some(&right_many),
        right.clone(),
        left.clone(),
    )
    .expect("ok");
    assert_eq!(
        values(&flipped),
        vec![
            (String::from("{level=\"info\", pod=\"a\"}"), -4.0),
            (String::from("{level=\"error\", pod=\"a\"}"), 0.0),
            (String::from("{level=\"info\", pod=\"b\"}"), -6.0),
        ]
    );
    // One-to-one on(pod) keeps only pod; a comparison keeps the left value.
    let compared = binary::vectors(
        BinaryOp::Greater,
        false,
        Some(&one_to_one),
        vec![
            sample(&[("pod", "a"), ("x", "1")], 5.0),
            sample(&[("pod", "b"), ("x", "1")], 1.0),
        ],
        right.clone(),
    )
    .expect("ok");
    assert_eq!(values(&compared), vec![(String::from("{pod=\"a\"}"), 5.0)]);
    let as_bool = binary::vectors(
        BinaryOp::Greater,
        true,
        Some(&matching(false, &["x", "zone"], Cardinality::OneToOne, &[])),
        vec![
            sample(&[("pod", "a"), ("x", "1")], 5.0),
            sample(&[("pod", "b"), ("x", "1")], 1.0),
        ],
        right,
    )
    .expect("ok");
    assert_eq!(
        values(&as_bool),
        vec![
            (String::from("{pod=\"a\"}"), 1.0),
            (String::from("{pod=\"b\"}"), 0.0)
        ]
    );
}

#[test]
fn set_operators_match_on_signatures() {
    let left = vec![sample(&[("l", "a")], 1.0), sample(&[("l", "b")], 2.0)];
    let right = vec![sample(&[("l", "b")], 20.0), sample(&[("l", "c")], 30.0)];
    let run =
        |op| values(&binary::vectors(op, false, None, left.clone(), right.clone()).expect("ok"));
    assert_eq!(run(BinaryOp::And), vec![(String::from("{l=\"b\"}"), 2.0)]);
    assert_eq!(
        run(BinaryOp::Or),
        vec![
            (String::from("{l=\"a\"}"), 1.0),
            (String::from("{l=\"b\"}"), 2.0),
            (String::from("{l=\"c\"}"), 30.0),
        ]
    );
    assert_eq!(
        run(BinaryOp::Unless),
        vec![(String::from("{l=\"a\"}"), 1.0)]
    );
    let nothing =
        binary::vectors(BinaryOp::And, false, None, left.clone(), Vec::new()).expect("ok");
    assert!(nothing.is_empty());
    let all = binary::vectors(BinaryOp::Or, false, None, Vec::new(), right).expect("ok");
    assert_eq!(all.len(), 2);
}

#[test]
fn label_replace_sets_removes_or_keeps() {
    let MetricExpr::LabelReplace(replace) =
        metric(r#"label_replace(vector(1), "replica", "r-$1", "pod", "api-(.*)")"#)
    else {
        panic!("not label_replace");
    };
    let replaced = binary::label_replace(
        &replace,
        vec![
            sample(&[("pod", "api-2")], 1.0),
            sample(&[("pod", "web-1")], 1.0),
        ],
    );
    assert_eq!(
        values(&replaced),
        vec![
            (String::from("{pod=\"api-2\", replica=\"r-2\"}"), 1.0),
            (String::from("{pod=\"web-1\"}"), 1.0),
        ]
    );
    let MetricExpr::LabelReplace(delete) =
        metric(r#"label_replace(vector(1), "pod", "", "pod", ".*")"#)
    else {
        panic!("not label_replace");
    };
    let deleted = binary::label_replace(&delete, vec![sample(&[("pod", "a"), ("x", "y")], 1.0)]);
    assert_eq!(values(&deleted), vec![(String::from("{x=\"y\"}"), 1.0)]);
}

#[test]
fn absent_labels_come_from_equality_matchers() {
    let MetricExpr::Range(range) =
        metric(r#"absent_over_time({job="a", level="x", level=~"y", ns!="z"}[5m])"#)
    else {
        panic!("not a range aggregation");
    };
    assert_eq!(absent_labels(&range).to_string(), "{job=\"a\"}");
}

#[test]
fn values_and_timestamps_print_as_loki_prints_them() {
    assert_eq!(
        http::timestamp_json(1_700_000_000_000).to_string(),
        "1700000000"
    );
    assert_eq!(
        http::timestamp_json(1_700_000_000_500).to_string(),
        "1700000000.5"
    );
    assert_eq!(
        http::timestamp_json(1_700_000_000_017).to_string(),
        "1700000000.017"
    );
    assert_eq!(http::value_json(2.0), "2");
    assert_eq!(http::value_json(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(http::value_json(f64::NAN), "NaN");
    assert_eq!(http::value_json(f64::INFINITY), "+Inf");
    assert_eq!(http::value_json(f64::NEG_INFINITY), "-Inf");
    assert_eq!(http::value_json(1e21), "1000000000000000000000");
    assert_eq!(
        http::parse_step(Some("1m30s"), 0, 0).expect("duration"),
        90 * S
    );
    assert_eq!(http::parse_step(Some("0.5"), 0, 0).expect("seconds"), S / 2);
    assert_eq!(
        http::parse_step(None, 0, 3600 * S).expect("default"),
        14 * S
    );
    assert_eq!(http::parse_step(None, 0, 60 * S).expect("default"), S);
    assert!(http::parse_step(Some("soon"), 0, 0).is_err());
    assert!(http::check_range_step(0, 3600 * S, 0).is_err());
    assert!(http::check_range_step(0, 12_000 * S, S).is_err());
    assert!(http::check_range_step(0, 11_000 * S, S).is_ok());
}

#[test]
fn range_queries_align_start_down_and_end_up_to_the_step() {
    // Loki's frontend: start 1000.5 s at step 37 s -> 999 s (27 * 37), end 2000 s ->
    // 2035 s (55 * 37).
    let params = http::range_params(1_000_500_000_000, 2_000 * S, Some("37")).expect("valid");
    assert_eq!(params.start_unix_nanos, 999 * S);
    assert_eq!(params.end_unix_nanos, 2_035 * S);
    assert_eq!(params.step_nanos, 37 * S);
    let aligned = http::range_params(3_600 * S, 7_200 * S, Some("60")).expect("valid");
    assert_eq!(
        (aligned.start_unix_nanos, aligned.end_unix_nanos),
        (3_600 * S, 7_200 * S)
    );
    assert!(http::range_params(0, S, Some("0")).is_err());
}

// --- whole queries over a store ---

async fn store_with(
    streams: Vec<(&str, Vec<(i64, String)>)>,
) -> (Arc<LogStore>, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("tempdir");
    let objects: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
    let config = LogsConfig {
        storage_path: directory.path().to_owned(),
        chunk_block_bytes: 128,
        ..LogsConfig::default()
    };
    let store = LogStore::open(config, chunk_store).await.expect("open");
    let pushed = streams
        .into_iter()
        .map(|(labels, entries)| PushedStream {
            labels: PushedLabels::Text(labels.to_owned()),
            entries: entries
                .into_iter()
                .map(|(timestamp_unix_nanos, line)| Entry {
                    timestamp_unix_nanos,
                    line,
                    structured_metadata: Vec::new(),
                })
                .collect(),
        })
        .collect();
    let summary = store.push(&TenantId::single(), pushed).await.expect("push");
    assert!(summary.rejections.is_empty(), "{:?}", summary.rejections);
    (store, directory)
}

async fn run(store: &LogStore, text: &str, params: EvalParams) -> Result<MetricValue, MetricError> {
    run_metric_query(
        store,
        &TenantId::single(),
        &metric(text),
        params,
        DEFAULT_MAX_SERIES,
    )
    .await
    .map(|(value, _)| value)
}

fn matrix(value: MetricValue) -> Vec<(String, Vec<(i64, f64)>)> {
    match value {
        MetricValue::Matrix(series) => series
            .into_iter()
            .map(|series| (series.labels.to_string(), series.points))
            .collect(),
        other => panic!("not a matrix: {other:?}"),
    }
}

#[tokio::test]
async fn range_queries_over_heads_and_chunks_agree() {
    let base = (crate::time::now_unix_nanos() / (60 * S) - 30) * 60 * S;
    let lines = |count: i64, level: &str| -> Vec<(i64, String)> {
        (0..count)
            .map(|index| {
                (
                    base + index * 10 * S,
                    format!("level={level} n={index} size={}", index * 100),
                )
            })
            .collect()
    };
    let (store, _directory) = store_with(vec![
        (r#"{job="a", level="info"}"#, lines(12, "info")),
        (r#"{job="a", level="error"}"#, lines(6, "error")),
    ])
    .await;
    let params = EvalParams {
        start_unix_nanos: base,
        end_unix_nanos: base + 120 * S,
        step_nanos: 60 * S,
    };
    let query = r#"sum by (level) (count_over_time({job="a"}[1m]))"#;
    let before = matrix(run(&store, query, params).await.expect("runs"));
    let millis = |seconds: i64| (base + seconds * S) / 1_000_000;
    // At base: only the entry exactly at base (right-closed). At +60 s: entries at
    // 10..60 s (six; the one at base is out). At +120 s: info 70..110 (five), error none.
    assert_eq!(
        before,
        vec![
            (
                String::from("{level=\"error\"}"),
                vec![(millis(0), 1.0), (millis(60), 5.0)]
            ),
            (
                String::from("{level=\"info\"}"),
                vec![(millis(0), 1.0), (millis(60), 6.0), (millis(120), 5.0)]
            ),
        ]
    );
    store.flush(true).await.expect("flush");
    let after = matrix(run(&store, query, params).await.expect("runs"));
    assert_eq!(before, after);
    let rate = matrix(
        run(
            &store,
            r#"rate({job="a", level="error"}[1m] offset 1m)"#,
            params,
        )
        .await
        .expect("runs"),
    );
    assert_eq!(
        rate,
        vec![(
            String::from("{job=\"a\", level=\"error\"}"),
            vec![(millis(60), 1.0 / 60.0), (millis(120), 5.0 / 60.0)]
        )]
    );
    let unwrapped = run(
        &store,
        r#"max_over_time({job="a"} | logfmt | unwrap size [2m]) by (level)"#,
        EvalParams::instant(base + 60 * S),
    )
    .await
    .expect("runs");
    let MetricValue::Vector(samples) = unwrapped else {
        panic!("not a vector");
    };
    let found: Vec<(String, f64)> = samples
        .iter()
        .map(|sample| (sample.labels.to_string(), sample.value))
        .collect();
    assert_eq!(
        found,
        vec![
            (String::from("{level=\"error\"}"), 500.0),
            (String::from("{level=\"info\"}"), 600.0),
        ]
    );
}

#[tokio::test]
async fn limits_and_pipeline_errors_fail_like_loki() {
    let base = (crate::time::now_unix_nanos() / (60 * S) - 30) * 60 * S;
    let entries: Vec<(i64, String)> = (0..20)
        .map(|index| {
            (
                base + index * S,
                format!("n={index} v={}", if index == 3 { "x" } else { "1" }),
            )
        })
        .collect();
    let (store, _directory) = store_with(vec![(r#"{job="a"}"#, entries)]).await;
    let at = EvalParams::instant(base + 30 * S);
    let error = run_metric_query(
        &store,
        &TenantId::single(),
        &metric(r#"count_over_time({job="a"} | logfmt [1m])"#),
        at,
        5,
    )
    .await
    .expect_err("20 series over a limit of 5");
    assert!(matches!(error, MetricError::SeriesLimit(5)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("maximum number of series (5) reached")
    );
    let error = run(
        &store,
        r#"sum(sum_over_time({job="a"} | logfmt | unwrap v [1m]))"#,
        at,
    )
    .await
    .expect_err("v=x does not convert");
    assert!(
        error
            .to_string()
            .starts_with("pipeline error: 'SampleExtractionErr'"),
        "{error}"
    );
    let fine = run(
        &store,
        r#"sum(sum_over_time({job="a"} | logfmt | unwrap v | __error__="" [1m]))"#,
        at,
    )
    .await
    .expect("errors filtered");
    let MetricValue::Vector(samples) = fine else {
        panic!("not a vector");
    };
    assert_eq!(samples[0].value, 19.0);
    // Entries without the unwrapped label give no sample (and no error).
    let missing = run(
        &store,
        r#"sum_over_time({job="a"} | logfmt | unwrap absent_label [1m])"#,
        at,
    )
    .await
    .expect("missing labels are skipped");
    assert_eq!(missing, MetricValue::Vector(Vec::new()));
    let absent = matrix(
        run(
            &store,
            r#"absent_over_time({job="a"}[5s])"#,
            EvalParams {
                start_unix_nanos: base,
                end_unix_nanos: base + 30 * S,
                step_nanos: 10 * S,
            },
        )
        .await
        .expect("runs"),
    );
    assert_eq!(
        absent,
        vec![(
            String::from("{job=\"a\"}"),
            vec![((base + 30 * S) / 1_000_000, 1.0)]
        )]
    );
    let scalar = run(&store, "1 + 2 * 3", at).await.expect("runs");
    assert_eq!(
        scalar,
        MetricValue::Scalar {
            timestamp_millis: (base + 30 * S) / 1_000_000,
            value: 7.0
        }
    );
}
