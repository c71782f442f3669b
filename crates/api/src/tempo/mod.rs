//! Grafana Tempo's HTTP API, weft's native read API, on the main HTTP port: what
//! Grafana's Tempo data source, Traces Drilldown and `weft query`/`weft trace` call.
//!
//! - `GET /api/echo`: `echo` (Grafana's health check).
//! - `GET /api/status/buildinfo`: version, revision, branch, build date and Go version
//!   fields in Tempo's shape (`goVersion` names the Rust toolchain here).
//! - `GET /api/traces/{id}`, `GET /api/v2/traces/{id}`: see [`traces`].
//! - `GET /api/search`: see [`search`].
//! - `GET /api/metrics/query_range`, `GET /api/metrics/query`: TraceQL metrics, see
//!   `metrics`.
//! - `GET /api/search/tags`, `/api/v2/search/tags`, `/api/search/tag/{tag}/values`,
//!   `/api/v2/search/tag/{tag}/values`: see [`tags`].
//!
//! Errors are Tempo's: a `text/plain` message with 400 for bad parameters or an invalid
//! query (the message names the parameter, or the line and column of the query), 404
//! for an unknown trace, 401 without a tenant when multi-tenancy is on, 503 when
//! storage is unavailable.

mod metrics;
pub(crate) mod params;
mod search;
mod tags;
pub(crate) mod traces;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_metrics;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use weft_model::TraceReader;

pub use traces::PARTIAL_HEADER;

use crate::config::ZipkinApiConfig;
use crate::error::{json_response, text_response};
use crate::query_config::QueryConfig;
use crate::route_metrics::record_request;

/// What every read handler starts from: the tenant, the parameters and the window.
struct Request {
    tenant: weft_model::TenantId,
    params: crate::params::QueryParams,
    window: weft_model::TimeWindow,
}

#[derive(Clone)]
struct TempoState {
    reader: Arc<dyn TraceReader>,
    /// Tenancy, the default lookback and whether search is on.
    zipkin: Arc<ZipkinApiConfig>,
    /// Search and read bounds.
    query: Arc<QueryConfig>,
}

impl TempoState {
    /// The tenant (401/400 as the error table says), the query parameters, and the
    /// `start`/`end` window (the configured lookback without them).
    fn request(
        &self,
        headers: &axum::http::HeaderMap,
        raw: Option<&str>,
    ) -> Result<Request, crate::error::ApiError> {
        let tenant = crate::error::request_tenant(headers, self.zipkin.multitenancy_enabled)?;
        let params = crate::params::QueryParams::parse(raw);
        let window = params::window(&params, self.zipkin.query_lookback)?;
        Ok(Request {
            tenant,
            params,
            window,
        })
    }
}

/// Serves Tempo's read API (see the module docs) over `reader`. Tenancy, the default
/// search lookback and `search_enabled` come from `zipkin`; bounds from `query`.
pub fn tempo_router(
    reader: Arc<dyn TraceReader>,
    zipkin: ZipkinApiConfig,
    query: QueryConfig,
) -> Router {
    let state = TempoState {
        reader,
        zipkin: Arc::new(zipkin),
        query: Arc::new(query),
    };
    Router::new()
        .route(
            "/api/echo",
            get(|| async { text_response(StatusCode::OK, "echo") }),
        )
        .route("/api/status/buildinfo", get(build_info))
        .route("/api/traces/{trace_id}", get(traces::trace_v1))
        .route("/api/v2/traces/{trace_id}", get(traces::trace_v2))
        .route("/api/search", get(search::search))
        .route("/api/metrics/query_range", get(metrics::query_range))
        .route("/api/metrics/query", get(metrics::query_instant))
        .route("/api/search/tags", get(tags::tags_v1))
        .route("/api/v2/search/tags", get(tags::tags_v2))
        .route("/api/search/tag/{tag}/values", get(tags::values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tags::values_v2))
        .route_layer(middleware::from_fn(|request, next| {
            record_request("tempo", request, next)
        }))
        .with_state(state)
}

async fn build_info() -> Response {
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("WEFT_GIT_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": concat!("rust ", env!("CARGO_PKG_RUST_VERSION")),
    });
    json_response(body.to_string().into_bytes())
}
