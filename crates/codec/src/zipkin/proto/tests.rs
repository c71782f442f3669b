use std::sync::Arc;

use prost::Message;
use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, TraceId};

use super::{ListOfSpans, ProtoAnnotation, ProtoEndpoint, ProtoSpan, TagEntry};
use crate::zipkin::{decode_v2_json, decode_v2_proto, encode_v2_json, encode_v2_proto};

const YELP: &[u8] = include_bytes!("../../../testdata/zipkin-yelp.json");
const SMARTTHINGS: &[u8] =
    include_bytes!("../../../testdata/zipkin-smartthings-oauth-authorization.json");
const YELP_PROTO: &[u8] = include_bytes!("../../../testdata/zipkin-yelp.pb");

/// Drops leading zeros from every endpoint's `ipv4` (`10.0.0.04` -> `10.0.0.4`), which
/// 4 bytes cannot hold.
fn without_ipv4_leading_zeros(spans: &mut [serde_json::Value]) {
    for span in spans {
        for endpoint in ["localEndpoint", "remoteEndpoint"] {
            if let Some(ipv4) = span.get_mut(endpoint).and_then(|e| e.get_mut("ipv4")) {
                let text = ipv4.as_str().unwrap_or_default();
                let parts: Vec<String> = text
                    .split('.')
                    .map(|part| {
                        part.parse::<u8>()
                            .map_or(part.to_owned(), |n| n.to_string())
                    })
                    .collect();
                *ipv4 = serde_json::Value::String(parts.join("."));
            }
        }
    }
}

/// JSON -> model -> protobuf -> model -> JSON gives the JSON encoding of the first
/// decode, less the documented loss of leading zeros in IPv4 addresses.
fn assert_proto_round_trip(fixture: &[u8]) {
    let from_json = decode_v2_json(fixture).expect("fixture decodes");
    let mut expected: Vec<serde_json::Value> =
        serde_json::from_slice(&encode_v2_json(&from_json.spans)).expect("json");
    without_ipv4_leading_zeros(&mut expected);
    let proto = encode_v2_proto(&from_json.spans);
    let from_proto = decode_v2_proto(&proto).expect("own protobuf decodes");
    assert_eq!(from_proto.len(), from_json.len());
    let actual: Vec<serde_json::Value> =
        serde_json::from_slice(&encode_v2_json(&from_proto.spans)).expect("json");
    for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(
            actual, expected,
            "span {index} differs after the protobuf round trip"
        );
    }
    // And the protobuf encoding is stable from then on.
    assert_eq!(encode_v2_proto(&from_proto.spans), proto);
}

#[test]
fn yelp_fixture_round_trips_through_protobuf() {
    assert_proto_round_trip(YELP);
}

#[test]
fn smartthings_fixture_round_trips_through_protobuf() {
    assert_proto_round_trip(SMARTTHINGS);
}

/// `testdata/zipkin-yelp.pb` (the fuzz seed) is the protobuf encoding of the yelp
/// fixture. Regenerate with `WEFT_WRITE_TESTDATA=1 cargo test -p weft-codec`.
#[test]
fn protobuf_seed_file_is_the_yelp_fixture() {
    let encoded = encode_v2_proto(&decode_v2_json(YELP).expect("decodes").spans);
    if std::env::var_os("WEFT_WRITE_TESTDATA").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/zipkin-yelp.pb");
        std::fs::write(path, &encoded).expect("writes testdata");
    }
    assert!(encoded == YELP_PROTO, "testdata/zipkin-yelp.pb is stale");
}

