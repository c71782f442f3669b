//! Resolution checked against the files and expectations of Jaeger's file provider tests.

use super::*;
use crate::response::{RateLimitingSampling, SamplingStrategyType};

fn load(text: &str) -> Strategies {
    match Strategies::from_json(text, DEFAULT_SAMPLING_PROBABILITY) {
        Ok(strategies) => strategies,
        Err(error) => panic!("{error}"),
    }
}

fn load_error(text: &str) -> StrategiesError {
    match Strategies::from_json(text, DEFAULT_SAMPLING_PROBABILITY) {
        Ok(strategies) => panic!("expected an error, loaded {strategies:?}"),
        Err(error) => error,
    }
}

fn operations(response: &SamplingStrategyResponse) -> Vec<(&str, f64)> {
    response
        .operation_sampling
        .iter()
        .flat_map(|operations| &operations.per_operation_strategies)
        .map(|operation| {
            (
                operation.operation.as_str(),
                operation.probabilistic_sampling.sampling_rate,
            )
        })
        .collect()
}

#[test]
fn without_file_every_service_gets_one_in_a_thousand() {
    let strategies = Strategies::without_file(DEFAULT_SAMPLING_PROBABILITY);
    assert_eq!(
        strategies.resolve("foo"),
        &SamplingStrategyResponse::probabilistic(0.001)
    );
}

#[test]
fn service_override_and_default() {
    let strategies = load(include_str!("../../tests/fixtures/strategies.json"));
    assert_eq!(
        strategies.resolve("foo"),
        &SamplingStrategyResponse::probabilistic(0.8)
    );
    assert_eq!(
        strategies.resolve("bar"),
        &SamplingStrategyResponse::rate_limiting(5)
    );
    assert_eq!(
        strategies.resolve("default"),
        &SamplingStrategyResponse::probabilistic(0.5)
    );
    assert!(strategies.warnings().is_empty());
}

#[test]
fn operation_strategies_merge_with_the_defaults() {
    let strategies = load(include_str!(
        "../../tests/fixtures/operation_strategies.json"
    ));

    let foo = strategies.resolve("foo");
    assert_eq!(foo.strategy_type, SamplingStrategyType::Probabilistic);
    assert_eq!(
        foo.probabilistic_sampling,
        Some(ProbabilisticSampling { sampling_rate: 0.8 })
    );
    let foo_operations = foo.operation_sampling.as_ref().expect("operations");
    assert_eq!(foo_operations.default_sampling_probability, 0.8);
    // The service's own op6 wins over the default's; op2 (rate limiting) is left out.
    assert_eq!(
        operations(foo),
        vec![("op6", 0.5), ("op1", 0.2), ("op0", 0.2), ("op7", 1.0)]
    );

    let bar = strategies.resolve("bar");
    assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting);
    assert_eq!(
        bar.rate_limiting_sampling,
        Some(RateLimitingSampling {
            max_traces_per_second: 5
        })
    );
    // A rate-limited service's operations default to the configured default probability.
    assert_eq!(
        bar.operation_sampling
            .as_ref()
            .expect("operations")
            .default_sampling_probability,
        0.001
    );
    assert_eq!(
        operations(bar),
        vec![
            ("op3", 0.3),
            ("op5", 0.4),
            ("op0", 0.2),
            ("op6", 0.0),
            ("op7", 1.0)
        ]
    );

    let other = strategies.resolve("default");
    let mut expected = SamplingStrategyResponse::probabilistic(0.5);
    expected.operation_sampling = Some(PerOperationSamplingStrategies {
        default_sampling_probability: 0.5,
        default_lower_bound_traces_per_second: 0.0,
        per_operation_strategies: vec![
            OperationSamplingStrategy {
                operation: "op0".into(),
                probabilistic_sampling: ProbabilisticSampling { sampling_rate: 0.2 },
            },
            OperationSamplingStrategy {
                operation: "op6".into(),
                probabilistic_sampling: ProbabilisticSampling { sampling_rate: 0.0 },
            },
            OperationSamplingStrategy {
                operation: "op7".into(),
                probabilistic_sampling: ProbabilisticSampling { sampling_rate: 1.0 },
            },
        ],
        default_upper_bound_traces_per_second: 0.0,
    });
    assert_eq!(other, &expected);

    // spam, op2 and op4 are rate limiting operation strategies.
    assert_eq!(
        strategies.warnings().len(),
        3,
        "{:?}",
        strategies.warnings()
    );
    assert!(
        strategies
            .warnings()
            .iter()
            .any(|warning| warning.contains("`op2`") && warning.contains("0.8")),
        "{:?}",
        strategies.warnings()
    );
}

