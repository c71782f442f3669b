//! OTLP logs: decoding `ExportLogsServiceRequest` (protobuf, or OTLP/JSON in
//! [`crate::otlp_json`]) and mapping it to streams the way Loki's OTLP endpoint does.
//!
//! The mapping, per log record:
//! - Stream labels: the resource attributes in [`DEFAULT_INDEX_RESOURCE_ATTRIBUTES`]
//!   (Loki's `default_resource_attributes_as_index_labels`), names normalised (`.` and
//!   other invalid characters become `_`). Without a `service_name`, one is taken from
//!   the first of [`SERVICE_NAME_DISCOVERY_LABELS`] present, else `unknown_service`.
//! - Structured metadata, in Loki's order: the record's attributes; `observed_timestamp`
//!   (when the record has both timestamps); `severity_number`, `severity_text`,
//!   `dropped_attributes_count`, `flags`, `trace_id`, `span_id` (lowercase hex) when set;
//!   the other resource attributes; the scope's attributes, `scope_name`,
//!   `scope_version`, `scope_dropped_attributes_count`; then `detected_level`. Map
//!   attributes are flattened (`http.request` `{method}` becomes `http_request_method`).
//! - The line: a string body as is, any other body as Loki's `AsString` renders it
//!   (numbers and booleans as text, maps and arrays as JSON, bytes as base64).
//! - The time: `time_unix_nano`, else `observed_time_unix_nano`, else now.

use std::collections::BTreeMap;

use base64::Engine;
pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use crate::Entry;
use crate::push::{PushedLabels, PushedStream};

/// Resource attributes that become stream labels (Loki's defaults).
pub const DEFAULT_INDEX_RESOURCE_ATTRIBUTES: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Labels a missing `service_name` is taken from, first present wins (Loki's
/// `discover_service_name` default).
pub const SERVICE_NAME_DISCOVERY_LABELS: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The `service_name` of a stream that has none to discover.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Why an OTLP logs body could not be decoded (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpDecodeError {
    /// Not a valid protobuf `ExportLogsServiceRequest`.
    #[error("cannot decode the OTLP protobuf logs request: {0}")]
    Protobuf(String),
    /// Not valid OTLP/JSON; the message names the field.
    #[error("cannot decode the OTLP JSON logs request: {0}")]
    Json(String),
}

/// Decodes a protobuf `ExportLogsServiceRequest`.
pub fn decode_protobuf(body: &[u8]) -> Result<ExportLogsServiceRequest, OtlpDecodeError> {
    ExportLogsServiceRequest::decode(body)
        .map_err(|error| OtlpDecodeError::Protobuf(error.to_string()))
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_json(body: &[u8]) -> Result<ExportLogsServiceRequest, OtlpDecodeError> {
    crate::otlp_json::decode(body).map_err(OtlpDecodeError::Json)
}

/// Number of log records in `request`.
pub fn record_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum()
}

/// Maps `request` to streams as described in the module documentation; records of
/// resources with the same labels share one stream. `now_unix_nanos` stamps records
/// without any timestamp.
pub fn to_streams(request: ExportLogsServiceRequest, now_unix_nanos: i64) -> Vec<PushedStream> {
    let mut streams: BTreeMap<Vec<(String, String)>, Vec<Entry>> = BTreeMap::new();
    for resource_logs in request.resource_logs {
        let resource = resource_logs.resource.unwrap_or_default();
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_metadata = Vec::new();
        for attribute in resource.attributes {
            let index = DEFAULT_INDEX_RESOURCE_ATTRIBUTES.contains(&attribute.key.as_str());
            let mut flattened = Vec::new();
            flatten_attribute(&attribute, "", &mut flattened);
            if index {
                labels.extend(flattened);
            } else {
                resource_metadata.extend(flattened);
            }
        }
        if labels.get("service_name").is_none_or(String::is_empty) {
            let discovered = SERVICE_NAME_DISCOVERY_LABELS
                .iter()
                .find_map(|name| labels.get(*name).filter(|value| !value.is_empty()))
                .cloned()
                .unwrap_or_else(|| String::from(UNKNOWN_SERVICE));
            labels.insert(String::from("service_name"), discovered);
        }
        let level_from_labels = level_from_pairs(labels.iter());
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        let entries = streams.entry(labels).or_default();
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs.scope.unwrap_or_default();
            let mut scope_metadata = Vec::new();
            for attribute in &scope.attributes {
                flatten_attribute(attribute, "", &mut scope_metadata);
            }
            if !scope.name.is_empty() {
                scope_metadata.push((String::from("scope_name"), scope.name));
            }
            if !scope.version.is_empty() {
                scope_metadata.push((String::from("scope_version"), scope.version));
            }
            if scope.dropped_attributes_count != 0 {
                scope_metadata.push((
                    String::from("scope_dropped_attributes_count"),
                    scope.dropped_attributes_count.to_string(),
                ));
            }
            for record in scope_logs.log_records {
                let mut entry = record_entry(record, now_unix_nanos);
                entry
                    .structured_metadata
                    .extend(resource_metadata.iter().cloned());
                entry
                    .structured_metadata
                    .extend(scope_metadata.iter().cloned());
                let level = level_from_labels
                    .clone()
                    .or_else(|| {
                        level_from_pairs(entry.structured_metadata.iter().map(|(n, v)| (n, v)))
                    })
                    .unwrap_or_else(|| {
                        severity_level(&entry.structured_metadata, &entry.line).to_owned()
                    });
                entry
                    .structured_metadata
                    .push((String::from("detected_level"), level));
                entries.push(entry);
            }
        }
    }
    streams
        .into_iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(labels, entries)| PushedStream {
            labels: PushedLabels::Pairs(labels),
            entries,
        })
        .collect()
}

