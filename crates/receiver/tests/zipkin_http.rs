//! Zipkin ingest router tests through `tower::ServiceExt::oneshot`.

mod common;

use common::protos::{ZipkinListOfSpans, zipkin_proto_span};
use common::{Answer, RecordingSink, ZIPKIN_TWO_SPANS, gzip, post, send, thrift};
use http::StatusCode;
use prost::Message;
use weft_model::PushError;
use weft_receiver::{ReceiverConfig, zipkin_ingest_router};

fn router(sink: &std::sync::Arc<RecordingSink>) -> axum::Router {
    zipkin_ingest_router(&common::context(sink.clone(), ReceiverConfig::default()))
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
async fn thrift_on_v2_and_protobuf_on_v1_are_415_naming_the_right_path() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let cases = [
        (
            "/api/v2/spans",
            "application/x-thrift",
            "accepted only on POST /api/v1/spans",
        ),
        (
            "/",
            "application/x-thrift",
            "accepted only on POST /api/v1/spans",
        ),
        (
            "/api/v1/spans",
            "application/x-protobuf",
            "accepted only on POST /api/v2/spans",
        ),
    ];
    for (path, content_type, hint) in cases {
        let answered = send(
            router(&sink),
            post(path, &[("content-type", content_type)], "x"),
        )
        .await;
        assert_eq!(
            answered.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path} {content_type}"
        );
        assert!(
            answered
                .header("content-type")
                .unwrap_or_default()
                .starts_with("text/plain")
        );
        assert!(answered.text().contains(hint), "{}", answered.text());
    }
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn other_content_types_are_415_on_both_paths() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for path in ["/api/v2/spans", "/api/v1/spans"] {
        let answered = send(
            router(&sink),
            post(path, &[("content-type", "text/csv")], "x"),
        )
        .await;
        assert_eq!(
            answered.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path}"
        );
        assert!(
            answered
                .text()
                .starts_with("unsupported content type \"text/csv\"")
        );
    }
}

#[tokio::test]
async fn v2_json_on_the_v1_path_is_400_as_zipkin_answers() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let answered = send(
        router(&sink),
        post(
            "/api/v1/spans",
            &[("content-type", "application/json")],
            ZIPKIN_TWO_SPANS,
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answered.text(),
        "Expected a JSON_V1 encoded list, but received: JSON_V2"
    );
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn garbage_in_every_format_is_400_and_stores_nothing() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let cases: [(&str, &str, &[u8]); 4] = [
        (
            "/api/v2/spans",
            "application/x-protobuf",
            b"\xff\xff\xff\xff",
        ),
        (
            "/api/v1/spans",
            "application/x-thrift",
            b"\xff\x00\x00\x00\x09garbage",
        ),
        ("/api/v1/spans", "application/json", b"[{\"traceId\":"),
        ("/api/v2/spans", "application/json", b"{not json"),
    ];
    for (path, content_type, body) in cases {
        let answered = send(
            router(&sink),
            post(path, &[("content-type", content_type)], body.to_vec()),
        )
        .await;
        assert_eq!(
            answered.status,
            StatusCode::BAD_REQUEST,
            "{path} {content_type}"
        );
        assert!(!answered.text().is_empty());
    }
    assert!(sink.pushes().is_empty());
}

#[tokio::test]
async fn oversize_body_is_413() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = ReceiverConfig {
        max_request_bytes: 10,
        ..ReceiverConfig::default()
    };
    let answered = send(
        zipkin_ingest_router(&common::context(sink.clone(), config)),
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

// --- the other formats (need the weft-codec decoders) ---

/// One Zipkin v1 JSON server span of service `frontend`.
const ZIPKIN_V1_JSON: &str = r#"[{"traceId":"86154a4ba6e91386","id":"86154a4ba6e91386","name":"get /","timestamp":1472470996199000,"duration":207000,"annotations":[{"timestamp":1472470996199000,"value":"sr","endpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"}},{"timestamp":1472470996406000,"value":"ss","endpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"}}],"binaryAnnotations":[{"key":"http.path","value":"/","endpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"}}]}]"#;

#[tokio::test]
async fn v1_json_is_stored_with_and_without_content_type() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    for headers in [&[][..], &[("content-type", "application/json")][..]] {
        let answered = send(
            router(&sink),
            post("/api/v1/spans", headers, ZIPKIN_V1_JSON),
        )
        .await;
        assert_eq!(answered.status, StatusCode::ACCEPTED, "{}", answered.text());
        assert!(answered.body.is_empty());
    }
    let pushes = sink.pushes();
    assert_eq!(pushes.len(), 2);
    let span = &pushes[0].1.spans[0];
    assert_eq!(span.span_id.to_hex(), "86154a4ba6e91386");
    assert_eq!(span.service_name(), Some("frontend"));
}

#[tokio::test]
async fn v1_thrift_is_stored_plain_and_gzipped() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let body = thrift::zipkin_v1_thrift("backend", 0x0102_0304, &[(7, "get /a"), (8, "get /b")]);
    let plain = send(
        router(&sink),
        post(
            "/api/v1/spans",
            &[("content-type", "application/x-thrift")],
            body.clone(),
        ),
    )
    .await;
    assert_eq!(plain.status, StatusCode::ACCEPTED, "{}", plain.text());
    let gzipped = send(
        router(&sink),
        post(
            "/api/v1/spans",
            &[
                ("content-type", "application/x-thrift"),
                ("content-encoding", "gzip"),
            ],
            gzip(&body),
        ),
    )
    .await;
    assert_eq!(gzipped.status, StatusCode::ACCEPTED, "{}", gzipped.text());
    assert_eq!(sink.span_count(), 4);
    let span = &sink.pushes()[0].1.spans[0];
    assert_eq!(span.trace_id.to_hex(), "00000000000000000000000001020304");
    assert_eq!(span.span_id.as_u64(), 7);
    assert_eq!(span.name, "get /a");
    assert_eq!(span.service_name(), Some("backend"));
}

#[tokio::test]
async fn v2_proto_is_stored_on_both_paths_and_gzipped() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let body = ZipkinListOfSpans {
        spans: vec![
            zipkin_proto_span(1, "get /", "frontend"),
            zipkin_proto_span(2, "get /api", "frontend"),
        ],
    }
    .encode_to_vec();
    for path in ["/api/v2/spans", "/"] {
        let answered = send(
            router(&sink),
            post(
                path,
                &[("content-type", "application/x-protobuf")],
                body.clone(),
            ),
        )
        .await;
        assert_eq!(
            answered.status,
            StatusCode::ACCEPTED,
            "{path}: {}",
            answered.text()
        );
    }
    let gzipped = send(
        router(&sink),
        post(
            "/api/v2/spans",
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            gzip(&body),
        ),
    )
    .await;
    assert_eq!(gzipped.status, StatusCode::ACCEPTED, "{}", gzipped.text());
    assert_eq!(sink.span_count(), 6);
    let span = &sink.pushes()[0].1.spans[0];
    assert_eq!(span.span_id.to_hex(), "0101010101010101");
    assert_eq!(span.service_name(), Some("frontend"));
}
