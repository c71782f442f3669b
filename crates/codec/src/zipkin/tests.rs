use std::sync::Arc;

use serde_json::{Value, json};
use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Resource, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};

use super::*;

const YELP: &[u8] = include_bytes!("../../testdata/zipkin-yelp.json");
const SMARTTHINGS: &[u8] =
    include_bytes!("../../testdata/zipkin-smartthings-oauth-authorization.json");

/// Zipkin's documented normalisation of what it reads: lowercase names.
fn lowercase_names(span: &mut Value) {
    if let Some(name) = span.get_mut("name") {
        *name = Value::String(name.as_str().unwrap_or_default().to_lowercase());
    }
    for endpoint in ["localEndpoint", "remoteEndpoint"] {
        if let Some(service) = span
            .get_mut(endpoint)
            .and_then(|endpoint| endpoint.get_mut("serviceName"))
        {
            *service = Value::String(service.as_str().unwrap_or_default().to_lowercase());
        }
    }
}

fn assert_round_trips(fixture: &[u8]) {
    let expected: Vec<Value> = serde_json::from_slice(fixture).expect("fixture is json");
    let batch = decode_v2_json(fixture).expect("fixture decodes");
    assert_eq!(batch.len(), expected.len());
    let encoded = encode_v2_json(&batch.spans);
    let actual: Vec<Value> = serde_json::from_slice(&encoded).expect("encoded is json");
    assert_eq!(actual.len(), expected.len());
    for (index, (mut expected, actual)) in expected.into_iter().zip(actual).enumerate() {
        lowercase_names(&mut expected);
        assert_eq!(
            actual, expected,
            "span {index} differs after decode and encode"
        );
    }
}

#[test]
fn yelp_fixture_round_trips_span_by_span() {
    assert_round_trips(YELP);
}

#[test]
fn smartthings_fixture_round_trips_span_by_span() {
    assert_round_trips(SMARTTHINGS);
}

#[test]
fn fixture_mapping_lands_in_the_model() {
    let batch = decode_v2_json(SMARTTHINGS).expect("decodes");
    let first = &batch.spans[0];
    assert_eq!(first.trace_id.to_zipkin_hex(), "8ce82b2e9ed820ba");
    assert!(first.trace_id.is_64_bit());
    // One Arc per local service name within the batch.
    let same_service: Vec<&Span> = batch
        .spans
        .iter()
        .filter(|span| span.service_name() == first.service_name())
        .collect();
    assert!(same_service.len() > 1);
    assert!(
        same_service
            .iter()
            .all(|span| Arc::ptr_eq(&span.resource, &first.resource))
    );
    let services: std::collections::HashSet<*const Resource> = batch
        .spans
        .iter()
        .map(|span| Arc::as_ptr(&span.resource))
        .collect();
    assert_eq!(services.len(), 8);
    let error_span = batch
        .spans
        .iter()
        .find(|span| span.attribute("error").is_some())
        .expect("an error span");
    assert_eq!(
        error_span.status,
        Status {
            code: StatusCode::Error,
            message: "401".to_owned()
        }
    );
    assert_eq!(
        error_span.attribute("error"),
        Some(&AttributeValue::from("401"))
    );
    assert!(
        batch
            .spans
            .iter()
            .any(|span| span.shared && span.kind == SpanKind::Server)
    );
}

#[test]
fn endpoints_become_span_attributes() {
    let body =
        br#"[{"traceId":"1","id":"2","kind":"CLIENT","name":"Get","timestamp":10,"duration":5,
        "localEndpoint":{"serviceName":"Front","ipv4":"10.0.0.1","port":8080},
        "remoteEndpoint":{"serviceName":"db","ipv6":"2001:db8::1","port":5432},
        "annotations":[{"timestamp":12,"value":"ws"}],"tags":{"a":"1","a":"2","n":7,"b":true},
        "debug":true,"unknownField":{"x":[1]}}]"#;
    let span = decode_v2_json(body).expect("valid").spans.remove(0);
    assert_eq!(span.trace_id, TraceId::from_halves(0, 1));
    assert_eq!(span.span_id, SpanId::from_u64(2));
    assert_eq!(
        (span.name.as_str(), span.service_name()),
        ("Get", Some("Front"))
    );
    assert_eq!(
        (span.start_unix_nanos, span.duration_nanos),
        (10_000, 5_000)
    );
    let value = |key: &str| span.attribute(key).cloned();
    assert_eq!(value(NET_HOST_IP), Some("10.0.0.1".into()));
    assert_eq!(value(NET_HOST_PORT), Some(AttributeValue::Int(8080)));
    assert_eq!(value("peer.service"), Some("db".into()));
    assert_eq!(value(NET_PEER_IP), Some("2001:db8::1".into()));
    assert_eq!(value(NET_PEER_PORT), Some(AttributeValue::Int(5432)));
    assert_eq!(value("a"), Some("2".into()), "last repeated tag wins");
    assert_eq!(
        span.attributes
            .iter()
            .filter(|pair| pair.key == "a")
            .count(),
        1
    );
    assert_eq!(
        (value("n"), value("b")),
        (Some("7".into()), Some("true".into()))
    );
    assert_eq!(
        span.events,
        vec![Event {
            time_unix_nanos: 12_000,
            name: "ws".to_owned(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        }]
    );
    assert!(span.debug && !span.shared);
}

