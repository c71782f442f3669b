//! OTLP/gRPC tests against a real tonic server on a loopback port.

mod common;

use std::sync::Arc;

use common::{Answer, RecordingSink, otlp_request, otlp_span, refused};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::transport::Channel;
use weft_model::{PushError, SpanSink};
use weft_receiver::{ReceiverConfig, otlp_grpc_service};

async fn start(sink: Arc<RecordingSink>, config: ReceiverConfig) -> TraceServiceClient<Channel> {
    let sink: Arc<dyn SpanSink> = sink;
    let service = otlp_grpc_service(&common::context(sink, config));
    let address = common::serve_grpc(Routes::new(service)).await;
    TraceServiceClient::connect(format!("http://{address}"))
        .await
        .expect("connect")
}

/// `google.rpc.Status` with details, to read `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct StatusWithDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<AnyMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AnyMessage {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[tokio::test]
async fn missing_tenant_is_unauthenticated() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let mut client = start(sink.clone(), common::multitenant()).await;
    let answer = client.export(ExportTraceServiceRequest::default()).await;
    let status = refused(answer, tonic::Code::Unauthenticated, &sink);
    assert!(status.message().contains("X-Scope-OrgID"));
}

#[tokio::test]
async fn export_is_ok_without_partial_success() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let mut client = start(sink.clone(), ReceiverConfig::default()).await;
    let response = client
        .export(otlp_request(vec![otlp_span(1, "a"), otlp_span(2, "b")]))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(sink.span_count(), 2);
}

#[tokio::test]
async fn gzip_request_with_tenant_metadata_is_accepted() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let mut client = start(sink.clone(), config)
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let mut request = tonic::Request::new(otlp_request(vec![otlp_span(1, "a")]));
    request
        .metadata_mut()
        .insert("x-scope-orgid", "team-b".parse().expect("ascii"));
    client.export(request).await.expect("ok");
    assert_eq!(sink.pushes()[0].0.as_str(), "team-b");
}

#[tokio::test]
async fn refused_spans_give_partial_success() {
    let sink = RecordingSink::new(Answer::RejectFirst(1, "span name too long"));
    let mut client = start(sink, ReceiverConfig::default()).await;
    let response = client
        .export(otlp_request(vec![otlp_span(1, "a"), otlp_span(2, "b")]))
        .await
        .expect("ok")
        .into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, "span name too long");
}

#[tokio::test]
async fn invalid_ids_are_invalid_argument() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let mut client = start(sink.clone(), ReceiverConfig::default()).await;
    let mut bad = otlp_span(1, "bad");
    bad.trace_id = vec![0; 16];
    bad.span_id = vec![1, 2, 3];
    let answer = client.export(otlp_request(vec![bad])).await;
    refused(answer, tonic::Code::InvalidArgument, &sink);
}

#[tokio::test]
async fn overloaded_is_resource_exhausted_with_retry_info() {
    let sink = RecordingSink::new(Answer::Fail(PushError::Overloaded {
        message: "slow down".into(),
        retry_after_seconds: 4,
    }));
    let mut client = start(sink, ReceiverConfig::default()).await;
    let status = client
        .export(otlp_request(vec![otlp_span(1, "a")]))
        .await
        .expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = StatusWithDetails::decode(status.details()).expect("status details");
    assert_eq!(details.details.len(), 1);
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    // RetryInfo { retry_delay: Duration { seconds: 4 } }
    assert_eq!(details.details[0].value, vec![0x0a, 0x02, 0x08, 0x04]);
}

#[tokio::test]
async fn decoder_and_sink_rejections_add_up_in_partial_success() {
    let sink = RecordingSink::new(Answer::RejectFirst(1, "span name too long"));
    let mut client = start(sink.clone(), ReceiverConfig::default()).await;
    let mut bad = otlp_span(3, "bad");
    bad.trace_id = vec![7; 5];
    let response = client
        .export(otlp_request(vec![
            otlp_span(1, "a"),
            otlp_span(2, "b"),
            bad,
        ]))
        .await
        .expect("ok")
        .into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("spans[2]"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.ends_with("; span name too long"),
        "{}",
        partial.error_message
    );
    assert_eq!(sink.span_count(), 2);
}
