//! Each v1 -> v2 conversion rule, checked through both v1 decoders (the same spans
//! written as Thrift and as JSON must decode to the same model), plus each decoder's
//! rejections.

use serde_json::{Value, json};
use weft_model::{SpanKind, StatusCode};

use super::test_support::{
    BOOL, BYTES, BinaryAnnotation, BinaryWriter, Endpoint, I64, Span, T_STRUCT, address,
    annotation, endpoint, json_body, tag, thrift_body,
};
use super::*;
use crate::zipkin;

fn frontend() -> Endpoint {
    endpoint("frontend", 0x0a00_0001, 8080)
}

fn backend() -> Endpoint {
    endpoint("backend", 0x0a00_0002, 9000)
}

fn kafka() -> Endpoint {
    endpoint("kafka", 0x0a00_0003, 9092)
}

fn span(annotations: Vec<test_support::Annotation>, binary: Vec<BinaryAnnotation>) -> Span {
    Span {
        trace_id: 0x1234,
        name: "get /api",
        id: 0xa,
        parent_id: Some(1),
        annotations,
        binary_annotations: binary,
        ..Span::default()
    }
}

/// Decodes `spans` written as Thrift and as JSON, checks that both give the same model,
/// and returns that model and its Zipkin v2 JSON.
fn convert(spans: &[Span]) -> (SpanBatch, Vec<Value>) {
    let from_thrift = decode_thrift(&thrift_body(spans)).expect("thrift decodes");
    let from_json = decode_json(&json_body(spans)).expect("json decodes");
    assert_eq!(from_thrift, from_json, "thrift and json decode differently");
    let v2 = zipkin::encode_v2_json(&from_thrift.spans);
    let values = serde_json::from_slice(&v2).expect("encoder writes json");
    (from_thrift, values)
}

fn v2(spans: &[Span]) -> Vec<Value> {
    convert(spans).1
}

const TRACE: &str = "0000000000001234";
const PARENT: &str = "0000000000000001";
const ID: &str = "000000000000000a";

fn endpoint_json(name: &str, ip: &str, port: u16) -> Value {
    json!({"serviceName": name, "ipv4": ip, "port": port})
}

#[test]
fn client_and_server_in_one_record_become_two_spans_the_server_shared() {
    let (frontend, backend) = (frontend(), backend());
    let mut record = span(
        vec![
            annotation(1000, "cs", &frontend),
            annotation(1100, "sr", &backend),
            annotation(1200, "cache miss", &backend),
            annotation(1400, "ss", &backend),
            annotation(1500, "cr", &frontend),
        ],
        vec![
            tag("http.path", "/api", Some(&frontend)),
            tag("db.rows", "3", Some(&backend)),
            address("sa", &backend),
            address("ca", &frontend),
        ],
    );
    record.timestamp = Some(1000);
    record.duration = Some(500);
    let spans = v2(&[record]);
    assert_eq!(
        spans,
        vec![
            json!({"traceId": TRACE, "parentId": PARENT, "id": ID, "kind": "CLIENT",
                "name": "get /api", "timestamp": 1000, "duration": 500,
                "localEndpoint": endpoint_json("frontend", "10.0.0.1", 8080),
                "remoteEndpoint": endpoint_json("backend", "10.0.0.2", 9000),
                "tags": {"http.path": "/api"}}),
            json!({"traceId": TRACE, "parentId": PARENT, "id": ID, "kind": "SERVER",
                "name": "get /api", "timestamp": 1100, "duration": 300,
                "localEndpoint": endpoint_json("backend", "10.0.0.2", 9000),
                "remoteEndpoint": endpoint_json("frontend", "10.0.0.1", 8080),
                "annotations": [{"timestamp": 1200, "value": "cache miss"}],
                "tags": {"db.rows": "3"}, "shared": true}),
        ]
    );
}

