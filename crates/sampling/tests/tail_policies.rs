//! Tail sampling decisions: each policy type, and how decisions combine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_model::{KeyValue, Resource, Span, SpanId, StatusCode, TraceId};
use weft_sampling::tail::{FinalDecision, PolicyDecision, trace_size_bytes};
use weft_sampling::{TailConfig, TailDecision, TailSampler};

const START_NANOS: u64 = 1_700_000_000_000_000_000;

fn span(trace: u64, id: u64) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
    span.start_unix_nanos = START_NANOS;
    span.duration_nanos = 1_000_000;
    span
}

fn trace_of(count: u64) -> Vec<Span> {
    (1..=count).map(|id| span(7, id)).collect()
}

fn with_attribute(mut span: Span, key: &str, value: impl Into<weft_model::AttributeValue>) -> Span {
    span.attributes.push(KeyValue::new(key, value));
    span
}

fn with_resource(mut span: Span, key: &str, value: impl Into<weft_model::AttributeValue>) -> Span {
    span.resource = Arc::new(Resource {
        attributes: vec![KeyValue::new(key, value)],
        dropped_attributes_count: 0,
    });
    span
}

fn sampler(yaml: &str) -> TailSampler {
    let config =
        TailConfig::from_yaml_str(yaml, "test.yaml").unwrap_or_else(|error| panic!("{error}"));
    TailSampler::new(&config)
}

/// The decision of a sampler with the one policy `policy` (flow YAML of its fields).
fn single(policy: &str, trace: &[Span]) -> PolicyDecision {
    let decision =
        sampler(&format!("policies: [{{name: p, {policy}}}]")).decide(trace, Instant::now());
    decision.outcomes[0].decision
}

fn sampled(policy: &str, trace: &[Span]) -> bool {
    single(policy, trace) == PolicyDecision::Sampled
}

#[test]
fn always_sample_samples() {
    assert!(sampled("type: always_sample", &trace_of(1)));
}

#[test]
fn latency_measures_the_whole_trace_in_milliseconds() {
    let timed = |offset_ms: u64, duration_ms: u64| {
        let mut span = span(1, offset_ms + 1);
        span.start_unix_nanos = START_NANOS + offset_ms * 1_000_000;
        span.duration_nanos = duration_ms * 1_000_000;
        span
    };
    let lower = "type: latency, latency: {threshold_ms: 100}";
    // 0..40 and 60..100: 100 ms from earliest start to latest end, inclusive bound.
    assert!(sampled(lower, &[timed(0, 40), timed(60, 40)]));
    assert!(!sampled(lower, &[timed(0, 40), timed(50, 49)]));
    let bounded = "type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}";
    assert!(
        !sampled(bounded, &[timed(0, 100)]),
        "lower bound is exclusive with an upper"
    );
    assert!(sampled(bounded, &[timed(0, 101)]));
    assert!(sampled(bounded, &[timed(0, 200)]));
    assert!(
        !sampled(bounded, &[timed(0, 50), timed(150, 51)]),
        "201 ms is over the upper bound"
    );
    let mut untimed = span(1, 9);
    untimed.start_unix_nanos = 0;
    assert!(!sampled(lower, &[untimed]), "no start time, no duration");
}

#[test]
fn numeric_attribute_matches_span_or_resource_integers_in_range() {
    let policy = "type: numeric_attribute, numeric_attribute: {key: http.status, min_value: 500, max_value: 599}";
    assert!(sampled(
        policy,
        &[
            span(1, 1),
            with_attribute(span(1, 2), "http.status", 503i64)
        ]
    ));
    assert!(sampled(
        policy,
        &[with_resource(span(1, 1), "http.status", 500i64)]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "http.status", 404i64)]
    ));
    assert!(
        !sampled(policy, &[with_attribute(span(1, 1), "http.status", "503")]),
        "strings are not numbers"
    );
    assert!(!sampled(policy, &[span(1, 1)]));
    let open_ended = "type: numeric_attribute, numeric_attribute: {key: n, min_value: 50}";
    assert!(sampled(
        open_ended,
        &[with_attribute(span(1, 1), "n", i64::MAX)]
    ));
    assert!(!sampled(
        open_ended,
        &[with_attribute(span(1, 1), "n", 49i64)]
    ));
}

