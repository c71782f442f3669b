//! The analytics endpoints over an in-memory store of hand-built traces.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use weft_model::{Resource, Span, SpanId, SpanKind, TenantId, TraceId};
use weft_query::memory::MemoryTraceReader;

use super::analytics_router;
use crate::config::ZipkinApiConfig;
use crate::query_config::QueryConfig;
use crate::test_support::send;

const START_SECONDS: u64 = 1_700_000_000;
const MILLI: u64 = 1_000_000;

fn span(
    trace: u64,
    id: u64,
    parent: Option<u64>,
    (service, name, kind): (&str, &str, SpanKind),
    (start_millis, duration_millis): (u64, u64),
) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), name);
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.kind = kind;
    span.resource = Arc::new(Resource::for_service(service));
    // Trace `n` starts `n` seconds into the window.
    span.start_unix_nanos = (START_SECONDS + trace) * 1_000_000_000 + start_millis * MILLI;
    span.duration_nanos = duration_millis * MILLI;
    span
}

/// A checkout: frontend calls inventory (10-50 ms) then payment (55-95 ms, the charge
/// taking `charge_millis` from 57 ms); the root lasts until 5 ms after the payment call.
fn checkout(trace: u64, charge_millis: u64) -> Vec<Span> {
    let payment_end = 57 + charge_millis + 2;
    vec![
        span(
            trace,
            1,
            None,
            ("frontend", "GET /checkout", SpanKind::Server),
            (0, payment_end + 5),
        ),
        span(
            trace,
            2,
            Some(1),
            ("frontend", "call inventory", SpanKind::Client),
            (10, 40),
        ),
        span(
            trace,
            3,
            Some(2),
            ("inventory", "reserve", SpanKind::Server),
            (12, 36),
        ),
        span(
            trace,
            4,
            Some(1),
            ("frontend", "call payment", SpanKind::Client),
            (55, charge_millis + 4),
        ),
        span(
            trace,
            5,
            Some(4),
            ("payment", "charge", SpanKind::Server),
            (57, charge_millis),
        ),
    ]
}

fn health(trace: u64) -> Vec<Span> {
    vec![span(
        trace,
        1,
        None,
        ("backend", "GET /health", SpanKind::Server),
        (0, 1),
    )]
}

/// Traces 1-3 are checkouts (charges of 36, 36 and 136 ms), trace 4 a health check.
fn reader() -> MemoryTraceReader {
    let reader = MemoryTraceReader::default();
    let tenant = TenantId::single();
    reader.push(&tenant, checkout(1, 36));
    reader.push(&tenant, checkout(2, 36));
    reader.push(&tenant, checkout(3, 136));
    reader.push(&tenant, health(4));
    reader
}

fn router_with(zipkin: ZipkinApiConfig, query: QueryConfig) -> Router {
    analytics_router(Arc::new(reader()), zipkin, query)
}

fn router() -> Router {
    router_with(ZipkinApiConfig::default(), QueryConfig::default())
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let answer = send(router, request).await;
    (answer.status, answer.text())
}

