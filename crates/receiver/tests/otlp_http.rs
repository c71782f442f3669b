//! OTLP/HTTP router tests through `tower::ServiceExt::oneshot`.

mod common;

use common::{
    Answer, OTLP_JSON_INVALID_IDS, OTLP_JSON_TWO_SPANS, RecordingSink, RpcStatus, gzip,
    otlp_request, otlp_span, post, send,
};
use http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use weft_model::{PushError, TenantId};
use weft_receiver::{ReceiverConfig, otlp_http_router};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");
const GZIP: (&str, &str) = ("content-encoding", "gzip");

fn router(sink: &std::sync::Arc<RecordingSink>) -> axum::Router {
    otlp_http_router(&common::context(sink.clone(), ReceiverConfig::default()))
}

fn router_with(sink: &std::sync::Arc<RecordingSink>, config: ReceiverConfig) -> axum::Router {
    otlp_http_router(&common::context(sink.clone(), config))
}

fn small_limit(max_request_bytes: u64) -> ReceiverConfig {
    ReceiverConfig {
        max_request_bytes,
        ..ReceiverConfig::default()
    }
}

// --- paths that never reach the decoder ---

#[tokio::test]
async fn empty_body_is_an_empty_success_in_the_request_encoding() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let json = send(router(&sink), post("/v1/traces", &[JSON], "")).await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.text(), "{}");
    let proto = send(router(&sink), post("/v1/traces", &[PROTOBUF], "")).await;
    assert_eq!(proto.status, StatusCode::OK);
    assert_eq!(proto.header("content-type"), Some("application/x-protobuf"));
    let response = ExportTraceServiceResponse::decode(proto.body.as_ref()).expect("response");
    assert_eq!(response.partial_success, None);
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn unknown_content_type_is_415_naming_sent_and_accepted_types() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/v1/traces", &[("content-type", "text/plain")], "x"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answered.header("content-type"), Some("application/json"));
    let body = answered.json();
    assert_eq!(body["code"], 3);
    assert_eq!(
        body["message"],
        "unsupported content type \"text/plain\"; accepted: application/x-protobuf, application/json"
    );
    let missing = send(router(&sink), post("/v1/traces", &[], "x")).await;
    assert_eq!(missing.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no content type")
    );
}

#[tokio::test]
async fn unsupported_content_encoding_is_415_in_request_encoding() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/v1/traces", &[PROTOBUF, ("content-encoding", "br")], "x"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        answered.header("content-type"),
        Some("application/x-protobuf")
    );
    let status = RpcStatus::decode(answered.body.as_ref()).expect("google.rpc.Status");
    assert_eq!(status.code, 3);
    assert_eq!(
        status.message,
        "unsupported content encoding \"br\"; accepted: gzip, identity"
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let body = vec![b'x'; 101];
    let declared = send(
        router_with(&sink, small_limit(100)),
        post(
            "/v1/traces",
            &[JSON, ("content-length", "101")],
            body.clone(),
        ),
    )
    .await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        declared.json()["message"],
        "request body is larger than the limit of 100 bytes"
    );
    let streamed = send(
        router_with(&sink, small_limit(100)),
        post("/v1/traces", &[JSON], body),
    )
    .await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn gzip_bomb_is_413_not_an_allocation() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let bomb = gzip(&vec![b' '; 8 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "the bomb itself fits the limit");
    let answered = send(
        router_with(&sink, small_limit(64 * 1024)),
        post("/v1/traces", &[JSON, GZIP], bomb),
    )
    .await;
    assert_eq!(answered.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answered.json()["message"],
        "request body is larger than the limit of 65536 bytes"
    );
}

#[tokio::test]
async fn invalid_gzip_is_400() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/v1/traces", &[JSON, GZIP], "plainly not gzip"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    let message = answered.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("cannot gunzip request body: "),
        "{message}"
    );
}

#[tokio::test]
async fn get_is_405() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let request = http::Request::builder()
        .method("GET")
        .uri("/v1/traces")
        .body(axum::body::Body::empty())
        .expect("request");
    let answered = send(router(&sink), request).await;
    assert_eq!(answered.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn missing_tenant_is_401_when_multitenancy_is_enabled() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let answered = send(
        router_with(&sink, config.clone()),
        post("/v1/traces", &[JSON], "{}"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answered.json()["code"], 16);
    assert!(
        answered.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Scope-OrgID")
    );
    let bad = send(
        router_with(&sink, config),
        post("/v1/traces", &[JSON, ("x-scope-orgid", "../etc")], "{}"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
}

// --- paths through the codec ---

#[tokio::test]
async fn protobuf_request_is_stored_and_answered_in_protobuf() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let body = otlp_request(vec![otlp_span(1, "a"), otlp_span(2, "b")]).encode_to_vec();
    let answered = send(router(&sink), post("/v1/traces", &[PROTOBUF], body)).await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(
        answered.header("content-type"),
        Some("application/x-protobuf")
    );
    let response = ExportTraceServiceResponse::decode(answered.body.as_ref()).expect("response");
    assert_eq!(response.partial_success, None);
    let pushes = sink.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].0, TenantId::single());
    assert_eq!(pushes[0].1.spans[0].name, "a");
    assert_eq!(pushes[0].1.spans[0].service_name(), Some("checkout"));
}

