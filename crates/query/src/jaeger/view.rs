//! Jaeger's view of model spans: the trace object of Jaeger's query API (`uimodel`), built
//! by the OpenTelemetry specification's OTLP-to-Jaeger mapping as Jaeger's own translator
//! applies it. Search matches tags against this view, so a span is found by exactly the
//! tags the UI shows for it.
//!
//! | model | Jaeger |
//! |---|---|
//! | resource `service.name` | `process.serviceName` (`OTLPResourceNoServiceName` when absent) |
//! | other resource attributes | `process.tags`, in order |
//! | span attributes | `tags`, in order: string, bool, int64, float64, binary; arrays and maps as JSON `string` tags; an empty value as `""` |
//! | scope name, version | tags `otel.scope.name`, `otel.scope.version` (when not empty) |
//! | kind | tag `span.kind` = `server`/`client`/`producer`/`consumer`/`internal` (none for unspecified) |
//! | status `Ok` / `Error` | tag `otel.status_code` = `OK` / `ERROR`; `Error` also adds bool `error` = `true`; a message adds `otel.status_description` |
//! | trace state | tag `w3c.tracestate` |
//! | parent span id | reference `CHILD_OF` (first) |
//! | links | references: `CHILD_OF` when the link attribute `opentracing.ref_type` is `child_of`, else `FOLLOWS_FROM` |
//! | events | `logs`: timestamp in µs, fields: `event` = name (when not empty and no attribute `event`), then the attributes |
//! | start, duration | `startTime`, `duration` in µs (truncated) |
//! | flags bit 0 (sampled), `debug` | `flags` 1 (sampled) and 2 (debug) |
//!
//! A derived tag is left out when the span already has an attribute with that key (a
//! Zipkin span keeps its `error` tag and also has an error status), so no key shows twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId,
};

/// Service name of a process whose resource has none (Jaeger's OTLP translator).
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// A typed Jaeger tag value.
#[derive(Debug, Clone, PartialEq)]
pub enum JaegerValue {
    /// `string`.
    String(String),
    /// `bool`.
    Bool(bool),
    /// `int64`.
    Int64(i64),
    /// `float64`.
    Float64(f64),
    /// `binary` (base64 in JSON).
    Binary(Vec<u8>),
}

impl JaegerValue {
    /// The JSON `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            JaegerValue::String(_) => "string",
            JaegerValue::Bool(_) => "bool",
            JaegerValue::Int64(_) => "int64",
            JaegerValue::Float64(_) => "float64",
            JaegerValue::Binary(_) => "binary",
        }
    }

    /// The text a tag search compares with (Jaeger's `KeyValue.AsString`): strings as
    /// they are, `true`/`false`, decimal integers, floats in their shortest form, binary
    /// as lower-case hex.
    pub fn to_text(&self) -> String {
        match self {
            JaegerValue::String(text) => text.clone(),
            JaegerValue::Bool(value) => value.to_string(),
            JaegerValue::Int64(value) => value.to_string(),
            JaegerValue::Float64(value) => value.to_string(),
            JaegerValue::Binary(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// True when this value's text equals `text`, without building the text for strings.
    fn text_equals(&self, text: &str) -> bool {
        match self {
            JaegerValue::String(own) => own == text,
            other => other.to_text() == text,
        }
    }
}

impl From<&AttributeValue> for JaegerValue {
    fn from(value: &AttributeValue) -> Self {
        match value {
            AttributeValue::String(text) => JaegerValue::String(text.clone()),
            AttributeValue::Bool(value) => JaegerValue::Bool(*value),
            AttributeValue::Int(value) => JaegerValue::Int64(*value),
            AttributeValue::Double(value) => JaegerValue::Float64(*value),
            AttributeValue::Bytes(bytes) => JaegerValue::Binary(bytes.clone()),
            other => JaegerValue::String(other.to_text()),
        }
    }
}

/// One Jaeger tag or log field.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerKeyValue {
    /// The key.
    pub key: String,
    /// The typed value.
    pub value: JaegerValue,
}

impl JaegerKeyValue {
    fn new(key: &str, value: JaegerValue) -> Self {
        JaegerKeyValue {
            key: key.to_owned(),
            value,
        }
    }
}

impl From<&KeyValue> for JaegerKeyValue {
    fn from(pair: &KeyValue) -> Self {
        JaegerKeyValue::new(&pair.key, JaegerValue::from(&pair.value))
    }
}

/// Jaeger's reference types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceType {
    /// `CHILD_OF`: the parent, or a link marked `child_of`.
    ChildOf,
    /// `FOLLOWS_FROM`: any other link.
    FollowsFrom,
}

