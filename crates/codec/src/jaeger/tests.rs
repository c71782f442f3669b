//! Jaeger Thrift decoding: the mapping field by field, all three wire forms, rejections.

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanBatch, SpanId,
    SpanKind, Status, StatusCode, TraceId,
};

use super::test_fixture::{self, Batch};
use super::*;
use crate::thrift::writer::Writer;
use crate::thrift::{FieldType, MessageType, Protocol};

/// Every Thrift entry point, and the one decoder behind them with the compact protocol.
fn decode_all_thrift_forms(batch: &Batch) -> [SpanBatch; 4] {
    let decode = |result: Result<SpanBatch, DecodeError>, form: &str| {
        result.unwrap_or_else(|error| panic!("{form}: {error}"))
    };
    [
        decode(
            decode_agent_compact(&test_fixture::agent_datagram(Protocol::Compact, batch)),
            "agent compact",
        ),
        decode(
            decode_agent_binary(&test_fixture::agent_datagram(Protocol::Binary, batch)),
            "agent binary",
        ),
        decode(
            decode_batch_binary(&test_fixture::batch_body(Protocol::Binary, batch)),
            "collector batch",
        ),
        decode(
            decode_thrift::decode_batch(
                &test_fixture::batch_body(Protocol::Compact, batch),
                Protocol::Compact,
            ),
            "compact batch",
        ),
    ]
}

fn decode_kitchen_sink() -> Vec<Span> {
    let mut spans = Vec::new();
    for batch in test_fixture::kitchen_sink_batches() {
        let [first, rest @ ..] = decode_all_thrift_forms(&batch);
        for (form, other) in rest.iter().enumerate() {
            assert_eq!(&first, other, "form {form} differs from agent compact");
        }
        spans.extend(first.spans);
    }
    spans
}

fn trace_id() -> TraceId {
    TraceId::from_halves(0x463a_c35c_9f64_13ad, 0x4848_5a39_53bb_6124)
}

/// What `kitchen_sink_batches` must decode to, written out by hand.
pub(super) fn expected_kitchen_sink() -> Vec<Span> {
    let frontend = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", "frontend"),
            KeyValue::new("hostname", "web-1"),
            KeyValue::new("jaeger.version", "Python-4.8.0"),
            KeyValue::new("cpu.load", AttributeValue::Double(0.5)),
            KeyValue::new("canary", false),
            KeyValue::new("pid", 4242),
            KeyValue::new("token", AttributeValue::Bytes(vec![0xde, 0xad])),
        ],
        dropped_attributes_count: 0,
    });
    let customer = Arc::new(Resource::for_service("customer"));

    let mut root = Span::new(
        trace_id(),
        SpanId::from_u64(0x0102_0304_0506_0708),
        "HTTP GET /dispatch",
    );
    root.kind = SpanKind::Server;
    root.trace_state = String::from("rojo=00f067aa0ba902b7");
    root.start_unix_nanos = 1_700_000_000_123_456_000;
    root.duration_nanos = 250_000_000;
    root.attributes = vec![
        KeyValue::new("http.method", "GET"),
        KeyValue::new("http.status_code", 200),
        KeyValue::new("sampler.param", true),
        KeyValue::new("ratio", AttributeValue::Double(0.25)),
        KeyValue::new("blob", AttributeValue::Bytes(vec![0, 1, 2])),
    ];
    root.events = vec![
        event(
            1_700_000_000_130_000_000,
            "cache miss",
            vec![KeyValue::new("key", "customer:123")],
        ),
        // no `event` field: the `message` field names the event (OpenTelemetry's
        // Jaeger exporter writes event names there)
        event(
            1_700_000_000_140_000_000,
            "no event field",
            vec![KeyValue::new("level", 3)],
        ),
    ];
    root.scope = Arc::new(InstrumentationScope {
        name: String::from("frontend-lib"),
        version: String::from("1.2.3"),
        attributes: Vec::new(),
    });
    root.flags = 1;
    root.resource = Arc::clone(&frontend);

    let mut client = Span::new(trace_id(), SpanId::from_u64(u64::MAX - 1), "GET");
    client.parent_span_id = Some(root.span_id);
    client.kind = SpanKind::Client;
    client.start_unix_nanos = 1_700_000_000_150_000_000;
    client.duration_nanos = 90_000_000;
    client.status = Status {
        code: StatusCode::Error,
        message: String::from("connection refused"),
    };
    client.attributes = vec![
        KeyValue::new("peer.service", "customer"),
        KeyValue::new("weird", "<Unknown Jaeger TagType 9>"),
    ];
    client.events = vec![event(
        1_700_000_000_200_000_000,
        "error",
        vec![KeyValue::new("error.kind", "ConnectionError")],
    )];
    client.links = vec![Link {
        trace_id: TraceId::from_halves(0, 99),
        span_id: SpanId::from_u64(5),
        trace_state: String::new(),
        attributes: vec![KeyValue::new("opentracing.ref_type", "follows_from")],
        dropped_attributes_count: 0,
        flags: 0,
    }];
    client.dropped_links_count = 1;
    client.flags = 1;
    client.debug = true;
    client.resource = frontend;

    let mut server = Span::new(trace_id(), SpanId::from_u64(0x7777), "/customer");
    server.parent_span_id = Some(client.span_id);
    server.kind = SpanKind::Server;
    server.start_unix_nanos = 1_700_000_000_160_000_000;
    server.duration_nanos = 70_000_000;
    server.status.code = StatusCode::Ok;
    server.attributes = vec![KeyValue::new("error", false)];
    server.flags = 1;
    server.resource = Arc::clone(&customer);

    let mut internal = Span::new(trace_id(), SpanId::from_u64(0x8888), "SQL SELECT");
    internal.parent_span_id = Some(server.span_id);
    internal.start_unix_nanos = 1_700_000_000_170_000_000;
    internal.duration_nanos = 10_000;
    internal.status = Status {
        code: StatusCode::Error,
        message: String::from("boom"),
    };
    internal.attributes = vec![KeyValue::new("span.kind", "gateway")];
    internal.resource = customer;

    vec![root, client, server, internal]
}

