use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    })
}

fn pair(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        key_strindex: 0,
    }
}

fn request(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: String::from("checkout.logger"),
                    version: String::from("1.2"),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn records_map_to_streams_as_loki_maps_them() {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_001,
        observed_time_unix_nano: 1_700_000_000_000_000_002,
        severity_number: 17,
        severity_text: String::from("ERROR"),
        body: text("payment failed"),
        attributes: vec![
            pair(
                "http.status_code",
                Some(AnyValue {
                    value: Some(any_value::Value::IntValue(502)),
                }),
            ),
            pair(
                "http.request",
                Some(AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![pair("method", text("POST"))],
                    })),
                }),
            ),
        ],
        dropped_attributes_count: 0,
        flags: 1,
        trace_id: (1..=16).collect(),
        span_id: vec![0xab; 8],
        event_name: String::new(),
    };
    let streams = to_streams(
        request(
            vec![
                pair("service.name", text("checkout")),
                pair("k8s.namespace.name", text("shop")),
                pair("host.name", text("node-1")),
            ],
            vec![record],
        ),
        0,
    );
    assert_eq!(streams.len(), 1);
    assert_eq!(
        streams[0].labels,
        PushedLabels::Pairs(vec![
            (String::from("k8s_namespace_name"), String::from("shop")),
            (String::from("service_name"), String::from("checkout")),
        ])
    );
    let entry = &streams[0].entries[0];
    assert_eq!(entry.timestamp_unix_nanos, 1_700_000_000_000_000_001);
    assert_eq!(entry.line, "payment failed");
    let metadata: Vec<(&str, &str)> = entry
        .structured_metadata
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        metadata,
        vec![
            ("http_status_code", "502"),
            ("http_request_method", "POST"),
            ("observed_timestamp", "1700000000000000002"),
            ("severity_number", "17"),
            ("severity_text", "ERROR"),
            ("flags", "1"),
            ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
            ("span_id", "abababababababab"),
            ("host_name", "node-1"),
            ("scope_name", "checkout.logger"),
            ("scope_version", "1.2"),
            ("detected_level", "error"),
        ]
    );
}

#[test]
fn bodies_times_and_service_names_follow_loki() {
    let map_body = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                pair(
                    "b",
                    Some(AnyValue {
                        value: Some(any_value::Value::DoubleValue(1.5)),
                    }),
                ),
                pair(
                    "a",
                    Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(any_value::Value::BoolValue(true)),
                            }],
                        })),
                    }),
                ),
            ],
        })),
    };
    let records = vec![
        LogRecord {
            observed_time_unix_nano: 42,
            body: Some(map_body),
            ..LogRecord::default()
        },
        LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::BytesValue(b"hi".to_vec())),
            }),
            ..LogRecord::default()
        },
    ];
    let streams = to_streams(
        request(vec![pair("k8s.container.name", text("api"))], records),
        7,
    );
    assert_eq!(
        streams[0].labels,
        PushedLabels::Pairs(vec![
            (String::from("k8s_container_name"), String::from("api")),
            (String::from("service_name"), String::from("api")),
        ])
    );
    let entries = &streams[0].entries;
    assert_eq!(
        (entries[0].timestamp_unix_nanos, entries[0].line.as_str()),
        (42, r#"{"a":[true],"b":1.5}"#)
    );
    assert_eq!(
        (entries[1].timestamp_unix_nanos, entries[1].line.as_str()),
        (7, "aGk=")
    );
    // No severity: the level comes from the line's words.
    assert_eq!(
        entries[1]
            .structured_metadata
            .last()
            .map(|(_, v)| v.as_str()),
        Some("unknown")
    );
    let streams = to_streams(request(Vec::new(), vec![LogRecord::default()]), 7);
    assert_eq!(
        streams[0].labels,
        PushedLabels::Pairs(vec![(
            String::from("service_name"),
            String::from(UNKNOWN_SERVICE)
        )])
    );
    assert_eq!(normalize_label_name("1a.b"), "key_1a_b");
    assert_eq!(normalize_label_name("_x"), "key_x");
    assert_eq!(normalize_label_name("__x"), "__x");
}

#[test]
fn json_and_protobuf_decode_to_the_same_request() {
    let json = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":"SEVERITY_NUMBER_WARN2",
        "severityText":"WARN","body":{"stringValue":"disk low"},"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
        "attributes":[{"key":"n","value":{"intValue":"-3"}},{"key":"d","value":{"doubleValue":2}}]}]}]}]}"#;
    let decoded = decode_json(json).expect("valid json");
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.severity_number, 14);
    assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(record.span_id, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let again = decode_protobuf(&decoded.encode_to_vec()).expect("valid protobuf");
    assert_eq!(again, decoded);
    assert_eq!(record_count(&decoded), 1);
    for (bad, named) in [
        (&br#"{"resourceLogs":{}}"#[..], "resourceLogs"),
        (
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#,
            "traceId",
        ),
        (
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":-1}]}]}]}"#,
            "timeUnixNano",
        ),
        (
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}"#,
            "severityNumber",
        ),
        (br#"[1]"#, "object"),
    ] {
        let error = decode_json(bad).expect_err("invalid");
        assert!(error.to_string().contains(named), "{error}");
    }
    assert!(decode_protobuf(b"\xff\xff\xff").is_err());
}

#[test]
fn the_fuzz_seeds_decode_to_the_same_export() {
    let json = decode_json(include_bytes!("../testdata/otlp-logs.json")).expect("json seed");
    let protobuf = decode_protobuf(include_bytes!("../testdata/otlp-logs.pb")).expect("pb seed");
    assert_eq!(json, protobuf);
    let streams = to_streams(json, 0);
    assert_eq!(streams.len(), 1);
    let entries = &streams[0].entries;
    assert_eq!(entries[0].line, "payment failed");
    assert!(entries[0].structured_metadata.contains(&(
        String::from("trace_id"),
        String::from("4bf92f3577b34da6a3ce929d0e0e4736")
    )));
    assert_eq!(entries[1].line, r#"{"k":1.5}"#);
    assert_eq!(entries[1].timestamp_unix_nanos, 1_700_000_001_000_000_000);
}
