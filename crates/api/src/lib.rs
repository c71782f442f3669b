//! HTTP read APIs as axum routers: Grafana Tempo's API (weft's native read API: TraceQL
//! search, trace by id, tags), Zipkin v2 (and zipkin-lens's paths), Jaeger's query API
//! (v1 and api_v3, [`jaeger_query_router`]), trace analytics ([`analytics_router`]:
//! critical path, service map, flow graph, calling-context tree, comparisons), logs tied
//! to traces ([`logs_router`]: a trace's log entries, log queries with their trace ids),
//! and the admin endpoints (`/metrics`, `/ready`).
//!
//! Each router serves only GET routes, so the app can merge it with ingest routers on the
//! same port (see [`zipkin_router`]). Errors follow one table ([`ApiError`]): 400 for bad
//! parameters with the message as a `text/plain` body, 404 for unknown traces, 401 when
//! multi-tenancy is on and `X-Scope-OrgID` is missing, 503 when storage is unavailable,
//! 500 when stored data is corrupt.

mod admin;
mod analytics;
mod config;
mod error;
mod jaeger;
mod logs;
mod params;
mod query_config;
mod route_metrics;
mod tempo;
#[cfg(test)]
mod test_support;
mod zipkin;

pub use admin::{MetricsSource, PROMETHEUS_TEXT_CONTENT_TYPE, admin_router};
pub use analytics::analytics_router;
pub use config::{ConfigError, ZipkinApiConfig};
pub use error::{ApiError, TENANT_HEADER};
pub use jaeger::{JaegerApiConfig, jaeger_query_router};
pub use logs::logs_router;
pub use query_config::QueryConfig;
pub use tempo::{PARTIAL_HEADER, tempo_router};
pub use zipkin::{API_PREFIXES, zipkin_router};
