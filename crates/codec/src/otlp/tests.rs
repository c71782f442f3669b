use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use weft_model::{AttributeValue, SpanId, SpanKind, StatusCode, TraceId};

use super::*;

const SPEC_EXAMPLE: &[u8] = include_bytes!("../../testdata/otlp-spec-example-trace.json");

fn any(value: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn pair(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: any(value),
        key_strindex: 0,
    }
}

/// Every AnyValue kind, nested, including an empty one.
fn all_kinds_of_attributes() -> Vec<KeyValue> {
    vec![
        pair(
            "string",
            Value::StringValue("héllo \"quoted\"\n\u{1}".to_owned()),
        ),
        pair("bool", Value::BoolValue(true)),
        pair("int", Value::IntValue(-9_007_199_254_740_993)),
        pair("double", Value::DoubleValue(0.1)),
        pair("bytes", Value::BytesValue(vec![0, 1, 2, 254, 255])),
        pair(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::StringValue("a".to_owned())),
                    },
                    AnyValue {
                        value: Some(Value::IntValue(i64::MAX)),
                    },
                    AnyValue { value: None },
                ],
            }),
        ),
        pair(
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![pair("inner", Value::BoolValue(false))],
            }),
        ),
        KeyValue {
            key: "empty".to_owned(),
            value: Some(AnyValue { value: None }),
            key_strindex: 0,
        },
    ]
}

fn rich_span(trace_byte: u8, span_byte: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: vec![trace_byte; 16],
        span_id: vec![span_byte; 8],
        trace_state: "vendor=value".to_owned(),
        parent_span_id: parent.map(|byte| vec![byte; 8]).unwrap_or_default(),
        flags: 0x101,
        name: "GET /users/{id}".to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_223_456_789,
        attributes: all_kinds_of_attributes(),
        dropped_attributes_count: 3,
        events: vec![span::Event {
            time_unix_nano: 1_700_000_000_150_000_000,
            name: "exception".to_owned(),
            attributes: vec![pair(
                "exception.type",
                Value::StringValue("IOError".to_owned()),
            )],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 2,
        links: vec![span::Link {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            trace_state: "k=v".to_owned(),
            attributes: vec![pair("link.kind", Value::StringValue("follows".to_owned()))],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "boom".to_owned(),
            code: 2,
        }),
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![pair("service.name", Value::StringValue(service.to_owned()))],
        dropped_attributes_count: 1,
        entity_refs: Vec::new(),
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.to_owned(),
        version: "1.2.3".to_owned(),
        attributes: vec![pair("scope.attr", Value::IntValue(7))],
        dropped_attributes_count: 0,
    })
}

/// A request with two resources, three scopes, every attribute kind, events and links.
pub(crate) fn rich_request() -> ExportTraceServiceRequest {
    let mut plain = rich_span(3, 4, None);
    plain.status = None;
    plain.events.clear();
    plain.links.clear();
    plain.kind = 0;
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource("frontend"),
                scope_spans: vec![
                    ScopeSpans {
                        scope: scope("http"),
                        spans: vec![rich_span(1, 1, None), rich_span(1, 2, Some(1))],
                        schema_url: String::new(),
                    },
                    ScopeSpans {
                        scope: scope("db"),
                        spans: vec![rich_span(1, 3, Some(2))],
                        schema_url: String::new(),
                    },
                ],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: resource("backend"),
                scope_spans: vec![ScopeSpans {
                    scope: scope("http"),
                    spans: vec![plain],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
}

#[test]
fn proto_to_model_to_proto_round_trips_everything() {
    let request = rich_request();
    let decoded = decode_proto(&request.encode_to_vec()).expect("valid protobuf");
    assert_eq!(decoded.rejected_spans, 0);
    assert_eq!(decoded.batch.len(), 4);
    assert_eq!(
        to_resource_spans(&decoded.batch.spans),
        request.resource_spans
    );
}

#[test]
fn decoded_fields_land_in_the_model() {
    let decoded = from_request(rich_request());
    let span = &decoded.batch.spans[1];
    assert_eq!(span.trace_id, TraceId([1; 16]));
    assert_eq!(span.parent_span_id, Some(SpanId([1; 8])));
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.start_unix_nanos, 1_700_000_000_123_456_789);
    assert_eq!(span.duration_nanos, 100_000_000);
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.service_name(), Some("frontend"));
    assert_eq!(span.scope.name, "http");
    assert_eq!(
        span.attribute("bytes"),
        Some(&AttributeValue::Bytes(vec![0, 1, 2, 254, 255]))
    );
    assert_eq!(span.attribute("empty"), Some(&AttributeValue::Empty));
    assert_eq!(span.links[0].trace_id, TraceId([0xab; 16]));
    assert_eq!((span.flags, span.dropped_links_count), (0x101, 5));
}