#[test]
fn loopback_rpc_in_one_service_still_splits() {
    let service = frontend();
    let record = span(
        vec![
            annotation(10, "cs", &service),
            annotation(20, "sr", &service),
            annotation(30, "ss", &service),
            annotation(40, "cr", &service),
        ],
        vec![],
    );
    let (batch, _) = convert(&[record]);
    let shape: Vec<_> = batch
        .spans
        .iter()
        .map(|span| {
            (
                span.kind,
                span.shared,
                span.start_unix_nanos,
                span.duration_nanos,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (SpanKind::Client, false, 10_000, 30_000),
            (SpanKind::Server, true, 20_000, 10_000),
        ]
    );
    assert!(
        batch
            .spans
            .iter()
            .all(|span| span.service_name() == Some("frontend"))
    );
}

#[test]
fn server_side_without_span_timestamp_is_shared_with_it_is_not() {
    let backend = backend();
    let server = span(
        vec![
            annotation(100, "sr", &backend),
            annotation(300, "ss", &backend),
        ],
        vec![address("ca", &frontend())],
    );
    let spans = v2(std::slice::from_ref(&server));
    assert_eq!(spans[0]["kind"], "SERVER");
    assert_eq!(spans[0]["timestamp"], 100);
    assert_eq!(spans[0]["duration"], 200);
    assert_eq!(spans[0]["shared"], true);
    assert_eq!(spans[0]["remoteEndpoint"]["serviceName"], "frontend");

    // A server that owns its span (root, timestamp and duration set) is not shared, and
    // its own timestamp and duration win over the annotations.
    let mut owner = server;
    owner.timestamp = Some(90);
    owner.duration = Some(250);
    let spans = v2(&[owner]);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["timestamp"], 90);
    assert_eq!(spans[0]["duration"], 250);
    assert_eq!(spans[0].get("shared"), None);
}

#[test]
fn missing_start_annotation_comes_from_the_span_timestamp() {
    let frontend = frontend();
    let mut record = span(vec![annotation(1500, "cr", &frontend)], vec![]);
    record.timestamp = Some(1000);
    record.duration = Some(500);
    let spans = v2(std::slice::from_ref(&record));
    assert_eq!(spans[0]["kind"], "CLIENT");
    assert_eq!(spans[0]["timestamp"], 1000);
    assert_eq!(spans[0]["duration"], 500);
    assert_eq!(spans[0].get("annotations"), None);

    // When timestamp + duration does not land on cr, the RPC is incomplete: cr stays an
    // annotation and the span keeps its own timestamp and duration.
    record.duration = Some(400);
    let spans = v2(&[record]);
    assert_eq!(spans[0]["kind"], "CLIENT");
    assert_eq!(spans[0]["timestamp"], 1000);
    assert_eq!(spans[0]["duration"], 400);
    assert_eq!(
        spans[0]["annotations"],
        json!([{"timestamp": 1500, "value": "cr"}])
    );
}

#[test]
fn timestamps_and_durations_come_from_annotations_when_absent() {
    let frontend = frontend();
    let complete = span(
        vec![
            annotation(100, "cs", &frontend),
            annotation(175, "cr", &frontend),
        ],
        vec![],
    );
    let only_start = span(vec![annotation(100, "cs", &frontend)], vec![]);
    let spans = v2(&[complete, only_start]);
    assert_eq!(
        (&spans[0]["timestamp"], &spans[0]["duration"]),
        (&json!(100), &json!(75))
    );
    assert_eq!(spans[1]["timestamp"], 100);
    assert_eq!(spans[1].get("duration"), None);
    assert_eq!(spans[1]["kind"], "CLIENT");
}

#[test]
fn lc_names_the_local_service_of_a_local_span() {
    let worker = endpoint("worker", 0, 0);
    let mut marker = span(vec![], vec![tag("lc", "", Some(&worker))]);
    marker.timestamp = Some(10);
    marker.duration = Some(20);
    let mut component = marker.clone();
    component.binary_annotations = vec![tag("lc", "scheduler", Some(&worker))];
    let spans = v2(&[marker, component]);
    assert_eq!(
        spans[0],
        json!({"traceId": TRACE, "parentId": PARENT, "id": ID, "name": "get /api",
            "timestamp": 10, "duration": 20, "localEndpoint": {"serviceName": "worker"}})
    );
    assert_eq!(spans[1]["tags"], json!({"lc": "scheduler"}));
    assert_eq!(spans[1].get("kind"), None);
}