#[test]
fn string_attribute_matches_exact_values() {
    let policy = "type: string_attribute, string_attribute: {key: env, values: [prod, staging]}";
    assert!(sampled(
        policy,
        &[with_attribute(span(1, 1), "env", "prod")]
    ));
    assert!(sampled(
        policy,
        &[with_resource(span(1, 1), "env", "staging")]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "env", "production")]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "other", "prod")]
    ));
}

/// Go's `regexp.MatchString` is unanchored: a pattern matches anywhere in the value.
#[test]
fn string_attribute_regexes_are_unanchored_like_go() {
    let policy = "type: string_attribute, string_attribute: {key: http.route, values: [/live, \"^/v1/name/.+$\"], enabled_regex_matching: true}";
    assert!(sampled(
        policy,
        &[with_attribute(span(1, 1), "http.route", "/live")]
    ));
    assert!(sampled(
        policy,
        &[with_attribute(span(1, 1), "http.route", "/api/live/x")]
    ));
    assert!(sampled(
        policy,
        &[with_attribute(span(1, 1), "http.route", "/v1/name/42")]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "http.route", "/x/v1/name/42")]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "http.route", "/ready")]
    ));
    let escaped = "type: string_attribute, string_attribute: {key: url.path, values: [\\/health], enabled_regex_matching: true}";
    assert!(sampled(
        escaped,
        &[with_attribute(span(1, 1), "url.path", "/health")]
    ));
}

#[test]
fn boolean_attribute_matches_the_value() {
    let policy = "type: boolean_attribute, boolean_attribute: {key: app.force_sample, value: true}";
    assert!(sampled(
        policy,
        &[with_attribute(span(1, 1), "app.force_sample", true)]
    ));
    assert!(sampled(
        policy,
        &[with_resource(span(1, 1), "app.force_sample", true)]
    ));
    assert!(!sampled(
        policy,
        &[with_attribute(span(1, 1), "app.force_sample", false)]
    ));
    assert!(!sampled(policy, &[span(1, 1)]));
}

#[test]
fn invert_match_gives_inverted_decisions() {
    let policy =
        "type: string_attribute, string_attribute: {key: env, values: [test], invert_match: true}";
    assert_eq!(
        single(policy, &[with_attribute(span(1, 1), "env", "test")]),
        PolicyDecision::InvertNotSampled
    );
    assert_eq!(
        single(policy, &[with_attribute(span(1, 1), "env", "prod")]),
        PolicyDecision::InvertSampled
    );
    assert_eq!(
        single(policy, &[span(1, 1)]),
        PolicyDecision::InvertSampled,
        "absent key counts as no match"
    );
    let numeric =
        "type: numeric_attribute, numeric_attribute: {key: n, max_value: 10, invert_match: true}";
    assert_eq!(
        single(
            numeric,
            &[span(1, 1), with_attribute(span(1, 2), "n", 3i64)]
        ),
        PolicyDecision::InvertNotSampled
    );
    let boolean =
        "type: boolean_attribute, boolean_attribute: {key: b, value: true, invert_match: true}";
    assert_eq!(
        single(boolean, &[with_attribute(span(1, 1), "b", false)]),
        PolicyDecision::InvertSampled
    );
}

#[test]
fn status_code_matches_any_span() {
    let policy = "type: status_code, status_code: {status_codes: [ERROR]}";
    let mut failed = span(1, 2);
    failed.status.code = StatusCode::Error;
    assert!(sampled(policy, &[span(1, 1), failed]));
    assert!(!sampled(policy, &[span(1, 1)]));
    assert!(sampled(
        "type: status_code, status_code: {status_codes: [UNSET]}",
        &[span(1, 1)]
    ));
}