#[test]
fn services_without_operations_inherit_the_defaults() {
    let strategies = load(include_str!(
        "../../tests/fixtures/service_no_per_operation.json"
    ));
    // Jaeger's TestServiceNoPerOperationStrategies_ServiceA.json and _ServiceB.json.
    let service_a = strategies.resolve("ServiceA");
    assert_eq!(
        service_a.probabilistic_sampling,
        Some(ProbabilisticSampling { sampling_rate: 1.0 })
    );
    let a_operations = service_a.operation_sampling.as_ref().expect("operations");
    assert_eq!(a_operations.default_sampling_probability, 1.0);
    assert_eq!(operations(service_a), vec![("/health", 0.1)]);

    let service_b = strategies.resolve("ServiceB");
    assert_eq!(service_b.strategy_type, SamplingStrategyType::RateLimiting);
    assert_eq!(
        service_b.rate_limiting_sampling,
        Some(RateLimitingSampling {
            max_traces_per_second: 3
        })
    );
    let b_operations = service_b.operation_sampling.as_ref().expect("operations");
    assert_eq!(b_operations.default_sampling_probability, 0.2);
    assert_eq!(operations(service_b), vec![("/health", 0.1)]);
}

#[test]
fn a_strategy_without_type_is_the_default_probability() {
    let strategies = load(include_str!(
        "../../tests/fixtures/missing-service-types.json"
    ));
    let foo = strategies.resolve("foo");
    assert_eq!(
        foo.probabilistic_sampling,
        Some(ProbabilisticSampling {
            sampling_rate: 0.001
        })
    );
    assert_eq!(
        foo.operation_sampling
            .as_ref()
            .expect("operations")
            .default_sampling_probability,
        0.001
    );
    assert_eq!(operations(foo), vec![("op1", 0.2)]);
    assert_eq!(
        operations(strategies.resolve("bar")),
        vec![("op3", 0.3), ("op5", 0.4)]
    );
    assert_eq!(
        strategies.resolve("other"),
        &SamplingStrategyResponse::probabilistic(0.5)
    );
}

#[test]
fn jaeger_example_file_resolves_as_documented() {
    let strategies = load(include_str!(
        "../../tests/fixtures/sampling_strategies_example.json"
    ));
    assert_eq!(
        operations(strategies.resolve("foo")),
        vec![
            ("op1", 0.2),
            ("op2", 0.4),
            ("/health", 0.0),
            ("/metrics", 0.0)
        ]
    );
    let bar = strategies.resolve("bar");
    assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting);
    assert_eq!(operations(bar), vec![("/health", 0.0), ("/metrics", 0.0)]);
    let other = strategies.resolve("anything");
    assert_eq!(
        other.probabilistic_sampling,
        Some(ProbabilisticSampling { sampling_rate: 0.5 })
    );
    assert_eq!(operations(other), vec![("/health", 0.0), ("/metrics", 0.0)]);
}

#[test]
fn fractional_rate_limits_are_truncated_with_a_warning() {
    let strategies = load(
        r#"{"service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 3.5}]}"#,
    );
    assert_eq!(
        strategies.resolve("bar"),
        &SamplingStrategyResponse::rate_limiting(3)
    );
    assert_eq!(strategies.warnings().len(), 1);
    assert!(strategies.warnings()[0].contains("service_strategies[0].param"));
}