#[test]
fn spans_of_one_resource_and_scope_share_their_arcs() {
    let spans = from_request(rich_request()).batch.spans;
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    assert!(Arc::ptr_eq(&spans[0].scope, &spans[1].scope));
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
    assert!(!Arc::ptr_eq(&spans[0].scope, &spans[2].scope));
    assert!(!Arc::ptr_eq(&spans[0].resource, &spans[3].resource));
}

#[test]
fn invalid_spans_are_skipped_counted_and_named() {
    let mut request = rich_request();
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[0].trace_id = vec![0; 16];
    spans[1].parent_span_id = vec![1, 2, 3];
    request.resource_spans[0].scope_spans[1].spans[0].span_id = vec![1; 4];
    let decoded = from_request(request);
    assert_eq!(decoded.batch.len(), 1);
    assert_eq!(decoded.rejected_spans, 3);
    assert_eq!(
        decoded.rejection_message,
        "resourceSpans[0].scopeSpans[0].spans[0]: traceId is all zeros"
    );
}

#[test]
fn each_invalid_id_shape_is_rejected() {
    type Mutation = fn(&mut Span);
    let cases: [(Mutation, &str); 5] = [
        (
            |span| span.trace_id = vec![1; 8],
            "traceId has 8 bytes, expected 16",
        ),
        (
            |span| span.trace_id.clear(),
            "traceId has 0 bytes, expected 16",
        ),
        (|span| span.span_id = vec![0; 8], "spanId is all zeros"),
        (
            |span| span.span_id = vec![1; 16],
            "spanId has 16 bytes, expected 8",
        ),
        (
            |span| span.parent_span_id = vec![1; 16],
            "parentSpanId has 16 bytes, expected 8 or none",
        ),
    ];
    for (mutate, reason) in cases {
        let mut request = rich_request();
        mutate(&mut request.resource_spans[1].scope_spans[0].spans[0]);
        let decoded = from_request(request);
        assert_eq!(decoded.rejected_spans, 1, "{reason}");
        assert_eq!(
            decoded.rejection_message,
            format!("resourceSpans[1].scopeSpans[0].spans[0]: {reason}")
        );
    }
}

#[test]
fn end_before_start_is_zero_duration_and_zero_parent_is_root() {
    let mut request = rich_request();
    let span = &mut request.resource_spans[0].scope_spans[0].spans[1];
    span.end_time_unix_nano = span.start_time_unix_nano - 1;
    span.parent_span_id = vec![0; 8];
    let decoded = from_request(request);
    assert_eq!(decoded.batch.spans[1].duration_nanos, 0);
    assert_eq!(decoded.batch.spans[1].parent_span_id, None);
}

#[test]
fn invalid_links_are_dropped_and_counted() {
    let mut request = rich_request();
    request.resource_spans[0].scope_spans[0].spans[0].links[0].span_id = vec![0; 8];
    let decoded = from_request(request);
    assert!(decoded.batch.spans[0].links.is_empty());
    assert_eq!(decoded.batch.spans[0].dropped_links_count, 6);
}

#[test]
fn bad_protobuf_is_an_error_and_empty_is_an_empty_request() {
    let error = decode_proto(&[0x0a, 0xff, 0xff]).expect_err("truncated");
    assert!(error.message.starts_with("invalid protobuf: "), "{error}");
    assert_eq!(
        decode_proto(&[]).expect("empty is valid"),
        OtlpDecoded::default()
    );
}

