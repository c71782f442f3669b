//! The Zipkin read API over an in-memory store, with Zipkin's conformance behaviours
//! (ITSpanStore, ITTraces, ITServiceAndSpanNames, ITAutocompleteTags, ITSearchEnabledFalse,
//! ITDependencies) as they show over HTTP.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::post;
use serde_json::{Value, json};
use weft_model::{Span, TenantId, TraceReader};
use weft_query::memory::MemoryTraceReader;

use super::zipkin_router;
use crate::config::ZipkinApiConfig;
use crate::test_support;

/// 2023-11-14T22:13:20Z in microseconds.
const T_MICROS: u64 = 1_700_000_000_000_000;
const END_TS: u64 = T_MICROS / 1_000 + 1_000;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    fn cache_control(&self) -> Option<&str> {
        self.headers
            .get(header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let answer = test_support::send(router, request).await;
    Answer {
        status: answer.status,
        body: answer.text(),
        headers: answer.headers,
    }
}

async fn get(router: &Router, uri: &str) -> Answer {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    send(router, request).await
}

fn zipkin_spans(json: Value) -> Vec<Span> {
    let bytes = serde_json::to_vec(&json).expect("json");
    weft_codec::zipkin::decode_v2_json(&bytes)
        .expect("valid zipkin json")
        .spans
}

fn router_with(spans: Vec<Span>, config: ZipkinApiConfig) -> Router {
    let reader = MemoryTraceReader::new(config.autocomplete_keys.clone());
    reader.push(&TenantId::single(), spans);
    let reader: Arc<dyn TraceReader> = Arc::new(reader);
    zipkin_router(reader, config)
}

/// frontend -> backend (shared id) -> db, with an annotation, tags and an error.
fn sample_trace() -> Value {
    json!([
        {"traceId": "463ac35c9f6413ad", "id": "463ac35c9f6413ad", "kind": "SERVER",
         "name": "GET /", "timestamp": T_MICROS, "duration": 200_000,
         "localEndpoint": {"serviceName": "Frontend"},
         "annotations": [{"timestamp": T_MICROS + 1, "value": "web"}],
         "tags": {"http.path": "/", "env": "prod"}},
        {"traceId": "463ac35c9f6413ad", "parentId": "463ac35c9f6413ad", "id": "72485a3953bb6124",
         "kind": "CLIENT", "name": "get /api", "timestamp": T_MICROS + 10, "duration": 150_000,
         "localEndpoint": {"serviceName": "frontend"}, "remoteEndpoint": {"serviceName": "backend"}},
        {"traceId": "463ac35c9f6413ad", "parentId": "463ac35c9f6413ad", "id": "72485a3953bb6124",
         "kind": "SERVER", "shared": true, "name": "get /api", "timestamp": T_MICROS + 20,
         "duration": 140_000, "localEndpoint": {"serviceName": "backend"}, "tags": {"baz": "qux"}},
        {"traceId": "463ac35c9f6413ad", "parentId": "72485a3953bb6124", "id": "a9e4b8a4e5f84d12",
         "kind": "CLIENT", "name": "query", "timestamp": T_MICROS + 30, "duration": 50_000,
         "localEndpoint": {"serviceName": "backend"}, "remoteEndpoint": {"serviceName": "db"},
         "tags": {"error": "timeout", "env": "dev"}}
    ])
}

fn sample_router() -> Router {
    let config = ZipkinApiConfig {
        autocomplete_keys: vec!["env".to_owned()],
        ..ZipkinApiConfig::default()
    };
    router_with(zipkin_spans(sample_trace()), config)
}

#[tokio::test]
async fn item_01_every_endpoint_answers_an_empty_store_under_both_prefixes() {
    let router = router_with(Vec::new(), ZipkinApiConfig::default());
    for prefix in ["/api/v2", "/zipkin/api/v2"] {
        for path in [
            "/services",
            "/spans?serviceName=web",
            "/remoteServices?serviceName=web",
            "/traces",
            "/traceMany?traceIds=463ac35c9f6413ad,463ac35c9f6413ae",
            "/dependencies?endTs=1700000000000",
            "/autocompleteKeys",
            "/autocompleteValues?key=env",
        ] {
            let answer = get(&router, &format!("{prefix}{path}")).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{prefix}{path}: {}",
                answer.body
            );
            assert_eq!(answer.body, "[]", "{prefix}{path}");
            assert_eq!(answer.content_type(), "application/json", "{prefix}{path}");
        }
        let missing = get(&router, &format!("{prefix}/trace/463ac35c9f6413ad")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.body, "463ac35c9f6413ad not found");
        assert!(missing.content_type().starts_with("text/plain"));
    }
}

