//! The span pre-counts agree with the decoders and refuse only broken framing.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn request(spans_per_scope: &[&[usize]]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: spans_per_scope
            .iter()
            .map(|scopes| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        ..KeyValue::default()
                    }],
                    ..Resource::default()
                }),
                scope_spans: scopes
                    .iter()
                    .map(|&spans| ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            ..InstrumentationScope::default()
                        }),
                        spans: (0..spans)
                            .map(|index| Span {
                                name: format!("span-{index}"),
                                trace_id: vec![1; 16],
                                span_id: vec![2; 8],
                                start_time_unix_nano: 5,
                                ..Span::default()
                            })
                            .collect(),
                        schema_url: "https://x".into(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

#[test]
fn proto_count_matches_the_spans_across_resources_and_scopes() {
    let body = request(&[&[3, 0, 2], &[], &[7]]).encode_to_vec();
    assert_eq!(crate::otlp::count_proto_spans(&body), Ok(12));
    let decoded = crate::otlp::decode_proto(&body).expect("valid");
    assert_eq!(decoded.batch.len() as u64 + decoded.rejected_spans, 12);
    assert_eq!(crate::otlp::count_proto_spans(&[]), Ok(0));
}

#[test]
fn proto_count_sees_empty_spans_that_cost_two_bytes_each() {
    // resource_spans { scope_spans { spans {} x 1000 } }: the amplification the
    // pre-count exists for.
    let body = request(&[&[0]]).encode_to_vec();
    let mut scope = Vec::new();
    for _ in 0..1000 {
        scope.extend_from_slice(&[0x12, 0x00]);
    }
    let mut resource = vec![0x12];
    push_varint(&mut resource, scope.len() as u64);
    resource.extend_from_slice(&scope);
    let mut whole = vec![0x0a];
    push_varint(&mut whole, resource.len() as u64);
    whole.extend_from_slice(&resource);
    whole.extend_from_slice(&body);
    assert_eq!(crate::otlp::count_proto_spans(&whole), Ok(1000));
}

#[test]
fn proto_count_skips_unknown_fields_of_every_wire_type() {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x78, 0x96, 0x01]); // field 15 varint
    body.extend_from_slice(&[0x79, 1, 2, 3, 4, 5, 6, 7, 8]); // field 15 fixed64
    body.extend_from_slice(&[0x7d, 1, 2, 3, 4]); // field 15 fixed32
    body.extend_from_slice(&[0x7b, 0x08, 0x01, 0x7c]); // group 15 { field 1 = 1 }
    body.extend_from_slice(&request(&[&[2]]).encode_to_vec());
    assert_eq!(crate::otlp::count_proto_spans(&body), Ok(2));
    assert!(crate::otlp::decode_proto(&body).is_ok());
}

#[test]
fn proto_count_refuses_broken_framing_like_prost() {
    let valid = request(&[&[2]]).encode_to_vec();
    let truncated = &valid[..valid.len() - 3];
    for broken in [
        truncated,
        &[0x0a, 0x05, 0x00][..], // length past the end
        &[0x0e][..],             // wire type 6
        &[0x0c][..],             // end group without start
        &[0x08, 0x80][..],       // truncated varint
        &[0x00, 0x00][..],       // field number 0
        &[0x0b, 0x08, 0x01][..], // unterminated group
    ] {
        let error = crate::otlp::count_proto_spans(broken).expect_err("broken framing");
        assert!(error.message.starts_with("invalid protobuf: "), "{error}");
        assert!(crate::otlp::decode_proto(broken).is_err(), "{broken:?}");
    }
}

#[test]
fn protobuf_path_counts_nested_repeated_fields() {
    // message { 1: { 1: {} 1: {} 2: {} } 1: { 1: {} } }
    let body = [
        0x0a, 0x06, 0x0a, 0x00, 0x0a, 0x00, 0x12, 0x00, 0x0a, 0x02, 0x0a, 0x00,
    ];
    assert_eq!(crate::otlp::count_protobuf_path(&body, &[1, 1]), Ok(3));
    assert_eq!(crate::otlp::count_protobuf_path(&body, &[1]), Ok(2));
}

#[test]
fn json_count_matches_the_decoder() {
    let body = br#"{"resourceSpans":[
        {"resource":{"attributes":[{"key":"spans","value":{"arrayValue":{"values":[{"intValue":1}]}}}]},
         "scopeSpans":[{"scope":{"name":"spans"},"spans":[{},{},{"name":"x","spans":[1]}]},
                       {"spans":null},{"spans":[{}]}]},
        {"scopeSpans":[]},
        {"other":[{"spans":[{}]}]}
    ]}"#;
    assert_eq!(crate::otlp::count_json_spans(body), 4);
    let decoded = crate::otlp::decode_json(body).expect("valid");
    assert_eq!(decoded.batch.len() as u64 + decoded.rejected_spans, 4);
    assert_eq!(crate::otlp::count_json_spans(b""), 0);
    assert_eq!(crate::otlp::count_json_spans(b"[1,2]"), 0);
    assert_eq!(crate::otlp::count_json_spans(b"{\"resourceSpans\":7}"), 0);
}

#[test]
fn json_count_of_an_invalid_body_counts_spans_before_the_error() {
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{} oops"#;
    assert_eq!(crate::otlp::count_json_spans(body), 3);
}

#[test]
fn json_array_count_counts_top_level_elements_only() {
    assert_eq!(
        crate::otlp::count_json_array_elements(br#"[{},{"a":[1,2,3]},null]"#),
        3
    );
    assert_eq!(crate::otlp::count_json_array_elements(b"{\"a\":[1]}"), 0);
    assert_eq!(crate::otlp::count_json_array_elements(b"[{},{},"), 2);
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
