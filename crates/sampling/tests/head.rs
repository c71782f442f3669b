//! Head sampling: configuration, and decisions consistent by trace id.

use std::sync::Arc;

use weft_model::{Resource, Span, SpanId, TraceId};
use weft_sampling::head::{KeepReason, RatioError, Threshold};
use weft_sampling::{HeadConfig, HeadDecision, HeadSampler};

fn span_in(service: &str, randomness: u64) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(0xabcd, randomness),
        SpanId::from_u64(1),
        "op",
    );
    span.resource = Arc::new(Resource::for_service(service));
    span
}

fn head(yaml: &str) -> HeadSampler {
    let config =
        HeadConfig::from_yaml_str(yaml, "head.yaml").unwrap_or_else(|error| panic!("{error}"));
    HeadSampler::new(&config).unwrap_or_else(|error| panic!("{error}"))
}

const HALF: u64 = 1 << 55;

#[test]
fn config_loads_under_head_or_bare_with_defaults() {
    let nested = HeadConfig::from_yaml_str(
        "head:\n  default_ratio: 0.25\n  tenants: {t1: 0.5}\n  services: {checkout: 0.1}\n",
        "head.yaml",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(nested.default_ratio, 0.25);
    assert_eq!(nested.tenants.get("t1"), Some(&0.5));
    assert_eq!(nested.services.get("checkout"), Some(&0.1));
    let bare = HeadConfig::from_yaml_str("services: {checkout: 0.1}\n", "head.yaml")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(bare.default_ratio, 1.0);
    assert_eq!(
        bare,
        HeadConfig {
            services: nested.services.clone(),
            ..HeadConfig::default()
        }
    );
    let in_a_larger_file = HeadConfig::from_yaml_str(
        "storage: {path: /data}\nhead:\n  default_ratio: 0.5\ndistributor: {}\n",
        "weft.yaml",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(in_a_larger_file.default_ratio, 0.5);
}

#[test]
fn config_errors_name_the_line_and_key() {
    let ratio = HeadConfig::from_yaml_str("head:\n  tenants:\n    t1: 1.5\n", "head.yaml")
        .expect_err("1.5 is not a probability");
    assert_eq!(ratio.line, Some(3), "{ratio}");
    assert!(ratio.message.starts_with("tenants.t1: "), "{ratio}");
    let unknown =
        HeadConfig::from_yaml_str("head:\n  default: 0.5\n", "head.yaml").expect_err("unknown key");
    assert_eq!(unknown.line, Some(2), "{unknown}");
    assert!(unknown.message.contains("`default`"), "{unknown}");
    let tiny =
        HeadConfig::from_yaml_str("default_ratio: 1e-20\n", "head.yaml").expect_err("below 2^-56");
    assert!(tiny.to_string().starts_with("head.yaml:1:"), "{tiny}");
    let built = HeadSampler::new(&HeadConfig {
        default_ratio: -1.0,
        ..HeadConfig::default()
    });
    assert!(matches!(built, Err(RatioError { ref key, .. }) if key == "default_ratio"));
}

#[test]
fn keeps_when_trace_id_randomness_reaches_the_threshold() {
    let sampler = head("default_ratio: 0.5\n");
    match sampler.decide(&span_in("a", HALF), "t") {
        HeadDecision::Keep {
            probability,
            reason,
            threshold,
        } => {
            assert_eq!(probability, 0.5);
            assert_eq!(reason, KeepReason::Ratio);
            assert_eq!(threshold.to_th().as_deref(), Some("8"));
        }
        HeadDecision::Drop => panic!("randomness 2^55 passes threshold 2^55"),
    }
    assert_eq!(
        sampler.decide(&span_in("a", HALF - 1), "t"),
        HeadDecision::Drop
    );
    // Only the low 56 bits count: a high byte does not make a trace pass.
    assert_eq!(
        sampler.decide(&span_in("a", 0xff00_0000_0000_0000), "t"),
        HeadDecision::Drop
    );
}

#[test]
fn kept_spans_report_the_probability_their_threshold_gives() {
    let sampler = head("default_ratio: 0.1\n");
    match sampler.decide(&span_in("a", (1 << 56) - 1), "t") {
        HeadDecision::Keep { probability, .. } => assert_eq!(probability, 0.100006103515625),
        HeadDecision::Drop => panic!("the largest randomness passes any ratio"),
    }
}

#[test]
fn debug_spans_are_always_kept() {
    let sampler = head("default_ratio: 0\n");
    let mut debug = span_in("a", 0);
    assert_eq!(sampler.decide(&debug, "t"), HeadDecision::Drop);
    debug.debug = true;
    assert_eq!(
        sampler.decide(&debug, "t"),
        HeadDecision::Keep {
            probability: 1.0,
            threshold: Threshold::ALWAYS,
            reason: KeepReason::Debug
        }
    );
}

#[test]
fn ratio_zero_keeps_nothing() {
    let sampler = head("default_ratio: 0\n");
    assert_eq!(
        sampler.decide(&span_in("a", (1 << 56) - 1), "t"),
        HeadDecision::Drop
    );
    let mut upstream = span_in("a", (1 << 56) - 1);
    upstream.trace_state = String::from("ot=th:fffffffffffff");
    assert_eq!(sampler.decide(&upstream, "t"), HeadDecision::Drop);
}

#[test]
fn services_win_over_tenants_which_win_over_the_default() {
    let sampler =
        head("head:\n  default_ratio: 1.0\n  tenants: {t1: 0.5}\n  services: {checkout: 0.25}\n");
    let probability =
        |service: &str, tenant: &str| sampler.threshold_for(tenant, Some(service)).probability();
    assert_eq!(probability("checkout", "t1"), 0.25);
    assert_eq!(probability("checkout", "t2"), 0.25);
    assert_eq!(probability("cart", "t1"), 0.5);
    assert_eq!(probability("cart", "t2"), 1.0);
    assert_eq!(sampler.threshold_for("t1", None).probability(), 0.5);
}

#[test]
fn rv_in_tracestate_replaces_trace_id_randomness() {
    let sampler = head("default_ratio: 0.5\n");
    let mut span = span_in("a", 0);
    span.trace_state = String::from("vendor=x,ot=rv:c0000000000000");
    assert!(sampler.decide(&span, "t").is_keep());
    span.trace_state = String::from("ot=rv:10000000000000");
    let mut high = span.clone();
    high.trace_id = TraceId::from_halves(0, (1 << 56) - 1);
    assert_eq!(
        sampler.decide(&high, "t"),
        HeadDecision::Drop,
        "rv decides, not the trace id"
    );
    span.trace_state = String::from("ot=rv:C0000000000000");
    assert_eq!(
        sampler.decide(&span, "t"),
        HeadDecision::Drop,
        "an invalid rv falls back to the trace id"
    );
}

#[test]
fn an_upstream_threshold_above_ours_is_kept_with_its_probability() {
    let sampler = head("default_ratio: 0.5\n");
    let mut span = span_in("a", 0xf0_0000_0000_0000);
    span.trace_state = String::from("ot=th:c");
    assert_eq!(
        sampler.decide(&span, "t"),
        HeadDecision::Keep {
            probability: 0.25,
            threshold: Threshold::from_th("c").expect("th"),
            reason: KeepReason::UpstreamThreshold
        }
    );
    // An upstream threshold below ours: our ratio decides, with our probability.
    span.trace_state = String::from("ot=th:4");
    assert!(
        matches!(sampler.decide(&span, "t"), HeadDecision::Keep { probability, reason: KeepReason::Ratio, .. } if probability == 0.5)
    );
    let mut below_ours = span_in("a", 0x60_0000_0000_0000);
    below_ours.trace_state = String::from("ot=th:4");
    assert_eq!(sampler.decide(&below_ours, "t"), HeadDecision::Drop);
    // Inconsistent: randomness below the upstream threshold, so it is ignored.
    let mut inconsistent = span_in("a", 0x10_0000_0000_0000);
    inconsistent.trace_state = String::from("ot=th:c");
    assert_eq!(sampler.decide(&inconsistent, "t"), HeadDecision::Drop);
}

/// Every span of a trace gets one decision per ratio, and decisions nest across
/// services with different ratios: kept at 0.1 implies kept at 0.5.
#[test]
fn decisions_are_consistent_by_trace_id_across_services() {
    let sampler = head(
        "head:\n  default_ratio: 1.0\n  services: {frontend: 0.5, checkout: 0.5, payments: 0.1}\n",
    );
    let mut kept_frontend = 0;
    let mut kept_payments = 0;
    for index in 0..20_000u64 {
        let randomness = index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let frontend = sampler
            .decide(&span_in("frontend", randomness), "t")
            .is_keep();
        let checkout = sampler
            .decide(&span_in("checkout", randomness), "t")
            .is_keep();
        let payments = sampler
            .decide(&span_in("payments", randomness), "t")
            .is_keep();
        assert_eq!(
            frontend, checkout,
            "same ratio, same decision for trace {index}"
        );
        assert!(
            !payments || frontend,
            "kept at 0.1 but not at 0.5: trace {index}"
        );
        assert!(
            sampler.decide(&span_in("other", randomness), "t").is_keep(),
            "ratio 1 keeps all"
        );
        kept_frontend += usize::from(frontend);
        kept_payments += usize::from(payments);
    }
    assert!(
        (9_500..10_500).contains(&kept_frontend),
        "{kept_frontend} of 20000 at 0.5"
    );
    assert!(
        (1_800..2_200).contains(&kept_payments),
        "{kept_payments} of 20000 at 0.1"
    );
}

#[test]
fn config_deserializes_for_embedding_and_the_sampler_checks_ratios() {
    let config: HeadConfig = serde_saphyr::from_str("services: {checkout: 0.1}\n").expect("valid");
    assert_eq!(config.default_ratio, 1.0, "defaults apply to missing keys");
    assert_eq!(config.services.get("checkout"), Some(&0.1));
    assert!(
        serde_saphyr::from_str::<HeadConfig>("ratio: 0.1\n").is_err(),
        "unknown key"
    );
    let invalid: HeadConfig = serde_saphyr::from_str("services: {checkout: 2}\n").expect("parses");
    let error = HeadSampler::new(&invalid).expect_err("2 is not a probability");
    assert_eq!(error.key, "services.checkout");
}
