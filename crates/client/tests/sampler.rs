//! Head sampling rules: reservoir then rate, priority order, glob matching, parents.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
use weft_client::{HeadDecision, HeadSampler, SamplingConfigError, SamplingRule};

fn rule(name: &str, priority: u32) -> SamplingRule {
    SamplingRule {
        name: name.to_owned(),
        priority,
        ..SamplingRule::default()
    }
}

/// A rule matching everything with no reservoir, so `fixed_rate` alone decides.
fn rate_rule(name: &str, priority: u32, fixed_rate: f64) -> SamplingRule {
    SamplingRule {
        reservoir_per_second: 0,
        fixed_rate,
        ..rule(name, priority)
    }
}

/// Trace ids spread evenly over the ratio space: the low 64 bits are `index * step`.
fn spread_trace_id(index: u64, count: u64) -> TraceId {
    let step = u64::MAX / count;
    TraceId::from((u128::from(index) * u128::from(step)) | (1 << 100))
}

fn get(path: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.path", path.to_owned()),
    ]
}

#[test]
fn reservoir_first_then_fixed_rate_per_second() {
    let now = Arc::new(AtomicU64::new(1_000));
    let clock = Arc::clone(&now);
    let api = SamplingRule {
        url_path: "/api/*".to_owned(),
        reservoir_per_second: 5,
        fixed_rate: 0.25,
        ..rule("api", 1)
    };
    let sampler = HeadSampler::new("svc", vec![api], 0.0)
        .expect("valid")
        .with_clock(move || clock.load(Ordering::Relaxed));
    let count = 1_000;
    let mut reservoir = 0;
    let mut by_rate = 0;
    for index in 0..count {
        match sampler.decide_root(spread_trace_id(index, count), &get("/api/cart")) {
            HeadDecision::Reservoir { rule } => {
                assert_eq!(rule, "api");
                // The reservoir is used first, before any rate decision.
                assert_eq!(by_rate, 0);
                reservoir += 1;
            }
            HeadDecision::FixedRate { rule, sampled } => {
                assert_eq!(rule, "api");
                by_rate += u64::from(sampled);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reservoir, 5);
    // Ids are spread in index order, so the first quarter (indices 0..=250, the last
    // one by rounding) is under 25%; the reservoir took indices 0..5 of it.
    assert_eq!(by_rate, 246);

    // The next second refills the reservoir.
    now.store(1_001, Ordering::Relaxed);
    assert!(matches!(
        sampler.decide_root(spread_trace_id(999, count), &get("/api/x")),
        HeadDecision::Reservoir { .. }
    ));
}

#[test]
fn priority_then_name_order_decides_which_rule_matches() {
    let rules = vec![
        rate_rule("catch-all", 100, 1.0),
        SamplingRule {
            url_path: "/health*".to_owned(),
            ..rate_rule("health", 10, 0.0)
        },
        SamplingRule {
            url_path: "/healthz".to_owned(),
            ..rate_rule("b-healthz", 5, 1.0)
        },
        SamplingRule {
            url_path: "/healthz".to_owned(),
            ..rate_rule("a-healthz", 5, 1.0)
        },
    ];
    let sampler = HeadSampler::new("svc", rules, 0.0).expect("valid");
    let trace_id = spread_trace_id(1, 2);
    let decided_by = |path: &str| match sampler.decide_root(trace_id, &get(path)) {
        HeadDecision::FixedRate { rule, .. } | HeadDecision::Reservoir { rule } => rule.to_owned(),
        HeadDecision::DefaultRatio { .. } => "default".to_owned(),
    };
    assert_eq!(decided_by("/healthz"), "a-healthz");
    assert_eq!(decided_by("/health/live"), "health");
    assert_eq!(decided_by("/cart"), "catch-all");
    assert!(
        !sampler
            .decide_root(trace_id, &get("/health/live"))
            .is_sampled()
    );
    assert!(sampler.decide_root(trace_id, &get("/cart")).is_sampled());
}

#[test]
fn globs_match_service_method_and_path() {
    let rules = vec![
        SamplingRule {
            service_name: "check*".to_owned(),
            http_method: "POST".to_owned(),
            url_path: "/orders/?/items".to_owned(),
            ..rate_rule("orders", 1, 1.0)
        },
        SamplingRule {
            service_name: "other-service".to_owned(),
            ..rate_rule("other", 0, 1.0)
        },
    ];
    let sampler = HeadSampler::new("Checkout", rules, 0.0).expect("valid");
    let trace_id = spread_trace_id(3, 4);
    let post = |path: &str| {
        vec![
            KeyValue::new("http.method", "post"),
            KeyValue::new("http.target", format!("{path}?q=1")),
        ]
    };
    assert_eq!(
        sampler.decide_root(trace_id, &post("/orders/7/items")),
        HeadDecision::FixedRate {
            rule: "orders",
            sampled: true
        }
    );
    // `?` is exactly one character; other methods do not match.
    assert_eq!(
        sampler.decide_root(trace_id, &post("/orders/77/items")),
        HeadDecision::DefaultRatio { sampled: false }
    );
    assert_eq!(
        sampler.decide_root(trace_id, &get("/orders/7/items")),
        HeadDecision::DefaultRatio { sampled: false }
    );
    // `http.route` is the last fallback for the path.
    assert_eq!(
        sampler.decide_root(
            trace_id,
            &[
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", "/orders/1/items"),
            ]
        ),
        HeadDecision::FixedRate {
            rule: "orders",
            sampled: true
        }
    );
}

#[test]
fn default_ratio_applies_when_no_rule_matches() {
    let sampler = HeadSampler::new("svc", Vec::new(), 0.1).expect("valid");
    let count = 10_000;
    let sampled = (0..count)
        .filter(|&index| {
            sampler
                .decide_root(spread_trace_id(index, count), &[])
                .is_sampled()
        })
        .count();
    assert!((999..=1_001).contains(&sampled), "{sampled}");
}

#[test]
fn children_follow_the_parent_and_roots_use_the_rules() {
    let sampler = HeadSampler::new("svc", vec![rate_rule("none", 1, 0.0)], 1.0).expect("valid");
    let trace_id = spread_trace_id(1, 2);
    let parent = |flags: TraceFlags| {
        Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from(7_u64),
            flags,
            true,
            TraceState::from_key_value([("vendor", "v")]).expect("valid trace state"),
        ))
    };
    let decide = |context: Option<&Context>| {
        sampler.should_sample(context, trace_id, "op", &SpanKind::Server, &[], &[])
    };
    let sampled_parent = parent(TraceFlags::SAMPLED);
    let result = decide(Some(&sampled_parent));
    assert_eq!(result.decision, SamplingDecision::RecordAndSample);
    assert_eq!(result.trace_state.get("vendor"), Some("v"));
    assert_eq!(
        decide(Some(&parent(TraceFlags::default()))).decision,
        SamplingDecision::Drop
    );
    assert_eq!(decide(None).decision, SamplingDecision::Drop);
    assert_eq!(
        decide(Some(&Context::new())).decision,
        SamplingDecision::Drop
    );
}

#[test]
fn invalid_configuration_is_rejected_naming_the_field() {
    let cases = [
        (
            HeadSampler::new("svc", Vec::new(), 1.5),
            "default_ratio 1.5 is outside [0, 1]",
        ),
        (
            HeadSampler::new(
                "svc",
                vec![SamplingRule {
                    fixed_rate: f64::NAN,
                    ..rule("bad", 1)
                }],
                0.5,
            ),
            "sampling rule `bad`: fixed_rate NaN is outside [0, 1]",
        ),
        (
            HeadSampler::new("svc", vec![rule("same", 1), rule("same", 2)], 0.5),
            "sampling rule name `same` is used more than once",
        ),
        (
            HeadSampler::new("svc", vec![rule("", 1)], 0.5),
            "sampling rule at position 0 has an empty name",
        ),
    ];
    for (result, message) in cases {
        let error: SamplingConfigError = result.expect_err(message);
        assert_eq!(error.to_string(), message);
    }
}
