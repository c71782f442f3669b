//! The receiver's counters, read through a local debugging recorder. Runs on the
//! current-thread runtime so the handler records into the test's thread-local recorder.

mod common;

use common::{Answer, OTLP_JSON_TWO_SPANS, RecordingSink, post, send};
use http::StatusCode;
use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use weft_receiver::{ReceiverConfig, otlp_http_router, zipkin_ingest_router};

type Snapshot = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

/// Takes a snapshot; the debugging recorder resets counters on every snapshot, so take
/// one per step and query it as often as needed.
fn snapshot(snapshotter: &Snapshotter) -> Snapshot {
    snapshotter.snapshot().into_vec()
}

/// The value of counter `name` whose labels are exactly `labels` (order ignored).
fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let mut found: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        found.sort();
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        match value {
            DebugValue::Counter(count) if key.name() == name && found == wanted => Some(*count),
            _ => None,
        }
    })
}

#[tokio::test]
async fn rejected_request_is_counted_once_with_protocol_and_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let sink = RecordingSink::new(Answer::AcceptAll);

    let answered = send(
        otlp_http_router(sink.clone(), ReceiverConfig::default()),
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
        zipkin_ingest_router(sink, ReceiverConfig::default()),
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
        otlp_http_router(sink, ReceiverConfig::default()),
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
