//! Evaluation of filters, intrinsics, attributes, operators and pipelines on hand-built
//! traces.

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanFilter,
    SpanId, SpanKind, Status, StatusCode, TraceId,
};

use super::*;

pub(super) const START: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

pub(super) fn span(id: u64, parent: Option<u64>, name: &str, service: &str) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, 0xabc), SpanId::from_u64(id), name);
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = START + id * MS;
    span.duration_nanos = 10 * MS;
    span
}

/// frontend GET /cart (root, server, 100ms)
///   frontend call-cart (client, error, 40ms, http.status_code=500)
///     cart GET /cart (server, error "boom", 30ms, event "exception", link)
///       cart db.query (client, 5ms, db.system=redis, tags=[a, b])
///   frontend render (internal, ok, 20ms)
fn shop() -> Vec<Span> {
    let mut root = span(1, None, "GET /cart", "frontend");
    root.kind = SpanKind::Server;
    root.duration_nanos = 100 * MS;
    root.attributes.push(KeyValue::new("http.method", "GET"));
    root.attributes
        .push(KeyValue::new("http.status_code", AttributeValue::Int(200)));
    let mut call = span(2, Some(1), "call-cart", "frontend");
    call.kind = SpanKind::Client;
    call.duration_nanos = 40 * MS;
    call.status = Status {
        code: StatusCode::Error,
        message: String::new(),
    };
    call.attributes
        .push(KeyValue::new("http.status_code", AttributeValue::Int(500)));
    call.attributes
        .push(KeyValue::new("ratio", AttributeValue::Double(0.5)));
    let mut cart = span(3, Some(2), "GET /cart", "cart");
    cart.kind = SpanKind::Server;
    cart.duration_nanos = 30 * MS;
    cart.status = Status {
        code: StatusCode::Error,
        message: "boom".into(),
    };
    cart.events.push(Event {
        time_unix_nanos: cart.start_unix_nanos + 2 * MS,
        name: "exception".into(),
        attributes: vec![KeyValue::new("exception.type", "IOError")],
        dropped_attributes_count: 0,
    });
    cart.links.push(Link {
        trace_id: TraceId::from_halves(7, 8),
        span_id: SpanId::from_u64(9),
        trace_state: String::new(),
        attributes: vec![KeyValue::new("link.kind", "follows")],
        dropped_attributes_count: 0,
        flags: 0,
    });
    cart.scope = Arc::new(InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: vec![KeyValue::new("scope.attr", true)],
    });
    let mut db = span(4, Some(3), "db.query", "cart");
    db.kind = SpanKind::Client;
    db.duration_nanos = 5 * MS;
    db.attributes.push(KeyValue::new("db.system", "redis"));
    db.attributes.push(KeyValue::new(
        "tags",
        AttributeValue::Array(vec!["a".into(), "b".into()]),
    ));
    db.attributes.push(KeyValue::new("service.name", "shadow"));
    let mut render = span(5, Some(1), "render", "frontend");
    render.kind = SpanKind::Internal;
    render.duration_nanos = 20 * MS;
    render.status.code = StatusCode::Ok;
    render.attributes.push(KeyValue::new("foo bar", "spaced"));
    vec![root, call, cart, db, render]
}

