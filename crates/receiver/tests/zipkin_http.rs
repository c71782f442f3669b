//! Zipkin ingest router tests through `tower::ServiceExt::oneshot`.

mod common;

use common::{Answer, RecordingSink, ZIPKIN_TWO_SPANS, gzip, post, send};
use http::StatusCode;
use weft_model::PushError;
use weft_receiver::{ReceiverConfig, zipkin_ingest_router};

fn router(sink: &std::sync::Arc<RecordingSink>) -> axum::Router {
    zipkin_ingest_router(sink.clone(), ReceiverConfig::default())
}

// --- paths that never reach the decoder ---

#[tokio::test]
async fn empty_body_is_202_and_stores_nothing() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(router(&sink), post("/api/v2/spans", &[], "")).await;
    assert_eq!(answered.status, StatusCode::ACCEPTED);
    assert!(answered.body.is_empty());
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn protobuf_and_thrift_are_415_not_supported_yet() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for content_type in ["application/x-protobuf", "application/x-thrift"] {
        let answered = send(
            router(&sink),
            post("/api/v2/spans", &[("content-type", content_type)], "x"),
        )
        .await;
        assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            answered
                .header("content-type")
                .unwrap_or_default()
                .starts_with("text/plain")
        );
        assert!(
            answered.text().contains("not supported yet"),
            "{}",
            answered.text()
        );
        assert!(answered.text().contains(content_type));
    }
    let other = send(
        router(&sink),
        post("/api/v2/spans", &[("content-type", "text/csv")], "x"),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn v1_path_is_415_not_supported_yet() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post(
            "/api/v1/spans",
            &[("content-type", "application/json")],
            "[]",
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answered
            .text()
            .contains("zipkin v1 spans are not supported yet")
    );
}

#[tokio::test]
async fn oversize_body_is_413() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = ReceiverConfig {
        max_request_bytes: 10,
        ..ReceiverConfig::default()
    };
    let answered = send(
        zipkin_ingest_router(sink.clone(), config),
        post("/api/v2/spans", &[], "[1,2,3,4,5,6]"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answered.text(),
        "request body is larger than the limit of 10 bytes"
    );
}

#[tokio::test]
async fn invalid_gzip_is_400() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post("/api/v2/spans", &[("content-encoding", "gzip")], "[]"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert!(answered.text().starts_with("cannot gunzip request body"));
}

// --- paths through the codec ---

#[tokio::test]
async fn v2_json_is_stored_and_answered_202_on_both_paths() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for path in ["/api/v2/spans", "/"] {
        let answered = send(router(&sink), post(path, &[], ZIPKIN_TWO_SPANS)).await;
        assert_eq!(
            answered.status,
            StatusCode::ACCEPTED,
            "{path}: {}",
            answered.text()
        );
        assert!(answered.body.is_empty());
    }
    let answered = send(
        router(&sink),
        post(
            "/api/v2/spans",
            &[("content-type", "application/json; charset=utf-8")],
            ZIPKIN_TWO_SPANS,
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::ACCEPTED);
    assert_eq!(sink.span_count(), 6);
}

#[tokio::test]
async fn gzip_v2_json_is_inflated() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post(
            "/api/v2/spans",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(ZIPKIN_TWO_SPANS.as_bytes()),
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::ACCEPTED, "{}", answered.text());
    assert_eq!(sink.span_count(), 2);
}

#[tokio::test]
async fn empty_list_is_202() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(router(&sink), post("/api/v2/spans", &[], "[]")).await;
    assert_eq!(answered.status, StatusCode::ACCEPTED);
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_plain_text() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(router(&sink), post("/api/v2/spans", &[], "[{\"traceId\":")).await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert!(
        answered
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert!(!answered.text().is_empty());
}

#[tokio::test]
async fn partly_refused_spans_are_400_with_counts() {
    let sink = RecordingSink::new(Answer::RejectFirst(1, "attribute too long"));
    let answered = send(router(&sink), post("/api/v2/spans", &[], ZIPKIN_TWO_SPANS)).await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answered.text(),
        "stored 1 of 2 spans; rejected 1: attribute too long"
    );
}

#[tokio::test]
async fn overloaded_sink_is_429_with_retry_after() {
    let sink = RecordingSink::new(Answer::Fail(PushError::Overloaded {
        message: "too many spans in memory".into(),
        retry_after_seconds: 3,
    }));
    let answered = send(router(&sink), post("/api/v2/spans", &[], ZIPKIN_TWO_SPANS)).await;
    assert_eq!(answered.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answered.header("retry-after"), Some("3"));
    assert_eq!(answered.text(), "too many spans in memory");
}