#[test]
fn leniency_short_ids_any_case_and_empty_bodies() {
    for body in [&b""[..], b"  \n", b"[]", b" [ ] "] {
        assert!(decode_v2_json(body).expect("empty").is_empty());
    }
    let body = br#"[{"traceId":"ABC","id":"F","parentId":"0000000000000000"},
        {"traceId":"10000000000000000","id":"1","parentId":"A","timestamp":null,"name":null,"kind":null}]"#;
    let spans = decode_v2_json(body).expect("valid").spans;
    assert_eq!(spans[0].trace_id.to_zipkin_hex(), "0000000000000abc");
    assert_eq!(spans[0].span_id.to_hex(), "000000000000000f");
    assert_eq!(spans[0].parent_span_id, None);
    assert_eq!(
        spans[1].trace_id.to_zipkin_hex(),
        "00000000000000010000000000000000"
    );
    assert_eq!(spans[1].parent_span_id, Some(SpanId::from_u64(10)));
    assert_eq!(
        (spans[1].start_unix_nanos, spans[1].kind),
        (0, SpanKind::Unspecified)
    );
    assert!(spans[0].service_name().is_none());
}

fn rejection(body: &str) -> String {
    decode_v2_json(body.as_bytes())
        .expect_err("must be rejected")
        .message
}