fn event(time_unix_nanos: u64, name: &str, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nanos,
        name: name.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    }
}

#[test]
fn kitchen_sink_maps_field_by_field() {
    let spans = decode_kitchen_sink();
    let expected = expected_kitchen_sink();
    assert_eq!(spans.len(), expected.len());
    for (span, expected) in spans.iter().zip(&expected) {
        let name = &expected.name;
        assert_eq!(span.trace_id, expected.trace_id, "{name}: trace_id");
        assert_eq!(span.span_id, expected.span_id, "{name}: span_id");
        assert_eq!(
            span.parent_span_id, expected.parent_span_id,
            "{name}: parent"
        );
        assert_eq!(span.kind, expected.kind, "{name}: kind");
        assert_eq!(span.status, expected.status, "{name}: status");
        assert_eq!(span.attributes, expected.attributes, "{name}: attributes");
        assert_eq!(span.events, expected.events, "{name}: events");
        assert_eq!(span.links, expected.links, "{name}: links");
        assert_eq!(span.resource, expected.resource, "{name}: resource");
        assert_eq!(span.scope, expected.scope, "{name}: scope");
        assert_eq!(
            (span.flags, span.debug),
            (expected.flags, expected.debug),
            "{name}: flags"
        );
        assert_eq!(span, expected, "{name}: the rest");
    }
}

#[test]
fn spans_of_one_batch_share_one_resource() {
    let batch = &test_fixture::kitchen_sink_batches()[0];
    let decoded = decode_agent_compact(&test_fixture::agent_datagram(Protocol::Compact, batch))
        .expect("decodes");
    assert!(Arc::ptr_eq(
        &decoded.spans[0].resource,
        &decoded.spans[1].resource
    ));
}

#[test]
fn petclinic_fixture_keeps_services_parents_and_tags() {
    let text = include_str!("../../testdata/jaeger-petclinic-trace.json");
    let trace: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    let mut decoded = Vec::new();
    for batch in test_fixture::petclinic_batches() {
        let [first, rest @ ..] = decode_all_thrift_forms(&batch);
        assert!(rest.iter().all(|other| *other == first));
        decoded.extend(first.spans);
    }
    let json_spans = trace["spans"].as_array().expect("spans");
    assert_eq!(decoded.len(), json_spans.len());
    for json in json_spans {
        let span_id = SpanId::from_hex(json["spanID"].as_str().expect("id")).expect("valid");
        let span = decoded
            .iter()
            .find(|span| span.span_id == span_id)
            .expect("every fixture span decodes");
        assert_eq!(span.trace_id.to_hex(), "0df84e36b9e2ee3815d07f0867a5be1f");
        assert_eq!(span.name, json["operationName"]);
        let process = &trace["processes"][json["processID"].as_str().expect("processID")];
        assert_eq!(span.service_name(), process["serviceName"].as_str());
        let parent = json["references"][0]["spanID"]
            .as_str()
            .map(|hex| SpanId::from_hex(hex).expect("valid"));
        assert_eq!(span.parent_span_id, parent, "{span_id}");
        assert_eq!(
            span.start_unix_nanos,
            json["startTime"].as_u64().expect("µs") * 1000
        );
        assert_eq!(
            span.duration_nanos,
            json["duration"].as_u64().expect("µs") * 1000
        );
        assert_eq!(span.flags, 1);
        let mut kind = SpanKind::Unspecified;
        let mut attributes = Vec::new();
        for tag in json["tags"].as_array().expect("tags") {
            match (tag["key"].as_str(), tag["value"].as_str()) {
                (Some("span.kind"), Some("server")) => kind = SpanKind::Server,
                (Some("span.kind"), Some("client")) => kind = SpanKind::Client,
                (Some(key), Some(value)) => attributes.push(KeyValue::new(key, value)),
                _ => panic!("fixture tags are strings"),
            }
        }
        assert_eq!(span.kind, kind, "{span_id}");
        assert_eq!(span.attributes, attributes, "{span_id}");
        assert!(span.links.is_empty() && span.events.is_empty());
    }
}

