//! Zipkin's storage conformance behaviours (ITSpanStore, ITTraces, ITDependencies
//! windowing) run against [`MemoryTraceReader`], numbered as in the wire-contract notes.

use std::sync::Arc;

use weft_model::{Event, KeyValue, Resource, Span, SpanId, SpanKind, TenantId, TraceId};

use super::*;
use crate::QueryError;
use crate::memory::MemoryTraceReader;

/// 2023-11-14T22:13:20Z in milliseconds; every trace here starts around it.
const T_MILLIS: i64 = 1_700_000_000_000;
const DAY_MILLIS: i64 = 86_400_000;

fn tenant() -> TenantId {
    TenantId::single()
}

fn span(trace: u64, id: u64, parent: Option<u64>, service: &str, start_millis: i64) -> Span {
    let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "get");
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = u64::try_from(start_millis).unwrap_or(0) * 1_000_000;
    span.duration_nanos = 10_000_000;
    span
}

fn query(pairs: &[(&str, &str)]) -> ZipkinQuery {
    let defaults = ZipkinQueryDefaults {
        now_millis: T_MILLIS + 60_000,
        lookback_millis: DAY_MILLIS,
        limit: 10,
    };
    ZipkinQuery::from_params(pairs.iter().copied(), defaults).expect("valid query")
}

async fn search_ids(reader: &MemoryTraceReader, pairs: &[(&str, &str)]) -> Vec<u64> {
    search(reader, &tenant(), &query(pairs), ReadLimits::default())
        .await
        .expect("search works")
        .iter()
        .map(|trace| trace[0].trace_id.low_u64())
        .collect()
}

#[tokio::test]
async fn item_01_every_query_works_on_an_empty_store() {
    let reader = MemoryTraceReader::default();
    assert!(search_ids(&reader, &[]).await.is_empty());
    assert!(
        search_ids(&reader, &[("serviceName", "x"), ("annotationQuery", "a")])
            .await
            .is_empty()
    );
    let id = TraceId::from_halves(0, 1);
    assert!(
        trace_by_id(&reader, &tenant(), id)
            .await
            .expect("works")
            .is_empty()
    );
    let ids = [id, TraceId::from_halves(0, 2)];
    let many = trace_many(&reader, &tenant(), &ids, ReadLimits::default()).await;
    assert!(many.expect("works").is_empty());
    let links = dependencies(
        &reader,
        &tenant(),
        T_MILLIS,
        DAY_MILLIS,
        ReadLimits::default(),
    )
    .await;
    assert!(links.expect("works").is_empty());
}

#[tokio::test]
async fn item_02_spans_sent_separately_come_back_as_one_trace() {
    let reader = MemoryTraceReader::default();
    reader.push(&tenant(), [span(1, 1, None, "frontend", T_MILLIS)]);
    reader.push(&tenant(), [span(1, 2, Some(1), "backend", T_MILLIS + 1)]);
    let traces = search(&reader, &tenant(), &query(&[]), ReadLimits::default())
        .await
        .expect("search works");
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].len(), 2);
}

#[tokio::test]
async fn item_03_64_and_128_bit_ids_are_different_traces() {
    let reader = MemoryTraceReader::default();
    let low = 0x463a_c35c_9f64_38b5_u64;
    for (high, tag) in [
        (0_u64, "a"),
        (0x1_u64, "b"),
        (0x463a_c35c_9f64_38b5_u64, "c"),
    ] {
        let mut s = span(low, 1, None, "frontend", T_MILLIS);
        s.trace_id = TraceId::from_halves(high, low);
        s.attributes.push(KeyValue::new("k", tag));
        reader.push(&tenant(), [s]);
    }
    for tag in ["a", "b", "c"] {
        let term = format!("k={tag}");
        let traces = search(
            &reader,
            &tenant(),
            &query(&[("annotationQuery", &term)]),
            ReadLimits::default(),
        )
        .await
        .expect("search works");
        assert_eq!(traces.len(), 1, "tag {tag}");
    }
    let only_low = trace_by_id(&reader, &tenant(), TraceId::from_halves(0, low))
        .await
        .expect("works");
    assert_eq!(
        only_low.len(),
        1,
        "item 19: strict ids do not join the 128-bit traces"
    );
}

