//! The native search and trace endpoints over an in-memory store.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use weft_model::{Resource, Span, SpanId, TenantId, TraceId};
use weft_query::memory::MemoryTraceReader;

use super::native_router;
use crate::config::ZipkinApiConfig;

const START_SECONDS: u64 = 1_700_000_000;

fn span(trace: u64, id: u64, parent: Option<u64>, service: &str, offset_seconds: u64) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(0, trace),
        SpanId::from_u64(id),
        format!("op-{id}"),
    );
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = (START_SECONDS + offset_seconds) * 1_000_000_000;
    span.duration_nanos = 1_500_000_000;
    span
}

fn router() -> Router {
    router_with(ZipkinApiConfig::default())
}

fn router_with(config: ZipkinApiConfig) -> Router {
    let reader = MemoryTraceReader::default();
    reader.push(
        &TenantId::single(),
        [
            span(1, 1, None, "frontend", 0),
            span(1, 2, Some(1), "backend", 1),
            span(2, 1, None, "backend", 10),
            span(3, 7, Some(6), "frontend", 20),
        ],
    );
    native_router(Arc::new(reader), config)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn search_uri(extra: &str) -> String {
    format!(
        "/api/search?start={START_SECONDS}&end={}{extra}",
        START_SECONDS + 60
    )
}

#[tokio::test]
async fn search_lists_summaries_newest_first_in_tempos_shape() {
    let router = router();
    let (status, body) = get(&router, &search_uri("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let traces = json["traces"].as_array().expect("traces");
    let ids: Vec<&str> = traces
        .iter()
        .filter_map(|t| t["traceID"].as_str())
        .collect();
    assert_eq!(ids, ["3", "2", "1"], "leading zeros trimmed, newest first");
    let first = &traces[2];
    assert_eq!(first["rootServiceName"], "frontend");
    assert_eq!(first["rootTraceName"], "op-1");
    assert_eq!(
        first["startTimeUnixNano"],
        (START_SECONDS * 1_000_000_000).to_string()
    );
    assert_eq!(first["durationMs"], 2_500);
    assert_eq!(first["spanCount"], 2);
    assert_eq!(traces[0]["rootServiceName"], "<root span not yet received>");
}

#[tokio::test]
async fn search_filters_by_service_and_limit_and_window() {
    let router = router();
    let count = |body: String| {
        let json: Value = serde_json::from_str(&body).expect("json");
        json["traces"].as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(
        count(get(&router, &search_uri("&service=Backend")).await.1),
        2
    );
    assert_eq!(count(get(&router, &search_uri("&limit=1")).await.1), 1);
    let narrow = format!("/api/search?start={START_SECONDS}&end={START_SECONDS}");
    assert_eq!(count(get(&router, &narrow).await.1), 1, "end is inclusive");
    let (status, body) = get(&router, "/api/search?start=10&end=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        get(&router, "/api/search?limit=-1").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn trace_by_id_is_otlp_json_and_404_when_unknown() {
    let router = router();
    let (status, body) = get(&router, "/api/traces/00000000000000000000000000000001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let decoded = weft_codec::otlp::decode_json(body.as_bytes()).expect("otlp json");
    assert_eq!(decoded.batch.spans.len(), 2);
    let (status, _) = get(&router, "/api/traces/1").await;
    assert_eq!(status, StatusCode::OK, "short ids are padded");
    let (status, body) = get(&router, "/api/traces/99").await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::NOT_FOUND,
            "trace 00000000000000000000000000000099 not found"
        )
    );
    assert_eq!(
        get(&router, "/api/traces/xyz").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&router, "/api/echo").await,
        (StatusCode::OK, "echo".to_owned())
    );
}

#[tokio::test]
async fn inspected_traces_counts_traces_examined_not_returned() {
    let router = router();
    let (status, body) = get(&router, &search_uri("&limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["traces"][0]["traceID"], "3", "the newest is kept");
    assert_eq!(json["metrics"]["inspectedTraces"], 3);
}

#[tokio::test]
async fn search_is_empty_when_search_is_disabled_but_trace_by_id_works() {
    let router = router_with(ZipkinApiConfig {
        search_enabled: false,
        ..ZipkinApiConfig::default()
    });
    let (status, body) = get(&router, &search_uri("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"traces": [], "metrics": {"inspectedTraces": 0}})
    );
    let (status, body) = get(&router, "/api/traces/1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#""traceId":"00000000000000000000000000000001""#),
        "lowercase hex ids: {body}"
    );
}

#[test]
fn go_durations_parse_like_tempo() {
    assert_eq!(super::parse_go_duration("250ms"), Some(250_000_000));
    assert_eq!(super::parse_go_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(super::parse_go_duration("2h45m"), Some(9_900_000_000_000));
    assert_eq!(super::parse_go_duration("10us"), Some(10_000));
    assert_eq!(super::parse_go_duration("0"), Some(0));
    assert_eq!(super::parse_go_duration("10"), None, "a unit is required");
    assert_eq!(super::parse_go_duration("-1s"), None);
    assert_eq!(super::parse_go_duration("1d"), None);
}

#[test]
fn logfmt_tags_allow_quoted_values() {
    let pairs = super::parse_logfmt(r#"http.status_code=500  name="GET /a b" x="q\"d""#)
        .expect("valid logfmt");
    assert_eq!(
        pairs,
        vec![
            ("http.status_code".to_owned(), "500".to_owned()),
            ("name".to_owned(), "GET /a b".to_owned()),
            ("x".to_owned(), "q\"d".to_owned()),
        ]
    );
    assert!(super::parse_logfmt("novalue").is_err());
    assert!(super::parse_logfmt(r#"k="open"#).is_err());
}

#[tokio::test]
async fn search_narrows_by_tags_and_trace_duration() {
    let router = router();
    let ids = |body: String| -> Vec<String> {
        let json: Value = serde_json::from_str(&body).expect("json");
        json["traces"]
            .as_array()
            .map(|traces| {
                traces
                    .iter()
                    .filter_map(|t| t["traceID"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Trace 1 lasts 2.5 s (two spans), traces 2 and 3 last 1.5 s.
    let (status, body) = get(&router, &search_uri("&minDuration=2s")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(body), ["1"]);
    assert_eq!(
        ids(get(&router, &search_uri("&maxDuration=1500ms")).await.1),
        ["3", "2"]
    );
    let tags = "&tags=service.name%3Dbackend%20name%3Dop-2";
    assert_eq!(ids(get(&router, &search_uri(tags)).await.1), ["1"]);
    let (status, _) = get(&router, &search_uri("&minDuration=fast")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&router, &search_uri("&minDuration=2s&maxDuration=1s")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