#[tokio::test]
async fn json_request_with_charset_is_stored_and_answered_in_json() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post(
            "/v1/traces",
            &[("content-type", "application/json; charset=utf-8")],
            OTLP_JSON_TWO_SPANS,
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text());
    assert_eq!(answered.header("content-type"), Some("application/json"));
    assert_eq!(answered.text(), "{}");
    assert_eq!(sink.span_count(), 2);
}

#[tokio::test]
async fn gzip_protobuf_and_json_requests_are_inflated() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let proto = gzip(&otlp_request(vec![otlp_span(1, "a")]).encode_to_vec());
    let answered = send(router(&sink), post("/v1/traces", &[PROTOBUF, GZIP], proto)).await;
    assert_eq!(answered.status, StatusCode::OK);
    let json = gzip(OTLP_JSON_TWO_SPANS.as_bytes());
    let answered = send(router(&sink), post("/v1/traces", &[JSON, GZIP], json)).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text());
    assert_eq!(sink.span_count(), 3);
}

#[tokio::test]
async fn tenant_header_reaches_the_sink() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let answered = send(
        router_with(&sink, config),
        post(
            "/v1/traces",
            &[JSON, ("X-Scope-OrgID", "team-a")],
            OTLP_JSON_TWO_SPANS,
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(sink.pushes()[0].0.as_str(), "team-a");
}

#[tokio::test]
async fn garbage_protobuf_is_400_with_a_message() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post(
            "/v1/traces",
            &[PROTOBUF],
            vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answered.header("content-type"),
        Some("application/x-protobuf")
    );
    let status = RpcStatus::decode(answered.body.as_ref()).expect("google.rpc.Status");
    assert_eq!(status.code, 3);
    assert!(!status.message.is_empty());
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/v1/traces", &[JSON], "{\"resourceSpans\": ["),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(answered.json()["code"], 3);
    assert!(
        !answered.json()["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn request_whose_every_span_is_invalid_is_400() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/v1/traces", &[JSON], OTLP_JSON_INVALID_IDS),
    )
    .await;
    assert_eq!(
        answered.status,
        StatusCode::BAD_REQUEST,
        "{}",
        answered.text()
    );
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn partial_success_has_the_otlp_json_shape() {
    let sink = RecordingSink::new(Answer::RejectFirst(1, "attribute too long"));
    let answered = send(
        router(&sink),
        post("/v1/traces", &[JSON], OTLP_JSON_TWO_SPANS),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(
        answered.json(),
        serde_json::json!({
            "partialSuccess": {"rejectedSpans": "1", "errorMessage": "attribute too long"}
        })
    );
}

#[tokio::test]
async fn partial_success_in_protobuf() {
    let sink = RecordingSink::new(Answer::RejectFirst(1, "attribute too long"));
    let body = otlp_request(vec![otlp_span(1, "a"), otlp_span(2, "b")]).encode_to_vec();
    let answered = send(router(&sink), post("/v1/traces", &[PROTOBUF], body)).await;
    assert_eq!(answered.status, StatusCode::OK);
    let response = ExportTraceServiceResponse::decode(answered.body.as_ref()).expect("response");
    let partial = response.partial_success.expect("partial success set");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, "attribute too long");
}

#[tokio::test]
async fn overloaded_sink_is_429_with_retry_after() {
    let sink = RecordingSink::new(Answer::Fail(PushError::Overloaded {
        message: "ingester memory limit reached".into(),
        retry_after_seconds: 7,
    }));
    let answered = send(
        router(&sink),
        post("/v1/traces", &[JSON], OTLP_JSON_TWO_SPANS),
    )
    .await;
    assert_eq!(answered.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answered.header("retry-after"), Some("7"));
    let body = answered.json();
    assert_eq!(body["code"], 8);
    assert_eq!(body["message"], "ingester memory limit reached");
    assert_eq!(body["details"][0]["retryDelay"], "7s");
}

#[tokio::test]
async fn unavailable_sink_is_503() {
    let sink = RecordingSink::new(Answer::Fail(PushError::Unavailable("shutting down".into())));
    let body = otlp_request(vec![otlp_span(1, "a")]).encode_to_vec();
    let answered = send(router(&sink), post("/v1/traces", &[PROTOBUF], body)).await;
    assert_eq!(answered.status, StatusCode::SERVICE_UNAVAILABLE);
    let status = RpcStatus::decode(answered.body.as_ref()).expect("google.rpc.Status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (14, "shutting down")
    );
}

#[tokio::test]
async fn span_with_invalid_ids_beside_valid_ones_gives_partial_success() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let mut bad = otlp_span(2, "bad");
    bad.span_id = vec![0; 8];
    let body = otlp_request(vec![otlp_span(1, "good"), bad]).encode_to_vec();
    let answered = send(router(&sink), post("/v1/traces", &[PROTOBUF], body)).await;
    assert_eq!(answered.status, StatusCode::OK);
    let response = ExportTraceServiceResponse::decode(answered.body.as_ref()).expect("response");
    let partial = response.partial_success.expect("partial success set");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("spans[1]"),
        "{}",
        partial.error_message
    );
    assert_eq!(sink.span_count(), 1);
}