#[test]
fn span_count_bounds_are_inclusive() {
    let policy = "type: span_count, span_count: {min_spans: 2, max_spans: 3}";
    assert!(!sampled(policy, &trace_of(1)));
    assert!(sampled(policy, &trace_of(2)));
    assert!(sampled(policy, &trace_of(3)));
    assert!(!sampled(policy, &trace_of(4)));
    assert!(sampled(
        "type: span_count, span_count: {min_spans: 2}",
        &trace_of(400)
    ));
}

#[test]
fn trace_state_matches_a_key_value() {
    let policy = "type: trace_state, trace_state: {key: vendor, values: [gold, silver]}";
    let with_state = |state: &str| {
        let mut span = span(1, 1);
        span.trace_state = state.to_owned();
        span
    };
    assert!(sampled(policy, &[with_state("ot=th:8,vendor=gold")]));
    assert!(!sampled(policy, &[with_state("vendor=bronze")]));
    assert!(
        !sampled(policy, &[with_state("vendor=gold,vendor=gold")]),
        "malformed tracestate"
    );
    assert!(!sampled(policy, &[span(1, 1)]));
}

#[test]
fn trace_flags_samples_when_any_span_has_the_sampled_flag() {
    let mut flagged = span(1, 2);
    flagged.flags = 0x01;
    assert!(sampled("type: trace_flags", &[span(1, 1), flagged]));
    let mut other_flags = span(1, 1);
    other_flags.flags = 0x02;
    assert!(!sampled("type: trace_flags", &[other_flags]));
}

#[test]
fn probabilistic_hashes_the_trace_id_like_the_collector() {
    // FNV-1a("default-hash-seed" + id) = 11908981664384643253, about 64.6% of 2^64;
    // with "custom-salt" it is 18210105934933198589, about 98.7%.
    let mut id_span = span(1, 1);
    id_span.trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
    let trace = [id_span];
    assert!(!sampled(
        "type: probabilistic, probabilistic: {sampling_percentage: 64}",
        &trace
    ));
    assert!(sampled(
        "type: probabilistic, probabilistic: {sampling_percentage: 65}",
        &trace
    ));
    assert!(!sampled(
        "type: probabilistic, probabilistic: {hash_salt: custom-salt, sampling_percentage: 98}",
        &trace
    ));
    assert!(sampled(
        "type: probabilistic, probabilistic: {hash_salt: custom-salt, sampling_percentage: 99}",
        &trace
    ));
    assert!(sampled(
        "type: probabilistic, probabilistic: {sampling_percentage: 100}",
        &trace
    ));
    assert!(!sampled(
        "type: probabilistic, probabilistic: {sampling_percentage: 0}",
        &trace
    ));
}

#[test]
fn probabilistic_keeps_about_its_percentage() {
    let sampler = sampler(
        "policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 10}}]",
    );
    let now = Instant::now();
    let kept = (0..10_000u64)
        .filter(|index| {
            let trace = [span(index.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1)];
            sampler.decide(&trace, now).is_sampled()
        })
        .count();
    assert!((800..1200).contains(&kept), "{kept} of 10000 kept at 10%");
}

/// 10 spans per second with the default burst of 20, one 10-span trace every 100 ms
/// for 5 simulated seconds: the full bucket takes two traces, then one per second.
/// Go's `golang.org/x/time/rate.Limiter.AllowN`, which the Collector uses, keeps the same
/// ticks for the same sequence.
#[test]
fn rate_limiting_refills_over_simulated_seconds() {
    let sampler = sampler(
        "policies: [{name: limit, type: rate_limiting, rate_limiting: {spans_per_second: 10}}]",
    );
    let start = Instant::now();
    let trace = trace_of(10);
    let kept_at: Vec<u64> = (0..50u64)
        .filter(|tick| {
            sampler
                .decide(&trace, start + Duration::from_millis(100 * tick))
                .is_sampled()
        })
        .map(|tick| tick * 100)
        .collect();
    assert_eq!(kept_at, [0, 100, 1000, 2000, 3000, 4000]);
}