async fn get_json(router: &Router, uri: &str) -> Value {
    let (status, body) = get(router, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// `path?start&end` over the whole test window, with `extra` appended.
fn windowed(path: &str, extra: &str) -> String {
    format!(
        "{path}?start={START_SECONDS}&end={}{extra}",
        START_SECONDS + 60
    )
}

fn trace_hex(trace: u64) -> String {
    TraceId::from_halves(0, trace).to_hex()
}

#[tokio::test]
async fn critical_path_of_a_hand_built_trace_alternates_caller_and_callees() {
    let router = router();
    let json = get_json(
        &router,
        &format!("/api/analytics/critical-path/{}", trace_hex(1)),
    )
    .await;
    let segments: Vec<(String, u64, u64)> = json["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|segment| {
            let base = (START_SECONDS + 1) * 1_000_000_000;
            let at = |key: &str| (segment[key].as_u64().expect("number") - base) / MILLI;
            (
                segment["name"].as_str().expect("name").to_owned(),
                at("start_unix_nanos"),
                at("end_unix_nanos"),
            )
        })
        .collect();
    let expected = [
        ("GET /checkout", 0, 10),
        ("call inventory", 10, 12),
        ("reserve", 12, 48),
        ("call inventory", 48, 50),
        ("GET /checkout", 50, 55),
        ("call payment", 55, 57),
        ("charge", 57, 93),
        ("call payment", 93, 95),
        ("GET /checkout", 95, 100),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|&(name, start, end)| (name.to_owned(), start, end))
        .collect();
    assert_eq!(segments, expected);
    assert_eq!(json["total_nanos"], 100 * MILLI);
    assert_eq!(json["truncated"], false);
    assert_eq!(json["spans"][0]["name"], "reserve");
}

#[tokio::test]
async fn critical_path_errors_name_the_problem() {
    let router = router();
    let (status, body) = get(&router, "/api/analytics/critical-path/abc").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("not found"), "{body}");
    let (status, body) = get(&router, "/api/analytics/critical-path/xyz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("hex"), "{body}");
    let path = format!("/api/analytics/critical-path/{}", trace_hex(1));
    let (status, body) = get(&router, &format!("{path}?clock_skew=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("invalid clock_skew"), "{body}");
}

#[tokio::test]
async fn critical_path_of_a_trace_over_the_read_cap_is_flagged_truncated() {
    let query = QueryConfig {
        max_spans_per_trace: 3,
        ..QueryConfig::default()
    };
    let router = router_with(ZipkinApiConfig::default(), query);
    let uri = format!("/api/analytics/critical-path/{}", trace_hex(1));
    let json = get_json(&router, &uri).await;
    assert_eq!(json["truncated"], true);
    assert!(
        json["truncated_reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("max_spans_per_trace")),
        "{json}"
    );
    assert_eq!(json["span_count"], 3, "the earliest three spans");
}

fn edge_counts(json: &Value) -> Vec<(String, String, u64)> {
    json["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            (
                edge["caller"].as_str().unwrap_or_default().to_owned(),
                edge["callee"].as_str().unwrap_or_default().to_owned(),
                edge["stats"]["call_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn service_map_counts_calls_over_the_selection() {
    let router = router();
    let json = get_json(&router, &windowed("/api/analytics/service-map", "")).await;
    assert_eq!(
        edge_counts(&json),
        [
            ("frontend".to_owned(), "inventory".to_owned(), 3),
            ("frontend".to_owned(), "payment".to_owned(), 3),
        ]
    );
    let services: Vec<&str> = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|node| node["service"].as_str())
        .collect();
    assert_eq!(services, ["backend", "frontend", "inventory", "payment"]);
    assert_eq!(json["selection"]["traces_selected"], 4);
    assert_eq!(json["selection"]["query"], "{ }");
    assert_eq!(json["coverage"]["traces_analyzed"], 4);
    assert_eq!(json["truncated"], false);
    let latency = &json["edges"][1]["stats"]["latency"];
    assert_eq!(latency["max_nanos"], 140 * MILLI, "the client's duration");
}

#[tokio::test]
async fn service_map_selects_with_traceql_and_flags_the_limit() {
    let router = router();
    let query = "&q=%7B%20duration%20%3E%20120ms%20%7D";
    let json = get_json(&router, &windowed("/api/analytics/service-map", query)).await;
    assert_eq!(
        json["selection"]["traces_selected"], 1,
        "only the slow checkout"
    );
    assert_eq!(edge_counts(&json)[1].2, 1);

    let json = get_json(&router, &windowed("/api/analytics/service-map", "&limit=2")).await;
    assert_eq!(json["selection"]["traces_selected"], 2);
    assert_eq!(json["selection"]["limit_reached"], true);
    assert_eq!(json["truncated"], true);

    let capped = QueryConfig {
        max_analytics_traces: 1,
        ..QueryConfig::default()
    };
    let router_capped = router_with(ZipkinApiConfig::default(), capped);
    let json = get_json(
        &router_capped,
        &windowed("/api/analytics/service-map", "&limit=500"),
    )
    .await;
    assert_eq!(json["selection"]["limit"], 1, "lowered to the hard cap");
    assert_eq!(json["selection"]["traces_selected"], 1);
}

#[tokio::test]
async fn aggregate_parameter_errors_name_the_parameter() {
    let router = router();
    for (extra, prefix) in [
        ("&limit=0", "invalid limit"),
        ("&limit=many", "invalid limit"),
        ("&q=%7B%20nonsense", "invalid q"),
        ("&orphans=float", "invalid orphans"),
    ] {
        let (status, body) = get(&router, &windowed("/api/analytics/service-map", extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        assert!(body.starts_with(prefix), "{extra}: {body}");
    }
    let (status, body) = get(&router, "/api/analytics/cct?start=20&end=10").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("invalid end"), "{body}");
    let (status, body) = get(&router, &windowed("/api/analytics/flow", "&node_key=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("invalid node_key"), "{body}");
}

#[tokio::test]
async fn flow_graph_takes_the_most_common_workflow_or_the_one_named() {
    let router = router();
    let json = get_json(&router, &windowed("/api/analytics/flow", "")).await;
    assert_eq!(json["workflow_chosen_from"], "most_common");
    assert_eq!(json["workflow"]["root_service"], "frontend");
    assert_eq!(json["workflow"]["root_operation"], "GET /checkout");
    assert_eq!(json["trace_count"], 3);
    assert_eq!(json["nodes"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["nodes"][0]["span_count"], 3);

    let named = "&root_service=backend&root_operation=GET%20/health";
    let json = get_json(&router, &windowed("/api/analytics/flow", named)).await;
    assert_eq!(json["workflow_chosen_from"], "parameters");
    assert_eq!(json["trace_count"], 1);
    assert_eq!(
        json["selection"]["traces_selected"], 1,
        "only that workflow"
    );
}

#[tokio::test]
async fn calling_context_tree_merges_across_workflows() {
    let router = router();
    let json = get_json(&router, &windowed("/api/analytics/cct", "")).await;
    assert_eq!(json["trace_count"], 4);
    assert_eq!(json["roots"].as_array().map(Vec::len), Some(2));
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 6);
    let charge = nodes
        .iter()
        .find(|node| node["operation"] == "charge")
        .expect("charge context");
    assert_eq!(charge["span_count"], 3);
    assert_eq!(charge["inclusive"]["total_nanos"], (36 + 36 + 136) * MILLI);
}

#[tokio::test]
async fn compare_two_traces_ranks_the_slower_charge_first() {
    let router = router();
    let uri = format!(
        "/api/analytics/compare?a={}&b={}",
        trace_hex(1),
        trace_hex(3)
    );
    let json = get_json(&router, &uri).await;
    let top = &json["nodes"][0];
    assert_eq!(top["path"][2]["operation"], "charge", "{json}");
    assert_eq!(top["exclusive_delta_nanos"], 100 * MILLI);
    assert_eq!(json["truncated"], false);

    let (status, body) = get(
        &router,
        &format!("/api/analytics/compare?a={}&b=77", trace_hex(1)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("(b)"), "{body}");
    let (status, body) = get(
        &router,
        &format!("/api/analytics/compare?a={}", trace_hex(1)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "missing required parameter b");
    let (status, _) = get(&router, "/api/analytics/compare").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn compare_sets_by_queries_and_by_threshold() {
    let router = router();
    let sets =
        "&qa=%7B%20traceDuration%20%3C%20120ms%20%7D&qb=%7B%20traceDuration%20%3E%3D%20120ms%20%7D";
    let json = get_json(&router, &windowed("/api/analytics/compare", sets)).await;
    assert_eq!(
        json["a"]["trace_count"], 3,
        "two fast checkouts and a health check"
    );
    assert_eq!(json["b"]["trace_count"], 1);
    assert_eq!(json["selection_b"]["traces_selected"], 1);
    assert_eq!(json["split_threshold_nanos"], Value::Null);

    let split = "&q=%7B%20resource.service.name%20%3D%20%22frontend%22%20%7D&threshold=120ms";
    let json = get_json(&router, &windowed("/api/analytics/compare", split)).await;
    assert_eq!(json["a"]["trace_count"], 2);
    assert_eq!(json["b"]["trace_count"], 1);
    assert_eq!(json["split_threshold_nanos"], 120 * MILLI);
    let top = &json["nodes"][0]["path"];
    assert_eq!(
        top.as_array()
            .and_then(|path| path.last())
            .and_then(|frame| frame["operation"].as_str()),
        Some("charge"),
        "{json}"
    );

    let (status, body) = get(&router, &windowed("/api/analytics/compare", "&qa=%7B%7D")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "missing required parameter qb");
    let (status, body) = get(
        &router,
        &windowed("/api/analytics/compare", "&threshold=soon"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("invalid threshold"), "{body}");
}

#[tokio::test]
async fn multitenancy_needs_a_tenant_and_reads_only_its_traces() {
    let zipkin = ZipkinApiConfig {
        multitenancy_enabled: true,
        ..ZipkinApiConfig::default()
    };
    let router = router_with(zipkin, QueryConfig::default());
    let (status, _) = get(&router, &windowed("/api/analytics/service-map", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::get(windowed("/api/analytics/service-map", ""))
        .header(crate::TENANT_HEADER, "someone-else")
        .body(Body::empty())
        .expect("valid request");
    let answer = send(&router, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json: Value = serde_json::from_str(&answer.text()).expect("json");
    assert_eq!(json["selection"]["traces_selected"], 0);
    assert_eq!(json["edges"], serde_json::json!([]));
}