/// Guards the field numbers and wire types against zipkin.proto: bytes written by hand
/// from the spec.
#[test]
fn encoding_matches_the_spec_byte_for_byte() {
    let mut span = Span::new(
        TraceId::from_halves(0, 0x0102_0304_0506_0708),
        SpanId::from_u64(0x1112_1314_1516_1718),
        "GET",
    );
    span.kind = SpanKind::Server;
    span.start_unix_nanos = 1_000_000;
    span.duration_nanos = 2_000;
    span.resource = Arc::new(Resource::for_service("svc"));
    span.attributes.push(KeyValue::new("k", "v"));
    let mut expected = vec![0x0a, 53];
    expected.extend_from_slice(&[0x0a, 8, 1, 2, 3, 4, 5, 6, 7, 8]); // 1: trace_id
    expected.extend_from_slice(&[0x1a, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]); // 3: id
    expected.extend_from_slice(&[0x20, 2]); // 4: kind SERVER
    expected.extend_from_slice(&[0x2a, 3, b'g', b'e', b't']); // 5: name, lowercased
    expected.extend_from_slice(&[0x31, 0xe8, 0x03, 0, 0, 0, 0, 0, 0]); // 6: fixed64 µs
    expected.extend_from_slice(&[0x38, 2]); // 7: varint µs
    expected.extend_from_slice(&[0x42, 5, 0x0a, 3, b's', b'v', b'c']); // 8: local_endpoint
    expected.extend_from_slice(&[0x5a, 6, 0x0a, 1, b'k', 0x12, 1, b'v']); // 11: tags entry
    assert_eq!(encode_v2_proto(&[span]), expected);
}

/// The tags map as protoc would generate it, to check wire compatibility of the
/// entry-list form used here.
#[derive(Clone, PartialEq, Message)]
struct SpanWithMap {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    id: Vec<u8>,
    #[prost(map = "string, string", tag = "11")]
    tags: std::collections::HashMap<String, String>,
}

#[derive(Clone, PartialEq, Message)]
struct ListWithMap {
    #[prost(message, repeated, tag = "1")]
    spans: Vec<SpanWithMap>,
}

#[test]
fn tags_are_wire_compatible_with_a_protobuf_map() {
    let batch = decode_v2_json(YELP).expect("decodes");
    let decoded = ListWithMap::decode(encode_v2_proto(&batch.spans).as_slice()).expect("map form");
    let with_tags = decoded
        .spans
        .iter()
        .find(|span| !span.tags.is_empty())
        .expect("yelp has tags");
    assert!(with_tags.tags.values().all(|value| !value.is_empty()));

    let mut map_span = SpanWithMap {
        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
        id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        ..SpanWithMap::default()
    };
    map_span.tags.insert("http.method".into(), "GET".into());
    map_span.tags.insert("http.path".into(), "/".into());
    let body = ListWithMap {
        spans: vec![map_span],
    }
    .encode_to_vec();
    let batch = decode_v2_proto(&body).expect("decodes");
    let mut tags: Vec<(String, String)> = batch.spans[0]
        .attributes
        .iter()
        .map(|pair| (pair.key.clone(), pair.value.to_text()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            ("http.method".to_owned(), "GET".to_owned()),
            ("http.path".to_owned(), "/".to_owned())
        ]
    );
}

fn proto_span() -> ProtoSpan {
    ProtoSpan {
        trace_id: vec![0xaa; 16],
        parent_id: vec![0, 0, 0, 0, 0, 0, 0, 7],
        id: vec![0, 0, 0, 0, 0, 0, 0, 8],
        kind: 1,
        name: "Call".into(),
        timestamp: 1_500,
        duration: 25,
        local_endpoint: Some(ProtoEndpoint {
            service_name: "Front".into(),
            ipv4: vec![10, 0, 0, 4],
            ipv6: vec![],
            port: 8080,
        }),
        remote_endpoint: Some(ProtoEndpoint {
            service_name: "db".into(),
            ipv4: vec![1, 2, 3],
            ipv6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].to_vec(),
            port: 0,
        }),
        annotations: vec![ProtoAnnotation {
            timestamp: 1_510,
            value: "retry".into(),
        }],
        tags: vec![
            TagEntry {
                key: "error".into(),
                value: "first".into(),
            },
            TagEntry {
                key: "error".into(),
                value: "timeout".into(),
            },
        ],
        debug: true,
        shared: false,
    }
}

