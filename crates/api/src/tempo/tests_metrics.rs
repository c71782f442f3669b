//! `/api/metrics/query_range` and `/api/metrics/query` over an in-memory store.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weft_model::{Resource, Span, SpanId, TenantId, TraceId};
use weft_query::memory::MemoryTraceReader;

use super::tempo_router;
use crate::config::ZipkinApiConfig;
use crate::query_config::QueryConfig;
use crate::test_support::send;

const T0: u64 = 1_700_000_000;

fn span(trace: u64, id: u64, service: &str, offset_seconds: u64) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = (T0 + offset_seconds) * 1_000_000_000;
    span.duration_nanos = 250_000_000;
    span
}

fn router() -> Router {
    let reader = MemoryTraceReader::default();
    reader.push(
        &TenantId::single(),
        [
            span(1, 1, "api", 5),
            span(1, 2, "api", 15),
            span(2, 3, "db", 25),
        ],
    );
    tempo_router(
        Arc::new(reader),
        ZipkinApiConfig::default(),
        QueryConfig::default(),
    )
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let answer = send(router, request).await;
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

fn encode(query: &str) -> String {
    form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

#[tokio::test]
async fn query_range_answers_in_tempo_json() {
    let router = router();
    // Aligned: start moves one step earlier, so the first point is at T0.
    let uri = format!(
        "/api/metrics/query_range?q={}&start={T0}&end={}&step=10s&exemplars=0",
        encode("{ } | count_over_time() by (resource.service.name)"),
        T0 + 30
    );
    let (status, body) = get(&router, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    let ms = |seconds: u64| ((T0 + seconds) * 1000).to_string();
    let label = |service: &str| json!([{"key": "resource.service.name", "value": {"stringValue": service}}]);
    let expected = json!([
        {"labels": label("api"), "samples": [
            {"timestampMs": ms(0)}, {"timestampMs": ms(10), "value": 1},
            {"timestampMs": ms(20), "value": 1}, {"timestampMs": ms(30)}]},
        {"labels": label("db"), "samples": [
            {"timestampMs": ms(0)}, {"timestampMs": ms(10)},
            {"timestampMs": ms(20)}, {"timestampMs": ms(30), "value": 1}]},
    ]);
    // Exemplars default to on; compare without them.
    let mut series = answer["series"].clone();
    for one in series.as_array_mut().expect("series") {
        one.as_object_mut().expect("object").remove("exemplars");
    }
    assert_eq!(series, expected);
    assert_eq!(answer["metrics"]["inspectedTraces"], json!(2));
}

#[tokio::test]
async fn instant_query_gives_one_value_per_series() {
    let router = router();
    let uri = format!(
        "/api/metrics/query?q={}&start={T0}&end={}",
        encode("{ } | rate()"),
        T0 + 30
    );
    let (status, body) = get(&router, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        answer["series"],
        json!([{"labels": [{"key": "__name__", "value": {"stringValue": "rate"}}], "value": 0.1}])
    );
}

#[tokio::test]
async fn quantiles_carry_p_and_exemplars_are_bounded() {
    let router = router();
    let uri = format!(
        "/api/metrics/query_range?q={}&start={T0}&end={}&step=30s&exemplars=1",
        encode("{ } | quantile_over_time(duration, 0.9)"),
        T0 + 30
    );
    let (status, body) = get(&router, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    let series = &answer["series"][0];
    assert_eq!(
        series["labels"],
        json!([{"key": "p", "value": {"doubleValue": 0.9}}])
    );
    // 250 ms rounds up to the 2^28 ns bucket.
    assert_eq!(series["samples"][1]["value"], json!(0.268435456));
    assert_eq!(series["exemplars"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_requests_name_the_problem() {
    let router = router();
    let cases = [
        (
            format!("/api/metrics/query_range?q={}", encode("{ } | rate(")),
            "parse error at line 1",
        ),
        (
            format!("/api/metrics/query_range?q={}", encode("{ }")),
            "not a metrics query",
        ),
        ("/api/metrics/query_range?start=1".to_string(), "q"),
        (
            format!(
                "/api/metrics/query_range?q={}&start={T0}&end={}&step=1ms",
                encode("{ } | rate()"),
                T0 + 3600
            ),
            "step of 1ms is too small, minimum step for given range is 360ms",
        ),
        (
            format!(
                "/api/metrics/query_range?q={}&start={}&end={T0}",
                encode("{ } | rate()"),
                T0 + 10
            ),
            "end must be greater than start",
        ),
        (
            format!(
                "/api/metrics/query_range?q={}&step=abc",
                encode("{ } | rate()")
            ),
            "invalid step",
        ),
        (
            format!("/api/metrics/query?q={}", encode("{ } | rate() > 3")),
            "not supported",
        ),
    ];
    for (uri, needle) in cases {
        let (status, body) = get(&router, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(needle), "{uri}: {body}");
    }
}
