//! Unit tests of the calculation rules, with the numbers of Jaeger's own tests where they
//! exist.

use super::*;

const MINUTE_MILLIS: u64 = 60_000;

fn options() -> AdaptiveOptions {
    AdaptiveOptions {
        calculation_delay: Duration::ZERO,
        ..AdaptiveOptions::default()
    }
}

/// A calculator that has served `probability` for `operation` of service "svc".
fn calculator_with(probability: f64) -> AdaptiveCalculator {
    let mut state = AdaptiveState::default();
    state.operations.entry("svc".into()).or_default().insert(
        "op".into(),
        OperationState {
            probability,
            sampled_traces_per_second: 0.0,
            using_adaptive_sampling: true,
        },
    );
    AdaptiveCalculator::from_state(options(), state, 0).expect("valid options")
}

/// One minute with `count` probabilistic root spans sampled at `probability`.
fn minute(calculator: &mut AdaptiveCalculator, minute_index: u64, count: u64, probability: f64) {
    calculator.observe("svc", "op", count, probability);
    assert!(calculator.recalculate((minute_index + 1) * MINUTE_MILLIS));
}

#[test]
fn defaults_are_jaegers() {
    let options = AdaptiveOptions::default();
    assert_eq!(options.target_samples_per_second, 1.0);
    assert_eq!(options.delta_tolerance, 0.3);
    assert_eq!(options.calculation_interval, Duration::from_secs(60));
    assert_eq!(options.aggregation_buckets, 10);
    assert_eq!(options.calculation_buckets, 1);
    assert_eq!(options.calculation_delay, Duration::from_secs(120));
    assert_eq!(options.initial_sampling_probability, 0.001);
    assert_eq!(options.min_sampling_probability, 1e-5);
    assert_eq!(options.min_samples_per_second, 1.0 / 60.0);
    assert_eq!(options.max_probability_increase, 1.0);
    options.validate().expect("defaults are valid");
}

#[test]
fn oversampling_is_cut_at_once() {
    // 120 sampled traces a minute = 2/s against a target of 1/s at p = 0.5: p = 0.25.
    let mut calculator = calculator_with(0.5);
    minute(&mut calculator, 0, 120, 0.5);
    assert_eq!(calculator.probability("svc", "op"), Some(0.25));
}

#[test]
fn undersampling_raises_at_most_by_the_cap() {
    // 6 a minute = 0.1/s: p would be 10x; capped at 2x (increase cap 1.0).
    let mut calculator = calculator_with(0.1);
    minute(&mut calculator, 0, 6, 0.1);
    assert_eq!(calculator.probability("svc", "op"), Some(0.2));
    // 40 a minute = 0.667/s: 1.5x is under the cap.
    let mut calculator = calculator_with(0.1);
    minute(&mut calculator, 0, 40, 0.1);
    let probability = calculator.probability("svc", "op").expect("calculated");
    assert!((probability - 0.15).abs() < 1e-12, "{probability}");
}

#[test]
fn within_tolerance_keeps_the_probability() {
    // 1.25/s is within 30% of 1/s.
    let mut calculator = calculator_with(0.5);
    minute(&mut calculator, 0, 75, 0.5);
    assert_eq!(calculator.probability("svc", "op"), Some(0.5));
}

#[test]
fn nothing_sampled_doubles_and_probabilities_stay_in_range() {
    let mut calculator = calculator_with(0.6);
    minute(&mut calculator, 0, 0, 0.6);
    assert_eq!(calculator.probability("svc", "op"), Some(1.0));
    let mut calculator = calculator_with(2e-5);
    minute(&mut calculator, 0, 60_000, 2e-5);
    assert_eq!(calculator.probability("svc", "op"), Some(1e-5));
}

#[test]
fn new_operations_start_at_the_initial_probability() {
    let mut calculator = AdaptiveCalculator::new(options(), 0).expect("valid");
    // Sampled at 0.001 (the initial probability): 0 traces → 0.002.
    minute(&mut calculator, 0, 0, 0.001);
    assert_eq!(calculator.probability("svc", "op"), Some(0.002));
}