#[test]
fn zipkin_readers_see_jaeger_errors_and_logs() {
    let spans = decode_kitchen_sink();
    let json = crate::zipkin::encode_v2_json(&spans[1..2]);
    let value: serde_json::Value = serde_json::from_slice(&json).expect("zipkin json");
    let span = &value[0];
    assert_eq!(span["kind"], "CLIENT");
    assert_eq!(span["tags"]["error"], "connection refused");
    assert_eq!(span["localEndpoint"]["serviceName"], "frontend");
    assert_eq!(span["remoteEndpoint"]["serviceName"], "customer");
    assert_eq!(
        span["annotations"][0]["timestamp"],
        1_700_000_000_200_000u64
    );
    assert_eq!(
        span["annotations"][0]["value"],
        r#""error":{"error.kind":"ConnectionError"}"#
    );
}

fn single_span_batch(span: test_fixture::Span) -> Batch {
    Batch {
        service_name: String::from("svc"),
        process_tags: Vec::new(),
        spans: vec![span],
    }
}

fn valid_span() -> test_fixture::Span {
    test_fixture::Span {
        trace_id_low: 1,
        span_id: 2,
        operation_name: String::from("op"),
        ..Default::default()
    }
}

#[test]
fn zero_ids_reject_the_whole_batch_naming_span_and_field() {
    let mut batch = single_span_batch(valid_span());
    batch.spans.push(test_fixture::Span {
        trace_id_low: 0,
        ..valid_span()
    });
    let error = decode_agent_compact(&test_fixture::agent_datagram(Protocol::Compact, &batch))
        .expect_err("zero trace id");
    assert_eq!(
        error.message,
        "span 1: traceIdHigh and traceIdLow are both 0"
    );

    let batch = single_span_batch(test_fixture::Span {
        span_id: 0,
        ..valid_span()
    });
    let error = decode_batch_binary(&test_fixture::batch_body(Protocol::Binary, &batch))
        .expect_err("zero span id");
    assert_eq!(error.message, "span 0: spanId is 0");

    // A 64-bit trace id (zero high half) is valid.
    let batch = single_span_batch(valid_span());
    let decoded = decode_batch_binary(&test_fixture::batch_body(Protocol::Binary, &batch))
        .expect("64-bit id");
    assert_eq!(
        decoded.spans[0].trace_id.to_zipkin_hex(),
        "0000000000000001"
    );
}

#[test]
fn empty_batches_decode_to_nothing() {
    let batch = Batch {
        service_name: String::from("svc"),
        ..Batch::default()
    };
    let decoded = decode_agent_binary(&test_fixture::agent_datagram(Protocol::Binary, &batch))
        .expect("empty batch");
    assert!(decoded.is_empty());
    // A batch struct with no fields at all.
    assert!(decode_batch_binary(&[0]).expect("no fields").is_empty());
}

#[test]
fn other_agent_calls_and_missing_batches_are_named() {
    let mut writer = Writer::new(Protocol::Compact);
    writer.message_begin("emitZipkinBatch", MessageType::Oneway, 1);
    writer.struct_begin().struct_end();
    let error = decode_agent_compact(&writer.into_bytes()).expect_err("zipkin batch");
    assert_eq!(
        error.message,
        r#"agent method "emitZipkinBatch" is not supported, expected "emitBatch""#
    );

    let mut writer = Writer::new(Protocol::Binary);
    writer.message_begin("emitBatch", MessageType::Oneway, 1);
    writer.struct_begin().struct_end();
    let error = decode_agent_binary(&writer.into_bytes()).expect_err("no batch");
    assert_eq!(error.message, "emitBatch arguments have no batch (field 1)");

    // Binary bytes sent to the compact port.
    let batch = single_span_batch(valid_span());
    let error = decode_agent_compact(&test_fixture::agent_datagram(Protocol::Binary, &batch))
        .expect_err("wrong protocol");
    assert!(error.message.contains("protocol id 0x80"), "{error}");
}

