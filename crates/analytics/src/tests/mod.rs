//! Unit tests on hand-built traces with known answers.

// The tests compare rows of results as tuples, which reads better than a type per test.
#![allow(clippy::type_complexity)]

mod cct_and_compare;
mod critical_path;
mod flow;
mod service_map;
mod stats;

use std::sync::Arc;

use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId};

/// Times in tests are offsets from this instant (nanoseconds since the epoch).
pub(crate) const BASE: u64 = 1_700_000_000_000_000_000;

pub(crate) fn trace_id(number: u64) -> TraceId {
    TraceId::from_halves(0, number)
}

/// A span of trace 1 from `start` to `end` (offsets from [`BASE`]).
pub(crate) fn span(
    id: u64,
    parent: Option<u64>,
    service: &str,
    name: &str,
    kind: SpanKind,
    start: u64,
    end: u64,
) -> Span {
    let mut span = Span::new(trace_id(1), SpanId::from_u64(id), name);
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.kind = kind;
    span.start_unix_nanos = BASE + start;
    span.duration_nanos = end - start;
    span.resource = Arc::new(Resource::for_service(service));
    span
}

pub(crate) fn with_host(mut span: Span, host: &str) -> Span {
    span.attributes.push(KeyValue::new("net.host.ip", host));
    span
}

pub(crate) fn failed(mut span: Span) -> Span {
    span.status.code = StatusCode::Error;
    span
}

pub(crate) fn in_trace(mut spans: Vec<Span>, number: u64) -> Vec<Span> {
    for span in &mut spans {
        span.trace_id = trace_id(number);
    }
    spans
}

pub(crate) fn hex(id: u64) -> String {
    SpanId::from_u64(id).to_hex()
}