#[tokio::test]
async fn item_04_and_07_results_are_the_newest_nearest_end_ts() {
    let reader = MemoryTraceReader::default();
    let early = T_MILLIS - 3_600_000;
    for trace in 1..=10 {
        reader.push(
            &tenant(),
            [span(trace, 1, None, "svc", early + trace as i64)],
        );
        reader.push(
            &tenant(),
            [span(100 + trace, 1, None, "svc", T_MILLIS + trace as i64)],
        );
    }
    let newest = search_ids(&reader, &[("limit", "10")]).await;
    assert_eq!(newest, (101..=110).rev().collect::<Vec<u64>>());
    let end = (T_MILLIS + 10).to_string();
    let late_only = search_ids(&reader, &[("endTs", &end), ("lookback", "1000")]).await;
    assert_eq!(late_only.len(), 10);
    assert!(late_only.iter().all(|&id| id > 100));
    let early_end = (early + 10).to_string();
    let early_only = search_ids(&reader, &[("endTs", &early_end)]).await;
    assert_eq!(early_only, (1..=10).rev().collect::<Vec<u64>>());
    assert_eq!(search_ids(&reader, &[("limit", "1")]).await, [110]);
}

#[tokio::test]
async fn item_05_window_is_inclusive_at_both_ends() {
    let reader = MemoryTraceReader::default();
    let t = T_MILLIS;
    reader.push(&tenant(), [span(1, 1, None, "svc", t + 1)]);
    let found = |end: i64, lookback: i64| {
        let end = end.to_string();
        let lookback = lookback.to_string();
        let reader = &reader;
        async move {
            search_ids(reader, &[("endTs", &end), ("lookback", &lookback)])
                .await
                .len()
        }
    };
    assert_eq!(found(t + 1, DAY_MILLIS).await, 1);
    assert_eq!(found(t + 2, 1).await, 1);
    assert_eq!(found(t, DAY_MILLIS).await, 0);
    assert_eq!(found(t + 3, 1).await, 0);
}

#[tokio::test]
async fn item_05_window_applies_to_the_root_timestamp() {
    let reader = MemoryTraceReader::default();
    // The child started before the window; the root is inside it.
    reader.push(
        &tenant(),
        [
            span(1, 1, None, "svc", T_MILLIS),
            span(1, 2, Some(1), "svc", T_MILLIS - 5_000),
        ],
    );
    let end = T_MILLIS.to_string();
    assert_eq!(
        search_ids(&reader, &[("endTs", &end), ("lookback", "1")]).await,
        [1]
    );
}

#[tokio::test]
async fn item_06_a_trace_ending_after_end_ts_comes_back_complete() {
    let reader = MemoryTraceReader::default();
    let mut root = span(1, 1, None, "frontend", T_MILLIS);
    root.duration_nanos = 10_000_000_000;
    reader.push(
        &tenant(),
        [root, span(1, 2, Some(1), "backend", T_MILLIS + 5_000)],
    );
    let end = (T_MILLIS + 1).to_string();
    let traces = search(
        &reader,
        &tenant(),
        &query(&[("endTs", &end)]),
        ReadLimits::default(),
    )
    .await
    .expect("search works");
    assert_eq!(traces[0].len(), 2);
}