impl ReferenceType {
    /// `CHILD_OF` or `FOLLOWS_FROM`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceType::ChildOf => "CHILD_OF",
            ReferenceType::FollowsFrom => "FOLLOWS_FROM",
        }
    }
}

/// A reference from a span to another span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaegerReference {
    /// The reference type.
    pub ref_type: ReferenceType,
    /// The referenced trace.
    pub trace_id: TraceId,
    /// The referenced span.
    pub span_id: SpanId,
}

/// A log (an OpenTelemetry event).
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerLog {
    /// When, in epoch microseconds.
    pub timestamp_micros: u64,
    /// The fields, `event` first when the event has a name.
    pub fields: Vec<JaegerKeyValue>,
}

/// A process: the service and its resource attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerProcess {
    /// The service name.
    pub service_name: String,
    /// Resource attributes other than `service.name`.
    pub tags: Vec<JaegerKeyValue>,
}

/// One span of a [`JaegerTrace`].
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerSpan {
    /// The trace.
    pub trace_id: TraceId,
    /// The span id (possibly reassigned, see [`to_jaeger_trace`]).
    pub span_id: SpanId,
    /// The span name.
    pub operation_name: String,
    /// The parent first, then links.
    pub references: Vec<JaegerReference>,
    /// Start, epoch microseconds.
    pub start_time_micros: u64,
    /// Duration, microseconds.
    pub duration_micros: u64,
    /// Tags (see the module table).
    pub tags: Vec<JaegerKeyValue>,
    /// Logs.
    pub logs: Vec<JaegerLog>,
    /// Index into [`JaegerTrace::processes`]; its JSON id is `p<index + 1>`.
    pub process_index: usize,
    /// 1 = sampled, 2 = debug.
    pub flags: u32,
}

/// A trace as Jaeger's query API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerTrace {
    /// The trace id.
    pub trace_id: TraceId,
    /// The spans, in the order given.
    pub spans: Vec<JaegerSpan>,
    /// Distinct processes, in order of first use.
    pub processes: Vec<JaegerProcess>,
}

/// The process of a resource.
pub fn process_of(resource: &Resource) -> JaegerProcess {
    JaegerProcess {
        service_name: resource
            .service_name()
            .unwrap_or(NO_SERVICE_NAME)
            .to_owned(),
        tags: resource
            .attributes
            .iter()
            .filter(|pair| pair.key != weft_model::span::SERVICE_NAME)
            .map(JaegerKeyValue::from)
            .collect(),
    }
}

/// The span's Jaeger tags, in the order of the module table.
pub fn span_tags(span: &Span) -> Vec<JaegerKeyValue> {
    let mut tags: Vec<JaegerKeyValue> = span.attributes.iter().map(JaegerKeyValue::from).collect();
    tags.extend(derived_tags(span));
    tags
}

/// Keys of the tags [`derived_tags`] may add.
const DERIVED_TAG_KEYS: [&str; 7] = [
    "otel.scope.name",
    "otel.scope.version",
    "span.kind",
    "otel.status_code",
    "error",
    "otel.status_description",
    "w3c.tracestate",
];

