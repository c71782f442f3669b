//! [`SpanMetrics`]: the span-metrics and service-graph series and their exposition.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use foldhash::HashMap;
use weft_model::{Span, SpanKind, StatusCode, TenantId};

use crate::config::{ConfigError, SpanMetricsConfig};
use crate::graph::{Graph, Side, side_of};
use crate::histogram::{Family, Histogram};
use crate::render;

/// The service of spans whose resource has no `service.name`, as Tempo labels them.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// The labels of one span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpanLabels {
    tenant: Option<TenantId>,
    service: String,
    span_name: String,
    kind: SpanKind,
    status: StatusCode,
}

/// What one batch adds, computed before the batch is stored and added once it is.
#[derive(Debug)]
pub struct BatchObservation {
    spans: HashMap<SpanLabels, Histogram>,
    sides: Vec<Side>,
}

impl BatchObservation {
    /// Spans counted.
    pub fn span_count(&self) -> u64 {
        self.spans.values().map(|histogram| histogram.count).sum()
    }
}

/// Span metrics and the service graph of every span observed. Safe to share.
#[derive(Debug)]
pub struct SpanMetrics {
    config: SpanMetricsConfig,
    spans: Mutex<Family<SpanLabels, Histogram>>,
    graph: Mutex<Graph>,
}

