//! A tiny Thrift writer for test inputs: a value tree written in the binary or the compact
//! protocol, and `Agent.emitBatch` message framing. Only what the tests send.

/// A Thrift value.
#[derive(Debug, Clone)]
pub enum Value {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    Binary(Vec<u8>),
    /// Fields by id; written in the given order.
    Struct(Vec<(i16, Value)>),
    /// Elements of one type (an empty list is written as a list of structs).
    List(Vec<Value>),
}

pub fn string(text: &str) -> Value {
    Value::Binary(text.as_bytes().to_vec())
}

impl Value {
    fn binary_type(&self) -> u8 {
        match self {
            Value::Bool(_) => 2,
            Value::Double(_) => 4,
            Value::I16(_) => 6,
            Value::I32(_) => 8,
            Value::I64(_) => 10,
            Value::Binary(_) => 11,
            Value::Struct(_) => 12,
            Value::List(_) => 15,
        }
    }

    fn compact_type(&self) -> u8 {
        match self {
            Value::Bool(true) => 1,
            Value::Bool(false) => 2,
            Value::I16(_) => 4,
            Value::I32(_) => 5,
            Value::I64(_) => 6,
            Value::Double(_) => 7,
            Value::Binary(_) => 8,
            Value::List(_) => 9,
            Value::Struct(_) => 12,
        }
    }
}

/// Writes `value` in TBinaryProtocol.
pub fn write_binary(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bool(flag) => out.push(u8::from(*flag)),
        Value::I16(number) => out.extend(number.to_be_bytes()),
        Value::I32(number) => out.extend(number.to_be_bytes()),
        Value::I64(number) => out.extend(number.to_be_bytes()),
        Value::Double(number) => out.extend(number.to_bits().to_be_bytes()),
        Value::Binary(bytes) => {
            out.extend((bytes.len() as i32).to_be_bytes());
            out.extend(bytes);
        }
        Value::Struct(fields) => {
            for (id, field) in fields {
                out.push(field.binary_type());
                out.extend(id.to_be_bytes());
                write_binary(field, out);
            }
            out.push(0);
        }
        Value::List(items) => {
            out.push(items.first().map_or(12, Value::binary_type));
            out.extend((items.len() as i32).to_be_bytes());
            for item in items {
                write_binary(item, out);
            }
        }
    }
}

fn varint(mut number: u64, out: &mut Vec<u8>) {
    while number >= 0x80 {
        out.push((number as u8) | 0x80);
        number >>= 7;
    }
    out.push(number as u8);
}

fn zigzag(number: i64) -> u64 {
    ((number << 1) ^ (number >> 63)) as u64
}

/// Writes `value` in TCompactProtocol.
pub fn write_compact(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bool(flag) => out.push(if *flag { 1 } else { 2 }),
        Value::I16(number) => varint(zigzag(i64::from(*number)), out),
        Value::I32(number) => varint(zigzag(i64::from(*number)), out),
        Value::I64(number) => varint(zigzag(*number), out),
        Value::Double(number) => out.extend(number.to_bits().to_le_bytes()),
        Value::Binary(bytes) => {
            varint(bytes.len() as u64, out);
            out.extend(bytes);
        }
        Value::Struct(fields) => {
            let mut last_id = 0i16;
            for (id, field) in fields {
                let delta = id - last_id;
                if (1..=15).contains(&delta) {
                    out.push(((delta as u8) << 4) | field.compact_type());
                } else {
                    out.push(field.compact_type());
                    varint(zigzag(i64::from(*id)), out);
                }
                last_id = *id;
                if !matches!(field, Value::Bool(_)) {
                    write_compact(field, out);
                }
            }
            out.push(0);
        }
        Value::List(items) => {
            let element = items.first().map_or(12, |item| match item {
                Value::Bool(_) => 1,
                other => other.compact_type(),
            });
            if items.len() < 15 {
                out.push(((items.len() as u8) << 4) | element);
            } else {
                out.push(0xf0 | element);
                varint(items.len() as u64, out);
            }
            for item in items {
                write_compact(item, out);
            }
        }
    }
}

/// A oneway `Agent.emitBatch(batch)` call in the binary protocol (strict framing).
pub fn emit_batch_binary(batch: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0x8001_0004u32.to_be_bytes());
    write_binary(&string("emitBatch"), &mut out);
    out.extend(1i32.to_be_bytes());
    write_binary(&Value::Struct(vec![(1, batch.clone())]), &mut out);
    out
}

/// A oneway `Agent.emitBatch(batch)` call in the compact protocol.
pub fn emit_batch_compact(batch: &Value) -> Vec<u8> {
    let mut out = vec![0x82, (4 << 5) | 1];
    varint(1, &mut out);
    write_compact(&string("emitBatch"), &mut out);
    write_compact(&Value::Struct(vec![(1, batch.clone())]), &mut out);
    out
}

/// A `jaeger.Batch` of process `service` with one span per `(span_id, parent_id, name)`,
/// all in trace `trace_id_low`, each with a `span.kind=server` tag.
pub fn jaeger_batch(service: &str, trace_id_low: i64, spans: &[(i64, i64, &str)]) -> Value {
    let spans = spans
        .iter()
        .map(|(span_id, parent_id, name)| {
            Value::Struct(vec![
                (1, Value::I64(trace_id_low)),
                (2, Value::I64(0)),
                (3, Value::I64(*span_id)),
                (4, Value::I64(*parent_id)),
                (5, string(name)),
                (7, Value::I32(1)),
                (8, Value::I64(1_700_000_000_000_000)),
                (9, Value::I64(1_500)),
                (
                    10,
                    Value::List(vec![Value::Struct(vec![
                        (1, string("span.kind")),
                        (2, Value::I32(0)),
                        (3, string("server")),
                    ])]),
                ),
            ])
        })
        .collect();
    Value::Struct(vec![
        (1, Value::Struct(vec![(1, string(service))])),
        (2, Value::List(spans)),
    ])
}

/// A Zipkin v1 Thrift body: a binary-protocol `list<Span>` with one server span per
/// `(span_id, name)` in trace `trace_id`, each with `sr`/`ss` annotations from `service`.
pub fn zipkin_v1_thrift(service: &str, trace_id: i64, spans: &[(i64, &str)]) -> Vec<u8> {
    let host = Value::Struct(vec![
        (1, Value::I32(0x7f00_0001)),
        (2, Value::I16(8080)),
        (3, string(service)),
    ]);
    let annotation = |micros: i64, value: &str| {
        Value::Struct(vec![
            (1, Value::I64(micros)),
            (2, string(value)),
            (3, host.clone()),
        ])
    };
    let list = Value::List(
        spans
            .iter()
            .map(|(span_id, name)| {
                Value::Struct(vec![
                    (1, Value::I64(trace_id)),
                    (3, string(name)),
                    (4, Value::I64(*span_id)),
                    (
                        6,
                        Value::List(vec![
                            annotation(1_700_000_000_000_000, "sr"),
                            annotation(1_700_000_000_002_000, "ss"),
                        ]),
                    ),
                    (10, Value::I64(1_700_000_000_000_000)),
                    (11, Value::I64(2_000)),
                ])
            })
            .collect(),
    );
    let mut out = Vec::new();
    write_binary(&list, &mut out);
    out
}