fn frontend_backend(trace: u64, backend_millis: u64, frontend_millis: u64) -> Vec<Span> {
    let mut frontend = span(trace, 1, None, "frontend", T_MILLIS);
    frontend.kind = SpanKind::Server;
    frontend.duration_nanos = frontend_millis * 1_000_000;
    frontend.name = "GET /".to_owned();
    frontend.events.push(Event {
        time_unix_nanos: frontend.start_unix_nanos,
        name: "web".to_owned(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    });
    let mut client = span(trace, 2, Some(1), "frontend", T_MILLIS + 1);
    client.kind = SpanKind::Client;
    client.name = "get /api".to_owned();
    client
        .attributes
        .push(KeyValue::new("peer.service", "backend"));
    client.duration_nanos = backend_millis * 1_000_000;
    let mut backend = span(trace, 2, Some(1), "backend", T_MILLIS + 1);
    backend.kind = SpanKind::Server;
    backend.shared = true;
    backend.name = "get /api".to_owned();
    backend.duration_nanos = backend_millis * 1_000_000;
    backend.attributes.push(KeyValue::new("baz", "qux"));
    vec![frontend, client, backend]
}

#[tokio::test]
async fn items_08_09_service_remote_and_span_name_filters_ignore_case() {
    let reader = MemoryTraceReader::default();
    reader.push(&tenant(), frontend_backend(1, 50, 100));
    assert_eq!(
        search_ids(&reader, &[("serviceName", "FRONTEND")]).await,
        [1]
    );
    assert!(
        search_ids(&reader, &[("serviceName", "db")])
            .await
            .is_empty()
    );
    assert_eq!(
        search_ids(
            &reader,
            &[
                ("serviceName", "frontend"),
                ("remoteServiceName", "BACKEND")
            ]
        )
        .await,
        [1]
    );
    assert_eq!(
        search_ids(
            &reader,
            &[("serviceName", "backend"), ("spanName", "GET /API")]
        )
        .await,
        [1]
    );
    assert!(
        search_ids(
            &reader,
            &[("serviceName", "backend"), ("spanName", "get /")]
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn items_10_11_duration_bounds_are_inclusive_and_per_span() {
    let reader = MemoryTraceReader::default();
    reader.push(&tenant(), frontend_backend(1, 50, 100));
    reader.push(&tenant(), frontend_backend(2, 150, 200));
    let micros = |ms: u64| (ms * 1_000).to_string();
    let ids = |pairs: Vec<(&'static str, String)>| {
        let reader = &reader;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            search_ids(reader, &borrowed).await
        }
    };
    assert_eq!(ids(vec![("minDuration", micros(200))]).await, [2]);
    assert!(
        ids(vec![("minDuration", micros(200) + "1")])
            .await
            .is_empty()
    );
    assert_eq!(
        ids(vec![
            ("minDuration", micros(50)),
            ("maxDuration", micros(50))
        ])
        .await,
        [1]
    );
    assert!(
        ids(vec![
            ("minDuration", micros(48)),
            ("maxDuration", micros(49))
        ])
        .await
        .is_empty()
    );
    let backend = |min: u64, max: u64| {
        vec![
            ("serviceName", "backend".to_owned()),
            ("minDuration", micros(min)),
            ("maxDuration", micros(max)),
        ]
    };
    let mut both = ids(backend(50, 150)).await;
    both.sort_unstable();
    assert_eq!(both, [1, 2]);
    assert_eq!(ids(backend(100, 150)).await, [2]);
    // The frontend's 100 ms root is not a backend span.
    assert!(ids(backend(100, 100)).await.is_empty());
    assert_eq!(
        ids(vec![
            ("serviceName", "frontend".to_owned()),
            ("minDuration", micros(200))
        ])
        .await,
        [2]
    );
}

#[tokio::test]
async fn items_12_13_late_fragments_join_and_untimed_traces_are_hidden() {
    let reader = MemoryTraceReader::default();
    let mut early = span(1, 1, None, "svc", T_MILLIS);
    early.start_unix_nanos = 0;
    early.duration_nanos = 0;
    reader.push(&tenant(), [early]);
    assert!(
        search_ids(&reader, &[]).await.is_empty(),
        "item 13: no timestamp, not searchable"
    );
    let mut late = span(1, 1, None, "svc", T_MILLIS);
    late.duration_nanos = 300_000_000;
    reader.push(&tenant(), [late]);
    let traces = search(
        &reader,
        &tenant(),
        &query(&[("minDuration", "300000")]),
        ReadLimits::default(),
    )
    .await
    .expect("search works");
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].len(), 2, "both fragments come back");
}

#[tokio::test]
async fn items_14_15_annotation_query_matches_annotations_and_tags_of_the_service() {
    let reader = MemoryTraceReader::default();
    reader.push(&tenant(), frontend_backend(1, 50, 100));
    assert_eq!(
        search_ids(&reader, &[("annotationQuery", "web")]).await,
        [1]
    );
    assert_eq!(
        search_ids(&reader, &[("annotationQuery", "web and baz=qux")]).await,
        [1]
    );
    assert_eq!(
        search_ids(&reader, &[("annotationQuery", "baz")]).await,
        [1]
    );
    assert!(
        search_ids(&reader, &[("annotationQuery", "web and nope")])
            .await
            .is_empty()
    );
    assert!(
        search_ids(&reader, &[("annotationQuery", "baz=quux")])
            .await
            .is_empty()
    );
    assert_eq!(
        search_ids(
            &reader,
            &[("serviceName", "frontend"), ("annotationQuery", "web")]
        )
        .await,
        [1]
    );
    assert!(
        search_ids(
            &reader,
            &[("serviceName", "backend"), ("annotationQuery", "web")]
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn item_16_client_and_server_with_one_id_are_both_returned() {
    let reader = MemoryTraceReader::default();
    reader.push(&tenant(), frontend_backend(1, 50, 100));
    let spans = trace_by_id(&reader, &tenant(), TraceId::from_halves(0, 1))
        .await
        .expect("works");
    assert_eq!(spans.len(), 3);
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.span_id == SpanId::from_u64(2))
            .count(),
        2
    );
}

#[tokio::test]
async fn item_20_trace_many_returns_only_the_requested_traces() {
    let reader = MemoryTraceReader::default();
    for trace in 1..=3 {
        reader.push(&tenant(), [span(trace, 1, None, "svc", T_MILLIS)]);
    }
    let ids = parse_trace_ids("3,1,9").expect("valid ids");
    let traces = trace_many(&reader, &tenant(), &ids, ReadLimits::default())
        .await
        .expect("works");
    let found: Vec<u64> = traces.iter().map(|t| t[0].trace_id.low_u64()).collect();
    assert_eq!(found, [3, 1]);
}

#[tokio::test]
async fn item_21_identical_duplicates_are_returned_once() {
    let reader = MemoryTraceReader::default();
    let root = span(1, 1, None, "svc", T_MILLIS);
    reader.push(&tenant(), [root.clone()]);
    reader.push(&tenant(), [root]);
    let spans = trace_by_id(&reader, &tenant(), TraceId::from_halves(0, 1))
        .await
        .expect("works");
    assert_eq!(spans.len(), 1);
    let traces = search(&reader, &tenant(), &query(&[]), ReadLimits::default())
        .await
        .expect("works");
    assert_eq!(traces[0].len(), 1);
}

#[tokio::test]
async fn search_stops_at_the_examination_bound_after_pushdown() {
    let reader = MemoryTraceReader::default();
    for trace in 1..=20 {
        let mut s = span(trace, 1, None, "svc", T_MILLIS + trace as i64);
        if trace == 1 {
            s.attributes.push(KeyValue::new("rare", "yes"));
        }
        reader.push(&tenant(), [s]);
    }
    let limits = ReadLimits {
        max_traces_examined: 5,
        concurrent_trace_reads: 2,
    };
    let rare = search(
        &reader,
        &tenant(),
        &query(&[("annotationQuery", "rare")]),
        limits,
    )
    .await
    .expect("works");
    assert_eq!(
        rare.len(),
        1,
        "the tag criterion is pushed down, so the oldest trace is a candidate within the bound"
    );
    let all = search(&reader, &tenant(), &query(&[("limit", "100")]), limits)
        .await
        .expect("works");
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn item_39_dependency_window_and_validation() {
    let reader = MemoryTraceReader::default();
    let mut client = span(1, 2, Some(1), "frontend", T_MILLIS + 1);
    client.kind = SpanKind::Client;
    client
        .attributes
        .push(KeyValue::new("peer.service", "backend"));
    let mut root = span(1, 1, None, "frontend", T_MILLIS);
    root.kind = SpanKind::Server;
    root.duration_nanos = 60_000_000_000;
    reader.push(&tenant(), [root, client]);
    let links = |end: i64, lookback: i64| {
        let reader = &reader;
        async move {
            dependencies(reader, &tenant(), end, lookback, ReadLimits::default())
                .await
                .map(|links| links.len())
        }
    };
    assert_eq!(
        links(T_MILLIS - 1, DAY_MILLIS).await,
        Ok(0),
        "endTs before the data"
    );
    assert_eq!(
        links(T_MILLIS + DAY_MILLIS + 1, DAY_MILLIS).await,
        Ok(0),
        "endTs past lookback"
    );
    assert_eq!(
        links(T_MILLIS + 30_000, DAY_MILLIS).await,
        Ok(1),
        "endTs inside the trace"
    );
    assert_eq!(links(T_MILLIS, 1).await, Ok(1));
    let invalid = |result: Result<usize, QueryError>| result.err().map(|e| e.to_string());
    assert_eq!(
        invalid(links(0, DAY_MILLIS).await).as_deref(),
        Some("endTs <= 0")
    );
    assert_eq!(
        invalid(links(T_MILLIS, 0).await).as_deref(),
        Some("lookback <= 0")
    );
}

#[tokio::test]
async fn item_39_two_days_of_links_sum() {
    let reader = MemoryTraceReader::default();
    for (trace, start) in [(1_u64, T_MILLIS), (2, T_MILLIS - DAY_MILLIS)] {
        let mut client = span(trace, 1, None, "frontend", start);
        client.kind = SpanKind::Client;
        client
            .attributes
            .push(KeyValue::new("peer.service", "backend"));
        reader.push(&tenant(), [client]);
    }
    let one_day = dependencies(
        &reader,
        &tenant(),
        T_MILLIS,
        DAY_MILLIS - 1,
        ReadLimits::default(),
    )
    .await
    .expect("works");
    assert_eq!(one_day[0].call_count, 1);
    let two_days = dependencies(
        &reader,
        &tenant(),
        T_MILLIS,
        2 * DAY_MILLIS,
        ReadLimits::default(),
    )
    .await
    .expect("works");
    assert_eq!(two_days[0].call_count, 2);
}

#[tokio::test]
async fn item_34_dependencies_join_a_trace_split_by_a_dropped_high_half() {
    let reader = MemoryTraceReader::default();
    let high = TraceId::from_halves(0xabc, 7);
    let mut root = span(7, 1, None, "frontend", T_MILLIS);
    root.trace_id = high;
    root.kind = SpanKind::Server;
    let mut client = span(7, 2, Some(1), "frontend", T_MILLIS + 1);
    client.trace_id = high;
    client.kind = SpanKind::Client;
    client
        .attributes
        .push(KeyValue::new("peer.service", "backend"));
    // The backend dropped the high half, so its server span is stored under the 64-bit id.
    let mut server = span(7, 2, Some(1), "backend", T_MILLIS + 1);
    server.kind = SpanKind::Server;
    server.shared = true;
    reader.push(&tenant(), [root, client, server]);
    let links = dependencies(
        &reader,
        &tenant(),
        T_MILLIS + 10,
        DAY_MILLIS,
        ReadLimits::default(),
    )
    .await
    .expect("works");
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].parent.as_str(), links[0].child.as_str()),
        ("frontend", "backend")
    );
    assert_eq!(links[0].call_count, 1);
}