impl SpanMetrics {
    /// Empty metrics. Errors when the bucket bounds are invalid.
    pub fn new(config: SpanMetricsConfig) -> Result<SpanMetrics, ConfigError> {
        config.validate()?;
        Ok(SpanMetrics {
            spans: Mutex::new(Family::new(config.max_series)),
            graph: Mutex::new(Graph::new(config.service_graph.clone(), config.max_series)),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SpanMetricsConfig {
        &self.config
    }

    /// Aggregates `spans` of `tenant` without touching the shared series; pass the
    /// result to [`SpanMetrics::commit`] once the spans are stored. Series carry a
    /// `tenant` label unless `tenant` is [`TenantId::single`].
    pub fn observe(&self, tenant: &TenantId, spans: &[Span]) -> BatchObservation {
        let tenant = (*tenant != TenantId::single()).then(|| tenant.clone());
        let bounds = &self.config.latency_buckets;
        let mut observation = BatchObservation {
            spans: HashMap::default(),
            sides: Vec::new(),
        };
        for span in spans {
            let service = span.service_name().unwrap_or(UNKNOWN_SERVICE);
            let labels = SpanLabels {
                tenant: tenant.clone(),
                service: service.to_owned(),
                span_name: span.name.clone(),
                kind: span.kind,
                status: span.status.code,
            };
            observation
                .spans
                .entry(labels)
                .or_insert_with(|| Histogram::new(bounds))
                .observe(bounds, span.duration_nanos as f64 / 1e9);
            if let Some(side) = side_of(tenant.as_ref(), span, service) {
                observation.sides.push(side);
            }
        }
        observation
    }

    /// Adds an observation to the series and pairs its client and server sides.
    pub fn commit(&self, observation: BatchObservation, now: Instant) {
        {
            let mut family = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
            let bounds = &self.config.latency_buckets;
            for (labels, histogram) in observation.spans {
                family
                    .entry(labels, || Histogram::new(bounds))
                    .merge(&histogram);
            }
        }
        let mut graph = self.graph.lock().unwrap_or_else(PoisonError::into_inner);
        graph.expire(now);
        for side in observation.sides {
            graph.add(side, now);
        }
    }

    /// Counts `spans` at once (observe and commit).
    pub fn record(&self, tenant: &TenantId, spans: &[Span], now: Instant) {
        self.commit(self.observe(tenant, spans), now);
    }

    /// Appends every series in the Prometheus text format, settling calls whose wait
    /// ended by `now` first.
    pub fn render(&self, out: &mut String, now: Instant) {
        self.render_span_metrics(out);
        let mut graph = self.graph.lock().unwrap_or_else(PoisonError::into_inner);
        graph.expire(now);
        render_graph(out, &graph);
    }

    fn render_span_metrics(&self, out: &mut String) {
        let family = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<(Vec<(&str, &str)>, &Histogram)> = family
            .series
            .iter()
            .map(|(labels, histogram)| (span_labels(labels), histogram))
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(overflow) = &family.overflow {
            series.push((vec![("metric_overflow", "true")], overflow));
        }
        let calls = "traces_spanmetrics_calls_total";
        render::header(out, calls, "counter", "Spans received, before sampling.");
        for (labels, histogram) in &series {
            render::sample(out, calls, labels, histogram.count as f64);
        }
        let latency = "traces_spanmetrics_latency";
        render::header(
            out,
            latency,
            "histogram",
            "Span durations in seconds, before sampling.",
        );
        for (labels, histogram) in &series {
            render::histogram(
                out,
                latency,
                labels,
                &self.config.latency_buckets,
                histogram,
            );
        }
    }
}

fn span_labels(labels: &SpanLabels) -> Vec<(&str, &str)> {
    let mut out = Vec::with_capacity(5);
    if let Some(tenant) = &labels.tenant {
        out.push(("tenant", tenant.as_str()));
    }
    out.push(("service", labels.service.as_str()));
    out.push(("span_name", labels.span_name.as_str()));
    out.push(("span_kind", kind_label(labels.kind)));
    out.push(("status_code", status_label(labels.status)));
    out
}

fn render_graph(out: &mut String, graph: &Graph) {
    let mut series: Vec<_> = graph
        .edges
        .series
        .iter()
        .map(|(labels, series)| {
            let mut names = Vec::with_capacity(4);
            if let Some(tenant) = &labels.tenant {
                names.push(("tenant", tenant.as_str()));
            }
            names.push(("client", labels.client.as_str()));
            names.push(("server", labels.server.as_str()));
            names.push(("connection_type", labels.connection.as_str()));
            (names, series)
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(overflow) = &graph.edges.overflow {
        series.push((vec![("metric_overflow", "true")], overflow));
    }
    let requests = "traces_service_graph_request_total";
    render::header(
        out,
        requests,
        "counter",
        "Calls between two services, before sampling.",
    );
    for (labels, edge) in &series {
        render::sample(out, requests, labels, edge.requests as f64);
    }
    let failed = "traces_service_graph_request_failed_total";
    render::header(
        out,
        failed,
        "counter",
        "Calls with an error on either side, before sampling.",
    );
    for (labels, edge) in &series {
        render::sample(out, failed, labels, edge.failed as f64);
    }
    let bounds = graph.bounds();
    let server = "traces_service_graph_request_server_seconds";
    render::header(
        out,
        server,
        "histogram",
        "Call durations seen by the server, in seconds.",
    );
    for (labels, edge) in &series {
        render::histogram(out, server, labels, bounds, &edge.server_seconds);
    }
    let client = "traces_service_graph_request_client_seconds";
    render::header(
        out,
        client,
        "histogram",
        "Call durations seen by the client, in seconds.",
    );
    for (labels, edge) in &series {
        render::histogram(out, client, labels, bounds, &edge.client_seconds);
    }
    let gauges: [(&str, &str, f64); 3] = [
        (
            "weft_service_graph_unpaired_sides",
            "Client or server spans waiting for the other side of their call.",
            graph.pending() as f64,
        ),
        (
            "weft_service_graph_expired_sides_total",
            "Client or server spans whose other side never came and that name no peer.",
            graph.expired as f64,
        ),
        (
            "weft_service_graph_dropped_sides_total",
            "Client or server spans not paired because max_items sides were waiting.",
            graph.dropped as f64,
        ),
    ];
    for (name, help, value) in gauges {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        render::header(out, name, kind, help);
        render::sample(out, name, &[], value);
    }
}

fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_label(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

#[cfg(test)]
mod tests;
