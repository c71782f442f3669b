//! Jaeger collector HTTP router tests through `tower::ServiceExt::oneshot`.

mod common;

use common::thrift;
use common::{Answer, RecordingSink, gzip, post, send};
use http::StatusCode;
use weft_model::PushError;
use weft_receiver::{ReceiverConfig, jaeger_collector_http_router};

fn router(sink: &std::sync::Arc<RecordingSink>) -> axum::Router {
    jaeger_collector_http_router(&common::context(sink.clone(), ReceiverConfig::default()))
}

const THRIFT: (&str, &str) = ("content-type", "application/x-thrift");

/// A binary-protocol `jaeger.Batch` from `checkout` with two spans of one trace.
fn batch_body() -> Vec<u8> {
    let batch = thrift::jaeger_batch("checkout", 0x0a0b, &[(1, 0, "GET /cart"), (2, 1, "SELECT")]);
    let mut out = Vec::new();
    thrift::write_binary(&batch, &mut out);
    out
}

// --- paths that never reach the decoder ---

#[tokio::test]
async fn other_or_missing_content_type_is_415() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let json = send(
        router(&sink),
        post("/api/traces", &[("content-type", "application/json")], "{}"),
    )
    .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        json.text(),
        "unsupported content type \"application/json\"; accepted: application/x-thrift, application/vnd.apache.thrift.binary"
    );
    let missing = send(router(&sink), post("/api/traces", &[], "x")).await;
    assert_eq!(missing.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(missing.text().contains("no content type"));
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn empty_body_is_202() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(router(&sink), post("/api/traces", &[THRIFT], "")).await;
    assert_eq!(answered.status, StatusCode::ACCEPTED);
    assert!(answered.body.is_empty());
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn oversize_body_is_413_and_invalid_gzip_400() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = ReceiverConfig {
        max_request_bytes: 8,
        ..ReceiverConfig::default()
    };
    let oversize = send(
        jaeger_collector_http_router(&common::context(sink.clone(), config)),
        post("/api/traces", &[THRIFT], vec![0u8; 9]),
    )
    .await;
    assert_eq!(oversize.status, StatusCode::PAYLOAD_TOO_LARGE);
    let bad_gzip = send(
        router(&sink),
        post(
            "/api/traces",
            &[THRIFT, ("content-encoding", "gzip")],
            "nope",
        ),
    )
    .await;
    assert_eq!(bad_gzip.status, StatusCode::BAD_REQUEST);
    assert!(bad_gzip.text().starts_with("cannot gunzip request body"));
}

#[tokio::test]
async fn missing_tenant_is_401_with_multitenancy() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let answered = send(
        jaeger_collector_http_router(&common::context(sink.clone(), config)),
        post("/api/traces", &[THRIFT], batch_body()),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNAUTHORIZED);
    assert!(sink.pushes().is_empty());
}

// --- paths through the codec ---

#[tokio::test]
async fn garbage_is_400_with_the_reason_and_stores_nothing() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for body in [
        &b"\xff\xff\xff\xff"[..],
        b"\x0c\x00\x01",
        b"not thrift at all",
    ] {
        let answered = send(router(&sink), post("/api/traces", &[THRIFT], body.to_vec())).await;
        assert_eq!(answered.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(!answered.text().is_empty());
        assert!(
            answered
                .header("content-type")
                .unwrap_or_default()
                .starts_with("text/plain")
        );
    }
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn batch_is_stored_and_answered_202_for_both_content_types() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for content_type in [
        "application/x-thrift",
        "application/vnd.apache.thrift.binary",
    ] {
        let answered = send(
            router(&sink),
            post(
                "/api/traces?format=jaeger.thrift",
                &[("content-type", content_type)],
                batch_body(),
            ),
        )
        .await;
        assert_eq!(answered.status, StatusCode::ACCEPTED, "{}", answered.text());
        assert!(answered.body.is_empty());
    }
    assert_eq!(sink.span_count(), 4);
    let spans = &sink.pushes()[0].1.spans;
    assert_eq!(spans[0].trace_id.low_u64(), 0x0a0b);
    assert_eq!(spans[0].name, "GET /cart");
    assert_eq!(spans[0].service_name(), Some("checkout"));
    assert_eq!(spans[1].parent_span_id.map(|id| id.as_u64()), Some(1));
}

#[tokio::test]
async fn gzip_batch_with_tenant_is_stored_for_that_tenant() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let answered = send(
        jaeger_collector_http_router(&common::context(sink.clone(), config)),
        post(
            "/api/traces",
            &[
                THRIFT,
                ("content-encoding", "gzip"),
                ("x-scope-orgid", "team-j"),
            ],
            gzip(&batch_body()),
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::ACCEPTED, "{}", answered.text());
    assert_eq!(sink.pushes()[0].0.as_str(), "team-j");
    assert_eq!(sink.span_count(), 2);
}

#[tokio::test]
async fn overloaded_sink_is_429_and_partial_refusal_400() {
    let overloaded = RecordingSink::new(Answer::Fail(PushError::Overloaded {
        message: "too many spans in memory".into(),
        retry_after_seconds: 2,
    }));
    let answered = send(
        router(&overloaded),
        post("/api/traces", &[THRIFT], batch_body()),
    )
    .await;
    assert_eq!(
        answered.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answered.text()
    );
    assert_eq!(answered.header("retry-after"), Some("2"));

    let partial = RecordingSink::new(Answer::RejectFirst(1, "span name too long"));
    let answered = send(
        router(&partial),
        post("/api/traces", &[THRIFT], batch_body()),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answered.text(),
        "stored 1 of 2 spans; rejected 1: span name too long"
    );
}
