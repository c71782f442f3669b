//! Test-only builders: `zipkincore.thrift` spans written as TBinaryProtocol (a writer
//! written from the Thrift spec, independent of the reader under test) and as Zipkin v1
//! JSON, so each conversion rule is checked through both decoders.

use serde_json::{Value, json};

/// `zipkincore.AnnotationType` numbers.
pub(super) const BOOL: i32 = 0;
pub(super) const BYTES: i32 = 1;
pub(super) const I64: i32 = 4;
pub(super) const STRING: i32 = 6;

#[derive(Clone, Default)]
pub(super) struct Endpoint {
    /// Host order, e.g. `0x0a00_0001` for 10.0.0.1; 0 = absent.
    pub(super) ipv4: u32,
    /// 0 = absent.
    pub(super) port: u16,
    pub(super) service_name: &'static str,
    pub(super) ipv6: Option<[u8; 16]>,
}

pub(super) fn endpoint(service_name: &'static str, ipv4: u32, port: u16) -> Endpoint {
    Endpoint {
        ipv4,
        port,
        service_name,
        ipv6: None,
    }
}

#[derive(Clone)]
pub(super) struct Annotation {
    pub(super) timestamp: i64,
    pub(super) value: &'static str,
    pub(super) host: Option<Endpoint>,
}

pub(super) fn annotation(timestamp: i64, value: &'static str, host: &Endpoint) -> Annotation {
    Annotation {
        timestamp,
        value,
        host: Some(host.clone()),
    }
}

#[derive(Clone)]
pub(super) struct BinaryAnnotation {
    pub(super) key: &'static str,
    pub(super) value: Vec<u8>,
    pub(super) annotation_type: i32,
    pub(super) host: Option<Endpoint>,
}

pub(super) fn tag(key: &'static str, value: &str, host: Option<&Endpoint>) -> BinaryAnnotation {
    BinaryAnnotation {
        key,
        value: value.as_bytes().to_vec(),
        annotation_type: STRING,
        host: host.cloned(),
    }
}

/// An address annotation (`ca`, `sa`, `ma`): `BOOL` true with an endpoint.
pub(super) fn address(key: &'static str, host: &Endpoint) -> BinaryAnnotation {
    BinaryAnnotation {
        key,
        value: vec![1],
        annotation_type: BOOL,
        host: Some(host.clone()),
    }
}

#[derive(Clone, Default)]
pub(super) struct Span {
    pub(super) trace_id: i64,
    pub(super) trace_id_high: Option<i64>,
    pub(super) name: &'static str,
    pub(super) id: i64,
    pub(super) parent_id: Option<i64>,
    pub(super) annotations: Vec<Annotation>,
    pub(super) binary_annotations: Vec<BinaryAnnotation>,
    pub(super) debug: Option<bool>,
    pub(super) timestamp: Option<i64>,
    pub(super) duration: Option<i64>,
}

/// TBinaryProtocol: field header = type byte + big-endian i16 id; stop = 0.
#[derive(Default)]
pub(super) struct BinaryWriter {
    pub(super) out: Vec<u8>,
}

impl BinaryWriter {
    pub(super) fn field(&mut self, type_id: u8, id: i16) -> &mut Self {
        self.out.push(type_id);
        self.out.extend_from_slice(&id.to_be_bytes());
        self
    }

    pub(super) fn stop(&mut self) -> &mut Self {
        self.out.push(0);
        self
    }

    pub(super) fn i16(&mut self, value: i16) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn i32(&mut self, value: i32) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn i64(&mut self, value: i64) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn binary(&mut self, bytes: &[u8]) -> &mut Self {
        self.i32(bytes.len() as i32);
        self.out.extend_from_slice(bytes);
        self
    }

    /// List header: element type byte, i32 size.
    pub(super) fn list(&mut self, element_type: u8, size: i32) -> &mut Self {
        self.out.push(element_type);
        self.i32(size)
    }
}

const T_BOOL: u8 = 2;
const T_I16: u8 = 6;
const T_I32: u8 = 8;
const T_I64: u8 = 10;
const T_STRING: u8 = 11;
pub(super) const T_STRUCT: u8 = 12;
const T_LIST: u8 = 15;

fn write_endpoint(writer: &mut BinaryWriter, endpoint: &Endpoint) {
    writer.field(T_I32, 1).i32(endpoint.ipv4 as i32);
    writer.field(T_I16, 2).i16(endpoint.port as i16);
    writer
        .field(T_STRING, 3)
        .binary(endpoint.service_name.as_bytes());
    if let Some(ipv6) = endpoint.ipv6 {
        writer.field(T_STRING, 4).binary(&ipv6);
    }
    writer.stop();
}