#[test]
fn non_strict_binary_headers_and_call_messages_are_accepted() {
    let batch = single_span_batch(valid_span());
    let mut writer = Writer::new(Protocol::Binary);
    writer.message_begin_non_strict("emitBatch", 9);
    writer.struct_begin().field(FieldType::Struct, 1);
    test_fixture::write_batch(&mut writer, &batch);
    writer.struct_end();
    assert_eq!(
        decode_agent_binary(&writer.into_bytes())
            .expect("old header")
            .len(),
        1
    );

    let mut writer = Writer::new(Protocol::Compact);
    writer.message_begin("emitBatch", MessageType::Call, 9);
    writer.struct_begin().field(FieldType::Struct, 1);
    test_fixture::write_batch(&mut writer, &batch);
    writer.struct_end();
    assert_eq!(
        decode_agent_compact(&writer.into_bytes())
            .expect("call")
            .len(),
        1
    );
}

#[test]
fn unreadable_spans_name_their_index() {
    let mut batch = single_span_batch(valid_span());
    batch.spans.push(valid_span());
    let datagram = test_fixture::agent_datagram(Protocol::Compact, &batch);
    // Cut inside the second span.
    let error = decode_agent_compact(&datagram[..datagram.len() - 6]).expect_err("cut");
    assert!(error.message.starts_with("span 1: thrift: "), "{error}");
}

#[test]
fn every_truncated_datagram_is_an_error() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        for batch in test_fixture::kitchen_sink_batches() {
            let datagram = test_fixture::agent_datagram(protocol, &batch);
            for end in 0..datagram.len() {
                let result = match protocol {
                    Protocol::Compact => decode_agent_compact(&datagram[..end]),
                    Protocol::Binary => decode_agent_binary(&datagram[..end]),
                };
                assert!(result.is_err(), "{protocol:?} cut at {end}");
            }
        }
    }
}

/// Jaeger clients fill UDP datagrams up to 65,000 bytes.
#[test]
fn a_60_kilobyte_datagram_decodes() {
    let [mut batch, _] = test_fixture::kitchen_sink_batches();
    let template = batch.spans[0].clone();
    for protocol in [Protocol::Compact, Protocol::Binary] {
        batch.spans.clear();
        let mut span_id = 1;
        while test_fixture::agent_datagram(protocol, &batch).len() < 60_000 {
            batch.spans.push(test_fixture::Span {
                span_id,
                ..template.clone()
            });
            span_id += 1;
        }
        let datagram = test_fixture::agent_datagram(protocol, &batch);
        assert!(
            (60_000..65_000).contains(&datagram.len()),
            "{}",
            datagram.len()
        );
        let decoded = match protocol {
            Protocol::Compact => decode_agent_compact(&datagram),
            Protocol::Binary => decode_agent_binary(&datagram),
        }
        .expect("large datagram");
        assert_eq!(decoded.len(), batch.spans.len());
        assert!(decoded.spans.iter().all(|span| span.events.len() == 2));
    }
}

/// Bytes written by jaeger-client's own generated Thrift code (Apache Thrift's Python
/// protocols), not by our test writer: guards against a protocol detail that the reader
/// and the test writer could get wrong the same way.
#[test]
fn real_client_bytes_decode_field_by_field() {
    let expected = &expected_kitchen_sink()[..2];
    type Decode = fn(&[u8]) -> Result<SpanBatch, DecodeError>;
    let inputs: [(&str, &[u8], Decode); 3] = [
        (
            "agent compact",
            include_bytes!("../../testdata/jaeger-agent-compact.thrift"),
            decode_agent_compact,
        ),
        (
            "agent binary",
            include_bytes!("../../testdata/jaeger-agent-binary.thrift"),
            decode_agent_binary,
        ),
        (
            "collector batch",
            include_bytes!("../../testdata/jaeger-collector-batch.thrift"),
            decode_batch_binary,
        ),
    ];
    for (form, bytes, decode) in inputs {
        let decoded = decode(bytes).unwrap_or_else(|error| panic!("{form}: {error}"));
        assert_eq!(decoded.spans, expected, "{form}");
    }
}