fn encode(spans: Vec<ProtoSpan>) -> Vec<u8> {
    ListOfSpans { spans }.encode_to_vec()
}

#[test]
fn protobuf_maps_to_the_model_like_json() {
    let batch = decode_v2_proto(&encode(vec![proto_span()])).expect("decodes");
    let json: serde_json::Value =
        serde_json::from_slice(&encode_v2_json(&batch.spans)).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{
            "traceId": "aa".repeat(16), "parentId": "0000000000000007", "id": "0000000000000008",
            "kind": "CLIENT", "name": "call", "timestamp": 1500, "duration": 25,
            "localEndpoint": {"serviceName": "front", "ipv4": "10.0.0.4", "port": 8080},
            // The 3-byte ipv4 is dropped, the ipv6 kept.
            "remoteEndpoint": {"serviceName": "db", "ipv6": "2001:db8::1"},
            "annotations": [{"timestamp": 1510, "value": "retry"}],
            // A repeated key: the last wins, as in JSON.
            "tags": {"error": "timeout"},
            "debug": true
        }])
    );
    let span = &batch.spans[0];
    assert_eq!(span.status.message, "timeout");
    assert_eq!(span.service_name(), Some("Front"));
}

#[test]
fn unknown_kind_numbers_mean_no_kind_and_zero_parent_is_root() {
    let mut span = proto_span();
    span.kind = 9;
    span.parent_id = vec![0; 8];
    let batch = decode_v2_proto(&encode(vec![span])).expect("decodes");
    assert_eq!(batch.spans[0].kind, SpanKind::Unspecified);
    assert_eq!(batch.spans[0].parent_span_id, None);
    assert!(decode_v2_proto(b"").expect("empty body").is_empty());
}

fn rejection(span: ProtoSpan) -> String {
    decode_v2_proto(&encode(vec![proto_span(), span]))
        .expect_err("rejected")
        .to_string()
}

#[test]
fn bad_ids_and_ports_are_rejected_naming_span_and_field() {
    let with = |change: fn(&mut ProtoSpan)| {
        let mut span = proto_span();
        change(&mut span);
        rejection(span)
    };
    assert_eq!(
        with(|span| span.trace_id = vec![1; 5]),
        "span 1: traceId has 5 bytes, expected 8 or 16"
    );
    assert_eq!(
        with(|span| span.trace_id.clear()),
        "span 1: traceId is missing"
    );
    assert_eq!(
        with(|span| span.trace_id = vec![0; 16]),
        format!("span 1: traceId \"{}\" is all zeros", "0".repeat(32))
    );
    assert_eq!(
        with(|span| span.id = vec![1; 16]),
        "span 1: id has 16 bytes, expected 8"
    );
    assert_eq!(with(|span| span.id.clear()), "span 1: id is missing");
    assert_eq!(
        with(|span| span.parent_id = vec![1; 3]),
        "span 1: parentId has 3 bytes, expected 8"
    );
    assert_eq!(
        with(|span| {
            if let Some(endpoint) = &mut span.local_endpoint {
                endpoint.port = 70_000;
            }
        }),
        "span 1: localEndpoint.port 70000 is out of range"
    );
}

#[test]
fn malformed_protobuf_is_rejected() {
    let error = decode_v2_proto(&[0x0a, 0x05, 0x01]).expect_err("truncated");
    assert!(
        error.to_string().starts_with("invalid zipkin protobuf: "),
        "{error}"
    );
    let mut span = proto_span();
    span.name = "x".into();
    let mut body = encode(vec![span]);
    let position = body.iter().rposition(|&byte| byte == b'x').expect("name");
    body[position] = 0xff;
    let error = decode_v2_proto(&body).expect_err("not utf-8");
    assert!(
        error.to_string().contains("invalid zipkin protobuf"),
        "{error}"
    );
}
