//! The Jaeger -> model rules shared by the Thrift and protobuf decoders (see the table in
//! the module docs of [`super`]).

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};

use super::{
    EVENT_FIELD, MESSAGE_FIELD, OPENTRACING_REF_TYPE, OTEL_LIBRARY_NAME, OTEL_LIBRARY_VERSION,
    OTEL_SCOPE_NAME, OTEL_SCOPE_VERSION, OTEL_STATUS_CODE, OTEL_STATUS_DESCRIPTION, SPAN_KIND,
    W3C_TRACESTATE,
};

/// Jaeger's `SpanRefType` numbers (the same in Thrift and protobuf).
pub(super) const CHILD_OF: i32 = 0;
pub(super) const FOLLOWS_FROM: i32 = 1;

/// Jaeger's sampled flag bit; it is also the W3C sampled bit.
const FLAG_SAMPLED: u32 = 0x01;
/// Jaeger's debug flag bit.
const FLAG_DEBUG: u32 = 0x02;

/// One span reference, either wire form. Ids the sender left out or sent malformed are
/// all zeros, which makes the reference invalid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reference {
    pub(super) ref_type: i32,
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
}

/// Microseconds since the epoch (or a duration in µs) to nanoseconds; negative is 0.
pub(super) fn micros_to_nanos(micros: i64) -> u64 {
    u64::try_from(micros).unwrap_or(0).saturating_mul(1000)
}

/// Jaeger flags: the sampled bit becomes the W3C sampled flag, the debug bit
/// [`Span::debug`]; other bits (firehose) have no place in the model.
pub(super) fn apply_flags(span: &mut Span, jaeger_flags: u32) {
    span.flags = jaeger_flags & FLAG_SAMPLED;
    span.debug = jaeger_flags & FLAG_DEBUG != 0;
}

/// Turns references into the parent (when the span has none yet: the first `CHILD_OF`
/// reference in the same trace) and links (every other reference, with
/// `opentracing.ref_type`). The reference that names the parent is not repeated as a
/// link. References with an all-zero id are dropped and counted in
/// `dropped_links_count`.
pub(super) fn apply_references(span: &mut Span, references: &[Reference]) {
    let is_parent_candidate = |reference: &Reference| {
        reference.ref_type == CHILD_OF
            && reference.trace_id == span.trace_id
            && reference.span_id != SpanId::default()
    };
    let parent_reference_index = match span.parent_span_id {
        Some(parent) => references
            .iter()
            .position(|reference| is_parent_candidate(reference) && reference.span_id == parent),
        None => references.iter().position(is_parent_candidate),
    };
    if span.parent_span_id.is_none()
        && let Some(index) = parent_reference_index
    {
        span.parent_span_id = Some(references[index].span_id);
    }
    for (index, reference) in references.iter().enumerate() {
        if Some(index) == parent_reference_index {
            continue;
        }
        if reference.trace_id == TraceId::default() || reference.span_id == SpanId::default() {
            span.dropped_links_count = span.dropped_links_count.saturating_add(1);
            continue;
        }
        let ref_type = match reference.ref_type {
            CHILD_OF => String::from("child_of"),
            FOLLOWS_FROM => String::from("follows_from"),
            other => format!("{other}"),
        };
        span.links.push(Link {
            trace_id: reference.trace_id,
            span_id: reference.span_id,
            trace_state: String::new(),
            attributes: vec![KeyValue::new(OPENTRACING_REF_TYPE, ref_type)],
            dropped_attributes_count: 0,
            flags: 0,
        });
    }
}

/// A log: its `event` field (the first one, any type, as text) names the event and is
/// removed; without one, a `message` field does (OpenTelemetry's Jaeger exporter writes the
/// event name there). The other fields become the event's attributes. Neither: name `""`.
pub(super) fn log_to_event(time_unix_nanos: u64, mut fields: Vec<KeyValue>) -> Event {
    let name = take(&mut fields, EVENT_FIELD)
        .or_else(|| take(&mut fields, MESSAGE_FIELD))
        .map(|value| match value {
            AttributeValue::String(text) => text,
            other => other.to_text(),
        })
        .unwrap_or_default();
    Event {
        time_unix_nanos,
        name,
        attributes: fields,
        dropped_attributes_count: 0,
    }
}

/// The `Arc`s that the spans of one request share: the empty resource and scope new
/// spans start with, and every scope seen so far, so that spans naming the same scope
/// share one `Arc` (and a span costs no allocation for either).
pub(super) struct SharedParts {
    empty_resource: Arc<Resource>,
    empty_scope: Arc<InstrumentationScope>,
    scopes: Vec<Arc<InstrumentationScope>>,
}

impl Default for SharedParts {
    fn default() -> Self {
        SharedParts {
            empty_resource: Arc::new(Resource::default()),
            empty_scope: Arc::new(InstrumentationScope::default()),
            scopes: Vec::new(),
        }
    }
}

