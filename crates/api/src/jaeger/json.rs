//! JSON shapes of the Jaeger query API: v1's envelope and trace object (Jaeger's
//! `uimodel`), and api_v3's answers.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use weft_query::jaeger::{
    JaegerKeyValue, JaegerTrace, JaegerValue, Operation, TraceOverview, jaeger_trace_id_hex,
};

/// v1's envelope: `{"data":..,"total":N,"limit":0,"offset":0,"errors":null}`.
#[derive(Serialize)]
pub(super) struct Envelope<T: Serialize> {
    pub data: T,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<ErrorJson>>,
}

impl<T: Serialize> Envelope<T> {
    /// `data` with `total` as given and no errors.
    pub fn new(data: T, total: usize) -> Self {
        Envelope {
            data,
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }
}

/// One entry of v1's `errors`: `code` is left out when 0 (per-trace errors of a
/// multi-id request), `traceID` when not about a trace.
#[derive(Serialize)]
pub(super) struct ErrorJson {
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
    pub msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

fn is_zero(value: &u16) -> bool {
    *value == 0
}

/// v1 `/api/operations` entry, also api_v3's operation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OperationJson<'a> {
    pub name: &'a str,
    pub span_kind: &'a str,
}

impl<'a> From<&'a Operation> for OperationJson<'a> {
    fn from(operation: &'a Operation) -> Self {
        OperationJson {
            name: &operation.name,
            span_kind: &operation.span_kind,
        }
    }
}

/// A v1 dependency link.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DependencyJson<'a> {
    pub parent: &'a str,
    pub child: &'a str,
    pub call_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TraceJson<'a> {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<SpanJson<'a>>,
    processes: BTreeMap<String, ProcessJson<'a>>,
    warnings: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpanJson<'a> {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    operation_name: &'a str,
    references: Vec<ReferenceJson>,
    start_time: u64,
    duration: u64,
    tags: Vec<KeyValueJson<'a>>,
    logs: Vec<LogJson<'a>>,
    #[serde(rename = "processID")]
    process_id: String,
    warnings: Option<Vec<String>>,
    flags: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferenceJson {
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Serialize)]
struct LogJson<'a> {
    timestamp: u64,
    fields: Vec<KeyValueJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessJson<'a> {
    service_name: &'a str,
    tags: Vec<KeyValueJson<'a>>,
}

#[derive(Serialize)]
struct KeyValueJson<'a> {
    key: &'a str,
    #[serde(rename = "type")]
    value_type: &'static str,
    value: ValueJson<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValueJson<'a> {
    Text(&'a str),
    Owned(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

fn key_values(pairs: &[JaegerKeyValue]) -> Vec<KeyValueJson<'_>> {
    pairs
        .iter()
        .map(|pair| KeyValueJson {
            key: &pair.key,
            value_type: pair.value.type_name(),
            value: match &pair.value {
                JaegerValue::String(text) => ValueJson::Text(text),
                JaegerValue::Bool(value) => ValueJson::Bool(*value),
                JaegerValue::Int64(value) => ValueJson::Int(*value),
                JaegerValue::Float64(value) if value.is_finite() => ValueJson::Float(*value),
                // JSON has no NaN or infinity; the text keeps the value readable.
                JaegerValue::Float64(value) => ValueJson::Owned(value.to_string()),
                // Go's encoding/json writes []byte as standard base64.
                JaegerValue::Binary(bytes) => {
                    ValueJson::Owned(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            },
        })
        .collect()
}

/// Jaeger's trace object for `trace`.
pub(super) fn trace_json(trace: &JaegerTrace) -> TraceJson<'_> {
    let process_id = |index: usize| format!("p{}", index + 1);
    TraceJson {
        trace_id: jaeger_trace_id_hex(trace.trace_id),
        spans: trace
            .spans
            .iter()
            .map(|span| SpanJson {
                trace_id: jaeger_trace_id_hex(span.trace_id),
                span_id: span.span_id.to_hex(),
                operation_name: &span.operation_name,
                references: span
                    .references
                    .iter()
                    .map(|reference| ReferenceJson {
                        ref_type: reference.ref_type.as_str(),
                        trace_id: jaeger_trace_id_hex(reference.trace_id),
                        span_id: reference.span_id.to_hex(),
                    })
                    .collect(),
                start_time: span.start_time_micros,
                duration: span.duration_micros,
                tags: key_values(&span.tags),
                logs: span
                    .logs
                    .iter()
                    .map(|log| LogJson {
                        timestamp: log.timestamp_micros,
                        fields: key_values(&log.fields),
                    })
                    .collect(),
                process_id: process_id(span.process_index),
                warnings: None,
                flags: span.flags,
            })
            .collect(),
        processes: trace
            .processes
            .iter()
            .enumerate()
            .map(|(index, process)| {
                (
                    process_id(index),
                    ProcessJson {
                        service_name: &process.service_name,
                        tags: key_values(&process.tags),
                    },
                )
            })
            .collect(),
        warnings: None,
    }
}

/// api_v3's trace summary; nanosecond times as strings (protobuf int64 in JSON).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SummaryJson<'a> {
    trace_id: String,
    root_service_name: &'a str,
    root_operation_name: &'a str,
    min_start_time_unix_nano: String,
    max_end_time_unix_nano: String,
    span_count: u64,
    error_span_count: u64,
    orphan_span_count: u64,
    services: Vec<ServiceSummaryJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSummaryJson<'a> {
    name: &'a str,
    span_count: u64,
    error_span_count: u64,
}

impl<'a> From<&'a TraceOverview> for SummaryJson<'a> {
    fn from(overview: &'a TraceOverview) -> Self {
        SummaryJson {
            trace_id: overview.trace_id.to_hex(),
            root_service_name: &overview.root_service_name,
            root_operation_name: &overview.root_operation_name,
            min_start_time_unix_nano: overview.min_start_unix_nanos.to_string(),
            max_end_time_unix_nano: overview.max_end_unix_nanos.to_string(),
            span_count: overview.span_count,
            error_span_count: overview.error_span_count,
            orphan_span_count: overview.orphan_span_count,
            services: overview
                .services
                .iter()
                .map(|service| ServiceSummaryJson {
                    name: &service.name,
                    span_count: service.span_count,
                    error_span_count: service.error_span_count,
                })
                .collect(),
        }
    }
}