#[test]
fn the_spec_example_decodes_with_upper_case_hex_ids() {
    let decoded = decode_json(SPEC_EXAMPLE).expect("spec example");
    assert_eq!(decoded.rejected_spans, 0);
    let span = &decoded.batch.spans[0];
    assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.span_id.to_hex(), "eee19b7ec3c1b174");
    assert_eq!(
        span.parent_span_id.map(|id| id.to_hex()).as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.start_unix_nanos, 1_544_712_660_000_000_000);
    assert_eq!(span.duration_nanos, 1_000_000_000);
    assert_eq!(span.service_name(), Some("my.service"));
    assert_eq!(
        (span.scope.name.as_str(), span.scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    assert_eq!(
        span.scope.attributes[0].value,
        AttributeValue::from("some scope attribute")
    );
    assert_eq!(
        span.attribute("my.span.attr"),
        Some(&AttributeValue::from("some value"))
    );
}

#[test]
fn json_leniency_strings_numbers_enum_names_nulls_and_unknown_fields() {
    let body = br#"{"resourceSpans":[{"resource":null,"extra":1,"scopeSpans":[{"spans":[{
        "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","parentSpanId":"",
        "kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"100","endTimeUnixNano":250,
        "status":{"code":"STATUS_CODE_OK"},"flags":"1","someFutureField":{"a":[1,2]},
        "attributes":[
            {"key":"empty","value":{}},
            {"key":"null","value":null},
            {"key":"missing"},
            {"key":"int-as-number","value":{"intValue":42}},
            {"key":"int-as-string","value":{"intValue":"-42"}},
            {"key":"nan","value":{"doubleValue":"NaN"}},
            {"key":"double-int","value":{"doubleValue":3}},
            {"key":"bytes","value":{"bytesValue":"AAH+/w=="}},
            {"key":"kv","value":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}},
            {"key":"arr","value":{"arrayValue":{}}}
        ]}]}]}]}"#;
    let decoded = decode_json(body).expect("lenient");
    assert_eq!(decoded.rejected_spans, 0, "{}", decoded.rejection_message);
    let span = &decoded.batch.spans[0];
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(
        (span.start_unix_nanos, span.duration_nanos, span.flags),
        (100, 150, 1)
    );
    assert_eq!(span.status.code, StatusCode::Ok);
    let value = |key: &str| span.attribute(key).cloned();
    assert_eq!(value("empty"), Some(AttributeValue::Empty));
    assert_eq!(value("null"), Some(AttributeValue::Empty));
    assert_eq!(value("missing"), Some(AttributeValue::Empty));
    assert_eq!(value("int-as-number"), Some(AttributeValue::Int(42)));
    assert_eq!(value("int-as-string"), Some(AttributeValue::Int(-42)));
    assert!(matches!(value("nan"), Some(AttributeValue::Double(number)) if number.is_nan()));
    assert_eq!(value("double-int"), Some(AttributeValue::Double(3.0)));
    assert_eq!(
        value("bytes"),
        Some(AttributeValue::Bytes(vec![0, 1, 254, 255]))
    );
    assert_eq!(
        value("kv"),
        Some(AttributeValue::KeyValueList(vec![
            weft_model::KeyValue::new("a", true)
        ]))
    );
    assert_eq!(value("arr"), Some(AttributeValue::Array(Vec::new())));
}

#[test]
fn json_without_resource_spans_or_body_is_an_empty_request() {
    for body in [
        &b"{}"[..],
        b"  ",
        b"",
        br#"{"resourceSpans":null}"#,
        br#"{"resourceSpans":[]}"#,
    ] {
        let decoded = decode_json(body).expect("empty request");
        assert!(decoded.batch.is_empty());
        assert_eq!(decoded.rejected_spans, 0);
    }
}

#[test]
fn json_ids_that_are_not_hex_reject_only_their_span() {
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"zz02030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"},
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"},
        {"spanId":"0102030405060708"}]}]}]}"#;
    let decoded = decode_json(body).expect("request is fine");
    assert_eq!(decoded.batch.len(), 1);
    assert_eq!(decoded.rejected_spans, 2);
    assert_eq!(
        decoded.rejection_message,
        "resourceSpans[0].scopeSpans[0].spans[0]: traceId \"zz02030405060708090a0b0c0d0e0f10\" is not hex"
    );
}

#[test]
fn json_accepts_base64_ids_of_the_right_length() {
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"AQIDBAUGBwg="}]}]}]}"#;
    let decoded = decode_json(body).expect("valid");
    assert_eq!(
        decoded.batch.spans[0].trace_id.to_hex(),
        "0102030405060708090a0b0c0d0e0f10"
    );
    assert_eq!(decoded.batch.spans[0].span_id.to_hex(), "0102030405060708");
}

