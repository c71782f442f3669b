//! TraceQL: parse arbitrary UTF-8. Whatever parses must evaluate on a small fixed trace
//! and compute its pushdown without panicking, and its printed form must parse back to
//! the same printed form.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weft_model::{
    AttributeValue, Event, KeyValue, Link, Resource, Span, SpanId, SpanKind, StatusCode, TraceId,
};
use weft_query::traceql;

/// A root, a child with an error, an event and a link, a grandchild, and an orphan.
fn trace() -> Vec<Span> {
    let trace_id = TraceId::from_halves(1, 2);
    let make = |id: u64, parent: Option<u64>, name: &str, service: &str| {
        let mut span = Span::new(trace_id, SpanId::from_u64(id), name);
        span.parent_span_id = parent.map(SpanId::from_u64);
        span.resource = Arc::new(Resource::for_service(service));
        span.start_unix_nanos = 1_000_000_000 + id * 1_000;
        span.duration_nanos = 10_000 * id;
        span
    };
    let root = make(1, None, "root", "a");
    let mut child = make(2, Some(1), "child", "b");
    child.kind = SpanKind::Client;
    child.status.code = StatusCode::Error;
    child.attributes = vec![
        KeyValue::new("http.status_code", AttributeValue::Int(500)),
        KeyValue::new("ratio", AttributeValue::Double(0.25)),
        KeyValue::new("flag", true),
        KeyValue::new("tags", AttributeValue::Array(vec!["x".into(), "y".into()])),
    ];
    child.events.push(Event {
        time_unix_nanos: 1_000_002_500,
        name: "exception".into(),
        attributes: vec![KeyValue::new("message", "boom")],
        dropped_attributes_count: 0,
    });
    child.links.push(Link {
        trace_id: TraceId::from_halves(3, 4),
        span_id: SpanId::from_u64(5),
        trace_state: String::new(),
        attributes: vec![KeyValue::new("kind", "follows")],
        dropped_attributes_count: 0,
        flags: 0,
    });
    let grandchild = make(3, Some(2), "grandchild", "b");
    let orphan = make(4, Some(99), "orphan", "c");
    vec![root, child, grandchild, orphan]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = traceql::parse(text) else {
        return;
    };
    let _ = query.try_evaluate(&trace());
    let _ = query.pushdown();
    let _ = query.most_recent();
    let printed = query.to_string();
    let again = match traceql::parse(&printed) {
        Ok(again) => again,
        // Parentheses the printer adds count as nesting; a query near the depth limit
        // may print past it. That is the guard working, not a printing bug.
        Err(e) if e.kind == traceql::ErrorKind::Limit => return,
        Err(e) => panic!("{text:?} printed as {printed:?}, which fails: {e}"),
    };
    assert_eq!(again.to_string(), printed, "{text:?}");
});
