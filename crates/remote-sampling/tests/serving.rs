//! The served JSON (shape byte for byte as Jaeger writes it), the HTTP router, the
//! protobuf messages, and the provider's reload and adaptive overlay.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;
use weft_remote_sampling::proto;
use weft_remote_sampling::{
    AdaptiveProbabilities, DEFAULT_SAMPLING_PROBABILITY, OperationSamplingStrategy,
    PerOperationSamplingStrategies, ProbabilisticSampling, SamplingProvider,
    SamplingStrategyResponse, SamplingStrategyType,
};

const EXAMPLE: &str = include_str!("fixtures/sampling_strategies_example.json");

fn example_provider() -> SamplingProvider {
    SamplingProvider::from_json(EXAMPLE, DEFAULT_SAMPLING_PROBABILITY).expect("loads")
}

#[test]
fn json_matches_jaegers_output() {
    // The strings Jaeger's handler tests and its jsonpb EmitDefaults rendering produce.
    assert_eq!(
        SamplingStrategyResponse::probabilistic(0.5).to_json(),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
    assert_eq!(
        SamplingStrategyResponse::rate_limiting(42).to_json(),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#
    );
    let provider = example_provider();
    assert_eq!(
        provider.strategy_for("foo").to_json(),
        concat!(
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},"#,
            r#""operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0.0,"#,
            r#""perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}},"#,
            r#"{"operation":"op2","probabilisticSampling":{"samplingRate":0.4}},"#,
            r#"{"operation":"/health","probabilisticSampling":{"samplingRate":0.0}},"#,
            r#"{"operation":"/metrics","probabilisticSampling":{"samplingRate":0.0}}],"#,
            r#""defaultUpperBoundTracesPerSecond":0.0}}"#
        )
    );
    assert_eq!(
        provider.strategy_for("bar").to_json(),
        concat!(
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5},"#,
            r#""operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0.0,"#,
            r#""perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.0}},"#,
            r#"{"operation":"/metrics","probabilisticSampling":{"samplingRate":0.0}}],"#,
            r#""defaultUpperBoundTracesPerSecond":0.0}}"#
        )
    );
}