#[test]
fn json_errors_name_the_path() {
    let body =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"startTimeUnixNano":"soon"}]}]}]}"#;
    let error = decode_json(body).expect_err("bad number");
    assert!(
        error.message.starts_with(
            "invalid json at resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano: "
        ),
        "{error}"
    );
    let error = decode_json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":1.5}}]}]}]}]}"#)
        .expect_err("fractional int");
    assert!(
        error
            .message
            .contains("spans[0].attributes[0].value.intValue"),
        "{error}"
    );
    let error = decode_json(b"{\"resourceSpans\":[").expect_err("truncated");
    assert!(error.message.contains("line 1 column 18"), "{error}");
    let error = decode_json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":-1}]}]}]}"#)
        .expect_err("negative");
    assert!(error.message.contains("spans[0].flags"), "{error}");
}

#[test]
fn encode_json_reads_back_to_the_same_spans() {
    let spans = from_request(rich_request()).batch.spans;
    let json = encode_json(&spans);
    let text = std::str::from_utf8(&json).expect("utf-8");
    assert!(
        text.contains("\"traceId\":\"01010101010101010101010101010101\""),
        "{text}"
    );
    assert!(
        text.contains("\"startTimeUnixNano\":\"1700000000123456789\""),
        "{text}"
    );
    assert!(
        text.contains("\"intValue\":\"-9007199254740993\""),
        "{text}"
    );
    let value: serde_json::Value = serde_json::from_slice(&json).expect("valid json");
    assert_eq!(value["resourceSpans"].as_array().map(Vec::len), Some(2));
    let back = decode_json(&json).expect("own output decodes");
    assert_eq!(back.rejected_spans, 0);
    assert_eq!(back.batch.spans, spans);
}

#[test]
fn tempo_styles_use_base64_ids_and_enum_names_and_read_back() {
    let spans = from_request(rich_request()).batch.spans;
    for style in [JsonStyle::TempoV1, JsonStyle::TempoV2] {
        let json = encode_json_styled(&spans, style);
        let value: serde_json::Value = serde_json::from_slice(&json).expect("valid json");
        let top = if style == JsonStyle::TempoV1 {
            "batches"
        } else {
            "resourceSpans"
        };
        let first = &value[top][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(first["traceId"], "AQEBAQEBAQEBAQEBAQEBAQ==", "{first}");
        assert!(
            first["kind"]
                .as_str()
                .is_some_and(|kind| kind.starts_with("SPAN_KIND_"))
        );
        let text = String::from_utf8(json).expect("utf-8");
        let otlp_text = text.replacen("\"batches\":", "\"resourceSpans\":", 1);
        let back = decode_json(otlp_text.as_bytes()).expect("own output decodes");
        assert_eq!(back.rejected_spans, 0);
        assert_eq!(back.batch.spans, spans);
    }
}

#[test]
fn encode_proto_is_an_export_request_on_the_wire() {
    let spans = from_request(rich_request()).batch.spans;
    let back = decode_proto(&encode_proto(&spans)).expect("decodes");
    assert_eq!(back.batch.spans, spans);
}

#[test]
fn grouping_merges_equal_resources_held_in_different_arcs() {
    let spans = from_request(rich_request()).batch.spans;
    let mut copies: Vec<weft_model::Span> = spans.clone();
    // Same values, different allocations: still one group per resource and scope.
    for span in &mut copies {
        span.resource = Arc::new((*span.resource).clone());
        span.scope = Arc::new((*span.scope).clone());
    }
    assert_eq!(to_resource_spans(&copies), to_resource_spans(&spans));
    let interleaved = vec![spans[0].clone(), spans[3].clone(), spans[1].clone()];
    let groups = to_resource_spans(&interleaved);
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].scope_spans[0].spans.len(), 2);
}

/// `decode_proto_resolving` with a resolver that decodes every resource it is given and
/// records the bytes.
fn decode_resolving_recorded(body: &[u8]) -> (Result<OtlpDecoded, DecodeError>, Vec<Vec<u8>>) {
    let mut seen = Vec::new();
    let decoded = decode_proto_resolving(Bytes::copy_from_slice(body), &mut |bytes| {
        seen.push(bytes.to_vec());
        decode_resource(bytes).map(Arc::new)
    });
    (decoded, seen)
}

