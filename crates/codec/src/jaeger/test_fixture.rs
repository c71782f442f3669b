//! Test input: Jaeger batches described once and written as compact or binary Thrift
//! (agent datagram or collector body) or as protobuf, plus the petclinic fixture (a real
//! two-service Jaeger trace) as such batches.

use weft_model::{SpanId, TraceId};

use super::proto;
use crate::thrift::writer::Writer;
use crate::thrift::{FieldType, MessageType, Protocol};

/// A tag value with its Jaeger type.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Str(String),
    Double(f64),
    Bool(bool),
    Long(i64),
    Binary(Vec<u8>),
    /// A type number Jaeger does not define.
    Unknown(i32),
}

#[derive(Debug, Clone)]
pub(super) struct Tag {
    pub(super) key: String,
    pub(super) value: Value,
}

pub(super) fn tag(key: &str, value: Value) -> Tag {
    Tag {
        key: key.to_owned(),
        value,
    }
}

pub(super) fn string_tag(key: &str, value: &str) -> Tag {
    tag(key, Value::Str(value.to_owned()))
}

#[derive(Debug, Clone)]
pub(super) struct Log {
    pub(super) timestamp_micros: i64,
    pub(super) fields: Vec<Tag>,
}

#[derive(Debug, Clone)]
pub(super) struct Reference {
    /// 0 child of, 1 follows from.
    pub(super) ref_type: i32,
    pub(super) trace_id_high: i64,
    pub(super) trace_id_low: i64,
    pub(super) span_id: i64,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Span {
    pub(super) trace_id_high: i64,
    pub(super) trace_id_low: i64,
    pub(super) span_id: i64,
    pub(super) parent_span_id: i64,
    pub(super) operation_name: String,
    pub(super) references: Vec<Reference>,
    pub(super) flags: i32,
    pub(super) start_time_micros: i64,
    pub(super) duration_micros: i64,
    pub(super) tags: Vec<Tag>,
    pub(super) logs: Vec<Log>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Batch {
    pub(super) service_name: String,
    pub(super) process_tags: Vec<Tag>,
    pub(super) spans: Vec<Span>,
}

/// `Agent.emitBatch` as one datagram.
pub(super) fn agent_datagram(protocol: Protocol, batch: &Batch) -> Vec<u8> {
    let mut writer = Writer::new(protocol);
    writer.message_begin("emitBatch", MessageType::Oneway, 1);
    writer.struct_begin().field(FieldType::Struct, 1);
    write_batch(&mut writer, batch);
    writer.struct_end();
    writer.into_bytes()
}

/// A bare `Batch` struct.
pub(super) fn batch_body(protocol: Protocol, batch: &Batch) -> Vec<u8> {
    let mut writer = Writer::new(protocol);
    write_batch(&mut writer, batch);
    writer.into_bytes()
}

pub(super) fn write_batch(writer: &mut Writer, batch: &Batch) {
    writer.struct_begin();
    writer.field(FieldType::Struct, 1).struct_begin();
    writer
        .field(FieldType::Binary, 1)
        .string(&batch.service_name);
    write_tags(writer, 2, &batch.process_tags);
    writer.struct_end();
    writer
        .field(FieldType::List, 2)
        .list_begin(FieldType::Struct, batch.spans.len());
    for span in &batch.spans {
        write_span(writer, span);
    }
    writer.field(FieldType::I64, 3).i64(7);
    writer.struct_end();
}

fn write_span(writer: &mut Writer, span: &Span) {
    writer.struct_begin();
    writer.field(FieldType::I64, 1).i64(span.trace_id_low);
    writer.field(FieldType::I64, 2).i64(span.trace_id_high);
    writer.field(FieldType::I64, 3).i64(span.span_id);
    writer.field(FieldType::I64, 4).i64(span.parent_span_id);
    writer
        .field(FieldType::Binary, 5)
        .string(&span.operation_name);
    if !span.references.is_empty() {
        writer
            .field(FieldType::List, 6)
            .list_begin(FieldType::Struct, span.references.len());
        for reference in &span.references {
            writer.struct_begin();
            writer.field(FieldType::I32, 1).i32(reference.ref_type);
            writer.field(FieldType::I64, 2).i64(reference.trace_id_low);
            writer.field(FieldType::I64, 3).i64(reference.trace_id_high);
            writer.field(FieldType::I64, 4).i64(reference.span_id);
            writer.struct_end();
        }
    }
    writer.field(FieldType::I32, 7).i32(span.flags);
    writer.field(FieldType::I64, 8).i64(span.start_time_micros);
    writer.field(FieldType::I64, 9).i64(span.duration_micros);
    write_tags(writer, 10, &span.tags);
    if !span.logs.is_empty() {
        writer
            .field(FieldType::List, 11)
            .list_begin(FieldType::Struct, span.logs.len());
        for log in &span.logs {
            writer.struct_begin();
            writer.field(FieldType::I64, 1).i64(log.timestamp_micros);
            write_tags(writer, 2, &log.fields);
            writer.struct_end();
        }
    }
    writer.struct_end();
}

fn write_tags(writer: &mut Writer, field_id: i16, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    writer
        .field(FieldType::List, field_id)
        .list_begin(FieldType::Struct, tags.len());
    for tag in tags {
        writer.struct_begin();
        writer.field(FieldType::Binary, 1).string(&tag.key);
        match &tag.value {
            Value::Str(text) => {
                writer.field(FieldType::I32, 2).i32(0);
                writer.field(FieldType::Binary, 3).string(text);
            }
            Value::Double(value) => {
                writer.field(FieldType::I32, 2).i32(1);
                writer.field(FieldType::Double, 4).double(*value);
            }
            Value::Bool(value) => {
                writer.field(FieldType::I32, 2).i32(2);
                writer.field(FieldType::Bool, 5).bool(*value);
            }
            Value::Long(value) => {
                writer.field(FieldType::I32, 2).i32(3);
                writer.field(FieldType::I64, 6).i64(*value);
            }
            Value::Binary(bytes) => {
                writer.field(FieldType::I32, 2).i32(4);
                writer.field(FieldType::Binary, 7).binary(bytes);
            }
            Value::Unknown(number) => {
                writer.field(FieldType::I32, 2).i32(*number);
            }
        }
        writer.struct_end();
    }
}

/// The same batch as a protobuf request (the process on the batch).
pub(super) fn proto_request(batch: &Batch) -> proto::PostSpansRequest {
    proto::PostSpansRequest {
        batch: Some(proto::Batch {
            spans: batch.spans.iter().map(proto_span).collect(),
            process: Some(proto_process(batch)),
        }),
    }
}

pub(super) fn proto_process(batch: &Batch) -> proto::Process {
    proto::Process {
        service_name: batch.service_name.clone(),
        tags: batch.process_tags.iter().map(proto_tag).collect(),
    }
}

fn trace_id_bytes(high: i64, low: i64) -> Vec<u8> {
    TraceId::from_halves(high as u64, low as u64).0.to_vec()
}

fn micros_to_timestamp(micros: i64) -> (i64, i32) {
    (
        micros.div_euclid(1_000_000),
        (micros.rem_euclid(1_000_000) * 1000) as i32,
    )
}

/// Thrift's `parentSpanId` becomes a leading `CHILD_OF` reference unless one is there
/// already, as Jaeger's own Thrift-to-protobuf conversion does.
pub(super) fn proto_span(span: &Span) -> proto::Span {
    let mut references = Vec::new();
    let parent_listed = span.references.iter().any(|reference| {
        reference.ref_type == 0
            && reference.span_id == span.parent_span_id
            && reference.trace_id_high == span.trace_id_high
            && reference.trace_id_low == span.trace_id_low
    });
    if span.parent_span_id != 0 && !parent_listed {
        references.push(proto::SpanRef {
            trace_id: trace_id_bytes(span.trace_id_high, span.trace_id_low),
            span_id: SpanId::from_u64(span.parent_span_id as u64).0.to_vec(),
            ref_type: 0,
        });
    }
    references.extend(span.references.iter().map(|reference| proto::SpanRef {
        trace_id: trace_id_bytes(reference.trace_id_high, reference.trace_id_low),
        span_id: SpanId::from_u64(reference.span_id as u64).0.to_vec(),
        ref_type: reference.ref_type,
    }));
    let (seconds, nanos) = micros_to_timestamp(span.start_time_micros);
    let (duration_seconds, duration_nanos) = micros_to_timestamp(span.duration_micros);
    proto::Span {
        trace_id: trace_id_bytes(span.trace_id_high, span.trace_id_low),
        span_id: SpanId::from_u64(span.span_id as u64).0.to_vec(),
        operation_name: span.operation_name.clone(),
        references,
        flags: span.flags as u32,
        start_time: Some(proto::Timestamp { seconds, nanos }),
        duration: Some(proto::Duration {
            seconds: duration_seconds,
            nanos: duration_nanos,
        }),
        tags: span.tags.iter().map(proto_tag).collect(),
        logs: span
            .logs
            .iter()
            .map(|log| {
                let (seconds, nanos) = micros_to_timestamp(log.timestamp_micros);
                proto::Log {
                    timestamp: Some(proto::Timestamp { seconds, nanos }),
                    fields: log.fields.iter().map(proto_tag).collect(),
                }
            })
            .collect(),
        process: None,
        process_id: String::new(),
        warnings: Vec::new(),
    }
}

fn proto_tag(tag: &Tag) -> proto::KeyValue {
    let mut out = proto::KeyValue {
        key: tag.key.clone(),
        ..Default::default()
    };
    match &tag.value {
        Value::Str(text) => {
            out.v_type = proto::ValueType::String as i32;
            out.v_str = text.clone();
        }
        Value::Bool(value) => {
            out.v_type = proto::ValueType::Bool as i32;
            out.v_bool = *value;
        }
        Value::Long(value) => {
            out.v_type = proto::ValueType::Int64 as i32;
            out.v_int64 = *value;
        }
        Value::Double(value) => {
            out.v_type = proto::ValueType::Float64 as i32;
            out.v_float64 = *value;
        }
        Value::Binary(bytes) => {
            out.v_type = proto::ValueType::Binary as i32;
            out.v_binary = bytes.clone();
        }
        // Protobuf and Thrift number their types differently; 9 is unknown to both.
        Value::Unknown(number) => out.v_type = *number,
    }
    out
}

/// `fixtures/jaeger-petclinic-trace.json` (Jaeger query JSON: a real Spring PetClinic
/// trace over `api-gateway` and `customers-service`) as one batch per process, in the
/// order the processes are first used.
pub(super) fn petclinic_batches() -> Vec<Batch> {
    let text = include_str!("../../testdata/jaeger-petclinic-trace.json");
    let trace: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    let mut batches: Vec<(String, Batch)> = Vec::new();
    for span in trace["spans"].as_array().expect("spans") {
        let process_id = span["processID"].as_str().expect("processID").to_owned();
        let index = match batches.iter().position(|(id, _)| *id == process_id) {
            Some(index) => index,
            None => {
                let process = &trace["processes"][&process_id];
                batches.push((
                    process_id.clone(),
                    Batch {
                        service_name: process["serviceName"].as_str().expect("name").to_owned(),
                        process_tags: json_tags(&process["tags"]),
                        spans: Vec::new(),
                    },
                ));
                batches.len() - 1
            }
        };
        let trace_id = hex_trace_id(&span["traceID"]);
        batches[index].1.spans.push(Span {
            trace_id_high: trace_id.high_u64() as i64,
            trace_id_low: trace_id.low_u64() as i64,
            span_id: hex_span_id(&span["spanID"]),
            parent_span_id: 0,
            operation_name: span["operationName"].as_str().expect("name").to_owned(),
            references: span["references"]
                .as_array()
                .expect("references")
                .iter()
                .map(|reference| {
                    let trace_id = hex_trace_id(&reference["traceID"]);
                    Reference {
                        ref_type: i32::from(reference["refType"] == "FOLLOWS_FROM"),
                        trace_id_high: trace_id.high_u64() as i64,
                        trace_id_low: trace_id.low_u64() as i64,
                        span_id: hex_span_id(&reference["spanID"]),
                    }
                })
                .collect(),
            flags: span["flags"].as_i64().expect("flags") as i32,
            start_time_micros: span["startTime"].as_i64().expect("startTime"),
            duration_micros: span["duration"].as_i64().expect("duration"),
            tags: json_tags(&span["tags"]),
            logs: Vec::new(),
        });
    }
    batches.into_iter().map(|(_, batch)| batch).collect()
}

fn hex_trace_id(value: &serde_json::Value) -> TraceId {
    TraceId::from_hex(value.as_str().expect("hex")).expect("valid trace id")
}

fn hex_span_id(value: &serde_json::Value) -> i64 {
    SpanId::from_hex(value.as_str().expect("hex"))
        .expect("valid span id")
        .as_u64() as i64
}

fn json_tags(value: &serde_json::Value) -> Vec<Tag> {
    value
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag_json| {
            let key = tag_json["key"].as_str().expect("key");
            let value = &tag_json["value"];
            let value = match tag_json["type"].as_str().expect("type") {
                "bool" => Value::Bool(value.as_bool().expect("bool")),
                "int64" => Value::Long(value.as_i64().expect("int64")),
                "float64" => Value::Double(value.as_f64().expect("float64")),
                _ => Value::Str(value.as_str().expect("string").to_owned()),
            };
            tag(key, value)
        })
        .collect()
}

/// Two services, four spans, every mapping rule exercised at least once (see
/// `tests::kitchen_sink_maps_field_by_field` for what each span checks).
pub(super) fn kitchen_sink_batches() -> [Batch; 2] {
    let trace_id_high = 0x463a_c35c_9f64_13ad;
    let trace_id_low = 0x4848_5a39_53bb_6124;
    let root = Span {
        trace_id_high,
        trace_id_low,
        span_id: 0x0102_0304_0506_0708,
        operation_name: String::from("HTTP GET /dispatch"),
        flags: 1,
        start_time_micros: 1_700_000_000_123_456,
        duration_micros: 250_000,
        tags: vec![
            string_tag("span.kind", "server"),
            string_tag("http.method", "GET"),
            tag("http.status_code", Value::Long(200)),
            tag("sampler.param", Value::Bool(true)),
            tag("ratio", Value::Double(0.25)),
            tag("blob", Value::Binary(vec![0, 1, 2])),
            string_tag("w3c.tracestate", "rojo=00f067aa0ba902b7"),
            string_tag("otel.scope.name", "frontend-lib"),
            string_tag("otel.scope.version", "1.2.3"),
            string_tag("otel.library.name", "frontend-lib"),
        ],
        logs: vec![
            Log {
                timestamp_micros: 1_700_000_000_130_000,
                fields: vec![
                    string_tag("event", "cache miss"),
                    string_tag("key", "customer:123"),
                ],
            },
            Log {
                timestamp_micros: 1_700_000_000_140_000,
                fields: vec![
                    string_tag("message", "no event field"),
                    tag("level", Value::Long(3)),
                ],
            },
        ],
        ..Span::default()
    };
    let client = Span {
        trace_id_high,
        trace_id_low,
        span_id: -2,
        parent_span_id: root.span_id,
        operation_name: String::from("GET"),
        references: vec![
            Reference {
                ref_type: 0,
                trace_id_high,
                trace_id_low,
                span_id: root.span_id,
            },
            Reference {
                ref_type: 1,
                trace_id_high: 0,
                trace_id_low: 99,
                span_id: 5,
            },
            Reference {
                ref_type: 0,
                trace_id_high: 0,
                trace_id_low: 0,
                span_id: 0,
            },
        ],
        flags: 3,
        start_time_micros: 1_700_000_000_150_000,
        duration_micros: 90_000,
        tags: vec![
            string_tag("span.kind", "client"),
            string_tag("peer.service", "customer"),
            tag("error", Value::Bool(true)),
            string_tag("otel.status_description", "connection refused"),
            string_tag("otel.status_code", "ERROR"),
            tag("weird", Value::Unknown(9)),
        ],
        logs: vec![Log {
            timestamp_micros: 1_700_000_000_200_000,
            fields: vec![
                string_tag("error.kind", "ConnectionError"),
                string_tag("event", "error"),
            ],
        }],
    };
    let server = Span {
        trace_id_high,
        trace_id_low,
        span_id: 0x7777,
        operation_name: String::from("/customer"),
        references: vec![Reference {
            ref_type: 0,
            trace_id_high,
            trace_id_low,
            span_id: -2,
        }],
        flags: 1,
        start_time_micros: 1_700_000_000_160_000,
        duration_micros: 70_000,
        tags: vec![
            string_tag("span.kind", "server"),
            string_tag("otel.status_code", "OK"),
            tag("error", Value::Bool(false)),
        ],
        ..Span::default()
    };
    let internal = Span {
        trace_id_high,
        trace_id_low,
        span_id: 0x8888,
        parent_span_id: 0x7777,
        operation_name: String::from("SQL SELECT"),
        start_time_micros: 1_700_000_000_170_000,
        duration_micros: 10,
        tags: vec![
            string_tag("span.kind", "gateway"),
            string_tag("otel.status_code", "error"),
            string_tag("otel.status_description", "boom"),
        ],
        ..Span::default()
    };
    [
        Batch {
            service_name: String::from("frontend"),
            process_tags: vec![
                string_tag("hostname", "web-1"),
                string_tag("jaeger.version", "Python-4.8.0"),
                tag("cpu.load", Value::Double(0.5)),
                tag("canary", Value::Bool(false)),
                tag("pid", Value::Long(4242)),
                tag("token", Value::Binary(vec![0xde, 0xad])),
            ],
            spans: vec![root, client],
        },
        Batch {
            service_name: String::from("customer"),
            process_tags: Vec::new(),
            spans: vec![server, internal],
        },
    ]
}