#[test]
fn rate_limiting_refuses_a_trace_larger_than_the_burst() {
    let sampler = sampler(
        "policies: [{name: limit, type: rate_limiting, rate_limiting: {spans_per_second: 5, burst_capacity: 8}}]",
    );
    let now = Instant::now();
    assert!(!sampler.decide(&trace_of(9), now).is_sampled());
    assert!(
        sampler.decide(&trace_of(8), now).is_sampled(),
        "the refused trace took no tokens"
    );
}

#[test]
fn bytes_limiting_counts_trace_bytes() {
    let trace = trace_of(3);
    let size = trace_size_bytes(&trace);
    let sampler = sampler(&format!(
        "policies: [{{name: bytes, type: bytes_limiting, bytes_limiting: {{bytes_per_second: {size}}}}}]"
    ));
    let start = Instant::now();
    assert!(sampler.decide(&trace, start).is_sampled());
    assert!(
        sampler.decide(&trace, start).is_sampled(),
        "burst defaults to twice the rate"
    );
    assert!(!sampler.decide(&trace, start).is_sampled());
    assert!(
        sampler
            .decide(&trace, start + Duration::from_secs(1))
            .is_sampled()
    );
}

#[test]
fn and_needs_every_sub_policy() {
    let yaml = "policies:\n  - name: both\n    type: and\n    and:\n      and_sub_policy:\n        - {name: svc, type: string_attribute, string_attribute: {key: service.name, values: [checkout]}}\n        - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n";
    let sampler = sampler(yaml);
    let mut failed = with_resource(span(1, 1), "service.name", "checkout");
    assert!(
        !sampler
            .decide(std::slice::from_ref(&failed), Instant::now())
            .is_sampled()
    );
    failed.status.code = StatusCode::Error;
    assert!(
        sampler
            .decide(std::slice::from_ref(&failed), Instant::now())
            .is_sampled()
    );
    let mut other = with_resource(span(1, 1), "service.name", "cart");
    other.status.code = StatusCode::Error;
    assert!(!sampler.decide(&[other], Instant::now()).is_sampled());
}

#[test]
fn not_inverts_its_sub_policy() {
    let yaml = "policies: [{name: n, type: not, not: {not_sub_policy: {name: e, type: status_code, status_code: {status_codes: [ERROR]}}}}]";
    let sampler = sampler(yaml);
    let mut failed = span(1, 1);
    failed.status.code = StatusCode::Error;
    assert!(!sampler.decide(&[failed], Instant::now()).is_sampled());
    assert!(sampler.decide(&[span(1, 1)], Instant::now()).is_sampled());
}

fn decision_of(yaml: &str, trace: &[Span]) -> TailDecision {
    sampler(yaml).decide(trace, Instant::now())
}

#[test]
fn drop_beats_sample_and_is_evaluated_first() {
    let yaml = "policies:\n  - {name: everything, type: always_sample}\n  - name: no-health\n    type: drop\n    drop:\n      drop_sub_policy:\n        - {name: health, type: string_attribute, string_attribute: {key: url.path, values: [/health]}}\n";
    let health = decision_of(yaml, &[with_attribute(span(1, 1), "url.path", "/health")]);
    assert_eq!(health.decision, FinalDecision::Dropped);
    assert_eq!(health.deciding_policy.as_deref(), Some("no-health"));
    assert_eq!(
        health.outcomes.len(),
        1,
        "evaluation stops at a drop: {:?}",
        health.outcomes
    );
    let other = decision_of(yaml, &[with_attribute(span(1, 1), "url.path", "/cart")]);
    assert_eq!(other.decision, FinalDecision::Sampled);
    assert_eq!(other.deciding_policy.as_deref(), Some("everything"));
    let outcomes: Vec<(&str, PolicyDecision)> = other
        .outcomes
        .iter()
        .map(|outcome| (outcome.policy.as_ref(), outcome.decision))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("no-health", PolicyDecision::NotSampled),
            ("everything", PolicyDecision::Sampled)
        ]
    );
}