#[test]
fn resolving_decodes_as_decode_proto_and_hands_over_each_resource_encoded() {
    let mut request = rich_request();
    // A ResourceSpans without a resource, and one whose resource is the same again.
    request.resource_spans.push(ResourceSpans {
        resource: None,
        scope_spans: request.resource_spans[1].scope_spans.clone(),
        schema_url: String::new(),
    });
    request
        .resource_spans
        .push(request.resource_spans[0].clone());
    let body = request.encode_to_vec();
    let (decoded, seen) = decode_resolving_recorded(&body);
    assert_eq!(decoded.expect("valid"), decode_proto(&body).expect("valid"));
    let encoded = |resource: &Option<Resource>| {
        resource
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default()
    };
    let expected: Vec<Vec<u8>> = request
        .resource_spans
        .iter()
        .map(|resource_spans| encoded(&resource_spans.resource))
        .collect();
    assert_eq!(seen, expected);

    // What the resolver returns is what the spans get.
    let shared = Arc::new(weft_model::Resource::for_service("resolved"));
    let decoded =
        decode_proto_resolving(Bytes::from(body), &mut |_| Ok(Arc::clone(&shared))).expect("valid");
    assert!(
        decoded
            .batch
            .spans
            .iter()
            .all(|span| Arc::ptr_eq(&span.resource, &shared))
    );
}

#[test]
fn resolving_merges_a_repeated_resource_field_as_protobuf_does() {
    // Field 1 of ResourceSpans twice: the two resources merge (attributes appended).
    let first = resource("frontend").expect("resource").encode_to_vec();
    let mut second_resource = resource("ignored").expect("resource");
    second_resource.attributes[0].key = "host.name".to_owned();
    let second = second_resource.encode_to_vec();
    let scope_spans = rich_request().resource_spans[1].scope_spans[0].encode_to_vec();
    let mut resource_spans = Vec::new();
    for (field, bytes) in [(1u32, &first), (2, &scope_spans), (1, &second)] {
        prost::encoding::encode_key(
            field,
            prost::encoding::WireType::LengthDelimited,
            &mut resource_spans,
        );
        prost::encoding::encode_varint(bytes.len() as u64, &mut resource_spans);
        resource_spans.extend_from_slice(bytes);
    }
    let mut body = Vec::new();
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
    prost::encoding::encode_varint(resource_spans.len() as u64, &mut body);
    body.extend_from_slice(&resource_spans);
    let (decoded, seen) = decode_resolving_recorded(&body);
    let decoded = decoded.expect("valid");
    assert_eq!(decoded, decode_proto(&body).expect("valid"));
    assert_eq!(decoded.batch.spans[0].resource.attributes.len(), 2);
    assert_eq!(seen, vec![[first, second].concat()]);
}

#[test]
fn resolving_refuses_what_decode_proto_refuses() {
    let good = rich_request().encode_to_vec();
    let mut bad_schema = rich_request();
    bad_schema.resource_spans[0].schema_url = "x".to_owned();
    let mut bad_schema = bad_schema.encode_to_vec();
    let at = bad_schema
        .iter()
        .rposition(|byte| *byte == b'x')
        .expect("the schema URL");
    bad_schema[at] = 0xff;
    for body in [
        vec![0x0a, 0xff, 0xff],
        good[..good.len() - 3].to_vec(),
        bad_schema,
    ] {
        assert!(decode_proto(&body).is_err());
        let (decoded, _) = decode_resolving_recorded(&body);
        let error = decoded.expect_err("refused");
        assert!(error.message.starts_with("invalid protobuf: "), "{error}");
    }
    // An error from the resolver fails the body.
    let error = decode_proto_resolving(Bytes::from(good), &mut |_| {
        Err(DecodeError::new("no".to_owned()))
    })
    .expect_err("resolver error");
    assert_eq!(error.message, "no");
}

#[test]
fn resolving_agrees_with_decode_proto_on_damaged_bodies() {
    let good = rich_request().encode_to_vec();
    let mut random = crate::robustness_tests::Random(11);
    let mut both_accepted = 0;
    for _ in 0..3_000 {
        let mut body = good.clone();
        for _ in 0..=random.below(3) {
            let at = random.below(body.len());
            body[at] = random.next() as u8;
        }
        let (resolved, _) = decode_resolving_recorded(&body);
        match (decode_proto(&body), resolved) {
            (Ok(expected), Ok(decoded)) => {
                assert_eq!(decoded, expected);
                both_accepted += 1;
            }
            (Err(_), Err(_)) => {}
            (expected, decoded) => panic!("disagree: {expected:?} against {decoded:?}"),
        }
    }
    assert!(both_accepted > 100, "{both_accepted}");
}