#[test]
fn bounds_extension_sets_operation_sampling() {
    let strategies = load(
        r#"{
            "default_strategy": {"type": "probabilistic", "param": 0.1,
                                 "default_lower_bound_traces_per_second": 0.5},
            "service_strategies": [
                {"service": "own", "type": "probabilistic", "param": 0.2,
                 "default_lower_bound_traces_per_second": 2,
                 "default_upper_bound_traces_per_second": 10},
                {"service": "inherits", "type": "probabilistic", "param": 0.3}
            ]
        }"#,
    );
    let own = strategies.resolve("own").operation_sampling.clone();
    let own = own.expect("operations");
    assert_eq!(own.default_sampling_probability, 0.2);
    assert_eq!(own.default_lower_bound_traces_per_second, 2.0);
    assert_eq!(own.default_upper_bound_traces_per_second, 10.0);
    assert!(own.per_operation_strategies.is_empty());
    let inherits = strategies.resolve("inherits").operation_sampling.clone();
    let inherits = inherits.expect("operations");
    assert_eq!(inherits.default_sampling_probability, 0.3);
    assert_eq!(inherits.default_lower_bound_traces_per_second, 0.5);
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (r#""nonsense""#, ".", "invalid type"),
        (
            r#"{"default_strategy": {"type": "probabilistic", "param": 1.5}}"#,
            "default_strategy.param",
            "within 0..=1",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.1}, {"service": "b", "type": "sometimes", "param": 1}]}"#,
            "service_strategies[1].type",
            "unknown strategy type `sometimes`",
        ),
        (
            r#"{"service_strategies": [{"type": "probabilistic", "param": 0.1}]}"#,
            "service_strategies[0].service",
            "missing",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": -1}]}"#,
            "service_strategies[0].param",
            "not a rate limit",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic"}]}"#,
            "service_strategies[0].param",
            "missing",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "param": 0.5}]}"#,
            "service_strategies[0].type",
            "missing",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": "0.5"}]}"#,
            "service_strategies[0].param",
            "invalid type",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "typo": 1}]}"#,
            "service_strategies[0].typo",
            "unknown field `typo`",
        ),
        (
            r#"{"service_strategies": [{"service": "a"}, {"service": "a"}]}"#,
            "service_strategies[1].service",
            "listed twice",
        ),
        (
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 0.1}, {"operation": "x", "type": "probabilistic", "param": 0.2}]}}"#,
            "default_strategy.operation_strategies[1].operation",
            "listed twice",
        ),
        (
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [{"type": "probabilistic", "param": 0.1}]}}"#,
            "default_strategy.operation_strategies[0].operation",
            "missing",
        ),
        (
            r#"{"default_strategy": {"service": "a", "type": "probabilistic", "param": 0.5}}"#,
            "default_strategy.service",
            "takes no `service`",
        ),
        (
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "default_lower_bound_traces_per_second": -1}}"#,
            "default_strategy.default_lower_bound_traces_per_second",
            "not negative",
        ),
        (r#"{"default_strategy": "#, "default_strategy", "EOF"),
    ];
    for (text, field, message) in cases {
        let error = load_error(text);
        assert_eq!(error.field, *field, "{text}: {error}");
        assert!(error.message.contains(message), "{text}: {error}");
    }
    let error = load_error(r#"{"default_strategy": {"type": "probabilistic", "param": 1.5}}"#);
    assert_eq!(
        error.to_string(),
        "sampling strategies: default_strategy.param: 1.5 is not a probability: must be within 0..=1"
    );
}

#[test]
fn empty_document_and_nulls_mean_defaults() {
    for text in [
        "{}",
        r#"{"default_strategy": null, "service_strategies": null}"#,
    ] {
        let strategies = load(text);
        assert_eq!(
            strategies.resolve("x"),
            &SamplingStrategyResponse::probabilistic(0.001)
        );
    }
    let strategies = Strategies::from_json("{}", 0.25).expect("loads");
    assert_eq!(
        strategies.resolve("x"),
        &SamplingStrategyResponse::probabilistic(0.25)
    );
    assert!(Strategies::from_json("{}", 2.0).is_err());
}