#[test]
fn inverted_not_sampled_beats_sampled() {
    let yaml = "policies:\n  - {name: all, type: always_sample}\n  - {name: not-test, type: string_attribute, string_attribute: {key: env, values: [test], invert_match: true}}\n";
    let test = decision_of(yaml, &[with_attribute(span(1, 1), "env", "test")]);
    assert_eq!(test.decision, FinalDecision::NotSampled);
    assert_eq!(test.deciding_policy.as_deref(), Some("not-test"));
    assert!(decision_of(yaml, &[with_attribute(span(1, 1), "env", "prod")]).is_sampled());
}

#[test]
fn inverted_sampled_needs_no_plain_not_sampled() {
    let inverted = "{name: not-test, type: string_attribute, string_attribute: {key: env, values: [test], invert_match: true}}";
    let alone = decision_of(&format!("policies: [{inverted}]"), &[span(1, 1)]);
    assert_eq!(alone.decision, FinalDecision::Sampled);
    assert_eq!(alone.deciding_policy.as_deref(), Some("not-test"));
    let with_errors = format!(
        "policies: [{inverted}, {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}]"
    );
    assert_eq!(
        decision_of(&with_errors, &[span(1, 1)]).decision,
        FinalDecision::NotSampled
    );
}

#[test]
fn inside_and_inverted_decisions_count_as_plain_ones() {
    let yaml = "policies:\n  - name: not-listed\n    type: and\n    and:\n      and_sub_policy:\n        - {name: svc, type: string_attribute, string_attribute: {key: service.name, values: [legacy], invert_match: true}}\n        - {name: all, type: always_sample}\n";
    let listed = decision_of(yaml, &[with_resource(span(1, 1), "service.name", "legacy")]);
    assert_eq!(listed.outcomes[0].decision, PolicyDecision::NotSampled);
    let other = decision_of(
        yaml,
        &[with_resource(span(1, 1), "service.name", "checkout")],
    );
    assert_eq!(other.outcomes[0].decision, PolicyDecision::Sampled);
}

#[test]
fn no_matching_policy_means_not_sampled() {
    let decision = decision_of(
        "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]",
        &[span(1, 1)],
    );
    assert_eq!(decision.decision, FinalDecision::NotSampled);
    assert_eq!(decision.deciding_policy, None);
}

#[test]
fn sample_on_first_match_stops_after_the_first_sample() {
    let yaml = "sample_on_first_match: true\npolicies:\n  - {name: first, type: always_sample}\n  - {name: limit, type: rate_limiting, rate_limiting: {spans_per_second: 1}}\n  - {name: no-debug, type: drop, drop: {drop_sub_policy: [{name: debug, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}]}}\n";
    let sampler = sampler(yaml);
    let now = Instant::now();
    let decision = sampler.decide(&trace_of(1), now);
    let evaluated: Vec<&str> = decision
        .outcomes
        .iter()
        .map(|outcome| outcome.policy.as_ref())
        .collect();
    assert_eq!(evaluated, ["no-debug", "first"]);
    assert!(decision.is_sampled());
    let debug = sampler.decide(&[with_attribute(span(1, 1), "debug", true)], now);
    assert_eq!(
        debug.decision,
        FinalDecision::Dropped,
        "drop policies run before the first match"
    );
}

/// 100 spans per second: 50% to errors, 25% to the always_sample fallback.
#[test]
fn composite_allocates_the_budget_per_sub_policy_and_second() {
    let yaml = "policies:\n  - name: budget\n    type: composite\n    composite:\n      max_total_spans_per_second: 100\n      policy_order: [errors, rest]\n      composite_sub_policy:\n        - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n        - {name: rest, type: always_sample}\n      rate_allocation:\n        - {policy: errors, percent: 50}\n        - {policy: rest, percent: 25}\n";
    let sampler = sampler(yaml);
    let failing: Vec<Span> = trace_of(10)
        .into_iter()
        .map(|mut span| {
            span.status.code = StatusCode::Error;
            span
        })
        .collect();
    let fine = trace_of(10);
    let start = Instant::now();
    let kept = |trace: &[Span], at: Instant, times: usize| {
        (0..times)
            .filter(|_| sampler.decide(trace, at).is_sampled())
            .count()
    };
    assert_eq!(kept(&failing, start, 8), 5, "50 spans for errors");
    assert_eq!(
        kept(&fine, start, 8),
        2,
        "25 spans for the rest: two 10-span traces"
    );
    assert_eq!(
        kept(&trace_of(5), start, 2),
        1,
        "a smaller trace still fits the rest's budget"
    );
    let next_second = start + Duration::from_millis(1000);
    assert_eq!(
        kept(&failing, next_second, 8),
        5,
        "budgets reset each second"
    );
    assert_eq!(kept(&fine, next_second + Duration::from_millis(999), 8), 2);
}