#[tokio::test]
async fn search_returns_lists_of_raw_spans_in_zipkin_json() {
    let router = sample_router();
    let answer = get(&router, &format!("/api/v2/traces?endTs={END_TS}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.content_type(), "application/json");
    let traces = answer.json();
    let spans = traces[0].as_array().expect("a trace is a list");
    assert_eq!(spans.len(), 4, "client and server halves are both returned");
    assert!(spans.iter().all(|s| s["traceId"] == "463ac35c9f6413ad"));
    assert!(spans.iter().any(|s| s["shared"] == true));
}

#[tokio::test]
async fn search_filters_follow_query_request_semantics() {
    let router = sample_router();
    let count = |query: &'static str| {
        let router = router.clone();
        async move {
            let answer = get(&router, &format!("/api/v2/traces?endTs={END_TS}&{query}")).await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
            answer.json().as_array().map(Vec::len).unwrap_or(0)
        }
    };
    assert_eq!(count("serviceName=FRONTEND").await, 1, "names go lowercase");
    assert_eq!(
        count("serviceName=frontend&remoteServiceName=Backend").await,
        1
    );
    assert_eq!(count("serviceName=backend&spanName=get%20%2Fapi").await, 1);
    assert_eq!(count("serviceName=backend&spanName=all").await, 1);
    assert_eq!(
        count("serviceName=db").await,
        0,
        "db is only a remote service"
    );
    assert_eq!(count("annotationQuery=web%20and%20baz%3Dqux").await, 1);
    assert_eq!(count("serviceName=frontend&annotationQuery=web").await, 1);
    assert_eq!(count("serviceName=backend&annotationQuery=web").await, 0);
    assert_eq!(count("annotationQuery=error").await, 1);
    assert_eq!(count("minDuration=200000").await, 1);
    assert_eq!(count("minDuration=200001").await, 0);
    assert_eq!(
        count("serviceName=backend&minDuration=50000&maxDuration=50000").await,
        1
    );
    assert_eq!(count("serviceName=backend&minDuration=150000").await, 0);
    assert_eq!(
        count("lookback=1&endTs=1700000000000").await,
        1,
        "endTs equal to the root is inside"
    );
}

#[tokio::test]
async fn invalid_search_parameters_get_zipkins_messages() {
    let router = sample_router();
    for (query, message) in [
        ("endTs=0", "endTs <= 0"),
        ("limit=0", "limit <= 0"),
        ("lookback=0", "lookback <= 0"),
        ("minDuration=0", "minDuration <= 0"),
        ("minDuration=10&maxDuration=9", "maxDuration < minDuration"),
        (
            "maxDuration=9",
            "maxDuration is only valid with minDuration",
        ),
        ("limit=many", "invalid value for limit: many"),
    ] {
        let answer = get(&router, &format!("/api/v2/traces?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body, message, "{query}");
        assert_eq!(answer.content_type(), "text/plain; charset=utf-8");
    }
}

#[tokio::test]
async fn required_parameters_are_named_when_missing() {
    let router = sample_router();
    for (path, name) in [
        ("/api/v2/spans", "serviceName"),
        ("/api/v2/remoteServices", "serviceName"),
        ("/api/v2/autocompleteValues", "key"),
        ("/api/v2/dependencies", "endTs"),
        ("/api/v2/dependencies?endTs=", "endTs"),
    ] {
        let answer = get(&router, path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(answer.body.contains(name), "{path}: {}", answer.body);
    }
}

#[tokio::test]
async fn item_23_trace_ids_are_normalised_and_validated() {
    let router = sample_router();
    let padded = get(&router, "/api/v2/trace/0000000000000000463ac35c9f6413ad").await;
    assert_eq!(padded.status, StatusCode::OK, "{}", padded.body);
    assert_eq!(padded.json().as_array().map(Vec::len), Some(4));
    let short = get(&router, "/api/v2/trace/63ac35c9f6413ad").await;
    assert_eq!(short.status, StatusCode::NOT_FOUND);
    assert_eq!(short.body, "063ac35c9f6413ad not found");
    let upper = get(&router, "/api/v2/trace/463AC35C9F6413AD").await;
    assert_eq!(upper.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        upper.body,
        "463AC35C9F6413AD should be lower-hex encoded with no prefix"
    );
    let zeros = get(&router, "/api/v2/trace/0000000000000000").await;
    assert_eq!(
        (zeros.status, zeros.body.as_str()),
        (StatusCode::BAD_REQUEST, "traceId is all zeros")
    );
    let long = get(&router, &format!("/api/v2/trace/{}", "1".repeat(33))).await;
    assert_eq!(
        (long.status, long.body.as_str()),
        (StatusCode::BAD_REQUEST, "traceId.length > 32")
    );
    // Strict ids: the 128-bit form with a non-zero high half is another trace.
    let high = get(&router, "/api/v2/trace/1463ac35c9f6413ad").await;
    assert_eq!(high.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trace_many_validates_and_returns_only_known_traces() {
    let router = sample_router();
    let found = get(
        &router,
        "/api/v2/traceMany?traceIds=463ac35c9f6413ad,0000000000000001",
    )
    .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json().as_array().map(Vec::len), Some(1));
    for (query, message) in [
        ("", "traceIds parameter is empty"),
        ("?traceIds=", "traceIds parameter is empty"),
        (
            "?traceIds=463ac35c9f6413ad",
            "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace",
        ),
        (
            "?traceIds=463ac35c9f6413ad,0000000000000000463ac35c9f6413ad",
            "redundant traceId: 0000000000000000463ac35c9f6413ad",
        ),
    ] {
        let answer = get(&router, &format!("/api/v2/traceMany{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body, message, "{query}");
    }
}

#[tokio::test]
async fn dependencies_omit_a_zero_error_count() {
    let router = sample_router();
    let answer = get(&router, &format!("/api/v2/dependencies?endTs={END_TS}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!([
            {"parent": "backend", "child": "db", "callCount": 1, "errorCount": 1},
            {"parent": "frontend", "child": "backend", "callCount": 1}
        ])
    );
    let before = get(&router, "/api/v2/dependencies?endTs=1600000000000").await;
    assert_eq!(before.body, "[]");
    let invalid = get(&router, "/api/v2/dependencies?endTs=1&lookback=0").await;
    assert_eq!(
        (invalid.status, invalid.body.as_str()),
        (StatusCode::BAD_REQUEST, "lookback <= 0")
    );
}

#[tokio::test]
async fn item_24_names_are_sorted_lowercase_and_complete() {
    let mut spans = zipkin_spans(sample_trace());
    // A span without a local service or a name contributes neither.
    spans.extend(zipkin_spans(json!([
        {"traceId": "1", "id": "1", "timestamp": T_MICROS, "kind": "CLIENT",
         "remoteEndpoint": {"serviceName": "cache"}},
        {"traceId": "1", "id": "2", "timestamp": T_MICROS, "localEndpoint": {"serviceName": "backend"}}
    ])));
    for index in 0..60 {
        spans.extend(zipkin_spans(json!([
            {"traceId": "2", "id": format!("{:x}", index + 1), "name": format!("op-{index:02}"),
             "timestamp": T_MICROS, "localEndpoint": {"serviceName": "many"}}
        ])));
    }
    let router = router_with(spans, ZipkinApiConfig::default());
    let services = get(&router, "/api/v2/services").await;
    assert_eq!(services.json(), json!(["backend", "frontend", "many"]));
    assert_eq!(services.cache_control(), None, "3 services are not cached");
    let span_names = get(&router, "/api/v2/spans?serviceName=BACKEND").await;
    assert_eq!(span_names.json(), json!(["get /api", "query"]));
    let remote = get(
        &router,
        "/zipkin/api/v2/remoteServices?serviceName=frontend",
    )
    .await;
    assert_eq!(remote.json(), json!(["backend"]));
    let many = get(&router, "/api/v2/spans?serviceName=many").await;
    assert_eq!(
        many.json().as_array().map(Vec::len),
        Some(60),
        "no silent limit"
    );
}

#[tokio::test]
async fn names_are_cacheable_once_there_are_more_than_three_services() {
    let spans = zipkin_spans(json!([
        {"traceId": "1", "id": "1", "name": "a", "timestamp": T_MICROS, "localEndpoint": {"serviceName": "s1"}},
        {"traceId": "1", "id": "2", "name": "a", "timestamp": T_MICROS, "localEndpoint": {"serviceName": "s2"}},
        {"traceId": "1", "id": "3", "name": "a", "timestamp": T_MICROS, "localEndpoint": {"serviceName": "s3"}},
        {"traceId": "1", "id": "4", "name": "a", "timestamp": T_MICROS, "localEndpoint": {"serviceName": "s4"}}
    ]));
    let router = router_with(spans, ZipkinApiConfig::default());
    let services = get(&router, "/api/v2/services").await;
    assert_eq!(
        services.cache_control(),
        Some("max-age=300, must-revalidate")
    );
    let span_names = get(&router, "/api/v2/spans?serviceName=s1").await;
    assert_eq!(
        span_names.cache_control(),
        Some("max-age=300, must-revalidate")
    );
}

#[tokio::test]
async fn item_25_autocomplete_serves_only_configured_keys() {
    let router = sample_router();
    let keys = get(&router, "/api/v2/autocompleteKeys").await;
    assert_eq!(keys.json(), json!(["env"]));
    assert!(keys.cache_control().is_some(), "keys are always cacheable");
    let values = get(&router, "/api/v2/autocompleteValues?key=env").await;
    assert_eq!(values.json(), json!(["dev", "prod"]));
    let other = get(&router, "/api/v2/autocompleteValues?key=http.path").await;
    assert_eq!(other.json(), json!([]));
}

#[tokio::test]
async fn item_26_search_disabled_empties_search_but_not_trace_by_id() {
    let config = ZipkinApiConfig {
        search_enabled: false,
        ..ZipkinApiConfig::default()
    };
    let router = router_with(zipkin_spans(sample_trace()), config);
    for path in [
        "/api/v2/services".to_owned(),
        "/api/v2/spans?serviceName=frontend".to_owned(),
        "/api/v2/remoteServices?serviceName=frontend".to_owned(),
        format!("/api/v2/traces?endTs={END_TS}"),
    ] {
        assert_eq!(get(&router, &path).await.body, "[]", "{path}");
    }
    assert_eq!(
        get(&router, "/api/v2/trace/463ac35c9f6413ad").await.status,
        StatusCode::OK
    );
    let ui = get(&router, "/zipkin/config.json").await;
    assert_eq!(ui.json()["searchEnabled"], false);
}

#[tokio::test]
async fn ui_config_is_what_zipkin_lens_expects() {
    let router = router_with(Vec::new(), ZipkinApiConfig::default());
    let answer = get(&router, "/zipkin/config.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(
        answer.json(),
        json!({"environment": "", "queryLimit": 10, "defaultLookback": 604_800_000_u64,
               "searchEnabled": true, "logsUrl": null, "supportUrl": null,
               "archivePostUrl": null, "archiveUrl": null,
               "dependency": {"enabled": true, "lowErrorRate": 0.5, "highErrorRate": 0.75}})
    );
}

#[tokio::test]
async fn multitenancy_requires_and_scopes_by_the_tenant_header() {
    let config = ZipkinApiConfig {
        multitenancy_enabled: true,
        ..ZipkinApiConfig::default()
    };
    let reader = MemoryTraceReader::default();
    let team_a = TenantId::parse("team-a").expect("valid tenant");
    reader.push(&team_a, zipkin_spans(sample_trace()));
    let router = zipkin_router(Arc::new(reader), config);
    let anonymous = get(&router, "/api/v2/services").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let with_tenant = |tenant: &'static str| {
        Request::get("/api/v2/services")
            .header("X-Scope-OrgID", tenant)
            .body(Body::empty())
            .expect("valid request")
    };
    assert_eq!(
        send(&router, with_tenant("team-a")).await.json(),
        json!(["backend", "frontend"])
    );
    assert_eq!(send(&router, with_tenant("team-b")).await.body, "[]");
    assert_eq!(
        send(&router, with_tenant("../x")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn merges_with_an_ingest_router_that_posts_to_the_same_paths() {
    let ingest = Router::new()
        .route("/api/v2/spans", post(|| async { StatusCode::ACCEPTED }))
        .route("/", post(|| async { StatusCode::ACCEPTED }))
        .layer(axum::extract::DefaultBodyLimit::max(1024));
    let router = sample_router().merge(ingest);
    let names = get(&router, "/api/v2/spans?serviceName=frontend").await;
    assert_eq!(names.status, StatusCode::OK);
    let posted = Request::post("/api/v2/spans")
        .body(Body::from("[]"))
        .expect("valid request");
    assert_eq!(send(&router, posted).await.status, StatusCode::ACCEPTED);
    let put = Request::put("/api/v2/spans")
        .body(Body::empty())
        .expect("valid request");
    assert_eq!(
        send(&router, put).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
