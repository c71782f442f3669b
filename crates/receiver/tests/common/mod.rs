//! Test helpers shared by the receiver's router tests: a recording sink, request
//! builders and OTLP/Zipkin payloads.

#![allow(dead_code)]

pub mod metrics_probe;
pub mod protos;
pub mod raw_grpc;
pub mod thrift;

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tower::ServiceExt;
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

/// How the recording sink answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Accept every span.
    AcceptAll,
    /// Refuse the first `n` spans with the message, accept the rest.
    RejectFirst(u64, &'static str),
    /// Refuse the whole batch.
    Fail(PushError),
}

/// A sink that records every push and answers as told.
pub struct RecordingSink {
    pushes: Mutex<Vec<(TenantId, SpanBatch)>>,
    answer: Answer,
}

impl RecordingSink {
    pub fn new(answer: Answer) -> Arc<Self> {
        Arc::new(RecordingSink {
            pushes: Mutex::new(Vec::new()),
            answer,
        })
    }

    pub fn pushes(&self) -> Vec<(TenantId, SpanBatch)> {
        self.pushes.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn span_count(&self) -> usize {
        self.pushes().iter().map(|(_, batch)| batch.len()).sum()
    }
}

#[async_trait]
impl SpanSink for RecordingSink {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        let spans = batch.len() as u64;
        if let Ok(mut pushes) = self.pushes.lock() {
            pushes.push((tenant.clone(), batch));
        }
        match &self.answer {
            Answer::AcceptAll => Ok(PushOutcome {
                accepted_spans: spans,
                ..PushOutcome::default()
            }),
            Answer::RejectFirst(rejected, message) => {
                let rejected = (*rejected).min(spans);
                Ok(PushOutcome {
                    accepted_spans: spans - rejected,
                    rejected_spans: rejected,
                    rejection_message: (*message).to_owned(),
                })
            }
            Answer::Fail(error) => Err(error.clone()),
        }
    }
}

/// `google.rpc.Status`, to read failure bodies.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// What a router answered.
pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answered {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request through `router`.
pub async fn send(router: Router, request: Request<Body>) -> Answered {
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    Answered {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A POST with the given headers and body.
pub fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap_or_default()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// An OTLP span with a valid 16-byte trace id and 8-byte span id built from `n`.
pub fn otlp_span(n: u8, name: &str) -> Span {
    Span {
        trace_id: [[0x5b; 8], [n; 8]].concat(),
        span_id: vec![n; 8],
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        ..Span::default()
    }
}

/// An export request with one resource (`service.name = checkout`) holding `spans`.
pub fn otlp_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("checkout".to_owned())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// Two spans of one trace in OTLP/JSON, with upper-case hex ids as in the spec example.
pub const OTLP_JSON_TWO_SPANS: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"GET /cart","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000"},{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B175","parentSpanId":"EEE19B7EC3C1B174","name":"SELECT cart","kind":3,"startTimeUnixNano":"1544712660100000000","endTimeUnixNano":"1544712660200000000"}]}]}]}"#;

/// One OTLP/JSON span whose ids are not hex.
pub const OTLP_JSON_INVALID_IDS: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-a-trace-id","spanId":"zz","name":"bad","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;

/// Two Zipkin v2 JSON spans of one trace.
pub const ZIPKIN_TWO_SPANS: &str = r#"[{"traceId":"86154a4ba6e91385","id":"86154a4ba6e91385","name":"get /","kind":"SERVER","timestamp":1472470996199000,"duration":207000,"localEndpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"},"tags":{"http.path":"/"}},{"traceId":"86154a4ba6e91385","parentId":"86154a4ba6e91385","id":"4d1e00c0db9010db","name":"get /api","kind":"CLIENT","timestamp":1472470996238000,"duration":91000,"localEndpoint":{"serviceName":"frontend"},"remoteEndpoint":{"serviceName":"backend"}}]"#;

/// The default receiver settings with multi-tenancy on.
pub fn multitenant() -> weft_receiver::ReceiverConfig {
    weft_receiver::ReceiverConfig {
        multitenancy_enabled: true,
        ..weft_receiver::ReceiverConfig::default()
    }
}

/// The status a gRPC call failed with, once checked to be `code` with nothing stored in
/// `sink`.
pub fn refused<T: std::fmt::Debug>(
    answer: Result<T, tonic::Status>,
    code: tonic::Code,
    sink: &RecordingSink,
) -> tonic::Status {
    let status = answer.expect_err("the call is refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(sink.pushes().is_empty(), "nothing is stored");
    status
}

/// Serves `routes` (a gRPC service: `Routes::new(service)`) on a loopback port in the
/// background and returns its address.
pub async fn serve_grpc(routes: tonic::service::Routes) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    address
}

/// A receiver context over `sink` with `config` and the distributor's default span limit
/// (100,000 per request).
pub fn context(
    sink: Arc<dyn SpanSink>,
    config: weft_receiver::ReceiverConfig,
) -> weft_receiver::ReceiverContext {
    weft_receiver::ReceiverContext::new(sink, config, 100_000)
}