/// One record's line, time and own structured metadata (before resource and scope).
fn record_entry(record: LogRecord, now_unix_nanos: i64) -> Entry {
    let mut metadata = Vec::with_capacity(record.attributes.len() + 7);
    for attribute in &record.attributes {
        flatten_attribute(attribute, "", &mut metadata);
    }
    if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
        metadata.push((
            String::from("observed_timestamp"),
            clamp_nanos(record.observed_time_unix_nano).to_string(),
        ));
    }
    if record.severity_number != 0 {
        metadata.push((
            String::from("severity_number"),
            record.severity_number.to_string(),
        ));
    }
    if !record.severity_text.is_empty() {
        metadata.push((String::from("severity_text"), record.severity_text));
    }
    if record.dropped_attributes_count != 0 {
        metadata.push((
            String::from("dropped_attributes_count"),
            record.dropped_attributes_count.to_string(),
        ));
    }
    if record.flags != 0 {
        metadata.push((String::from("flags"), record.flags.to_string()));
    }
    if record.trace_id.iter().any(|&byte| byte != 0) {
        metadata.push((String::from("trace_id"), hex::encode(&record.trace_id)));
    }
    if record.span_id.iter().any(|&byte| byte != 0) {
        metadata.push((String::from("span_id"), hex::encode(&record.span_id)));
    }
    let timestamp_unix_nanos = if record.time_unix_nano != 0 {
        clamp_nanos(record.time_unix_nano)
    } else if record.observed_time_unix_nano != 0 {
        clamp_nanos(record.observed_time_unix_nano)
    } else {
        now_unix_nanos
    };
    Entry {
        timestamp_unix_nanos,
        line: record.body.as_ref().map(value_text).unwrap_or_default(),
        structured_metadata: metadata,
    }
}

fn clamp_nanos(nanos: u64) -> i64 {
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// Names whose value is taken as the level as it is (Loki's `allowedLabelsForLevel`).
const LEVEL_NAMES: [&str; 9] = [
    "level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl",
];

fn level_from_pairs<'a>(
    mut pairs: impl Iterator<Item = (&'a String, &'a String)>,
) -> Option<String> {
    pairs
        .find(|(name, _)| LEVEL_NAMES.contains(&name.as_str()))
        .map(|(_, value)| value.clone())
}

