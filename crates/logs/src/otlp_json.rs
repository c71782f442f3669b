//! OTLP/JSON `ExportLogsServiceRequest` into the protobuf types.
//!
//! Follows the OTLP/JSON rules: lowerCamelCase field names (the proto names in
//! snake_case are accepted too, as protobuf's JSON mapping allows), 64-bit integers as
//! decimal strings or numbers, enums as numbers or names, `traceId`/`spanId` as hex,
//! `bytesValue` as base64, unknown fields ignored. Errors name the field.

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};

type Result<T> = std::result::Result<T, String>;

/// Deepest nesting of `AnyValue`s accepted (arrays and maps inside each other).
const MAX_VALUE_DEPTH: usize = 64;

/// Decodes an OTLP/JSON logs export body.
pub(crate) fn decode(body: &[u8]) -> Result<ExportLogsServiceRequest> {
    let root: Value = serde_json::from_slice(body).map_err(|error| error.to_string())?;
    let root = object(&root, "request")?;
    let resource_logs = array_field(root, "resourceLogs", "resource_logs")?
        .iter()
        .map(resource_logs)
        .collect::<Result<_>>()?;
    Ok(ExportLogsServiceRequest { resource_logs })
}

fn field<'a>(map: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    map.get(camel)
        .or_else(|| map.get(snake))
        .filter(|value| !value.is_null())
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))
}

fn array_field<'a>(map: &'a Map<String, Value>, camel: &str, snake: &str) -> Result<&'a [Value]> {
    match field(map, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{camel} must be an array")),
    }
}

fn string_field(map: &Map<String, Value>, camel: &str, snake: &str) -> Result<String> {
    match field(map, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(format!("{camel} must be a string")),
    }
}

/// An unsigned integer sent as a number or a decimal string.
fn u64_field(map: &Map<String, Value>, camel: &str, snake: &str) -> Result<u64> {
    match field(map, camel, snake) {
        None => Ok(0),
        Some(Value::Number(number)) => number
            .as_u64()
            .ok_or_else(|| format!("{camel} must be an unsigned integer, got {number}")),
        Some(Value::String(text)) => text
            .parse()
            .map_err(|_| format!("{camel} must be an unsigned integer, got {text:?}")),
        Some(_) => Err(format!("{camel} must be an integer or a string of digits")),
    }
}

fn u32_field(map: &Map<String, Value>, camel: &str, snake: &str) -> Result<u32> {
    let value = u64_field(map, camel, snake)?;
    u32::try_from(value).map_err(|_| format!("{camel} {value} is over 32 bits"))
}

fn hex_field(map: &Map<String, Value>, camel: &str, snake: &str, length: usize) -> Result<Vec<u8>> {
    let text = string_field(map, camel, snake)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = hex::decode(&text).map_err(|_| format!("{camel} {text:?} is not hex"))?;
    if bytes.len() != length {
        return Err(format!(
            "{camel} {text:?} must be {length} bytes ({} hex digits)",
            length * 2
        ));
    }
    Ok(bytes)
}

fn resource_logs(value: &Value) -> Result<ResourceLogs> {
    let map = object(value, "resourceLogs[]")?;
    let resource = match field(map, "resource", "resource") {
        None => None,
        Some(resource) => {
            let resource = object(resource, "resource")?;
            Some(Resource {
                attributes: attributes(resource, 0)?,
                dropped_attributes_count: u32_field(
                    resource,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )?,
                entity_refs: Vec::new(),
            })
        }
    };
    let scope_logs = array_field(map, "scopeLogs", "scope_logs")?
        .iter()
        .map(scope_logs)
        .collect::<Result<_>>()?;
    Ok(ResourceLogs {
        resource,
        scope_logs,
        schema_url: string_field(map, "schemaUrl", "schema_url")?,
    })
}

fn scope_logs(value: &Value) -> Result<ScopeLogs> {
    let map = object(value, "scopeLogs[]")?;
    let scope = match field(map, "scope", "scope") {
        None => None,
        Some(scope) => {
            let scope = object(scope, "scope")?;
            Some(InstrumentationScope {
                name: string_field(scope, "name", "name")?,
                version: string_field(scope, "version", "version")?,
                attributes: attributes(scope, 0)?,
                dropped_attributes_count: u32_field(
                    scope,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )?,
            })
        }
    };
    let log_records = array_field(map, "logRecords", "log_records")?
        .iter()
        .map(log_record)
        .collect::<Result<_>>()?;
    Ok(ScopeLogs {
        scope,
        log_records,
        schema_url: string_field(map, "schemaUrl", "schema_url")?,
    })
}