#[test]
fn operations_not_following_the_served_probability_are_left_alone() {
    // The client reports 0.3 while we serve 0.5 (pinned elsewhere): no change.
    let mut calculator = calculator_with(0.5);
    minute(&mut calculator, 0, 600, 0.3);
    assert_eq!(calculator.probability("svc", "op"), Some(0.5));
    let state = calculator.state().operations["svc"]["op"];
    assert!(!state.using_adaptive_sampling);
}

#[test]
fn lowerbound_and_const_root_spans_make_an_operation_known_without_counting() {
    let mut calculator = AdaptiveCalculator::new(options(), 0).expect("valid");
    calculator.record_root_span("svc", "op", SamplerType::LowerBound, 0.001);
    calculator.record_root_span("svc", "const", SamplerType::Const, 1.0);
    calculator.record_root_span("svc", "op", SamplerType::Probabilistic, 0.001);
    let bucket = calculator.take_throughput(MINUTE_MILLIS);
    assert_eq!(bucket.services["svc"]["op"].probabilistic_root_spans, 1);
    assert_eq!(bucket.services["svc"]["const"].probabilistic_root_spans, 0);
    assert_eq!(
        bucket.services["svc"]["op"]
            .probabilities
            .iter()
            .collect::<Vec<_>>(),
        vec!["0.001000"]
    );
    assert_eq!(
        SamplerType::from_tag("lowerbound"),
        Some(SamplerType::LowerBound)
    );
    assert_eq!(SamplerType::from_tag("unrecognized"), None);
    assert_eq!(parse_sampler_param(" 0.25"), Some(0.25));
    assert_eq!(parse_sampler_param("NaN"), None);
}

#[test]
fn weighted_rate_favours_the_newest_bucket() {
    let options = AdaptiveOptions {
        calculation_buckets: 2,
        ..options()
    };
    let mut calculator = AdaptiveCalculator::new(options, 0).expect("valid");
    // Two minutes at the initial probability: 0/s then 60/s. Weights 16:1 after 1:...
    // newest first: [1.0/s (60 per minute), 0.0/s]; weights 2^4 = 16 and 1^4 = 1.
    calculator.observe("svc", "op", 0, 0.001);
    calculator.recalculate(MINUTE_MILLIS);
    let after_first = calculator.probability("svc", "op").expect("calculated");
    calculator.observe("svc", "op", 600, after_first);
    calculator.recalculate(2 * MINUTE_MILLIS);
    let state = calculator.state().operations["svc"]["op"];
    assert!(
        (state.sampled_traces_per_second - 10.0 * 16.0 / 17.0).abs() < 1e-9,
        "{state:?}"
    );
}

#[test]
fn operations_absent_from_every_kept_bucket_are_forgotten() {
    let options = AdaptiveOptions {
        aggregation_buckets: 2,
        ..options()
    };
    let mut calculator = AdaptiveCalculator::new(options, 0).expect("valid");
    calculator.observe("svc", "op", 0, 0.001);
    calculator.recalculate(MINUTE_MILLIS);
    calculator.recalculate(2 * MINUTE_MILLIS);
    assert!(calculator.probability("svc", "op").is_some());
    calculator.recalculate(3 * MINUTE_MILLIS);
    assert_eq!(calculator.probability("svc", "op"), None);
}

#[test]
fn delay_holds_buckets_back() {
    let options = AdaptiveOptions {
        calculation_delay: Duration::from_secs(120),
        ..AdaptiveOptions::default()
    };
    let mut calculator = AdaptiveCalculator::new(options, 0).expect("valid");
    calculator.observe("svc", "op", 0, 0.001);
    assert!(!calculator.recalculate(MINUTE_MILLIS));
    assert!(!calculator.recalculate(2 * MINUTE_MILLIS));
    // At 3 minutes the bucket ending at 1 minute is 2 minutes old.
    assert!(calculator.recalculate(3 * MINUTE_MILLIS));
    assert_eq!(calculator.state().buckets.len(), 1);
    assert_eq!(calculator.state().pending_buckets.len(), 2);
    assert_eq!(calculator.probability("svc", "op"), Some(0.002));
}

