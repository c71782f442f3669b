//! The receiver's counters, read through a local debugging recorder. Runs on the
//! current-thread runtime so the handler records into the test's thread-local recorder.

mod common;

use common::metrics_probe::{Totals, counter, snapshot};
use common::{Answer, OTLP_JSON_TWO_SPANS, RecordingSink, post, send, thrift};
use http::StatusCode;
use metrics_util::debugging::DebuggingRecorder;
use weft_receiver::{
    ReceiverConfig, jaeger_collector_http_router, otlp_http_router, zipkin_ingest_router,
};

#[tokio::test]
async fn rejected_request_is_counted_once_with_protocol_and_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let sink = RecordingSink::new(Answer::AcceptAll);

    let answered = send(
        otlp_http_router(&common::context(sink.clone(), ReceiverConfig::default())),
        post("/v1/traces", &[("content-type", "text/plain")], "x"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        counter(
            &snapshot(&snapshotter),
            "weft_receiver_requests_rejected_total",
            &[
                ("protocol", "otlp_http"),
                ("reason", "unsupported_media_type")
            ]
        ),
        Some(1)
    );

    let answered = send(
        zipkin_ingest_router(&common::context(sink, ReceiverConfig::default())),
        post("/api/v2/spans", &[("content-encoding", "gzip")], "not gzip"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        counter(
            &snapshot(&snapshotter),
            "weft_receiver_requests_rejected_total",
            &[("protocol", "zipkin_v2_json"), ("reason", "decode_error")]
        ),
        Some(1)
    );
}

#[tokio::test]
async fn stored_and_refused_spans_are_counted_per_request() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let sink = RecordingSink::new(Answer::RejectFirst(1, "limit"));

    let answered = send(
        otlp_http_router(&common::context(sink, ReceiverConfig::default())),
        post(
            "/v1/traces",
            &[("content-type", "application/json")],
            OTLP_JSON_TWO_SPANS,
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK);
    let protocol = ("protocol", "otlp_http_json");
    let snapshot = snapshot(&snapshotter);
    assert_eq!(
        counter(&snapshot, "weft_receiver_spans_received_total", &[protocol]),
        Some(1)
    );
    assert_eq!(
        counter(
            &snapshot,
            "weft_receiver_spans_rejected_total",
            &[protocol, ("reason", "limit")]
        ),
        Some(1)
    );
    assert_eq!(
        counter(&snapshot, "weft_receiver_bytes_received_total", &[protocol]),
        Some(OTLP_JSON_TWO_SPANS.len() as u64)
    );
}

#[tokio::test]
async fn classic_protocols_are_counted_under_their_own_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut totals = Totals::new(&snapshotter);
    let sink = RecordingSink::new(Answer::AcceptAll);
    let zipkin = || zipkin_ingest_router(&common::context(sink.clone(), ReceiverConfig::default()));

    let garbage_thrift = send(
        zipkin(),
        post(
            "/api/v1/spans",
            &[("content-type", "application/x-thrift")],
            "garbage",
        ),
    )
    .await;
    assert_eq!(garbage_thrift.status, StatusCode::BAD_REQUEST);
    let wrong_path = send(
        zipkin(),
        post(
            "/api/v2/spans",
            &[("content-type", "application/x-thrift")],
            "x",
        ),
    )
    .await;
    assert_eq!(wrong_path.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut batch = Vec::new();
    thrift::write_binary(
        &thrift::jaeger_batch("checkout", 7, &[(1, 0, "a"), (2, 1, "b")]),
        &mut batch,
    );
    let stored = send(
        jaeger_collector_http_router(&common::context(sink.clone(), ReceiverConfig::default())),
        post(
            "/api/traces",
            &[("content-type", "application/x-thrift")],
            batch,
        ),
    )
    .await;
    assert_eq!(stored.status, StatusCode::ACCEPTED, "{}", stored.text());

    let rejected = "weft_receiver_requests_rejected_total";
    assert_eq!(
        totals.get(
            rejected,
            &[("protocol", "zipkin_v1_thrift"), ("reason", "decode_error")]
        ),
        1
    );
    assert_eq!(
        totals.get(
            rejected,
            &[("protocol", "zipkin"), ("reason", "unsupported_media_type")]
        ),
        1
    );
    assert_eq!(
        totals.get(
            "weft_receiver_spans_received_total",
            &[("protocol", "jaeger_http_thrift")]
        ),
        2
    );
}