fn log_record(value: &Value) -> Result<LogRecord> {
    let map = object(value, "logRecords[]")?;
    let body = match field(map, "body", "body") {
        None => None,
        Some(body) => Some(any_value(body, 0)?),
    };
    Ok(LogRecord {
        time_unix_nano: u64_field(map, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(map, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: severity_number(map)?,
        severity_text: string_field(map, "severityText", "severity_text")?,
        body,
        attributes: attributes(map, 0)?,
        dropped_attributes_count: u32_field(
            map,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        flags: u32_field(map, "flags", "flags")?,
        trace_id: hex_field(map, "traceId", "trace_id", 16)?,
        span_id: hex_field(map, "spanId", "span_id", 8)?,
        event_name: string_field(map, "eventName", "event_name")?,
    })
}

/// `severityNumber` as a number or as its enum name (`SEVERITY_NUMBER_INFO`).
fn severity_number(map: &Map<String, Value>) -> Result<i32> {
    const NAMES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    match field(map, "severityNumber", "severity_number") {
        Some(Value::String(name)) => {
            let Some(rest) = name.strip_prefix("SEVERITY_NUMBER_") else {
                return Err(format!("severityNumber {name:?} is not a severity"));
            };
            if rest == "UNSPECIFIED" {
                return Ok(0);
            }
            let (word, step) = match rest.char_indices().find(|(_, c)| c.is_ascii_digit()) {
                Some((index, _)) => (&rest[..index], rest[index..].parse::<i32>().ok()),
                None => (rest, Some(1)),
            };
            let base = NAMES.iter().position(|known| *known == word);
            match (base, step) {
                (Some(base), Some(step @ 1..=4)) => Ok(base as i32 * 4 + step),
                _ => Err(format!("severityNumber {name:?} is not a severity")),
            }
        }
        _ => {
            let number = u64_field(map, "severityNumber", "severity_number")?;
            i32::try_from(number).map_err(|_| format!("severityNumber {number} is out of range"))
        }
    }
}

fn attributes(map: &Map<String, Value>, depth: usize) -> Result<Vec<KeyValue>> {
    array_field(map, "attributes", "attributes")?
        .iter()
        .map(|pair| key_value(pair, depth))
        .collect()
}

fn key_value(value: &Value, depth: usize) -> Result<KeyValue> {
    let map = object(value, "attribute")?;
    let key = string_field(map, "key", "key")?;
    let value = match field(map, "value", "value") {
        None => None,
        Some(value) => Some(
            any_value(value, depth + 1).map_err(|error| format!("attribute {key:?}: {error}"))?,
        ),
    };
    Ok(KeyValue {
        key,
        value,
        key_strindex: 0,
    })
}

fn any_value(value: &Value, depth: usize) -> Result<AnyValue> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("values nest deeper than {MAX_VALUE_DEPTH} levels"));
    }
    let map = object(value, "AnyValue")?;
    let inner = if let Some(text) = field(map, "stringValue", "string_value") {
        let text = text.as_str().ok_or("stringValue must be a string")?;
        Some(any_value::Value::StringValue(text.to_owned()))
    } else if let Some(flag) = field(map, "boolValue", "bool_value") {
        let flag = flag.as_bool().ok_or("boolValue must be true or false")?;
        Some(any_value::Value::BoolValue(flag))
    } else if let Some(number) = field(map, "intValue", "int_value") {
        let parsed = match number {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        };
        Some(any_value::Value::IntValue(parsed.ok_or_else(|| {
            format!("intValue {number} is not a 64-bit integer")
        })?))
    } else if let Some(number) = field(map, "doubleValue", "double_value") {
        let parsed = match number {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => match text.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                other => other.parse().ok(),
            },
            _ => None,
        };
        Some(any_value::Value::DoubleValue(parsed.ok_or_else(|| {
            format!("doubleValue {number} is not a number")
        })?))
    } else if let Some(bytes) = field(map, "bytesValue", "bytes_value") {
        let text = bytes.as_str().ok_or("bytesValue must be a base64 string")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("bytesValue {text:?} is not base64"))?;
        Some(any_value::Value::BytesValue(decoded))
    } else if let Some(array) = field(map, "arrayValue", "array_value") {
        let array = object(array, "arrayValue")?;
        let values = array_field(array, "values", "values")?
            .iter()
            .map(|item| any_value(item, depth + 1))
            .collect::<Result<_>>()?;
        Some(any_value::Value::ArrayValue(ArrayValue { values }))
    } else if let Some(list) = field(map, "kvlistValue", "kvlist_value") {
        let list = object(list, "kvlistValue")?;
        let values = array_field(list, "values", "values")?
            .iter()
            .map(|pair| key_value(pair, depth + 1))
            .collect::<Result<_>>()?;
        Some(any_value::Value::KvlistValue(KeyValueList { values }))
    } else {
        None
    };
    Ok(AnyValue { value: inner })
}