#[test]
fn replicas_merge_by_summing() {
    let mut first = ThroughputBucket::new(0, MINUTE_MILLIS);
    first.observe("svc", "op", 30, 0.5);
    let mut second = ThroughputBucket::new(0, MINUTE_MILLIS);
    second.observe("svc", "op", 90, 0.5);
    second.observe("svc", "other", 6, 0.25);
    let mut merged = ThroughputBucket::default();
    merged.merge(&first);
    merged.merge(&second);
    assert_eq!(
        (merged.start_unix_millis, merged.end_unix_millis),
        (0, MINUTE_MILLIS)
    );
    assert_eq!(merged.services["svc"]["op"].probabilistic_root_spans, 120);
    assert_eq!(merged.services["svc"]["other"].probabilistic_root_spans, 6);

    // Through the store and back, the leader computes from the sum: 2/s at 0.5 → 0.25.
    let stored = serde_json::to_string(&merged).expect("serialises");
    let loaded: ThroughputBucket = serde_json::from_str(&stored).expect("deserialises");
    let mut leader = calculator_with(0.5);
    leader.add_throughput(loaded);
    assert!(leader.calculate(MINUTE_MILLIS));
    assert_eq!(leader.probability("svc", "op"), Some(0.25));

    // A new leader resumes from the stored state.
    let state = serde_json::to_string(leader.state()).expect("serialises");
    let state: AdaptiveState = serde_json::from_str(&state).expect("deserialises");
    let resumed = AdaptiveCalculator::from_state(options(), state, MINUTE_MILLIS).expect("valid");
    assert_eq!(resumed.probabilities(), leader.probabilities());
}

#[test]
fn probability_sets_are_capped() {
    let mut bucket = ThroughputBucket::new(0, MINUTE_MILLIS);
    for index in 0..20 {
        bucket.observe("svc", "op", 1, f64::from(index) / 100.0);
    }
    assert_eq!(
        bucket.services["svc"]["op"].probabilities.len(),
        MAX_PROBABILITIES_PER_OPERATION
    );
    assert_eq!(bucket.services["svc"]["op"].probabilistic_root_spans, 20);
}

#[test]
fn aligned_ends_are_interval_multiples() {
    let minute = Duration::from_secs(60);
    assert_eq!(aligned_interval_end(0, minute), MINUTE_MILLIS);
    assert_eq!(aligned_interval_end(59_999, minute), MINUTE_MILLIS);
    assert_eq!(aligned_interval_end(60_000, minute), 2 * MINUTE_MILLIS);
    assert_eq!(aligned_interval_end(u64::MAX, minute), u64::MAX);
}

#[test]
fn invalid_options_name_the_option() {
    let cases = [
        (
            AdaptiveOptions {
                target_samples_per_second: 0.0,
                ..AdaptiveOptions::default()
            },
            "target_samples_per_second",
        ),
        (
            AdaptiveOptions {
                calculation_buckets: 11,
                ..AdaptiveOptions::default()
            },
            "calculation_buckets",
        ),
        (
            AdaptiveOptions {
                min_sampling_probability: 0.0,
                ..AdaptiveOptions::default()
            },
            "min_sampling_probability",
        ),
        (
            AdaptiveOptions {
                calculation_interval: Duration::ZERO,
                ..AdaptiveOptions::default()
            },
            "calculation_interval",
        ),
    ];
    for (options, option) in cases {
        let error = options.validate().expect_err("invalid");
        assert_eq!(error.option, option, "{error}");
    }
    let parsed: AdaptiveOptions =
        serde_json::from_str(r#"{"target_samples_per_second": 5, "calculation_interval": "30s"}"#)
            .expect("parses");
    assert_eq!(parsed.target_samples_per_second, 5.0);
    assert_eq!(parsed.calculation_interval, Duration::from_secs(30));
    assert_eq!(parsed.delta_tolerance, 0.3);
    let unknown =
        serde_json::from_str::<AdaptiveOptions>(r#"{"target_sps": 5}"#).expect_err("unknown key");
    assert!(unknown.to_string().contains("target_sps"), "{unknown}");
}
