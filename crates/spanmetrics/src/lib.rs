//! RED metrics and service-graph metrics computed from every ingested span, exposed on
//! `/metrics` in the names Grafana Tempo's metrics-generator writes, so a Prometheus that
//! scrapes weft feeds Grafana's RED panels, Traces Drilldown and service graph with no
//! metrics-generator and no remote write.
//!
//! - **Span metrics** ([`SpanMetrics`]): `traces_spanmetrics_calls_total` and the
//!   `traces_spanmetrics_latency` histogram, labelled `service`, `span_name`,
//!   `span_kind` (`SPAN_KIND_SERVER`, ...) and `status_code` (`STATUS_CODE_ERROR`, ...),
//!   as Tempo's `span-metrics` processor with its default dimensions.
//! - **Service graph**: a client (or producer) span and the server (or consumer) span
//!   whose parent it is form an edge `client -> server`, counted in
//!   `traces_service_graph_request_total` and `..._failed_total` (either side has status
//!   error) with the latency of each side in `..._request_client_seconds` and
//!   `..._request_server_seconds`, labelled `client`, `server` and `connection_type`
//!   (`""`, `messaging_system`, `database`, `virtual_node`), as Tempo's
//!   `service-graphs` processor: a client span with a database attribute (`db.namespace`,
//!   `db.name`, `db.system`, `db.system.name`) is an edge to the database at once; a root
//!   server span is an edge from `user` (or its peer attribute); a side still unpaired
//!   after `wait` becomes an edge to or from a virtual node when the client side names a
//!   peer (`peer.service`, `db.name`, ...), and is counted as expired otherwise.
//!
//! Cardinality is bounded: each family keeps at most `max_series` label sets and counts
//! later ones in one overflow series labelled `metric_overflow="true"` (the total stays
//! exact); the service-graph store holds at most `max_items` unpaired sides. With
//! multi-tenancy every series also carries a `tenant` label.
//!
//! [`SpanMetricsSink`] computes the numbers in front of any [`weft_model::SpanSink`]:
//! wrap sampling and storage in it, and rates and error ratios stay exact whatever is
//! sampled away. A batch is counted once its push is accepted, so a refused push that
//! the client retries is not counted twice.

mod config;
mod graph;
mod histogram;
mod metrics;
mod render;
mod sink;

pub use config::{ConfigError, ServiceGraphConfig, SpanMetricsConfig};
pub use metrics::{BatchObservation, SpanMetrics};
pub use sink::SpanMetricsSink;