#[test]
fn messaging_annotations_make_producer_and_consumer_spans() {
    let (frontend, backend, kafka) = (frontend(), backend(), kafka());
    let producer = span(
        vec![
            annotation(100, "ms", &frontend),
            annotation(110, "ws", &frontend),
        ],
        vec![address("ma", &kafka)],
    );
    let consumer = span(
        vec![
            annotation(200, "wr", &backend),
            annotation(250, "mr", &backend),
        ],
        vec![address("ma", &kafka)],
    );
    let spans = v2(&[producer, consumer]);
    let kafka_json = endpoint_json("kafka", "10.0.0.3", 9092);
    assert_eq!(spans[0]["kind"], "PRODUCER");
    assert_eq!(
        (&spans[0]["timestamp"], &spans[0]["duration"]),
        (&json!(100), &json!(10))
    );
    assert_eq!(spans[0]["remoteEndpoint"], kafka_json);
    assert_eq!(spans[1]["kind"], "CONSUMER");
    assert_eq!(
        (&spans[1]["timestamp"], &spans[1]["duration"]),
        (&json!(200), &json!(50))
    );
    assert_eq!(spans[1]["remoteEndpoint"], kafka_json);

    // Both sides in one record: two spans, the consumer shared.
    let both = span(
        vec![
            annotation(100, "ms", &frontend),
            annotation(150, "mr", &backend),
        ],
        vec![address("ma", &kafka)],
    );
    let spans = v2(&[both]);
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["kind"], "PRODUCER");
    assert_eq!(spans[0]["timestamp"], 100);
    assert_eq!(spans[0].get("duration"), None);
    assert_eq!(spans[1]["kind"], "CONSUMER");
    assert_eq!(spans[1]["timestamp"], 150);
    assert_eq!(spans[1]["shared"], true);
    assert_eq!(spans[1]["remoteEndpoint"], kafka_json);
}

#[test]
fn address_annotations_without_core_annotations() {
    let (frontend, backend) = (frontend(), backend());
    let both = span(
        vec![],
        vec![address("ca", &frontend), address("sa", &backend)],
    );
    let server_only = span(vec![], vec![address("sa", &backend)]);
    let client_only = span(vec![], vec![address("ca", &frontend)]);
    let spans = v2(&[both, server_only, client_only]);
    assert_eq!(spans[0].get("kind"), None);
    assert_eq!(spans[0]["localEndpoint"]["serviceName"], "frontend");
    assert_eq!(spans[0]["remoteEndpoint"]["serviceName"], "backend");
    assert_eq!(spans[1]["kind"], "CLIENT");
    assert_eq!(spans[1]["remoteEndpoint"]["serviceName"], "backend");
    assert_eq!(spans[2]["kind"], "SERVER");
    assert_eq!(spans[2]["remoteEndpoint"]["serviceName"], "frontend");
}

#[test]
fn only_string_binary_annotations_become_tags() {
    let (frontend, backend) = (frontend(), backend());
    let record = span(
        vec![
            annotation(1, "cs", &frontend),
            annotation(2, "cr", &frontend),
        ],
        vec![
            tag("http.method", "GET", Some(&frontend)),
            BinaryAnnotation {
                key: "count",
                value: 7i64.to_be_bytes().to_vec(),
                annotation_type: I64,
                host: Some(frontend.clone()),
            },
            BinaryAnnotation {
                key: "blob",
                value: vec![1, 2, 3],
                annotation_type: BYTES,
                host: Some(frontend.clone()),
            },
            BinaryAnnotation {
                key: "cached",
                value: vec![1],
                annotation_type: BOOL,
                host: Some(frontend.clone()),
            },
            // Some tracers send "1" instead of true; still an address.
            tag("sa", "1", Some(&backend)),
        ],
    );
    let spans = v2(&[record]);
    assert_eq!(spans[0]["tags"], json!({"http.method": "GET"}));
    assert_eq!(spans[0]["remoteEndpoint"]["serviceName"], "backend");
}

#[test]
fn error_binary_annotation_is_an_error_tag_and_status() {
    let backend = backend();
    let record = span(
        vec![annotation(1, "sr", &backend), annotation(9, "ss", &backend)],
        vec![tag("error", "timeout", Some(&backend))],
    );
    let (batch, spans) = convert(&[record]);
    assert_eq!(spans[0]["tags"], json!({"error": "timeout"}));
    assert_eq!(batch.spans[0].status.code, StatusCode::Error);
    assert_eq!(batch.spans[0].status.message, "timeout");
}