#[test]
fn json_reads_back_with_either_enum_encoding() {
    let provider = example_provider();
    for service in ["foo", "bar", "other"] {
        let response = provider.strategy_for(service);
        let parsed: SamplingStrategyResponse =
            serde_json::from_str(&response.to_json()).expect("reads back");
        assert_eq!(parsed, response);
    }
    let numeric: SamplingStrategyResponse = serde_json::from_str(
        r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":3}}"#,
    )
    .expect("numeric enum");
    assert_eq!(numeric, SamplingStrategyResponse::rate_limiting(3));
    assert!(serde_json::from_str::<SamplingStrategyResponse>(r#"{"strategyType":2}"#).is_err());
    assert!(
        serde_json::from_str::<SamplingStrategyResponse>(r#"{"strategyType":"CONST"}"#).is_err()
    );
}

/// What jaeger-client-python's `RemoteControlledSampler._update_sampler` reads, replayed:
/// `operationSampling` if truthy, else `strategyType` compared with the strings
/// "PROBABILISTIC" / "RATE_LIMITING" and the sub-object's field; the rate limit must be
/// in `[0, 500)`.
#[test]
fn jaeger_client_python_reads_every_served_shape() {
    let provider = example_provider();
    for (service, expected) in [
        ("foo", "adaptive 0.8"),
        ("bar", "adaptive 0.5"),
        ("other", "adaptive 0.5"),
    ] {
        let json: serde_json::Value =
            serde_json::from_str(&provider.strategy_for(service).to_json()).expect("JSON");
        let operations = json.get("operationSampling").expect("operationSampling");
        let default = operations["defaultSamplingProbability"]
            .as_f64()
            .expect("number");
        assert!(operations["perOperationStrategies"].is_array());
        assert_eq!(format!("adaptive {default}"), expected);
    }
    let plain = SamplingProvider::from_json(
        include_str!("fixtures/strategies.json"),
        DEFAULT_SAMPLING_PROBABILITY,
    )
    .expect("loads");
    let foo: serde_json::Value =
        serde_json::from_str(&plain.strategy_for("foo").to_json()).expect("JSON");
    assert!(foo.get("operationSampling").is_none());
    assert_eq!(foo["strategyType"], "PROBABILISTIC");
    assert_eq!(foo["probabilisticSampling"]["samplingRate"], 0.8);
    let bar: serde_json::Value =
        serde_json::from_str(&plain.strategy_for("bar").to_json()).expect("JSON");
    assert_eq!(bar["strategyType"], "RATE_LIMITING");
    let rate = bar["rateLimitingSampling"]["maxTracesPerSecond"]
        .as_f64()
        .expect("number");
    assert!((0.0..500.0).contains(&rate));
}

#[test]
fn protobuf_round_trip_and_field_numbers() {
    let provider = example_provider();
    let request = proto::SamplingStrategyParameters {
        service_name: "foo".into(),
    }
    .encode_to_vec();
    // Field 1, length-delimited, "foo".
    assert_eq!(request, b"\x0a\x03foo");
    let bytes = proto::get_sampling_strategy(&provider, &request).expect("decodes");
    let decoded = proto::SamplingStrategyResponse::decode(bytes.as_slice()).expect("valid");
    let back = SamplingStrategyResponse::from(&decoded);
    assert_eq!(back, provider.strategy_for("foo"));
    assert_eq!(decoded.strategy_type, 0);
    assert_eq!(
        decoded
            .operation_sampling
            .expect("ops")
            .per_operation_strategies
            .len(),
        4
    );

    let rate_limited = proto::encode_response(&SamplingStrategyResponse::rate_limiting(5));
    // strategyType (field 1, varint) = 1, rateLimitingSampling (field 3) { field 1 = 5 }.
    assert_eq!(rate_limited, b"\x08\x01\x1a\x02\x08\x05");
    // probabilisticSampling (field 2) { samplingRate (field 1, fixed64) = 0.5 }.
    let probabilistic = proto::encode_response(&SamplingStrategyResponse::probabilistic(0.5));
    let mut expected = vec![0x12, 0x09, 0x09];
    expected.extend_from_slice(&0.5f64.to_le_bytes());
    assert_eq!(probabilistic, expected);

    let error = proto::get_sampling_strategy(&provider, b"\x0a\x05ab").expect_err("truncated");
    assert!(
        error.to_string().contains("SamplingStrategyParameters"),
        "{error}"
    );
    assert_eq!(
        proto::GET_SAMPLING_STRATEGY_PATH,
        "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"
    );
}

async fn get(provider: Arc<SamplingProvider>, uri: &str) -> (StatusCode, Option<String>, String) {
    let response = weft_remote_sampling::http::router(provider)
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().expect("ascii").to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

#[tokio::test]
async fn router_serves_both_paths_and_rejects_bad_queries() {
    let provider = Arc::new(example_provider());
    for path in ["/sampling", "/api/sampling"] {
        let (status, content_type, body) =
            get(Arc::clone(&provider), &format!("{path}?service=bar")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(body, provider.strategy_for("bar").to_json());
    }
    let (status, _, body) = get(Arc::clone(&provider), "/sampling?service=my%20svc&x=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, provider.strategy_for("my svc").to_json());

    let (status, _, body) = get(Arc::clone(&provider), "/sampling").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("missing query parameter `service`"), "{body}");
    let (status, _, body) = get(Arc::clone(&provider), "/api/sampling?service=a&service=b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("more than once"), "{body}");
    let (status, _, _) = get(provider, "/other?service=a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reload_replaces_strategies_and_keeps_them_on_error() {
    let provider = Arc::new(example_provider());
    let warnings = provider
        .reload_strategies(r#"{"default_strategy": {"type": "probabilistic", "param": 0.25}}"#)
        .expect("valid file");
    assert!(warnings.is_empty());
    let (_, _, body) = get(Arc::clone(&provider), "/sampling?service=foo").await;
    assert_eq!(
        body,
        SamplingStrategyResponse::probabilistic(0.25).to_json()
    );

    let error = provider
        .reload_strategies(r#"{"default_strategy": {"type": "probabilistic", "param": 7}}"#)
        .expect_err("invalid file");
    assert_eq!(error.field, "default_strategy.param");
    let (_, _, body) = get(provider, "/sampling?service=foo").await;
    assert_eq!(
        body,
        SamplingStrategyResponse::probabilistic(0.25).to_json()
    );
}

#[test]
fn adaptive_overlay_keeps_file_pins_and_service_wide_strategy() {
    let provider = example_provider();
    let mut services = BTreeMap::new();
    services.insert(
        "foo".to_owned(),
        BTreeMap::from([("op1".to_owned(), 0.9), ("checkout".to_owned(), 0.05)]),
    );
    provider.set_adaptive(Some(AdaptiveProbabilities {
        default_sampling_probability: 0.001,
        default_lower_bound_traces_per_second: 1.0 / 60.0,
        services,
    }));
    let foo = provider.strategy_for("foo");
    assert_eq!(foo.strategy_type, SamplingStrategyType::Probabilistic);
    assert_eq!(
        foo.probabilistic_sampling,
        Some(ProbabilisticSampling { sampling_rate: 0.8 })
    );
    let operation = |name: &str, sampling_rate: f64| OperationSamplingStrategy {
        operation: name.into(),
        probabilistic_sampling: ProbabilisticSampling { sampling_rate },
    };
    assert_eq!(
        foo.operation_sampling,
        Some(PerOperationSamplingStrategies {
            default_sampling_probability: 0.001,
            default_lower_bound_traces_per_second: 1.0 / 60.0,
            per_operation_strategies: vec![
                operation("op1", 0.2),
                operation("op2", 0.4),
                operation("/health", 0.0),
                operation("/metrics", 0.0),
                operation("checkout", 0.05),
            ],
            default_upper_bound_traces_per_second: 0.0,
        })
    );
    // A service adaptive has not seen yet starts at the adaptive default.
    let new = provider.strategy_for("new");
    let operations = new.operation_sampling.expect("operations");
    assert_eq!(operations.default_sampling_probability, 0.001);
    assert_eq!(operations.per_operation_strategies.len(), 2);

    provider.set_adaptive(None);
    assert_eq!(
        provider
            .strategy_for("foo")
            .operation_sampling
            .expect("file")
            .default_sampling_probability,
        0.8
    );
}
