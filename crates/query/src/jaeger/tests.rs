//! Jaeger query semantics over an in-memory store: request parsing, FindTraces rules
//! (as Jaeger's memory store applies them), the trace view and operations.

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind,
    StatusCode, TenantId, TimeWindow, TraceId,
};

use super::*;
use crate::QueryError;
use crate::memory::MemoryTraceReader;
use crate::zipkin::ReadLimits;

/// 2023-11-14T22:13:20Z in nanoseconds.
const T: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

const DEFAULTS: JaegerQueryDefaults = JaegerQueryDefaults {
    now_unix_nanos: T + 3_600_000 * MS,
    lookback_nanos: 2 * 86_400_000 * MS,
    limit: 100,
};

fn resource(service: &str, tags: &[(&str, &str)]) -> Arc<Resource> {
    let mut resource = Resource::for_service(service);
    for (key, value) in tags {
        resource.attributes.push(KeyValue::new(*key, *value));
    }
    Arc::new(resource)
}

fn span(trace: u64, id: u64, parent: Option<u64>, resource: &Arc<Resource>, name: &str) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), name);
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.resource = resource.clone();
    span.start_unix_nanos = T + trace * 1_000 * MS + id * MS;
    span.duration_nanos = 10 * MS;
    span
}

fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nanos: T + 5 * MS,
        name: name.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// Trace 1: frontend server `GET /` with a process tag `host=h1`, calling backend
/// `query` (client span with tag `db=pg` and a log `retry` with field `attempt=2`).
fn frontend_trace() -> Vec<Span> {
    let frontend = resource("frontend", &[("host", "h1")]);
    let backend = resource("backend", &[]);
    let mut root = span(1, 1, None, &frontend, "GET /");
    root.kind = SpanKind::Server;
    root.duration_nanos = 100 * MS;
    let mut client = span(1, 2, Some(1), &backend, "query");
    client.kind = SpanKind::Client;
    client.attributes.push(KeyValue::new("db", "pg"));
    client
        .events
        .push(event("retry", vec![KeyValue::new("attempt", 2i64)]));
    vec![root, client]
}

fn v1(pairs: &[(&str, &str)]) -> Result<TraceQuery, QueryError> {
    TraceQuery::from_v1_params(pairs.iter().copied(), DEFAULTS)
}

fn v1_error(pairs: &[(&str, &str)]) -> String {
    match v1(pairs) {
        Err(error) => error.to_string(),
        Ok(query) => panic!("expected an error, got {query:?}"),
    }
}

fn query(pairs: &[(&str, &str)]) -> TraceQuery {
    v1(pairs).expect("valid query")
}

#[test]
fn v1_defaults_are_jaegers() {
    let query = query(&[("service", "frontend"), ("lookback", "1h")]);
    assert_eq!(query.limit, 100);
    assert_eq!(query.start_max_unix_nanos, DEFAULTS.now_unix_nanos);
    assert_eq!(
        query.start_min_unix_nanos,
        DEFAULTS.now_unix_nanos - DEFAULTS.lookback_nanos
    );
    assert!(!query.raw);
    assert!(query.tags.is_empty());
}

#[test]
fn v1_start_and_end_are_inclusive_microseconds() {
    let query = query(&[("service", "s"), ("start", "10"), ("end", "20")]);
    assert_eq!(query.start_min_unix_nanos, 10_000);
    assert_eq!(query.start_max_unix_nanos, 20_999);
}