#[test]
fn trace_id_high_gives_a_128_bit_trace_id_and_debug_and_root_are_kept() {
    let mut record = span(vec![], vec![]);
    record.trace_id_high = Some(0x0102_0304_0506_0708);
    record.parent_id = Some(0);
    record.debug = Some(true);
    let (batch, spans) = convert(&[record]);
    assert_eq!(
        spans[0]["traceId"],
        "0102030405060708000000000000".to_owned() + "1234"
    );
    assert_eq!(spans[0].get("parentId"), None);
    assert_eq!(spans[0]["debug"], true);
    assert!(!batch.spans[0].trace_id.is_64_bit());
}

#[test]
fn annotations_without_endpoint_are_plain_annotations_on_the_first_span() {
    let record = span(
        vec![test_support::Annotation {
            timestamp: 5,
            value: "cs",
            host: None,
        }],
        vec![tag("k", "v", None)],
    );
    let spans = v2(&[record]);
    assert_eq!(spans[0].get("kind"), None);
    assert_eq!(
        spans[0]["annotations"],
        json!([{"timestamp": 5, "value": "cs"}])
    );
    assert_eq!(spans[0]["tags"], json!({"k": "v"}));
}

#[test]
fn realistic_json_with_escapes_ipv6_and_128_bit_id_decodes() {
    let body = br#"[{
        "traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f", "name": "get /caf\u00e9", "id": "352bff9a74ca9ad2",
        "parentId": "6b221d5bc9e6496c", "timestamp": 1461750040359000, "duration": 5000,
        "annotations": [
          {"endpoint": {"serviceName": "Backend", "ipv6": "2001:db8::c001", "port": 8080}, "timestamp": 1461750040359000, "value": "sr"},
          {"endpoint": {"serviceName": "Backend", "ipv6": "2001:db8::c001", "port": 8080}, "timestamp": 1461750040364000, "value": "ss"}
        ],
        "binaryAnnotations": [
          {"key": "http.url", "value": "http://x/caf\u00e9", "endpoint": {"serviceName": "Backend"}},
          {"key": "ca", "value": true, "endpoint": {"serviceName": "frontend", "ipv4": "192.168.99.101", "port": 54845}},
          {"key": "retries", "value": 2, "type": "I32"},
          {"key": "note", "value": {"nested": [1, 2]}}
        ]
    }]"#;
    let batch = decode_json(body).expect("decodes");
    let spans: Vec<Value> =
        serde_json::from_slice(&zipkin::encode_v2_json(&batch.spans)).expect("json");
    assert_eq!(
        spans,
        vec![
            json!({"traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f", "parentId": "6b221d5bc9e6496c",
            "id": "352bff9a74ca9ad2", "kind": "SERVER", "name": "get /café",
            "timestamp": 1461750040359000u64, "duration": 5000,
            "localEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::c001", "port": 8080},
            "remoteEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.101", "port": 54845},
            "tags": {"http.url": "http://x/café"}})
        ]
    );
}

fn json_rejection(body: &str) -> String {
    decode_json(body.as_bytes())
        .expect_err("rejected")
        .to_string()
}

