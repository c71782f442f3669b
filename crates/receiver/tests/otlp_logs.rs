//! OTLP logs (`POST /v1/logs`) through `tower::ServiceExt::oneshot` with a recording logs
//! sink: the payload handed over, partial success, refusals and logs off.

mod common;

use std::sync::{Arc, Mutex};

use common::{Answer, RecordingSink, gzip, post, send};
use http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use weft_model::{PushError, TenantId};
use weft_receiver::otlp_logs::LogsPushFuture;
use weft_receiver::{LogsPushOutcome, LogsSink, OtlpLogsPayload, ReceiverConfig, otlp_http_router};

const JSON: (&str, &str) = ("content-type", "application/json");
const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

/// Records what it was given and answers with a fixed result.
struct RecordingLogs {
    answer: Result<LogsPushOutcome, PushError>,
    seen: Mutex<Vec<(TenantId, String)>>,
}

impl LogsSink for RecordingLogs {
    fn push_otlp_logs(&self, tenant: TenantId, payload: OtlpLogsPayload) -> LogsPushFuture {
        let described = match payload {
            OtlpLogsPayload::Protobuf(bytes) => format!("protobuf {}", bytes.len()),
            OtlpLogsPayload::Json(bytes) => format!("json {}", String::from_utf8_lossy(&bytes)),
            OtlpLogsPayload::Decoded(request) => format!("decoded {}", request.resource_logs.len()),
        };
        self.seen.lock().expect("lock").push((tenant, described));
        let answer = self.answer.clone();
        Box::pin(async move { answer })
    }
}

fn router(logs: Option<Arc<RecordingLogs>>) -> axum::Router {
    let mut context = common::context(
        RecordingSink::new(Answer::AcceptAll),
        ReceiverConfig::default(),
    );
    if let Some(logs) = logs {
        context = context.with_logs_sink(logs);
    }
    otlp_http_router(&context)
}

fn logs(answer: Result<LogsPushOutcome, PushError>) -> Arc<RecordingLogs> {
    Arc::new(RecordingLogs {
        answer,
        seen: Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn gunzipped_json_reaches_the_sink_and_partial_success_is_reported() {
    let sink = logs(Ok(LogsPushOutcome {
        accepted_records: 3,
        rejected_records: 2,
        rejection_message: String::from("entry too far behind"),
    }));
    let body = gzip(br#"{"resourceLogs":[]}"#);
    let answered = send(
        router(Some(sink.clone())),
        post("/v1/logs", &[JSON, ("content-encoding", "gzip")], body),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(
        answered.json(),
        serde_json::json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "entry too far behind"}})
    );
    assert_eq!(
        sink.seen.lock().expect("lock").as_slice(),
        &[(
            TenantId::single(),
            String::from(r#"json {"resourceLogs":[]}"#)
        )]
    );
    let full = logs(Ok(LogsPushOutcome::default()));
    let answered = send(router(Some(full)), post("/v1/logs", &[PROTOBUF], "")).await;
    assert_eq!(answered.status, StatusCode::OK);
    let response = ExportLogsServiceResponse::decode(answered.body.as_ref()).expect("response");
    assert_eq!(response.partial_success, None);
}

#[tokio::test]
async fn a_rate_limited_export_is_429_with_retry_after() {
    let sink = logs(Err(PushError::Overloaded {
        message: String::from("Ingestion rate limit exceeded for user single-tenant"),
        retry_after_seconds: 1,
    }));
    let answered = send(router(Some(sink)), post("/v1/logs", &[JSON], "{}")).await;
    assert_eq!(answered.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answered.header("retry-after"), Some("1"));
    assert!(
        answered.json()["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("Ingestion rate limit exceeded"))
    );
}

#[tokio::test]
async fn logs_off_is_404_naming_the_flag() {
    let answered = send(router(None), post("/v1/logs", &[JSON], "{}")).await;
    assert_eq!(answered.status, StatusCode::NOT_FOUND);
    assert!(
        answered.json()["message"]
            .as_str()
            .is_some_and(|message| message.contains("--loki.listen"))
    );
    let answered = send(
        router(None),
        post("/v1/logs", &[("content-type", "text/plain")], "x"),
    )
    .await;
    assert_eq!(answered.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