#[test]
fn v1_tags_come_from_json_and_key_value_forms() {
    let query = query(&[
        ("service", "s"),
        ("tag", "http.url:http://x:80/"),
        ("tags", r#"{"error":"true","db":"pg"}"#),
        ("tag", "db:mysql"),
    ]);
    assert_eq!(
        query.tags,
        [
            ("http.url".to_owned(), "http://x:80/".to_owned()),
            ("db".to_owned(), "pg".to_owned()),
            ("error".to_owned(), "true".to_owned()),
        ]
    );
}

#[test]
fn v1_bad_parameters_get_jaegers_messages() {
    assert_eq!(v1_error(&[]), "parameter 'service' is required");
    assert_eq!(
        v1_error(&[("service", "s"), ("start", "x")]),
        "unable to parse param 'start': invalid digit found in string"
    );
    assert!(
        v1_error(&[("service", "s"), ("end", "1.5")]).starts_with("unable to parse param 'end'")
    );
    assert!(
        v1_error(&[("service", "s"), ("limit", "ten")])
            .starts_with("unable to parse param 'limit'")
    );
    assert_eq!(
        v1_error(&[("service", "s"), ("minDuration", "10")]),
        "unable to parse param 'minDuration': time: missing unit in duration \"10\""
    );
    assert!(
        v1_error(&[("service", "s"), ("maxDuration", "x")])
            .starts_with("unable to parse param 'maxDuration'")
    );
    assert_eq!(
        v1_error(&[("service", "s"), ("minDuration", "-1s")]),
        "unable to parse param 'minDuration': time: negative duration \"-1s\"",
        "no Jaeger bound can be negative"
    );
    assert_eq!(
        v1_error(&[
            ("service", "s"),
            ("minDuration", "2s"),
            ("maxDuration", "1s")
        ]),
        "'maxDuration' should be greater than 'minDuration'"
    );
    assert_eq!(
        v1_error(&[("service", "s"), ("tag", "novalue")]),
        "malformed 'tag' parameter, expecting key:value, received: novalue"
    );
    assert!(
        v1_error(&[("service", "s"), ("tags", "{bad")])
            .starts_with("malformed 'tags' parameter, cannot unmarshal JSON:")
    );
    assert_eq!(
        v1_error(&[("traceID", "xyz")]),
        "cannot parse traceID param: TraceID is not hex: xyz"
    );
    assert!(
        v1_error(&[("service", "s"), ("raw", "yes")]).starts_with("unable to parse param 'raw'")
    );
}

#[test]
fn v1_trace_ids_replace_the_service_requirement() {
    let query = query(&[
        ("traceID", "a"),
        ("traceID", "0000000000000000a"),
        ("traceID", "0"),
    ]);
    assert_eq!(query.trace_ids, [TraceId::from_halves(0, 10)]);
    assert!(query.service_name.is_empty());
}

fn v3(pairs: &[(&str, &str)]) -> Result<TraceQuery, QueryError> {
    TraceQuery::from_v3_params(pairs.iter().copied(), DEFAULTS)
}

fn v3_error(pairs: &[(&str, &str)]) -> String {
    match v3(pairs) {
        Err(error) => error.to_string(),
        Ok(query) => panic!("expected an error, got {query:?}"),
    }
}

#[test]
fn v3_parameters_in_both_spellings() {
    let camel = v3(&[
        ("query.serviceName", "frontend"),
        ("query.operationName", "GET /"),
        ("query.startTimeMin", "2023-11-14T22:13:20Z"),
        ("query.startTimeMax", "2023-11-14T23:13:20Z"),
        ("query.durationMin", "1ms"),
        ("query.durationMax", "1s"),
        ("query.searchDepth", "5"),
        ("query.attributes", r#"{"db":"pg"}"#),
        ("query.rawTraces", "true"),
    ])
    .expect("valid");
    assert_eq!(camel.service_name, "frontend");
    assert_eq!(camel.operation_name.as_deref(), Some("GET /"));
    assert_eq!(camel.start_min_unix_nanos, T);
    assert_eq!(camel.start_max_unix_nanos, T + 3_600_000 * MS);
    assert_eq!(camel.duration_min_nanos, Some(MS));
    assert_eq!(camel.duration_max_nanos, Some(1_000 * MS));
    assert_eq!(camel.limit, 5);
    assert_eq!(camel.tags, [("db".to_owned(), "pg".to_owned())]);
    assert!(camel.raw);
    let snake = v3(&[
        ("query.service_name", "frontend"),
        ("query.start_time_min", "2023-11-14T22:13:20Z"),
        ("query.start_time_max", "2023-11-14T23:13:20Z"),
        ("query.num_traces", "7"),
    ])
    .expect("valid");
    assert_eq!(snake.service_name, "frontend");
    assert_eq!(snake.limit, 7);
}

#[test]
fn v3_bad_parameters_name_the_parameter() {
    let window = [
        ("query.serviceName", "s"),
        ("query.startTimeMin", "2023-11-14T22:13:20Z"),
        ("query.startTimeMax", "2023-11-14T23:13:20Z"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut pairs = window.to_vec();
        pairs.push(extra);
        v3_error(&pairs)
    };
    assert_eq!(
        v3_error(&[("query.serviceName", "s")]),
        "query.startTimeMin and query.startTimeMax are required"
    );
    assert_eq!(
        with(("query.start_time_min", "yesterday")),
        "malformed parameter query.start_time_min: cannot parse \"yesterday\" as RFC3339Nano"
    );
    assert!(
        with(("query.durationMin", "5"))
            .starts_with("malformed parameter query.durationMin: time: missing unit")
    );
    assert!(with(("query.searchDepth", "x")).starts_with("malformed parameter query.searchDepth:"));
    assert_eq!(
        with(("query.searchDepth", "0")),
        "query.searchDepth must be greater than 0"
    );
    assert!(with(("query.attributes", "[1]")).starts_with("malformed parameter query.attributes:"));
    assert!(with(("query.rawTraces", "maybe")).starts_with("malformed parameter query.rawTraces:"));
    assert_eq!(
        with(("query.startTimeMax", "2023-11-14T21:13:20Z")),
        "query.startTimeMax must not be before query.startTimeMin"
    );
    assert_eq!(
        v3_error(&window[1..]),
        "parameter 'query.serviceName' is required"
    );
}

#[test]
fn tags_match_span_tags_process_tags_and_log_fields() {
    let trace = frontend_trace();
    let found = |pairs: &[(&str, &str)]| matches(&query(pairs), &trace);
    // Span tag of backend's span.
    assert!(found(&[("service", "backend"), ("tag", "db:pg")]));
    // Process tag of frontend.
    assert!(found(&[("service", "frontend"), ("tag", "host:h1")]));
    // Log field and the log's event name, as the `event` field.
    assert!(found(&[("service", "backend"), ("tag", "attempt:2")]));
    assert!(found(&[("service", "backend"), ("tag", "event:retry")]));
    // Derived tags.
    assert!(found(&[
        ("service", "frontend"),
        ("tag", "span.kind:server")
    ]));
    assert!(!found(&[("service", "backend"), ("tag", "db:mysql")]));
    // Case-sensitive values and service names.
    assert!(!found(&[("service", "Backend"), ("tag", "db:pg")]));
}

#[test]
fn one_span_must_satisfy_every_criterion() {
    let trace = frontend_trace();
    let found = |pairs: &[(&str, &str)]| matches(&query(pairs), &trace);
    // db=pg is on backend's span, host=h1 on frontend's process: no single span has both.
    assert!(!found(&[("service", "frontend"), ("tag", "db:pg")]));
    assert!(!found(&[("service", "backend"), ("tag", "host:h1")]));
    assert!(!found(&[("service", "backend"), ("operation", "GET /")]));
    assert!(found(&[
        ("service", "backend"),
        ("operation", "query"),
        ("tag", "db:pg")
    ]));
    // frontend's span lasts 100ms, backend's 10ms.
    assert!(!found(&[("service", "backend"), ("minDuration", "50ms")]));
    assert!(found(&[("service", "frontend"), ("minDuration", "50ms")]));
}

#[test]
fn duration_bounds_are_inclusive() {
    let trace = frontend_trace();
    let found = |pairs: &[(&str, &str)]| matches(&query(pairs), &trace);
    assert!(found(&[
        ("service", "backend"),
        ("minDuration", "10ms"),
        ("maxDuration", "10ms")
    ]));
    assert!(!found(&[
        ("service", "backend"),
        ("minDuration", "10001us")
    ]));
    assert!(!found(&[("service", "backend"), ("maxDuration", "9999us")]));
    // 0 means no bound, as in Jaeger.
    assert!(found(&[
        ("service", "backend"),
        ("minDuration", "0"),
        ("maxDuration", "0")
    ]));
}

#[test]
fn the_matching_span_must_start_in_the_window() {
    let trace = frontend_trace();
    let backend_start_micros = (trace[1].start_unix_nanos / 1_000).to_string();
    let before = (trace[1].start_unix_nanos / 1_000 - 1).to_string();
    let found = |start: &str, end: &str| {
        matches(
            &query(&[("service", "backend"), ("start", start), ("end", end)]),
            &trace,
        )
    };
    assert!(found(&backend_start_micros, &backend_start_micros));
    assert!(!found("0", &before));
}

fn reader_with(traces: Vec<Vec<Span>>) -> MemoryTraceReader {
    let reader = MemoryTraceReader::new(Vec::new());
    for trace in traces {
        reader.push(&TenantId::single(), trace);
    }
    reader
}

/// Frontend traces with the ids in `ids`, trace `n` starting n seconds after T.
fn numbered_traces(ids: std::ops::RangeInclusive<u64>) -> Vec<Vec<Span>> {
    let frontend = resource("frontend", &[]);
    ids.map(|trace| vec![span(trace, 1, None, &frontend, "GET /")])
        .collect()
}

#[tokio::test]
async fn find_traces_returns_the_newest_up_to_the_limit() {
    let reader = reader_with(numbered_traces(1..=5));
    let found = find_traces(
        &reader,
        &TenantId::single(),
        &query(&[("service", "frontend"), ("limit", "2"), ("start", "0")]),
        ReadLimits::default(),
    )
    .await
    .expect("search");
    assert_eq!(found.partial, None);
    let ids: Vec<u64> = found
        .traces
        .iter()
        .map(|trace| trace[0].trace_id.low_u64())
        .collect();
    assert_eq!(ids, [5, 4]);
}

#[tokio::test]
async fn find_traces_says_when_the_examined_bound_cut_it_short() {
    let mut traces = numbered_traces(2..=6);
    traces.push(frontend_trace());
    let reader = reader_with(traces);
    let limits = ReadLimits {
        max_traces_examined: 3,
        concurrent_trace_reads: 2,
    };
    let query = query(&[("service", "frontend"), ("start", "0"), ("tag", "host:h1")]);
    let found = find_traces(&reader, &TenantId::single(), &query, limits)
        .await
        .expect("search");
    assert!(
        found.traces.is_empty(),
        "trace 1 is older than the newest 3"
    );
    assert_eq!(found.partial, Some(crate::search::Partial::CandidateLimit));
    let found = find_traces(&reader, &TenantId::single(), &query, ReadLimits::default())
        .await
        .expect("search");
    assert_eq!(found.traces.len(), 1);
    assert_eq!(found.partial, None);
}

#[tokio::test]
async fn find_traces_verifies_what_the_store_cannot() {
    let mut traces = numbered_traces(2..=4);
    traces.push(frontend_trace());
    let reader = reader_with(traces);
    let search = |pairs: Vec<(&'static str, &'static str)>| {
        let query = query(&pairs);
        let reader = &reader;
        async move {
            find_traces(reader, &TenantId::single(), &query, ReadLimits::default())
                .await
                .expect("search")
                .traces
                .iter()
                .map(|trace| trace[0].trace_id.low_u64())
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(
        search(vec![
            ("service", "frontend"),
            ("start", "0"),
            ("tag", "host:h1")
        ])
        .await,
        [1]
    );
    assert_eq!(
        search(vec![
            ("service", "backend"),
            ("start", "0"),
            ("tag", "attempt:2")
        ])
        .await,
        [1]
    );
    assert!(
        search(vec![("service", "nobody"), ("start", "0")])
            .await
            .is_empty()
    );
    assert_eq!(
        search(vec![("service", "frontend"), ("start", "0")]).await,
        [4, 3, 2, 1]
    );
}

#[tokio::test]
async fn traces_by_ids_reports_missing_ids() {
    let reader = reader_with(numbered_traces(1..=2));
    let ids = [
        TraceId::from_halves(0, 2),
        TraceId::from_halves(0, 9),
        TraceId::from_halves(0, 1),
    ];
    let (found, missing) = traces_by_ids(&reader, &TenantId::single(), &ids, ReadLimits::default())
        .await
        .expect("read");
    let found_ids: Vec<u64> = found
        .iter()
        .map(|trace| trace[0].trace_id.low_u64())
        .collect();
    assert_eq!(found_ids, [2, 1]);
    assert_eq!(missing, [TraceId::from_halves(0, 9)]);
}

#[tokio::test]
async fn operations_learn_kinds_from_recent_traces() {
    let reader = reader_with(vec![frontend_trace()]);
    let mut unsampled = frontend_trace();
    for span in &mut unsampled {
        span.trace_id = TraceId::from_halves(0, 77);
        span.name = format!("{} (old)", span.name);
        span.start_unix_nanos -= 86_400_000 * MS;
    }
    reader.push(&TenantId::single(), unsampled);
    let sample = KindSample {
        window: TimeWindow {
            start_unix_nanos: T,
            end_unix_nanos: T + 3_600_000 * MS,
        },
        max_traces: 10,
    };
    let tenant = TenantId::single();
    let all = operations(
        &reader,
        &tenant,
        "frontend",
        None,
        sample,
        ReadLimits::default(),
    )
    .await
    .expect("operations");
    assert_eq!(
        all,
        [
            Operation {
                name: "GET /".to_owned(),
                span_kind: "server".to_owned()
            },
            Operation {
                name: "GET / (old)".to_owned(),
                span_kind: String::new()
            },
        ]
    );
    let servers = operations(
        &reader,
        &tenant,
        "frontend",
        Some("SERVER"),
        sample,
        ReadLimits::default(),
    )
    .await
    .expect("operations");
    assert_eq!(servers.len(), 1);
    let clients = operations(
        &reader,
        &tenant,
        "frontend",
        Some("client"),
        sample,
        ReadLimits::default(),
    )
    .await
    .expect("operations");
    assert!(clients.is_empty());
    assert_eq!(
        operation_names(&reader, &tenant, "backend")
            .await
            .expect("names"),
        ["query", "query (old)"]
    );
    assert_eq!(
        services(&reader, &tenant).await.expect("services"),
        ["backend", "frontend"]
    );
}

#[test]
fn view_maps_status_kind_scope_and_logs_like_jaegers_translator() {
    let mut spans = frontend_trace();
    let root = &mut spans[0];
    root.status.code = StatusCode::Error;
    root.status.message = "boom".to_owned();
    root.scope = Arc::new(InstrumentationScope {
        name: "io.opentelemetry.http".to_owned(),
        version: "1.0".to_owned(),
        attributes: Vec::new(),
    });
    root.attributes
        .push(KeyValue::new("http.status_code", 500i64));
    root.attributes.push(KeyValue {
        key: "ratio".to_owned(),
        value: AttributeValue::Double(0.5),
    });
    root.attributes.push(KeyValue::new("ok", false));
    root.attributes.push(KeyValue {
        key: "raw".to_owned(),
        value: AttributeValue::Bytes(vec![1, 255]),
    });
    root.flags = 1;
    root.debug = true;
    root.trace_state = "k=v".to_owned();
    let trace = to_jaeger_trace(root.trace_id, &spans, true);
    let tags: Vec<(String, &str, String)> = trace.spans[0]
        .tags
        .iter()
        .map(|tag| (tag.key.clone(), tag.value.type_name(), tag.value.to_text()))
        .collect();
    let expected = [
        ("http.status_code", "int64", "500"),
        ("ratio", "float64", "0.5"),
        ("ok", "bool", "false"),
        ("raw", "binary", "01ff"),
        ("otel.scope.name", "string", "io.opentelemetry.http"),
        ("otel.scope.version", "string", "1.0"),
        ("span.kind", "string", "server"),
        ("otel.status_code", "string", "ERROR"),
        ("error", "bool", "true"),
        ("otel.status_description", "string", "boom"),
        ("w3c.tracestate", "string", "k=v"),
    ];
    let expected: Vec<(String, &str, String)> = expected
        .iter()
        .map(|(key, kind, value)| ((*key).to_owned(), *kind, (*value).to_owned()))
        .collect();
    assert_eq!(tags, expected);
    assert_eq!(trace.spans[0].flags, 3);
    let log = &trace.spans[1].logs[0];
    assert_eq!(log.timestamp_micros, (T + 5 * MS) / 1_000);
    assert_eq!(log.fields[0].key, "event");
    assert_eq!(log.fields[1].key, "attempt");
    assert_eq!(trace.processes.len(), 2);
    assert_eq!(trace.processes[0].service_name, "frontend");
    assert_eq!(trace.processes[0].tags[0].key, "host");
    assert_eq!(trace.spans[1].process_index, 1);
    assert_eq!(
        trace.spans[1].references[0].ref_type,
        ReferenceType::ChildOf
    );
    assert_eq!(trace.spans[1].references[0].span_id, SpanId::from_u64(1));
}

#[test]
fn a_zipkin_error_tag_is_not_repeated() {
    let mut spans = frontend_trace();
    spans[0].attributes.push(KeyValue::new("error", "timeout"));
    spans[0].status.code = StatusCode::Error;
    let trace = to_jaeger_trace(spans[0].trace_id, &spans, true);
    let errors: Vec<String> = trace.spans[0]
        .tags
        .iter()
        .filter(|tag| tag.key == "error")
        .map(|tag| tag.value.to_text())
        .collect();
    assert_eq!(errors, ["timeout"]);
}

#[test]
fn equal_resources_share_one_process_and_links_become_references() {
    let mut spans = frontend_trace();
    // Same content, another Arc.
    spans[1].resource = resource("frontend", &[("host", "h1")]);
    spans[1].links.push(Link {
        trace_id: TraceId::from_halves(0, 99),
        span_id: SpanId::from_u64(5),
        trace_state: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        flags: 0,
    });
    spans[1].links.push(Link {
        trace_id: TraceId::from_halves(0, 98),
        span_id: SpanId::from_u64(6),
        trace_state: String::new(),
        attributes: vec![KeyValue::new("opentracing.ref_type", "child_of")],
        dropped_attributes_count: 0,
        flags: 0,
    });
    let trace = to_jaeger_trace(spans[0].trace_id, &spans, true);
    assert_eq!(trace.processes.len(), 1);
    let types: Vec<&str> = trace.spans[1]
        .references
        .iter()
        .map(|reference| reference.ref_type.as_str())
        .collect();
    assert_eq!(types, ["CHILD_OF", "FOLLOWS_FROM", "CHILD_OF"]);
    assert_eq!(
        trace.spans[1].references[1].trace_id,
        TraceId::from_halves(0, 99)
    );
}

#[test]
fn shared_server_span_ids_are_made_unique_unless_raw() {
    let frontend = resource("frontend", &[]);
    let backend = resource("backend", &[]);
    let mut client = span(1, 2, Some(1), &frontend, "call");
    client.kind = SpanKind::Client;
    let mut server = span(1, 2, Some(1), &backend, "serve");
    server.kind = SpanKind::Server;
    server.shared = true;
    let child = span(1, 3, Some(2), &backend, "db");
    let root = span(1, 1, None, &frontend, "root");
    let spans = vec![root, client, server, child];
    let adjusted = to_jaeger_trace(spans[0].trace_id, &spans, true);
    let new_server_id = adjusted.spans[2].span_id;
    assert_eq!(new_server_id, SpanId::from_u64(4));
    assert_eq!(adjusted.spans[2].references[0].span_id, SpanId::from_u64(2));
    assert_eq!(adjusted.spans[3].references[0].span_id, new_server_id);
    assert_eq!(adjusted.spans[1].span_id, SpanId::from_u64(2));
    let raw = to_jaeger_trace(spans[0].trace_id, &spans, false);
    assert_eq!(raw.spans[2].span_id, SpanId::from_u64(2));
    assert_eq!(raw.spans[3].references[0].span_id, SpanId::from_u64(2));
}

#[test]
fn overview_counts_services_errors_and_orphans() {
    let mut spans = frontend_trace();
    spans[1].status.code = StatusCode::Error;
    let backend = resource("backend", &[]);
    spans.push(span(1, 9, Some(42), &backend, "orphan"));
    let summary = overview(&spans);
    assert_eq!(summary.root_service_name, "frontend");
    assert_eq!(summary.root_operation_name, "GET /");
    assert_eq!(summary.span_count, 3);
    assert_eq!(summary.error_span_count, 1);
    assert_eq!(summary.orphan_span_count, 1);
    assert_eq!(summary.min_start_unix_nanos, spans[0].start_unix_nanos);
    assert_eq!(summary.max_end_unix_nanos, spans[0].end_unix_nanos());
    let services: Vec<(&str, u64, u64)> = summary
        .services
        .iter()
        .map(|service| {
            (
                service.name.as_str(),
                service.span_count,
                service.error_span_count,
            )
        })
        .collect();
    assert_eq!(services, [("backend", 2, 1), ("frontend", 1, 0)]);
}

/// Tag search reads attributes directly; this guards that it finds exactly the tags,
/// process tags and log fields the trace view shows.
#[test]
fn every_tag_the_view_shows_is_searchable_and_nothing_else() {
    let mut spans = frontend_trace();
    let client = &mut spans[1];
    client.status.code = StatusCode::Error;
    client.status.message = "deadlock".to_owned();
    client.trace_state = "k=v".to_owned();
    client.scope = Arc::new(InstrumentationScope {
        name: "lib".to_owned(),
        version: "2".to_owned(),
        attributes: Vec::new(),
    });
    client.attributes.push(KeyValue {
        key: "blob".to_owned(),
        value: AttributeValue::Bytes(vec![0xab]),
    });
    client.attributes.push(KeyValue {
        key: "list".to_owned(),
        value: AttributeValue::Array(vec![AttributeValue::Int(1), AttributeValue::Int(2)]),
    });
    client.resource = resource("backend", &[("region", "eu")]);
    let client = &spans[1];
    let view = to_jaeger_trace(client.trace_id, &spans, false);
    let shown = &view.spans[1];
    let process = &view.processes[shown.process_index];
    let mut every_pair: Vec<&JaegerKeyValue> = shown.tags.iter().collect();
    every_pair.extend(process.tags.iter());
    every_pair.extend(shown.logs.iter().flat_map(|log| log.fields.iter()));
    assert_eq!(every_pair.len(), 13, "{every_pair:?}");
    for pair in every_pair {
        let text = pair.value.to_text();
        assert!(
            view::span_has_tag(client, &pair.key, &text),
            "{} = {text}",
            pair.key
        );
        assert!(!view::span_has_tag(client, &pair.key, &format!("{text}x")));
    }
    assert!(!view::span_has_tag(client, "service.name", "backend"));
    assert!(!view::span_has_tag(client, "span.kind", "server"));
}
