//! Jaeger collector gRPC tests against a real tonic server on a loopback port, called with
//! a raw-bytes gRPC client.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::protos::{jaeger_post_spans, jaeger_proto_span};
use common::raw_grpc::call;
use common::{Answer, RecordingSink, refused};
use prost::Message;
use tonic::service::Routes;
use weft_model::{PushError, SpanSink};
use weft_receiver::{ReceiverConfig, jaeger_grpc_service};

const POST_SPANS: &str = "/jaeger.api_v2.CollectorService/PostSpans";

async fn start(sink: Arc<RecordingSink>, config: ReceiverConfig) -> SocketAddr {
    let sink: Arc<dyn SpanSink> = sink;
    let service = jaeger_grpc_service(&common::context(sink, config));
    common::serve_grpc(Routes::new(service)).await
}

fn two_spans() -> Vec<u8> {
    jaeger_post_spans(
        "checkout",
        vec![
            jaeger_proto_span(1, "GET /cart"),
            jaeger_proto_span(2, "SELECT"),
        ],
    )
    .encode_to_vec()
}

// --- paths that never reach the decoder ---

#[tokio::test]
async fn unknown_method_is_unimplemented() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let address = start(sink.clone(), ReceiverConfig::default()).await;
    let status = call(
        address,
        "/jaeger.api_v2.CollectorService/GetTrace",
        Vec::new(),
        &[],
        false,
    )
    .await
    .expect_err("unknown method");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let other_service = call(address, "/other.Service/PostSpans", Vec::new(), &[], false)
        .await
        .expect_err("unknown service");
    assert_eq!(other_service.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn missing_tenant_is_unauthenticated() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let address = start(sink.clone(), common::multitenant()).await;
    let answer = call(address, POST_SPANS, two_spans(), &[], false).await;
    refused(answer, tonic::Code::Unauthenticated, &sink);
}

#[tokio::test]
async fn oversize_message_is_resource_exhausted() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = ReceiverConfig {
        max_request_bytes: 16,
        ..ReceiverConfig::default()
    };
    let address = start(sink.clone(), config).await;
    let answer = call(address, POST_SPANS, vec![0x0a; 64], &[], false).await;
    refused(answer, tonic::Code::ResourceExhausted, &sink);
}

// --- paths through the codec ---

#[tokio::test]
async fn garbage_is_invalid_argument_and_the_server_keeps_serving() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let address = start(sink.clone(), ReceiverConfig::default()).await;
    for garbage in [vec![0xff, 0xff, 0xff, 0xff], vec![0x0a, 0x05, 0x01]] {
        let answer = call(address, POST_SPANS, garbage, &[], false).await;
        let status = refused(answer, tonic::Code::InvalidArgument, &sink);
        assert!(!status.message().is_empty());
    }
}

#[tokio::test]
async fn bad_ids_are_invalid_argument() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let address = start(sink.clone(), ReceiverConfig::default()).await;
    let mut span = jaeger_proto_span(1, "bad");
    span.trace_id = vec![0; 16];
    span.span_id = vec![1, 2, 3];
    let message = jaeger_post_spans("checkout", vec![span]).encode_to_vec();
    let answer = call(address, POST_SPANS, message, &[], false).await;
    refused(answer, tonic::Code::InvalidArgument, &sink);
}

#[tokio::test]
async fn post_spans_is_stored_and_answered_with_an_empty_response() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let address = start(sink.clone(), ReceiverConfig::default()).await;
    let response = call(address, POST_SPANS, two_spans(), &[], false)
        .await
        .expect("ok");
    assert!(response.is_empty(), "PostSpansResponse is empty");
    let pushes = sink.pushes();
    assert_eq!(sink.span_count(), 2);
    let span = &pushes[0].1.spans[0];
    assert_eq!(span.trace_id.to_hex(), "22222222222222222222222222222222");
    assert_eq!(span.name, "GET /cart");
    assert_eq!(span.service_name(), Some("checkout"));
}

#[tokio::test]
async fn gzip_request_with_tenant_metadata_is_stored_for_that_tenant() {
    let sink = RecordingSink::new(Answer::AcceptAll);
    let config = common::multitenant();
    let address = start(sink.clone(), config).await;
    call(
        address,
        POST_SPANS,
        two_spans(),
        &[("x-scope-orgid", "team-g")],
        true,
    )
    .await
    .expect("ok");
    assert_eq!(sink.pushes()[0].0.as_str(), "team-g");
}

#[tokio::test]
async fn overloaded_sink_is_resource_exhausted_and_partial_refusal_invalid_argument() {
    let overloaded = RecordingSink::new(Answer::Fail(PushError::Overloaded {
        message: "slow down".into(),
        retry_after_seconds: 4,
    }));
    let address = start(overloaded, ReceiverConfig::default()).await;
    let status = call(address, POST_SPANS, two_spans(), &[], false)
        .await
        .expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(status.message(), "slow down");
    assert!(!status.details().is_empty(), "carries a RetryInfo");

    let partial = RecordingSink::new(Answer::RejectFirst(1, "span name too long"));
    let address = start(partial, ReceiverConfig::default()).await;
    let status = call(address, POST_SPANS, two_spans(), &[], false)
        .await
        .expect_err("partly refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "stored 1 of 2 spans; rejected 1: span name too long"
    );
}
