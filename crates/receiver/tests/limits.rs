//! Guards against requests that would cost more memory than they are allowed: the span
//! count is checked on the wire before decoding, and the in-flight budget refuses what it
//! cannot hold, on HTTP and gRPC alike.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Answer, RecordingSink, otlp_request, otlp_span, post, refused, send};
use http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::service::Routes;
use tonic::transport::Channel;
use weft_model::SpanSink;
use weft_receiver::{
    InflightBudget, ReceiverConfig, ReceiverContext, jaeger_collector_http_router,
    otlp_grpc_service, otlp_http_router, zipkin_ingest_router,
};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");
const SPAN_LIMIT: u64 = 10;

fn limited(sink: &Arc<RecordingSink>) -> ReceiverContext {
    let sink: Arc<dyn SpanSink> = sink.clone();
    ReceiverContext::new(sink, ReceiverConfig::default(), SPAN_LIMIT)
}

/// A context whose budget is already fully held by another request, returned beside it.
async fn exhausted(sink: &Arc<RecordingSink>) -> (ReceiverContext, weft_receiver::Reservation) {
    let budget = InflightBudget::new(64 * 1024, Duration::from_millis(20));
    let context = limited(sink).with_budget(budget.clone());
    let held = budget.reservation();
    held.grow_to(64 * 1024).await.expect("room");
    (context, held)
}

/// `resource_spans { scope_spans { spans {} x count } }`: 2 bytes per span on the wire.
fn empty_spans_proto(count: usize) -> Vec<u8> {
    let scope: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], count)
        .flatten()
        .collect();
    let mut resource = vec![0x12];
    push_varint(&mut resource, scope.len());
    resource.extend_from_slice(&scope);
    let mut body = vec![0x0a];
    push_varint(&mut body, resource.len());
    body.extend_from_slice(&resource);
    body
}

fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[tokio::test]
async fn otlp_http_protobuf_over_the_span_limit_is_413_before_decoding() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let router = otlp_http_router(&limited(&sink));
    let answered = send(
        router.clone(),
        post("/v1/traces", &[PROTOBUF], empty_spans_proto(11)),
    )
    .await;
    assert_eq!(answered.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answered.header("retry-after").is_none());
    assert_eq!(sink.pushes().len(), 0);
    // At the limit the same shape is decoded (and its invalid spans refused as usual).
    let at_limit = send(
        router,
        post("/v1/traces", &[PROTOBUF], empty_spans_proto(10)),
    )
    .await;
    assert_eq!(
        at_limit.status,
        StatusCode::BAD_REQUEST,
        "{}",
        at_limit.text()
    );
}

#[tokio::test]
async fn otlp_http_json_over_the_span_limit_is_413() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let spans = ["{}"; 11].join(",");
    let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#);
    let answered = send(
        otlp_http_router(&limited(&sink)),
        post("/v1/traces", &[JSON], body),
    )
    .await;
    assert_eq!(answered.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answered.json()["message"],
        "request has 11 spans, over the limit of 10 spans per request"
    );
    assert_eq!(sink.pushes().len(), 0);
}

#[tokio::test]
async fn zipkin_list_of_empty_objects_over_the_span_limit_is_413() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let body = format!("[{}]", ["{}"; 11].join(","));
    for path in ["/api/v2/spans", "/api/v1/spans"] {
        let answered = send(
            zipkin_ingest_router(&limited(&sink)),
            post(path, &[JSON], body.clone()),
        )
        .await;
        assert_eq!(answered.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    assert_eq!(sink.pushes().len(), 0);
}

#[tokio::test]
async fn jaeger_thrift_batch_over_the_span_limit_is_413() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let spans: Vec<(i64, i64, &str)> = (1..=11).map(|id| (id, 0, "op")).collect();
    let mut body = Vec::new();
    common::thrift::write_binary(&common::thrift::jaeger_batch("svc", 7, &spans), &mut body);
    let answered = send(
        jaeger_collector_http_router(&limited(&sink)),
        post(
            "/api/traces",
            &[("content-type", "application/x-thrift")],
            body,
        ),
    )
    .await;
    assert_eq!(
        answered.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answered.text()
    );
    assert_eq!(sink.pushes().len(), 0);
}

#[tokio::test]
async fn full_inflight_budget_is_429_with_retry_after_on_http() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let (context, held) = exhausted(&sink).await;
    let body = otlp_request(vec![otlp_span(1, "a")]).encode_to_vec();
    let answered = send(
        otlp_http_router(&context),
        post("/v1/traces", &[PROTOBUF], body.clone()),
    )
    .await;
    assert_eq!(answered.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answered.header("retry-after"), Some("1"));
    let zipkin = send(
        zipkin_ingest_router(&context),
        post("/api/v2/spans", &[JSON], common::ZIPKIN_TWO_SPANS),
    )
    .await;
    assert_eq!(zipkin.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sink.pushes().len(), 0);
    // Once the budget is given back, the same request goes through, and its charge is
    // given back after the answer.
    drop(held);
    let answered = send(
        otlp_http_router(&context),
        post("/v1/traces", &[PROTOBUF], body),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(context.budget().available_bytes(), 64 * 1024);
}

async fn start_grpc(context: &ReceiverContext) -> TraceServiceClient<Channel> {
    let address = common::serve_grpc(Routes::new(otlp_grpc_service(context))).await;
    TraceServiceClient::connect(format!("http://{address}"))
        .await
        .expect("connect")
}

#[tokio::test]
async fn otlp_grpc_over_the_span_limit_is_resource_exhausted_without_retry_info() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let mut client = start_grpc(&limited(&sink)).await;
    let spans = (1..=11).map(|n| otlp_span(n, "op")).collect();
    let answer = client.export(otlp_request(spans)).await;
    let status = refused(answer, tonic::Code::ResourceExhausted, &sink);
    assert!(status.details().is_empty(), "no RetryInfo: not retryable");
    let spans = (1..=10).map(|n| otlp_span(n, "op")).collect();
    client
        .export(otlp_request(spans))
        .await
        .expect("at the limit");
    assert_eq!(sink.span_count(), 10);
}

#[tokio::test]
async fn full_inflight_budget_is_retryable_resource_exhausted_on_grpc() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let (context, held) = exhausted(&sink).await;
    let mut client = start_grpc(&context).await;
    let answer = client.export(otlp_request(vec![otlp_span(1, "a")])).await;
    let status = refused(answer, tonic::Code::ResourceExhausted, &sink);
    assert!(!status.details().is_empty(), "RetryInfo makes it retryable");
    drop(held);
    client
        .export(otlp_request(vec![otlp_span(1, "a")]))
        .await
        .expect("room again");
    assert_eq!(sink.span_count(), 1);
}