/// Loki's `detected_level` from the OTLP severity number, or from words in the line
/// when the record has none.
fn severity_level(metadata: &[(String, String)], line: &str) -> &'static str {
    let number = metadata
        .iter()
        .find(|(name, _)| name == "severity_number")
        .map(|(_, value)| value.parse::<i32>().unwrap_or(9));
    match number {
        Some(0) => "unknown",
        Some(1..=4) => "trace",
        Some(5..=8) => "debug",
        Some(9..=12) => "info",
        Some(13..=16) => "warn",
        Some(17..=20) => "error",
        Some(21..=24) => "fatal",
        Some(_) => "unknown",
        None => level_from_line(line),
    }
}

/// Loki's last-resort level detection: words in the line.
fn level_from_line(line: &str) -> &'static str {
    let has = |words: &[&str]| words.iter().any(|word| line.contains(word));
    if has(&["info", "INFO"]) {
        "info"
    } else if has(&["err:", "ERR:", "error", "ERROR"]) {
        "error"
    } else if has(&["warn:", "WARN:", "warning", "WARNING"]) {
        "warn"
    } else if has(&["CRITICAL:", "critical:"]) {
        "critical"
    } else if has(&["debug:", "DEBUG:"]) {
        "debug"
    } else {
        "unknown"
    }
}

/// Prometheus' label name normalisation as Loki applies it to attribute names:
/// characters outside `[a-zA-Z0-9_]` become `_`; a leading digit gets `key_` and a
/// single leading underscore `key`.
pub fn normalize_label_name(name: &str) -> String {
    let sanitized: String = name
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '_' {
                character
            } else {
                '_'
            }
        })
        .collect();
    if sanitized.starts_with(|character: char| character.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}

/// Appends `attribute` as name/value pairs: map values flattened with `prefix_key`
/// names, every other value as [`value_text`].
fn flatten_attribute(attribute: &KeyValue, prefix: &str, out: &mut Vec<(String, String)>) {
    let name = if prefix.is_empty() {
        normalize_label_name(&attribute.key)
    } else {
        normalize_label_name(&format!("{prefix}_{}", attribute.key))
    };
    match attribute
        .value
        .as_ref()
        .and_then(|value| value.value.as_ref())
    {
        Some(any_value::Value::KvlistValue(list)) => {
            for inner in &list.values {
                flatten_attribute(inner, &name, out);
            }
        }
        _ => {
            let text = attribute.value.as_ref().map(value_text).unwrap_or_default();
            out.push((name, text));
        }
    }
}

/// An `AnyValue` as text, as OpenTelemetry's Go `pcommon.Value.AsString` gives it.
pub fn value_text(value: &AnyValue) -> String {
    match &value.value {
        // A string table index only means something inside a profiles dictionary.
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => float_text(*number),
        Some(any_value::Value::BytesValue(bytes)) => {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            value_json(value).to_string()
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
fn float_text(number: f64) -> String {
    if number.is_nan() {
        String::from("NaN")
    } else if number.is_infinite() {
        String::from(if number > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        number.to_string()
    }
}

/// An `AnyValue` as plain JSON (maps sort their keys, as Go's encoder does).
fn value_json(value: &AnyValue) -> serde_json::Value {
    match &value.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => serde_json::Value::Null,
        Some(any_value::Value::StringValue(text)) => serde_json::Value::from(text.clone()),
        Some(any_value::Value::BoolValue(flag)) => serde_json::Value::from(*flag),
        Some(any_value::Value::IntValue(number)) => serde_json::Value::from(*number),
        Some(any_value::Value::DoubleValue(number)) => serde_json::Number::from_f64(*number)
            .map_or_else(
                || serde_json::Value::from(float_text(*number)),
                serde_json::Value::Number,
            ),
        Some(any_value::Value::BytesValue(bytes)) => {
            serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(any_value::Value::ArrayValue(array)) => {
            serde_json::Value::Array(array.values.iter().map(value_json).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let sorted: BTreeMap<&str, serde_json::Value> = list
                .values
                .iter()
                .map(|pair| {
                    let inner = pair
                        .value
                        .as_ref()
                        .map_or(serde_json::Value::Null, value_json);
                    (pair.key.as_str(), inner)
                })
                .collect();
            serde_json::Value::Object(
                sorted
                    .into_iter()
                    .map(|(key, inner)| (key.to_owned(), inner))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