#[test]
fn zipkin_rejections_name_span_and_field() {
    let valid = r#"{"traceId":"1","id":"1"}"#;
    assert_eq!(
        rejection(&format!(r#"[{valid},{{"id":"1"}}]"#)),
        "span 1: traceId is missing"
    );
    assert_eq!(rejection(r#"[{"traceId":"1"}]"#), "span 0: id is missing");
    assert_eq!(
        rejection(r#"[{"traceId":"xyz","id":"1"}]"#),
        "span 0: traceId \"xyz\" is not hex"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"","id":"1"}]"#),
        "span 0: traceId is empty"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"000","id":"1"}]"#),
        "span 0: traceId \"000\" is all zeros"
    );
    assert_eq!(
        rejection(&format!(r#"[{{"traceId":"{}","id":"1"}}]"#, "a".repeat(33))),
        format!(
            "span 0: traceId \"{}\" is longer than 32 hex characters",
            "a".repeat(33)
        )
    );
    assert_eq!(
        rejection(&format!(r#"[{{"traceId":"{}","id":"1"}}]"#, "b".repeat(50))),
        format!(
            "span 0: traceId \"{}...\" is longer than 32 hex characters",
            "b".repeat(40)
        )
    );
    assert_eq!(
        rejection(r#"[{"traceId":"1","id":"11111111111111111"}]"#),
        "span 0: id \"11111111111111111\" is longer than 16 hex characters"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"1","id":"1","parentId":"g"}]"#),
        "span 0: parentId \"g\" is not hex"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"1","id":"1","kind":"client"}]"#),
        "span 0: kind \"client\" is not one of CLIENT, SERVER, PRODUCER, CONSUMER"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"1","id":"1","localEndpoint":{"port":70000}}]"#),
        "span 0: localEndpoint.port 70000 is out of range"
    );
    assert_eq!(
        rejection(r#"[{"traceId":"1","id":"1","annotations":[{"value":"x"}]}]"#),
        "span 0: annotations[0].timestamp is missing"
    );
    let typed =
        rejection(r#"[{"traceId":"1","id":"1"},{"traceId":"1","id":"1","tags":{"k":null}}]"#);
    assert!(
        typed.starts_with("span 1: tags.k: invalid type: null"),
        "{typed}"
    );
    let typed = rejection(r#"[{"traceId":7,"id":"1"}]"#);
    assert!(
        typed.starts_with("span 0: traceId: invalid type: integer `7`"),
        "{typed}"
    );
}

#[test]
fn v1_json_and_non_lists_are_rejected_like_zipkin() {
    let v1 =
        r#"[{"traceId":"1","id":"1","name":"x","binaryAnnotations":[{"key":"k","value":"v"}]}]"#;
    assert_eq!(
        rejection(v1),
        "Expected a JSON_V2 encoded list, but received: JSON_V1"
    );
    let v1 = r#"[{"traceId":"1","id":"1","annotations":[{"timestamp":1,"value":"cs","endpoint":{"serviceName":"a"}}]}]"#;
    assert_eq!(
        rejection(v1),
        "Expected a JSON_V2 encoded list, but received: JSON_V1"
    );
    assert!(rejection(r#"{"traceId":"1","id":"1"}"#).contains("received a JSON object"));
    assert!(rejection("5").contains("expected a sequence"));
}

#[test]
fn malformed_json_names_the_position() {
    let message = rejection("[{\"traceId\":\"1\",\n\"id\":\"1\",}]");
    assert!(message.contains("line 2 column 10"), "{message}");
    let message = rejection("[{\"traceId\":\"1\"");
    assert!(message.contains("line 1 column 15"), "{message}");
}

fn otlp_span() -> Span {
    let mut span = Span::new(
        TraceId::from_halves(0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321),
        SpanId::from_u64(0xabc),
        "SELECT Users",
    );
    span.parent_span_id = Some(SpanId::from_u64(1));
    span.kind = SpanKind::Client;
    span.start_unix_nanos = 1_700_000_000_123_456_789;
    span.duration_nanos = 999;
    span.resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", "Checkout"),
            KeyValue::new("host.name", "box-1"),
        ],
        dropped_attributes_count: 0,
    });
    span.scope = Arc::new(InstrumentationScope {
        name: "io.opentelemetry.jdbc".to_owned(),
        version: "2.0".to_owned(),
        attributes: Vec::new(),
    });
    span.attributes = vec![
        KeyValue::new("peer.service", "Postgres"),
        KeyValue::new("network.peer.address", "192.168.1.9"),
        KeyValue::new("network.peer.port", 5432),
        KeyValue::new("net.host.ip", "::1"),
        KeyValue::new("db.rows", 12),
        KeyValue::new("db.cached", false),
        KeyValue::new(
            "tags",
            AttributeValue::Array(vec!["a".into(), AttributeValue::Int(1)]),
        ),
        KeyValue::new("weird \"key\"\n", "line1\nline2\t\u{0}é"),
    ];
    span.status = Status {
        code: StatusCode::Error,
        message: "timeout".to_owned(),
    };
    span.events = vec![
        Event {
            time_unix_nanos: 1_700_000_000_200_000_000,
            name: "retry".to_owned(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        },
        Event {
            time_unix_nanos: 1_700_000_000_300_000_999,
            name: "exception".to_owned(),
            attributes: vec![
                KeyValue::new("exception.type", "IOError"),
                KeyValue::new("count", 3),
            ],
            dropped_attributes_count: 0,
        },
    ];
    span
}

#[test]
fn otlp_spans_follow_the_opentelemetry_zipkin_mapping() {
    let encoded = encode_v2_json(&[otlp_span()]);
    let actual: Value = serde_json::from_slice(&encoded).expect("valid json");
    let expected = json!([{
        "traceId": "0123456789abcdef0fedcba987654321",
        "parentId": "0000000000000001",
        "id": "0000000000000abc",
        "kind": "CLIENT",
        "name": "select users",
        "timestamp": 1_700_000_000_123_456u64,
        "duration": 1,
        "localEndpoint": {"serviceName": "checkout", "ipv6": "::1"},
        "remoteEndpoint": {"serviceName": "postgres", "ipv4": "192.168.1.9", "port": 5432},
        "annotations": [
            {"timestamp": 1_700_000_000_200_000u64, "value": "retry"},
            {"timestamp": 1_700_000_000_300_000u64, "value": "\"exception\":{\"exception.type\":\"IOError\",\"count\":3}"}
        ],
        "tags": {
            "db.cached": "false",
            "db.rows": "12",
            "error": "timeout",
            "otel.library.name": "io.opentelemetry.jdbc",
            "otel.library.version": "2.0",
            "otel.scope.name": "io.opentelemetry.jdbc",
            "otel.scope.version": "2.0",
            "otel.status_code": "ERROR",
            "tags": "[\"a\",1]",
            "weird \"key\"\n": "line1\nline2\t\u{0}é"
        }
    }]);
    assert_eq!(actual, expected);
    // Keys come out sorted, as Zipkin writes them.
    let text = String::from_utf8(encoded).expect("utf-8");
    let db_cached = text.find("\"db.cached\"").unwrap_or(usize::MAX);
    let weird = text.find("\"weird").unwrap_or(0);
    assert!(db_cached < weird, "{text}");
}

#[test]
fn internal_spans_without_endpoints_or_status_omit_those_fields() {
    let mut span = Span::new(TraceId::from_halves(0, 5), SpanId::from_u64(6), "");
    span.kind = SpanKind::Internal;
    span.status.code = StatusCode::Ok;
    span.attributes.push(KeyValue::new("error", false));
    let actual: Value = serde_json::from_slice(&encode_v2_json(&[span])).expect("valid json");
    assert_eq!(
        actual,
        json!([{"traceId": "0000000000000005", "id": "0000000000000006", "tags": {"otel.status_code": "OK"}}])
    );
    let bare = Span::new(TraceId::from_halves(0, 5), SpanId::from_u64(6), "x");
    assert_eq!(
        String::from_utf8(encode_v2_json(&[bare])).expect("utf-8"),
        r#"[{"traceId":"0000000000000005","id":"0000000000000006","name":"x"}]"#
    );
}

#[test]
fn invalid_addresses_and_ports_stay_tags() {
    let mut span = Span::new(TraceId::from_halves(0, 5), SpanId::from_u64(6), "x");
    span.attributes = vec![
        KeyValue::new(NET_HOST_IP, "not-an-ip"),
        KeyValue::new(NET_HOST_PORT, 0),
        KeyValue::new(NET_PEER_PORT, "8080"),
    ];
    let actual: Value = serde_json::from_slice(&encode_v2_json(&[span])).expect("valid json");
    assert_eq!(
        actual[0]["tags"],
        json!({"net.host.ip": "not-an-ip", "net.host.port": "0"})
    );
    assert_eq!(actual[0]["remoteEndpoint"], json!({"port": 8080}));
}

#[test]
fn traces_encode_as_a_list_of_lists() {
    let spans = decode_v2_json(YELP).expect("decodes").spans;
    let traces = vec![spans[..2].to_vec(), Vec::new(), spans[2..3].to_vec()];
    let value: Value = serde_json::from_slice(&encode_v2_traces_json(&traces)).expect("valid json");
    let lengths: Vec<usize> = value
        .as_array()
        .expect("list")
        .iter()
        .map(|trace| trace.as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(lengths, vec![2, 0, 1]);
    assert_eq!(encode_v2_traces_json(&[]), b"[]");
    assert_eq!(encode_v2_json(&[]), b"[]");
}

#[test]
fn encoding_is_stable_after_one_round() {
    // Zipkin -> model -> Zipkin -> model -> Zipkin gives the same bytes twice.
    let spans = vec![otlp_span()];
    let once = encode_v2_json(&spans);
    let again = encode_v2_json(&decode_v2_json(&once).expect("own output decodes").spans);
    let value_once: Value = serde_json::from_slice(&once).expect("json");
    let value_again: Value = serde_json::from_slice(&again).expect("json");
    assert_eq!(value_once, value_again);
}

#[test]
fn addresses_are_read_as_zipkin_reads_them() {
    use super::{AddressFamily, address_family};
    assert_eq!(
        address_family("52.0.0.04"),
        Some(AddressFamily::V4),
        "leading zeros as in the fixture"
    );
    assert_eq!(address_family("10.0.0.255"), Some(AddressFamily::V4));
    assert_eq!(address_family("2001:db8::c001"), Some(AddressFamily::V6));
    for invalid in [
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        "a.b.c.d",
        "",
        "host:80",
        "1234.1.1.1",
    ] {
        assert_eq!(address_family(invalid), None, "{invalid}");
    }
}