#[test]
fn composite_sub_policy_without_allocation_gets_nothing() {
    let yaml = "policies:\n  - name: budget\n    type: composite\n    composite:\n      max_total_spans_per_second: 1000\n      composite_sub_policy:\n        - {name: rest, type: always_sample}\n";
    assert!(!decision_of(yaml, &trace_of(1)).is_sampled());
}

/// The Collector README's practical example (its rule 7 is inert: the sub-policy's
/// settings sit in the wrong block, so it looks for an empty key).
#[test]
fn readme_practical_example_decides_as_written() {
    let path = format!(
        "{}/tests/fixtures/readme_example_practical.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let config = TailConfig::from_yaml_str(&text, "practical.yaml")
        .unwrap_or_else(|error| panic!("{error}"));
    let sampler = TailSampler::new(&config);
    let now = Instant::now();
    let service = |name: &str| with_resource(span(1, 1), "service.name", name);

    let other_team = sampler.decide(&[service("billing")], now);
    assert_eq!(
        other_team.deciding_policy.as_deref(),
        Some("backwards-compatibility-policy")
    );

    let team_a = sampler.decide(&[service("using")], now);
    assert!(!team_a.is_sampled(), "{team_a:?}");
    let mut failing = service("using");
    failing.status.code = StatusCode::Error;
    assert_eq!(
        sampler.decide(&[failing], now).deciding_policy.as_deref(),
        Some("team_a-status-policy")
    );

    let forced = with_attribute(service("using"), "app.force_sample", true);
    assert_eq!(
        sampler.decide(&[forced], now).deciding_policy.as_deref(),
        Some("team_a-force-sample")
    );

    let do_not_sample = with_attribute(service("billing"), "app.do_not_sample", true);
    assert!(
        sampler.decide(&[do_not_sample], now).is_sampled(),
        "rule 7 matches nothing"
    );

    // service-1 is not in rule 1's placeholder list, so rule 1 samples it first; the
    // per-policy outcomes still show rules 3 and 4.
    let outcome = |trace: &[Span], policy: &str| {
        let decision = sampler.decide(trace, now);
        decision
            .outcomes
            .iter()
            .find(|outcome| outcome.policy.as_ref() == policy)
            .map(|outcome| outcome.decision)
    };
    let endpoint = [with_attribute(
        service("service-1"),
        "http.route",
        "/v1/users",
    )];
    assert_eq!(
        outcome(&endpoint, "team_a-service-1"),
        Some(PolicyDecision::Sampled)
    );
    assert_eq!(
        outcome(&endpoint, "team_a-noisy-endpoint-1"),
        Some(PolicyDecision::NotSampled)
    );
    let noisy = [with_attribute(
        service("service-1"),
        "http.route",
        "/v1/name/7",
    )];
    assert_eq!(
        outcome(&noisy, "team_a-service-1"),
        Some(PolicyDecision::NotSampled)
    );
}

#[test]
fn the_sampler_is_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TailSampler>();
    let sampler = Arc::new(sampler(
        "policies: [{name: limit, type: rate_limiting, rate_limiting: {spans_per_second: 100, burst_capacity: 100}}]",
    ));
    let now = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let sampler = Arc::clone(&sampler);
            std::thread::spawn(move || {
                let trace = trace_of(1);
                (0..100)
                    .filter(|_| sampler.decide(&trace, now).is_sampled())
                    .count()
            })
        })
        .collect();
    let kept: usize = threads
        .into_iter()
        .map(|thread| thread.join().expect("thread"))
        .sum();
    assert_eq!(
        kept, 100,
        "exactly the burst, however the threads interleave"
    );
}