/// The tags derived from the span's scope, kind, status and trace state, less those whose
/// key is already a span attribute.
fn derived_tags(span: &Span) -> Vec<JaegerKeyValue> {
    let has_attribute = |key: &str| span.attributes.iter().any(|pair| pair.key == key);
    let mut derived: Vec<JaegerKeyValue> = Vec::new();
    let text =
        |key: &str, value: &str| JaegerKeyValue::new(key, JaegerValue::String(value.to_owned()));
    if !span.scope.name.is_empty() {
        derived.push(text("otel.scope.name", &span.scope.name));
    }
    if !span.scope.version.is_empty() {
        derived.push(text("otel.scope.version", &span.scope.version));
    }
    if span.kind != SpanKind::Unspecified {
        derived.push(text("span.kind", span.kind.as_str()));
    }
    match span.status.code {
        StatusCode::Ok => derived.push(text("otel.status_code", "OK")),
        StatusCode::Error => {
            derived.push(text("otel.status_code", "ERROR"));
            derived.push(JaegerKeyValue::new("error", JaegerValue::Bool(true)));
        }
        StatusCode::Unset => {}
    }
    if !span.status.message.is_empty() {
        derived.push(text("otel.status_description", &span.status.message));
    }
    if !span.trace_state.is_empty() {
        derived.push(text("w3c.tracestate", &span.trace_state));
    }
    derived.retain(|tag| !has_attribute(&tag.key));
    derived
}

/// The log of an event.
pub fn log_of(event: &Event) -> JaegerLog {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    let has_event_field = event.attributes.iter().any(|pair| pair.key == "event");
    if !event.name.is_empty() && !has_event_field {
        fields.push(JaegerKeyValue::new(
            "event",
            JaegerValue::String(event.name.clone()),
        ));
    }
    fields.extend(event.attributes.iter().map(JaegerKeyValue::from));
    JaegerLog {
        timestamp_micros: event.time_unix_nanos / 1_000,
        fields,
    }
}

/// The span's references: `CHILD_OF` its parent, then one per link.
pub fn references_of(span: &Span) -> Vec<JaegerReference> {
    let mut references = Vec::with_capacity(span.links.len() + 1);
    if let Some(parent) = span.parent_span_id {
        references.push(JaegerReference {
            ref_type: ReferenceType::ChildOf,
            trace_id: span.trace_id,
            span_id: parent,
        });
    }
    for link in &span.links {
        let child_of = link.attributes.iter().any(|pair| {
            pair.key == "opentracing.ref_type" && pair.value.as_str() == Some("child_of")
        });
        references.push(JaegerReference {
            ref_type: if child_of {
                ReferenceType::ChildOf
            } else {
                ReferenceType::FollowsFrom
            },
            trace_id: link.trace_id,
            span_id: link.span_id,
        });
    }
    references
}

/// True when `key` = `value` (compared as text) is a tag of the span, a tag of its
/// process, or a field of one of its logs: Jaeger's storage rule for tag search, on the
/// same view [`to_jaeger_trace`] shows. Builds nothing unless `key` is a derived tag.
pub fn span_has_tag(span: &Span, key: &str, value: &str) -> bool {
    // An attribute's text is the text of its Jaeger value (see `JaegerValue::to_text`).
    let equals = |pair: &KeyValue| {
        pair.key == key
            && match pair.value.as_str() {
                Some(text) => text == value,
                None => pair.value.to_text() == value,
            }
    };
    span.attributes.iter().any(equals)
        || span
            .resource
            .attributes
            .iter()
            .any(|pair| pair.key != weft_model::span::SERVICE_NAME && equals(pair))
        || span.events.iter().any(|event| {
            event.attributes.iter().any(equals)
                || (key == "event"
                    && !event.name.is_empty()
                    && event.name == value
                    && !event.attributes.iter().any(|pair| pair.key == "event"))
        })
        || (DERIVED_TAG_KEYS.contains(&key)
            && derived_tags(span)
                .iter()
                .any(|tag| tag.key == key && tag.value.text_equals(value)))
}

