//! Jaeger protobuf decoding: the same mapping as Thrift, plus per-span processes and id
//! checks on bytes.

use std::sync::Arc;

use prost::Message;
use weft_model::{Resource, SpanBatch};

use super::test_fixture;
use super::tests::expected_kitchen_sink;
use super::*;

fn decode(request: &proto::PostSpansRequest) -> Result<SpanBatch, DecodeError> {
    decode_post_spans_request(&request.encode_to_vec())
}

#[test]
fn kitchen_sink_maps_like_thrift() {
    let mut spans = Vec::new();
    for batch in test_fixture::kitchen_sink_batches() {
        let request = test_fixture::proto_request(&batch);
        let decoded = decode(&request).expect("decodes");
        assert_eq!(decoded, from_post_spans_request(request).expect("converts"));
        spans.extend(decoded.spans);
    }
    let expected = expected_kitchen_sink();
    assert_eq!(spans.len(), expected.len());
    for (span, expected) in spans.iter().zip(&expected) {
        assert_eq!(span, expected, "{}", expected.name);
    }
}

#[test]
fn petclinic_decodes_like_thrift() {
    for batch in test_fixture::petclinic_batches() {
        let from_proto = decode(&test_fixture::proto_request(&batch)).expect("proto");
        let from_thrift = decode_batch_binary(&test_fixture::batch_body(
            crate::thrift::Protocol::Binary,
            &batch,
        ))
        .expect("thrift");
        assert_eq!(from_proto, from_thrift);
    }
}

#[test]
fn a_span_process_overrides_the_batch_process_and_is_shared() {
    let [frontend, customer] = test_fixture::kitchen_sink_batches();
    let mut request = test_fixture::proto_request(&frontend);
    let batch = request.batch.as_mut().expect("batch");
    let customer_process = test_fixture::proto_process(&customer);
    let mut third = batch.spans[1].clone();
    third.span_id = vec![0, 0, 0, 0, 0, 0, 0, 3];
    batch.spans.push(third);
    batch.spans[1].process = Some(customer_process.clone());
    batch.spans[2].process = Some(customer_process);
    let decoded = decode(&request).expect("decodes");
    assert_eq!(decoded.spans[0].service_name(), Some("frontend"));
    assert_eq!(decoded.spans[1].service_name(), Some("customer"));
    assert!(Arc::ptr_eq(
        &decoded.spans[1].resource,
        &decoded.spans[2].resource
    ));

    // No process anywhere: a resource without attributes.
    let batch = request.batch.as_mut().expect("batch");
    batch.process = None;
    let decoded = decode(&request).expect("decodes");
    assert_eq!(*decoded.spans[0].resource, Resource::default());
}

#[test]
fn invalid_ids_reject_the_request_naming_span_and_field() {
    let [frontend, _] = test_fixture::kitchen_sink_batches();
    let request = test_fixture::proto_request(&frontend);

    let mut bad = request.clone();
    bad.batch.as_mut().expect("batch").spans[1].trace_id = vec![0; 16];
    assert_eq!(
        decode(&bad).expect_err("zero").message,
        r#"span 1: traceId: id "<binary>" is all zeros"#
    );
    let mut bad = request.clone();
    bad.batch.as_mut().expect("batch").spans[0].trace_id = vec![1; 5];
    assert_eq!(
        decode(&bad).expect_err("short").message,
        "span 0: traceId: binary id has 5 bytes, expected 8 or 16"
    );
    let mut bad = request.clone();
    bad.batch.as_mut().expect("batch").spans[0].span_id = Vec::new();
    assert_eq!(
        decode(&bad).expect_err("missing").message,
        "span 0: spanId: binary id has 0 bytes, expected 8"
    );

    // An 8-byte trace id is a 64-bit id.
    let mut short = request;
    let span = &mut short.batch.as_mut().expect("batch").spans[0];
    span.trace_id = vec![0, 0, 0, 0, 0, 0, 0, 42];
    assert_eq!(
        decode(&short).expect("8 bytes").spans[0].trace_id.low_u64(),
        42
    );
}

#[test]
fn empty_requests_and_garbage() {
    assert!(decode_post_spans_request(&[]).expect("empty").is_empty());
    let empty_batch = proto::PostSpansRequest {
        batch: Some(proto::Batch::default()),
    };
    assert!(decode(&empty_batch).expect("no spans").is_empty());
    let error = decode_post_spans_request(&[0x0a, 0x05, 0x01]).expect_err("garbage");
    assert!(error.message.starts_with("invalid protobuf: "), "{error}");
}

#[test]
fn timestamps_keep_nanoseconds_and_clamp_before_the_epoch() {
    let [frontend, _] = test_fixture::kitchen_sink_batches();
    let mut request = test_fixture::proto_request(&frontend);
    let span = &mut request.batch.as_mut().expect("batch").spans[0];
    span.start_time = Some(proto::Timestamp {
        seconds: 1_700_000_000,
        nanos: 123_456_789,
    });
    span.duration = Some(proto::Duration {
        seconds: 0,
        nanos: 1,
    });
    span.logs[0].timestamp = Some(proto::Timestamp {
        seconds: -5,
        nanos: 0,
    });
    let decoded = decode(&request).expect("decodes");
    assert_eq!(decoded.spans[0].start_unix_nanos, 1_700_000_000_123_456_789);
    assert_eq!(decoded.spans[0].duration_nanos, 1);
    assert_eq!(decoded.spans[0].events[0].time_unix_nanos, 0);
}

/// A request serialised by the Python classes generated from Jaeger's own `.proto` files,
/// not by our prost structs: guards the field numbers and types.
#[test]
fn real_encoder_bytes_decode_field_by_field() {
    let bytes = include_bytes!("../../testdata/jaeger-post-spans.pb");
    let decoded = decode_post_spans_request(bytes).expect("decodes");
    assert_eq!(decoded.spans, &expected_kitchen_sink()[..2]);
}