fn write_span(writer: &mut BinaryWriter, span: &Span) {
    writer.field(T_I64, 1).i64(span.trace_id);
    writer.field(T_STRING, 3).binary(span.name.as_bytes());
    writer.field(T_I64, 4).i64(span.id);
    if let Some(parent_id) = span.parent_id {
        writer.field(T_I64, 5).i64(parent_id);
    }
    writer
        .field(T_LIST, 6)
        .list(T_STRUCT, span.annotations.len() as i32);
    for annotation in &span.annotations {
        writer.field(T_I64, 1).i64(annotation.timestamp);
        writer
            .field(T_STRING, 2)
            .binary(annotation.value.as_bytes());
        if let Some(host) = &annotation.host {
            writer.field(T_STRUCT, 3);
            write_endpoint(writer, host);
        }
        writer.stop();
    }
    writer
        .field(T_LIST, 8)
        .list(T_STRUCT, span.binary_annotations.len() as i32);
    for binary in &span.binary_annotations {
        writer.field(T_STRING, 1).binary(binary.key.as_bytes());
        writer.field(T_STRING, 2).binary(&binary.value);
        writer.field(T_I32, 3).i32(binary.annotation_type);
        if let Some(host) = &binary.host {
            writer.field(T_STRUCT, 4);
            write_endpoint(writer, host);
        }
        writer.stop();
    }
    if let Some(debug) = span.debug {
        writer.field(T_BOOL, 9).out.push(u8::from(debug));
    }
    if let Some(timestamp) = span.timestamp {
        writer.field(T_I64, 10).i64(timestamp);
    }
    if let Some(duration) = span.duration {
        writer.field(T_I64, 11).i64(duration);
    }
    if let Some(high) = span.trace_id_high {
        writer.field(T_I64, 12).i64(high);
    }
    writer.stop();
}

/// The body py_zipkin and other v1 Thrift reporters post: `list<Span>`.
pub(super) fn thrift_body(spans: &[Span]) -> Vec<u8> {
    let mut writer = BinaryWriter::default();
    writer.list(T_STRUCT, spans.len() as i32);
    for span in spans {
        write_span(&mut writer, span);
    }
    writer.out
}

fn json_endpoint(endpoint: &Endpoint) -> Value {
    let mut object = json!({ "serviceName": endpoint.service_name });
    if endpoint.ipv4 != 0 {
        object["ipv4"] = json!(std::net::Ipv4Addr::from(endpoint.ipv4).to_string());
    }
    if let Some(ipv6) = endpoint.ipv6 {
        object["ipv6"] = json!(std::net::Ipv6Addr::from(ipv6).to_string());
    }
    if endpoint.port != 0 {
        object["port"] = json!(endpoint.port);
    }
    object
}

fn hex(value: i64) -> String {
    format!("{:016x}", value as u64)
}

/// The same spans as Zipkin v1 JSON, written the way Zipkin's v1 JSON encoder does
/// (hex ids, a 32-digit `traceId` for 128-bit ids, typed binary annotation values).
pub(super) fn json_body(spans: &[Span]) -> Vec<u8> {
    let list: Vec<Value> = spans
        .iter()
        .map(|span| {
            let trace_id = match span.trace_id_high {
                Some(high) if high != 0 => format!("{}{}", hex(high), hex(span.trace_id)),
                _ => hex(span.trace_id),
            };
            let mut object = json!({ "traceId": trace_id, "name": span.name, "id": hex(span.id) });
            if let Some(parent_id) = span.parent_id {
                object["parentId"] = json!(hex(parent_id));
            }
            if let Some(timestamp) = span.timestamp {
                object["timestamp"] = json!(timestamp);
            }
            if let Some(duration) = span.duration {
                object["duration"] = json!(duration);
            }
            object["annotations"] = span
                .annotations
                .iter()
                .map(|annotation| {
                    let mut value =
                        json!({ "timestamp": annotation.timestamp, "value": annotation.value });
                    if let Some(host) = &annotation.host {
                        value["endpoint"] = json_endpoint(host);
                    }
                    value
                })
                .collect();
            object["binaryAnnotations"] = span
                .binary_annotations
                .iter()
                .map(|binary| {
                    let mut value = match binary.annotation_type {
                        STRING => json!({
                            "key": binary.key,
                            "value": String::from_utf8_lossy(&binary.value),
                        }),
                        BOOL => json!({
                            "key": binary.key,
                            "value": binary.value == [1],
                            "type": "BOOL",
                        }),
                        I64 => json!({
                            "key": binary.key,
                            "value": i64::from_be_bytes(
                                binary.value.clone().try_into().unwrap_or_default()
                            ),
                            "type": "I64",
                        }),
                        _ => json!({
                            "key": binary.key,
                            "value": "AQID",
                            "type": "BYTES",
                        }),
                    };
                    if let Some(host) = &binary.host {
                        value["endpoint"] = json_endpoint(host);
                    }
                    value
                })
                .collect();
            if let Some(debug) = span.debug {
                object["debug"] = json!(debug);
            }
            object
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}