impl SharedParts {
    /// A span with the given ids and name, the empty resource and scope, and everything
    /// else empty (like `Span::new`, without allocating a resource and a scope).
    pub(super) fn new_span(&self, trace_id: TraceId, span_id: SpanId, name: String) -> Span {
        Span {
            trace_id,
            span_id,
            parent_span_id: None,
            trace_state: String::new(),
            name,
            kind: SpanKind::Unspecified,
            start_unix_nanos: 0,
            duration_nanos: 0,
            status: Status::default(),
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            resource: Arc::clone(&self.empty_resource),
            scope: Arc::clone(&self.empty_scope),
            flags: 0,
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            shared: false,
            debug: false,
        }
    }

    fn scope(&mut self, name: String, version: String) -> Arc<InstrumentationScope> {
        if let Some(scope) = self
            .scopes
            .iter()
            .find(|scope| scope.name == name && scope.version == version)
        {
            return Arc::clone(scope);
        }
        let scope = Arc::new(InstrumentationScope {
            name,
            version,
            attributes: Vec::new(),
        });
        self.scopes.push(Arc::clone(&scope));
        scope
    }
}

/// Moves the tags that carry OpenTelemetry fields out of the attributes: `span.kind`,
/// `error`, `otel.status_code`, `otel.status_description`, `w3c.tracestate` and the
/// scope tags. Follows the OpenTelemetry Collector's Jaeger receiver (see the module
/// docs of [`super`] for the exact rules and the deviations).
pub(super) fn apply_special_tags(span: &mut Span, shared: &mut SharedParts) {
    let attributes = &mut span.attributes;
    if let Some(index) = position(attributes, SPAN_KIND) {
        let kind = match attributes[index].value.as_str() {
            Some("client") => Some(SpanKind::Client),
            Some("server") => Some(SpanKind::Server),
            Some("producer") => Some(SpanKind::Producer),
            Some("consumer") => Some(SpanKind::Consumer),
            Some("internal") => Some(SpanKind::Internal),
            _ => None,
        };
        if let Some(kind) = kind {
            span.kind = kind;
            attributes.remove(index);
        }
    }

    let mut status_set = false;
    if let Some(index) = position(attributes, "error")
        && attributes[index].value == AttributeValue::Bool(true)
    {
        attributes.remove(index);
        span.status.code = StatusCode::Error;
        status_set = true;
        span.status.message = match take(attributes, OTEL_STATUS_DESCRIPTION) {
            Some(description) => text(description),
            None => match weft_model::attribute::find(attributes, "http.status_message") {
                Some(message) => message.to_text(),
                None => String::new(),
            },
        };
    }
    if let Some(code) = take(attributes, OTEL_STATUS_CODE)
        && !status_set
    {
        span.status.code = match code.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("OK") => StatusCode::Ok,
            Some("ERROR") => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        span.status.message = take(attributes, OTEL_STATUS_DESCRIPTION)
            .map(text)
            .unwrap_or_default();
    }

    if let Some(index) = position(attributes, W3C_TRACESTATE)
        && let AttributeValue::String(_) = attributes[index].value
    {
        span.trace_state = text(attributes.remove(index).value);
    }

    let scope_name = take_scope_tag(attributes, OTEL_SCOPE_NAME, OTEL_LIBRARY_NAME);
    let scope_version = take_scope_tag(attributes, OTEL_SCOPE_VERSION, OTEL_LIBRARY_VERSION);
    if scope_name.is_some() || scope_version.is_some() {
        span.scope = shared.scope(
            scope_name.unwrap_or_default(),
            scope_version.unwrap_or_default(),
        );
    }
}

/// The string value of the `preferred` tag, else of the `legacy` one; removes the tag
/// used, and the legacy tag too when it holds the same value.
fn take_scope_tag(attributes: &mut Vec<KeyValue>, preferred: &str, legacy: &str) -> Option<String> {
    let value = match take_string(attributes, preferred) {
        Some(value) => value,
        None => return take_string(attributes, legacy),
    };
    if let Some(index) = position(attributes, legacy)
        && attributes[index].value.as_str() == Some(value.as_str())
    {
        attributes.remove(index);
    }
    Some(value)
}

fn take_string(attributes: &mut Vec<KeyValue>, key: &str) -> Option<String> {
    let index = position(attributes, key)?;
    match &attributes[index].value {
        AttributeValue::String(_) => Some(text(attributes.remove(index).value)),
        _ => None,
    }
}

fn position(attributes: &[KeyValue], key: &str) -> Option<usize> {
    attributes.iter().position(|pair| pair.key == key)
}

fn take(attributes: &mut Vec<KeyValue>, key: &str) -> Option<AttributeValue> {
    position(attributes, key).map(|index| attributes.remove(index).value)
}

fn text(value: AttributeValue) -> String {
    match value {
        AttributeValue::String(text) => text,
        other => other.to_text(),
    }
}