#[test]
fn json_rejections_name_span_and_field() {
    assert_eq!(
        json_rejection(r#"[{"traceId":"1","id":"2","kind":"CLIENT"}]"#),
        "Expected a JSON_V1 encoded list, but received: JSON_V2"
    );
    assert_eq!(
        json_rejection(
            r#"[{"traceId":"1","id":"2"},{"traceId":"1","id":"2","annotations":[{"value":"cs"}]}]"#
        ),
        "span 1: annotations[0].timestamp is missing"
    );
    assert_eq!(
        json_rejection(r#"[{"traceId":"1","id":"2","binaryAnnotations":[{"value":"x"}]}]"#),
        "span 0: binaryAnnotations[0].key is missing"
    );
    assert_eq!(
        json_rejection(r#"[{"traceId":"1","id":"2"},{"traceId":"xyz","id":"2"}]"#),
        "span 1: traceId \"xyz\" is not hex"
    );
    assert_eq!(
        json_rejection(r#"[{"traceId":"1"}]"#),
        "span 0: id is missing"
    );
    assert!(
        json_rejection(r#"[{"traceId":"1","id":"2","duration":"x"}]"#)
            .starts_with("span 0: duration: invalid type")
    );
    assert!(json_rejection("{}").contains("received a JSON object"));
    assert!(decode_json(b" ").expect("empty").is_empty());
    assert!(decode_json(b"[]").expect("empty").is_empty());
}

#[test]
fn thrift_bodies_that_are_not_span_lists_are_rejected() {
    assert!(decode_thrift(b"").expect("empty body").is_empty());
    let mut ints = BinaryWriter::default();
    ints.list(8, 1).i32(7);
    assert!(
        decode_thrift(&ints.out)
            .expect_err("list of i32")
            .to_string()
            .contains("found a list of I32")
    );
    let mut huge = BinaryWriter::default();
    huge.list(T_STRUCT, i32::MAX);
    assert!(decode_thrift(&huge.out).is_err());

    let body = thrift_body(&[span(vec![], vec![]), span(vec![], vec![])]);
    let truncated = decode_thrift(&body[..body.len() - 3]).expect_err("truncated");
    assert!(
        truncated
            .to_string()
            .starts_with("span 1: thrift: unexpected end"),
        "{truncated}"
    );
    let mut trailing = body.clone();
    trailing.extend_from_slice(b"junk");
    assert_eq!(
        decode_thrift(&trailing)
            .expect("trailing bytes ignored")
            .len(),
        2
    );

    let mut zero = span(vec![], vec![]);
    zero.trace_id = 0;
    assert_eq!(
        decode_thrift(&thrift_body(&[zero]))
            .expect_err("zero trace id")
            .to_string(),
        "span 0: traceId \"0000000000000000\" is all zeros"
    );
}

#[test]
fn thrift_ports_above_32767_and_ipv6_are_read() {
    let mut host = endpoint("backend", 0xc0a8_0001, 54845);
    host.ipv6 = Some([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x01,
    ]);
    let record = span(vec![annotation(1, "sr", &host)], vec![]);
    let spans = v2(&[record]);
    assert_eq!(
        spans[0]["localEndpoint"],
        json!({"serviceName": "backend", "ipv4": "192.168.0.1", "ipv6": "2001:db8::c001", "port": 54845})
    );
}

/// py_zipkin's own encoders (testdata/zipkin_seeds.py): the v1 Thrift and v1 JSON
/// bodies, converted back to v2 by the rules above, are the v2 JSON and protobuf
/// bodies py_zipkin writes for the same spans.
#[test]
fn py_zipkin_v1_bodies_convert_to_its_v2_spans() {
    let v1_thrift: &[u8] = include_bytes!("../../testdata/zipkin-py_zipkin.v1.thrift");
    let v1_json: &[u8] = include_bytes!("../../testdata/zipkin-py_zipkin.v1.json");
    let v2_json: &[u8] = include_bytes!("../../testdata/zipkin-py_zipkin.v2.json");
    let v2_proto: &[u8] = include_bytes!("../../testdata/zipkin-py_zipkin.v2.pb");
    let as_values = |batch: SpanBatch| -> Vec<Value> {
        serde_json::from_slice(&zipkin::encode_v2_json(&batch.spans)).expect("json")
    };
    let expected = as_values(zipkin::decode_v2_json(v2_json).expect("v2 json decodes"));
    assert_eq!(expected.len(), 6);
    let from_proto = as_values(zipkin::decode_v2_proto(v2_proto).expect("v2 proto decodes"));
    assert_eq!(from_proto, expected, "v2 protobuf differs from v2 json");
    let from_thrift = as_values(decode_thrift(v1_thrift).expect("v1 thrift decodes"));
    let from_json = as_values(decode_json(v1_json).expect("v1 json decodes"));
    assert_eq!(from_thrift, from_json, "v1 thrift differs from v1 json");
    for (index, (actual, expected)) in from_thrift.iter().zip(&expected).enumerate() {
        assert_eq!(actual, expected, "span {index} differs after v1 -> v2");
    }
    assert_eq!(from_thrift.len(), expected.len());
}