/// Builds Jaeger's trace object from the spans of one trace, in their order.
///
/// With `adjust` (Jaeger's default, `raw=false`), a Zipkin-style shared server span (one
/// whose span id a non-server span of the trace also uses) gets a new span id that no span
/// of the trace uses, and the spans whose parent is that shared id are re-pointed to the
/// server's new id, as Jaeger's span-id deduper does; otherwise ids are as stored. Spans
/// whose trace id differs from `trace_id` are kept as they are.
pub fn to_jaeger_trace(trace_id: TraceId, spans: &[Span], adjust: bool) -> JaegerTrace {
    let new_ids = if adjust {
        reassigned_server_ids(spans)
    } else {
        HashMap::new()
    };
    let mut processes: Vec<JaegerProcess> = Vec::new();
    let mut process_by_resource: Vec<(Arc<Resource>, usize)> = Vec::new();
    let mut jaeger_spans = Vec::with_capacity(spans.len());
    for (index, span) in spans.iter().enumerate() {
        let process_index = match process_by_resource
            .iter()
            .find(|(resource, _)| Arc::ptr_eq(resource, &span.resource))
        {
            Some((_, process_index)) => *process_index,
            None => {
                let process = process_of(&span.resource);
                let process_index = match processes.iter().position(|known| *known == process) {
                    Some(existing) => existing,
                    None => {
                        processes.push(process);
                        processes.len() - 1
                    }
                };
                process_by_resource.push((span.resource.clone(), process_index));
                process_index
            }
        };
        let mut references = references_of(span);
        let own_new_id = new_ids.get(&index).copied();
        let has_parent = span.parent_span_id.is_some();
        if own_new_id.is_some() {
            // The server half becomes the child of its client half, which keeps the id.
            let client = JaegerReference {
                ref_type: ReferenceType::ChildOf,
                trace_id: span.trace_id,
                span_id: span.span_id,
            };
            if has_parent {
                references[0] = client;
            } else {
                references.insert(0, client);
            }
        } else if has_parent
            && let Some(server_id) = new_parent_id(&new_ids, spans, references[0].span_id)
        {
            references[0].span_id = server_id;
        }
        jaeger_spans.push(JaegerSpan {
            trace_id: span.trace_id,
            span_id: own_new_id.unwrap_or(span.span_id),
            operation_name: span.name.clone(),
            references,
            start_time_micros: span.start_unix_nanos / 1_000,
            duration_micros: span.duration_nanos / 1_000,
            tags: span_tags(span),
            logs: span.events.iter().map(log_of).collect(),
            process_index,
            flags: (span.flags & 0x1) | if span.debug { 0x2 } else { 0 },
        });
    }
    JaegerTrace {
        trace_id,
        spans: jaeger_spans,
        processes,
    }
}

/// New ids for server spans that share their id with a non-server span, by span index.
fn reassigned_server_ids(spans: &[Span]) -> HashMap<usize, SpanId> {
    let mut non_server_ids: HashSet<SpanId> = HashSet::new();
    let mut used: HashSet<u64> = HashSet::new();
    for span in spans {
        used.insert(span.span_id.as_u64());
        if span.kind != SpanKind::Server {
            non_server_ids.insert(span.span_id);
        }
    }
    let mut next = used.iter().copied().max().unwrap_or(0);
    let mut new_ids = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        if span.kind != SpanKind::Server || !non_server_ids.contains(&span.span_id) {
            continue;
        }
        loop {
            next = next.wrapping_add(1);
            if next != 0 && used.insert(next) {
                break;
            }
        }
        new_ids.insert(index, SpanId::from_u64(next));
    }
    new_ids
}

/// The new id of the server span that used to have `old_parent_id`, if one was reassigned.
fn new_parent_id(
    new_ids: &HashMap<usize, SpanId>,
    spans: &[Span],
    old_parent_id: SpanId,
) -> Option<SpanId> {
    new_ids
        .iter()
        .filter(|(index, _)| spans[**index].span_id == old_parent_id)
        .map(|(_, new_id)| *new_id)
        .min_by_key(|id| id.as_u64())
}