/// Span ids (1-based as built) of every span in the single spanset `query` returns.
fn ids(query: &str, spans: &[Span]) -> Vec<u64> {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let sets = parsed
        .try_evaluate(spans)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    assert!(sets.len() <= 1, "{query}: {} spansets", sets.len());
    sets.first()
        .map(|set| {
            set.spans
                .iter()
                .map(|s| spans[s.index].span_id.as_u64())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn check(query: &str, expected: &[u64]) {
    assert_eq!(ids(query, &shop()), expected, "{query}");
}

#[test]
fn span_intrinsics() {
    check("{ name = \"GET /cart\" }", &[1, 3]);
    check("{ span:name = \"render\" }", &[5]);
    check("{ status = error }", &[2, 3]);
    check("{ span:status = ok }", &[5]);
    check("{ status = unset }", &[1, 4]);
    check("{ status != error }", &[1, 4, 5]);
    check("{ statusMessage = \"boom\" }", &[3]);
    check("{ span:statusMessage = \"\" }", &[1, 2, 4, 5]);
    check("{ kind = server }", &[1, 3]);
    check("{ span:kind = client }", &[2, 4]);
    check("{ kind = internal }", &[5]);
    check("{ kind = unspecified }", &[]);
    check("{ duration > 30ms }", &[1, 2]);
    check("{ span:duration >= 30ms }", &[1, 2, 3]);
    check("{ duration < 0.01s }", &[4]);
    check("{ duration = 20ms }", &[5]);
    check("{ span:childCount = 2 }", &[1]);
    check("{ span:childCount = 0 }", &[4, 5]);
    check("{ span:id = \"0000000000000004\" }", &[4]);
    check("{ span:parentID = \"0000000000000001\" }", &[2, 5]);
    check("{ span:parentID != nil }", &[2, 3, 4, 5]);
    check("{ nestedSetParent = -1 }", &[1]);
    check("{ nestedSetLeft = 1 && nestedSetRight = 10 }", &[1]);
}

#[test]
fn trace_intrinsics_hold_for_every_span() {
    check("{ rootName = \"GET /cart\" }", &[1, 2, 3, 4, 5]);
    check("{ trace:rootName = \"render\" }", &[]);
    check(
        "{ rootServiceName = \"frontend\" && name = \"render\" }",
        &[5],
    );
    check("{ trace:rootService = \"cart\" }", &[]);
    // Earliest start 1ms after START, latest end: span 1 (1ms + 100ms).
    check("{ traceDuration = 100ms && kind = client }", &[2, 4]);
    check("{ trace:duration > 100ms }", &[]);
    check("{ trace:id = \"abc\" }", &[1, 2, 3, 4, 5]);
    check(
        "{ trace:id = \"00000000000000000000000000000abc\" }",
        &[1, 2, 3, 4, 5],
    );
    check("{ trace:id = \"abd\" }", &[]);
}

#[test]
fn event_link_and_instrumentation_values() {
    check("{ event:name = \"exception\" }", &[3]);
    check("{ event:timeSinceStart = 2ms }", &[3]);
    check("{ event.exception.type = \"IOError\" }", &[3]);
    check(
        "{ event:name = \"exception\" && event.exception.type = \"IOError\" }",
        &[3],
    );
    // Tempo compares linked trace ids without leading zeros.
    check("{ link:traceID = \"70000000000000008\" }", &[3]);
    check(
        "{ link:traceID = \"00000000000000070000000000000008\" }",
        &[],
    );
    check("{ link:spanID = \"0000000000000009\" }", &[3]);
    check("{ link.link.kind = \"follows\" }", &[3]);
    check("{ instrumentation:name = \"io.opentelemetry.http\" }", &[3]);
    check("{ instrumentation:version =~ \"1\\\\..*\" }", &[3]);
    check("{ instrumentation.scope.attr = true }", &[3]);
    check("{ event:name != nil }", &[3]);
}

#[test]
fn attribute_scopes() {
    check("{ span.http.status_code = 500 }", &[2]);
    check("{ .http.status_code = 500 }", &[2]);
    check("{ resource.service.name = \"cart\" }", &[3, 4]);
    // Unscoped looks at the span first, then the resource.
    check("{ .service.name = \"cart\" }", &[3]);
    check("{ .service.name = \"shadow\" }", &[4]);
    check("{ span.service.name = \"cart\" }", &[]);
    check("{ span.\"foo bar\" = \"spaced\" }", &[5]);
    check("{ .\"foo bar\" != nil }", &[5]);
    check("{ resource.http.method = \"GET\" }", &[]);
}

#[test]
fn comparison_operators_and_types() {
    check("{ .http.status_code != 500 }", &[1]);
    check(
        "{ .http.status_code >= 200 && .http.status_code < 500 }",
        &[1],
    );
    // Tempo's storage never compares a stored int with a float literal (or the reverse).
    check("{ .http.status_code > 200.5 }", &[]);
    check("{ .ratio > 0 }", &[]);
    check("{ .ratio > 0.1 }", &[2]);
    check("{ .ratio = 0.5 }", &[2]);
    check("{ .ratio < 1 }", &[]);
    check("{ .ratio < 1.0 }", &[2]);
    check("{ .http.method =~ \"G.*\" }", &[1]);
    check("{ .http.method =~ \"G\" }", &[]);
    check("{ .http.method !~ \"P.*\" }", &[1]);
    check("{ name =~ \"GET.*|render\" }", &[1, 3, 5]);
    check("{ name > \"db\" }", &[4, 5]);
    check("{ name <= \"call-cart\" }", &[1, 2, 3]);
    // Mismatched runtime types are simply false, for = and != alike.
    check("{ .http.status_code = \"500\" }", &[]);
    check("{ .http.status_code != \"500\" }", &[]);
    check("{ .http.method = 1 }", &[]);
    // Arithmetic.
    check("{ .http.status_code - 300 = 200 }", &[2]);
    check("{ .http.status_code * 2 > 900 }", &[2]);
    check("{ .http.status_code / 100 = 5 }", &[2]);
    check("{ .http.status_code % 7 = 3 }", &[2]);
    check("{ duration * 2 = 200ms }", &[1]);
    check("{ .ratio + 1 = 1.5 }", &[2]);
    check("{ -.http.status_code = -200 }", &[1]);
    // Booleans.
    check("{ !(.http.status_code = 500) && kind = client }", &[]);
    check("{ kind = server || kind = internal }", &[1, 3, 5]);
    check("{ true }", &[1, 2, 3, 4, 5]);
    check("{ false }", &[]);
    check("{ }", &[1, 2, 3, 4, 5]);
}

#[test]
fn arrays_match_any_element() {
    check("{ .tags = \"a\" }", &[4]);
    check("{ .tags = \"c\" }", &[]);
    check("{ .tags =~ \"b\" }", &[4]);
    check("{ .tags != \"c\" }", &[4]);
    // Any element, for `!=` too (Tempo's storage).
    check("{ .tags != \"a\" }", &[4]);
    check("{ .tags != \"b\" && .tags != \"a\" }", &[4]);
}

#[test]
fn nil_semantics() {
    check("{ span.db.system = nil }", &[1, 2, 3, 5]);
    // Unscoped: missing on the span or on the resource (Tempo checks each scope).
    check("{ .db.system = nil }", &[1, 2, 3, 4, 5]);
    check("{ .db.system != nil }", &[4]);
    check("{ span.missing != nil }", &[]);
    check("{ span.missing = nil }", &[1, 2, 3, 4, 5]);
    // A missing attribute compares false with everything.
    check("{ .missing = 1 }", &[]);
    check("{ .missing != 1 }", &[]);
    check("{ .missing < 1 || .missing >= 1 }", &[]);
    // Tempo's storage first fetches only spans meeting `.missing = 1`, so a negation
    // over it matches nothing (recorded Tempo behaviour), while a double negation works.
    check("{ !(.missing = 1) }", &[]);
    check("{ !(kind = server) }", &[]);
    check("{ !(!(kind = internal)) }", &[5]);
    // With `||` Tempo fetches spans meeting any condition and the filter decides.
    check("{ !(kind = server) || .missing = 1 }", &[2, 4, 5]);
}

#[test]
fn division_by_zero_fails_the_trace_like_tempo() {
    let query = parse("{ .http.status_code / 0 = 1 }").expect("parses");
    assert_eq!(query.try_evaluate(&shop()), Err(EvalError::Expression));
    assert!(query.evaluate(&shop()).is_empty());
}

#[test]
fn spanset_and_or() {
    check("{ kind = server } && { status = ok }", &[1, 3, 5]);
    check("{ kind = server } && { span.missing != nil }", &[]);
    check("{ kind = internal } || { .missing = 1 }", &[5]);
    check("{ .missing = 1 } || { .missing = 2 }", &[]);
}

fn sets(query: &str, spans: &[Span]) -> Vec<SpanSet> {
    parse(query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .try_evaluate(spans)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

#[test]
fn scalar_filters_and_aggregates() {
    let spans = shop();
    let result = sets("{ } | count() > 3", &spans);
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].matched, 5);
    assert_eq!(
        result[0].attributes,
        vec![("count()".into(), Static::Int(5))]
    );
    assert!(sets("{ } | count() > 5", &spans).is_empty());
    let result = sets("{ kind = server } | avg(duration) = 65ms", &spans);
    assert_eq!(
        result[0].attributes,
        vec![("avg(duration)".into(), Static::Duration(65 * MS))]
    );
    let result = sets("{ } | max(duration) >= 100ms", &spans);
    assert_eq!(result[0].attributes[0].1, Static::Duration(100 * MS));
    assert_eq!(sets("{ } | min(duration) = 5ms", &spans).len(), 1);
    assert_eq!(sets("{ } | sum(duration) = 195ms", &spans).len(), 1);
    let result = sets("{ } | avg(.http.status_code) = 350", &spans);
    assert_eq!(
        result[0].attributes[0],
        ("avg(.http.status_code)".into(), Static::Float(350.0))
    );
    // All values nil: the spanset is dropped.
    assert!(sets("{ } | max(.missing) > 0", &spans).is_empty());
    assert_eq!(sets("count() = 5", &spans).len(), 1);
    assert_eq!(
        sets("{ } | count() > 1 | { kind = internal }", &spans)[0].matched,
        1
    );
}

#[test]
fn group_by_makes_one_spanset_per_value() {
    let spans = shop();
    let result = sets("{ } | by(resource.service.name)", &spans);
    assert_eq!(result.len(), 2);
    assert_eq!(
        result[0].attributes,
        vec![(
            "by(resource.service.name)".into(),
            Static::String("frontend".into())
        )]
    );
    assert_eq!(
        result[0].spans.iter().map(|s| s.index).collect::<Vec<_>>(),
        [0, 1, 4]
    );
    assert_eq!(result[1].matched, 2);
    let result = sets("{ } | by(resource.service.name) | count() > 2", &spans);
    assert_eq!(result.len(), 1);
    assert_eq!(
        result[0].attributes,
        vec![
            (
                "by(resource.service.name)".into(),
                Static::String("frontend".into())
            ),
            ("count()".into(), Static::Int(3)),
        ]
    );
    // Spans without the value form their own group, keyed nil.
    let result = sets("{ } | by(.db.system)", &spans);
    assert_eq!(result.len(), 2);
    assert_eq!(result[0].attributes[0].1, Static::Nil);
    assert_eq!(result[1].attributes[0].1, Static::String("redis".into()));
    // coalesce() merges the groups again.
    let result = sets("{ } | by(resource.service.name) | coalesce()", &spans);
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].matched, 5);
    assert!(result[0].attributes.is_empty());
    // Structural operators refuse several spansets, like Tempo.
    let query = parse("({ } | by(kind)) > ({ })").expect("parses");
    assert_eq!(query.try_evaluate(&spans), Err(EvalError::MultipleSpansets));
}

#[test]
fn matched_span_attributes_are_the_queried_ones() {
    let spans = shop();
    let result = sets(
        "{ span.http.status_code >= 500 && status = error && name != nil } | select(resource.service.name, span.missing)",
        &spans,
    );
    let matched = &result[0].spans[0];
    assert_eq!(matched.index, 1);
    assert_eq!(
        matched.attributes,
        vec![
            ("http.status_code".into(), Static::Int(500)),
            ("status".into(), Static::Status(StatusCode::Error)),
            ("service.name".into(), Static::String("frontend".into())),
            ("missing".into(), Static::String("nil".into())),
        ],
        "name is reported elsewhere; a selected value the span lacks reads nil"
    );
    // Only conditions the span meets report their attribute.
    let result = sets("{ kind = server || status = error }", &spans);
    let first = &result[0].spans[0];
    assert_eq!(
        first.attributes,
        vec![("kind".into(), Static::Kind(SpanKind::Server))]
    );
    // A met `= nil` reports the text nil; an array reports its matching element.
    let result = sets("{ span.db.system = nil && kind = server }", &spans);
    assert_eq!(
        result[0].spans[0].attributes[0],
        ("db.system".into(), Static::String("nil".into()))
    );
    let result = sets("{ span.tags = \"b\" }", &spans);
    assert_eq!(
        result[0].spans[0].attributes,
        vec![("tags".into(), Static::String("b".into()))]
    );
    let result = sets("{ event.exception.type != nil && kind = server }", &spans);
    assert_eq!(
        result[0].spans[0].attributes,
        vec![
            ("exception.type".into(), Static::String("IOError".into())),
            ("kind".into(), Static::Kind(SpanKind::Server)),
        ]
    );
    let result = sets("{ } | avg(duration) > 1ms", &spans);
    assert!(
        result[0].spans[0].attributes.is_empty(),
        "duration is not repeated"
    );
}

#[test]
fn no_spans_no_match() {
    assert!(sets("{ }", &[]).is_empty());
}

#[test]
fn pushdown_implies_only_necessary_conditions() {
    let filter = |query: &str| parse(query).expect("parses").pushdown();
    assert_eq!(filter("{ }"), SpanFilter::default());
    let pushed = filter(
        "{ resource.service.name = \"cart\" && name = \"GET /cart\" && span.http.method = \"GET\" && duration > 10ms && duration <= 1s }",
    );
    assert_eq!(pushed.service_name.as_deref(), Some("cart"));
    assert_eq!(pushed.span_name.as_deref(), Some("GET /cart"));
    // Attribute values are not pushed: an array attribute matches one of its elements.
    assert_eq!(pushed.attributes, vec![("http.method".to_string(), None)]);
    assert_eq!(pushed.min_duration_nanos, Some(10 * MS + 1));
    assert_eq!(pushed.max_duration_nanos, Some(1_000 * MS));
    // Two filters: a service restricts every criterion to its spans, so it goes only
    // with its own filter's terms, the others' are left out.
    let pushed = filter("{ resource.service.name = \"cart\" } && { name = \"x\" }");
    assert_eq!(pushed.service_name.as_deref(), Some("cart"));
    assert_eq!(pushed.span_name, None);
    // Of several filters naming a service: the one with most terms, else the last.
    let pushed = filter(
        "{ resource.service.name = \"a\" } >> { resource.service.name = \"b\" && name = \"x\" } && { resource.service.name = \"c\" }",
    );
    assert_eq!(pushed.service_name.as_deref(), Some("b"));
    assert_eq!(pushed.span_name.as_deref(), Some("x"));
    let pushed = filter("{ resource.service.name = \"a\" } >> { resource.service.name = \"b\" }");
    assert_eq!(pushed.service_name.as_deref(), Some("b"));
    // Without a service, the terms of every filter combine.
    let pushed = filter("{ name = \"x\" } && { span.y != nil }");
    assert_eq!(pushed.span_name.as_deref(), Some("x"));
    assert_eq!(pushed.attributes, vec![("y".to_string(), None)]);
    // Alternatives imply nothing.
    assert_eq!(
        filter("{ name = \"a\" } || { name = \"b\" }"),
        SpanFilter::default()
    );
    assert_eq!(
        filter("{ name = \"a\" || name = \"b\" }"),
        SpanFilter::default()
    );
    // Negated structure: only the right side is required.
    let pushed = filter("{ name = \"a\" } !> { span.x != nil }");
    assert_eq!(pushed.span_name, None);
    assert_eq!(pushed.attributes, vec![("x".to_string(), None)]);
    // Unscoped attributes may be resource attributes: not pushed.
    assert_eq!(filter("{ .x = \"1\" }"), SpanFilter::default());
    assert_eq!(filter("{ } | rate()"), SpanFilter::default());
}

#[test]
fn pushdown_never_excludes_a_matching_trace() {
    let spans = shop();
    let queries = [
        "{ resource.service.name = \"cart\" && kind = client }",
        "{ span.http.status_code = 500 }",
        "{ name = \"get /CART\" }",
        "{ duration >= 100ms } >> { span.db.system = \"redis\" }",
        "{ resource.service.name = \"frontend\" && duration < 21ms && duration > 19ms }",
        "{ span.tags != nil && 1 = 1 }",
        "{ span.tags = \"b\" }",
        "{ resource.service.name = \"frontend\" } >> { resource.service.name = \"cart\" }",
        "{ resource.service.name = \"cart\" } && { name = \"GET /cart\" }",
    ];
    for query in queries {
        let parsed = parse(query).expect("parses");
        let pushed = parsed.pushdown();
        assert!(!pushed.is_empty(), "{query} implies something");
        let matches = !parsed.evaluate(&spans).is_empty();
        let admitted = pushed.spans_mask(&spans) == pushed.full_mask();
        assert!(
            admitted || !matches,
            "{query}: pushdown {pushed:?} excludes a match"
        );
    }
}
