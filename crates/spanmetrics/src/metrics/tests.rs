use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_model::{KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TenantId, TraceId};

use super::*;
use crate::config::ServiceGraphConfig;

fn span(trace: u8, id: u8, parent: Option<u8>, service: &str, kind: SpanKind) -> Span {
    let mut span = Span::new(
        TraceId([trace; 16]),
        SpanId([id; 8]),
        format!("op-{service}"),
    );
    span.parent_span_id = parent.map(|parent| SpanId([parent; 8]));
    span.resource = Arc::new(Resource::for_service(service));
    span.kind = kind;
    span.duration_nanos = 150_000_000;
    span
}

fn metrics() -> SpanMetrics {
    SpanMetrics::new(SpanMetricsConfig::default()).expect("valid defaults")
}

fn render(metrics: &SpanMetrics, now: Instant) -> String {
    let mut out = String::new();
    metrics.render(&mut out, now);
    out
}

/// The value of the sample line that starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn calls_and_latency_per_service_name_kind_and_status() {
    let metrics = metrics();
    let now = Instant::now();
    let mut failing = span(1, 2, None, "api", SpanKind::Server);
    failing.status.code = StatusCode::Error;
    failing.duration_nanos = 3_000_000;
    let spans = vec![
        span(1, 1, None, "api", SpanKind::Server),
        failing.clone(),
        failing,
    ];
    metrics.record(&TenantId::single(), &spans, now);
    let text = render(&metrics, now);
    let ok = r#"{service="api",span_name="op-api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#;
    let error = r#"{service="api",span_name="op-api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"}"#;
    assert_eq!(
        value(&text, &format!("traces_spanmetrics_calls_total{ok}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, &format!("traces_spanmetrics_calls_total{error}")),
        Some(2.0)
    );
    let bucket = r#"traces_spanmetrics_latency_bucket{service="api",span_name="op-api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="0.004"}"#;
    assert_eq!(value(&text, bucket), Some(2.0));
    let bucket = r#"traces_spanmetrics_latency_bucket{service="api",span_name="op-api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="0.128"}"#;
    assert_eq!(value(&text, bucket), Some(0.0));
    let sum = format!("traces_spanmetrics_latency_sum{error}");
    assert!(value(&text, &sum).is_some_and(|sum| (sum - 0.006).abs() < 1e-9));
}

#[test]
fn tenants_other_than_the_single_one_are_labelled_and_series_are_bounded() {
    let config = SpanMetricsConfig {
        max_series: 2,
        ..SpanMetricsConfig::default()
    };
    let metrics = SpanMetrics::new(config).expect("valid");
    let tenant = TenantId::parse("team-a").expect("valid tenant");
    let now = Instant::now();
    let spans: Vec<Span> = ["a", "b", "c", "d"]
        .iter()
        .map(|service| span(1, 1, None, service, SpanKind::Internal))
        .collect();
    metrics.record(&tenant, &spans, now);
    let text = render(&metrics, now);
    let first = r#"traces_spanmetrics_calls_total{tenant="team-a",service="a",span_name="op-a",span_kind="SPAN_KIND_INTERNAL",status_code="STATUS_CODE_UNSET"}"#;
    let overflow = r#"traces_spanmetrics_calls_total{metric_overflow="true"}"#;
    let total: f64 = text
        .lines()
        .filter(|line| line.starts_with("traces_spanmetrics_calls_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 4.0, "{text}");
    assert_eq!(value(&text, overflow), Some(2.0), "{text}");
    assert!(
        value(&text, first).is_some() || text.contains(r#"service="b""#),
        "{text}"
    );
}

const EDGE: &str = r#"{client="web",server="api",connection_type=""}"#;

#[test]
fn a_client_and_its_server_span_make_one_edge_even_in_separate_batches() {
    let metrics = metrics();
    let now = Instant::now();
    let tenant = TenantId::single();
    let mut client = span(7, 1, None, "web", SpanKind::Client);
    client.duration_nanos = 500_000_000;
    let mut server = span(7, 2, Some(1), "api", SpanKind::Server);
    server.status.code = StatusCode::Error;
    metrics.record(&tenant, &[client], now);
    let text = render(&metrics, now);
    assert_eq!(
        value(&text, &format!("traces_service_graph_request_total{EDGE}")),
        None
    );
    assert_eq!(value(&text, "weft_service_graph_unpaired_sides"), Some(1.0));
    metrics.record(&tenant, &[server], now + Duration::from_secs(1));
    let text = render(&metrics, now + Duration::from_secs(1));
    assert_eq!(
        value(&text, &format!("traces_service_graph_request_total{EDGE}")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &format!("traces_service_graph_request_failed_total{EDGE}")
        ),
        Some(1.0)
    );
    let client_bucket = r#"traces_service_graph_request_client_seconds_bucket{client="web",server="api",connection_type="",le="0.4"}"#;
    let server_bucket = r#"traces_service_graph_request_server_seconds_bucket{client="web",server="api",connection_type="",le="0.2"}"#;
    assert_eq!(value(&text, client_bucket), Some(0.0));
    assert_eq!(value(&text, server_bucket), Some(1.0));
    assert_eq!(value(&text, "weft_service_graph_unpaired_sides"), Some(0.0));
}

#[test]
fn root_servers_databases_messaging_and_zipkin_shared_spans() {
    let metrics = metrics();
    let now = Instant::now();
    let root = span(1, 1, None, "web", SpanKind::Server);
    let mut database = span(1, 2, Some(1), "web", SpanKind::Client);
    database
        .attributes
        .push(KeyValue::new("db.system", "postgresql"));
    database
        .attributes
        .push(KeyValue::new("server.address", "db-1"));
    let producer = span(1, 3, Some(1), "web", SpanKind::Producer);
    let consumer = span(1, 4, Some(3), "worker", SpanKind::Consumer);
    let zipkin_client = span(2, 9, Some(1), "web", SpanKind::Client);
    let mut zipkin_server = span(2, 9, Some(1), "api", SpanKind::Server);
    zipkin_server.shared = true;
    metrics.record(
        &TenantId::single(),
        &[
            root,
            database,
            producer,
            consumer,
            zipkin_client,
            zipkin_server,
        ],
        now,
    );
    let text = render(&metrics, now);
    for edge in [
        r#"{client="user",server="web",connection_type=""}"#,
        r#"{client="web",server="db-1",connection_type="database"}"#,
        r#"{client="web",server="worker",connection_type="messaging_system"}"#,
        EDGE,
    ] {
        assert_eq!(
            value(&text, &format!("traces_service_graph_request_total{edge}")),
            Some(1.0),
            "{edge} in\n{text}"
        );
    }
}

#[test]
fn unpaired_sides_become_virtual_nodes_or_expire_after_the_wait() {
    let metrics = metrics();
    let now = Instant::now();
    let mut external = span(3, 1, Some(9), "web", SpanKind::Client);
    external
        .attributes
        .push(KeyValue::new("peer.service", "payments"));
    let lonely = span(3, 2, Some(9), "web", SpanKind::Client);
    let orphan_server = span(3, 3, Some(42), "api", SpanKind::Server);
    metrics.record(&TenantId::single(), &[external, lonely, orphan_server], now);
    let before = render(&metrics, now + Duration::from_secs(9));
    assert_eq!(
        value(&before, "weft_service_graph_unpaired_sides"),
        Some(3.0)
    );
    let after = render(&metrics, now + Duration::from_secs(10));
    let virtual_edge = r#"traces_service_graph_request_total{client="web",server="payments",connection_type="virtual_node"}"#;
    assert_eq!(value(&after, virtual_edge), Some(1.0), "{after}");
    assert_eq!(
        value(&after, "weft_service_graph_expired_sides_total"),
        Some(2.0)
    );
    assert_eq!(
        value(&after, "weft_service_graph_unpaired_sides"),
        Some(0.0)
    );
}

#[test]
fn sides_beyond_max_items_are_dropped_and_counted() {
    let config = SpanMetricsConfig {
        service_graph: ServiceGraphConfig {
            max_items: 2,
            ..ServiceGraphConfig::default()
        },
        ..SpanMetricsConfig::default()
    };
    let metrics = SpanMetrics::new(config).expect("valid");
    let now = Instant::now();
    let clients: Vec<Span> = (1..=5)
        .map(|id| span(4, id, Some(100), "web", SpanKind::Client))
        .collect();
    metrics.record(&TenantId::single(), &clients, now);
    let text = render(&metrics, now);
    assert_eq!(value(&text, "weft_service_graph_unpaired_sides"), Some(2.0));
    assert_eq!(
        value(&text, "weft_service_graph_dropped_sides_total"),
        Some(3.0)
    );
}

mod sink {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink};

    use super::*;
    use crate::SpanMetricsSink;

    /// Answers with the next canned answer.
    struct Answering(Mutex<Vec<Result<PushOutcome, PushError>>>);

    #[async_trait]
    impl SpanSink for Answering {
        async fn push(&self, _: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
            let mut answers = self.0.lock().expect("not poisoned");
            answers.pop().unwrap_or(Ok(PushOutcome {
                accepted_spans: batch.len() as u64,
                ..PushOutcome::default()
            }))
        }
    }

    #[tokio::test]
    async fn a_refused_push_is_not_counted_and_its_retry_is_counted_once() {
        let metrics = Arc::new(metrics());
        let inner = Arc::new(Answering(Mutex::new(vec![Err(PushError::Overloaded {
            message: String::from("busy"),
            retry_after_seconds: 1,
        })])));
        let sink = SpanMetricsSink::new(metrics.clone(), inner);
        let batch = SpanBatch {
            spans: vec![span(5, 1, None, "api", SpanKind::Server)],
        };
        let calls = r#"traces_spanmetrics_calls_total{service="api",span_name="op-api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#;
        let tenant = TenantId::single();
        assert!(sink.push(&tenant, batch.clone()).await.is_err());
        assert_eq!(value(&render(&metrics, Instant::now()), calls), None);
        assert!(sink.push(&tenant, batch).await.is_ok());
        assert_eq!(value(&render(&metrics, Instant::now()), calls), Some(1.0));
    }
}
