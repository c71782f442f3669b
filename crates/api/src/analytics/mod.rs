//! Trace analytics ([`weft_analytics`]) as JSON on the main HTTP port. Reference with
//! examples: `docs/analytics.md`.
//!
//! - `GET /api/analytics/critical-path/{traceId}`: the critical path of one trace.
//! - `GET /api/analytics/service-map`: services and the calls between them.
//! - `GET /api/analytics/flow`: the request-flow graph of one workflow (`root_service`
//!   and `root_operation`; without them, the most common workflow of the selection).
//! - `GET /api/analytics/cct`: the calling-context tree.
//! - `GET /api/analytics/compare`: two traces (`a`, `b`), two sets (`qa`, `qb`), or one
//!   set split at a duration (`q`, `threshold`: faster is A, the rest B).
//!
//! Aggregates select traces with TraceQL (`q`, default `{ }`) over `start`/`end` (unix
//! seconds, inclusive; default: the configured lookback up to now), newest first, at
//! most `limit` (default `query.default_analytics_traces`, lowered to
//! `query.max_analytics_traces`), within the search deadline and byte budget. Each
//! answer is the analysis's JSON with a `selection` report and a top-level `truncated`
//! flag, true when traces or spans were left out for a bound. Errors follow the crate's
//! table: 400 naming the parameter, 404 for an unknown trace, 401 without a tenant.

mod compare;
mod handlers;
mod select;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use weft_analytics::{AnalyticsError, Limits, OrphanPolicy, TreeOptions};
use weft_model::{TenantId, TraceReader};

use crate::config::ZipkinApiConfig;
use crate::error::{ApiError, json_response, request_tenant};
use crate::params::QueryParams;
use crate::query_config::QueryConfig;
use crate::route_metrics::record_request;

#[derive(Clone)]
struct AnalyticsState {
    reader: Arc<dyn TraceReader>,
    /// Tenancy, the default lookback and whether search is on.
    zipkin: Arc<ZipkinApiConfig>,
    /// Search, read and selection bounds.
    query: Arc<QueryConfig>,
}

impl AnalyticsState {
    fn tenant_and_params(
        &self,
        headers: &HeaderMap,
        raw: Option<&str>,
    ) -> Result<(TenantId, QueryParams), ApiError> {
        let tenant = request_tenant(headers, self.zipkin.multitenancy_enabled)?;
        Ok((tenant, QueryParams::parse(raw)))
    }

    /// The analyses' bounds: the read cap per trace, `traces` traces.
    fn limits(&self, traces: usize) -> Limits {
        Limits {
            max_spans_per_trace: self.query.max_spans_per_trace.max(1),
            max_traces: traces.max(1),
            ..Limits::default()
        }
    }
}

/// Serves the analytics endpoints (see the module docs) over `reader`. Tenancy, the
/// default lookback and `search_enabled` come from `zipkin`; bounds from `query`.
pub fn analytics_router(
    reader: Arc<dyn TraceReader>,
    zipkin: ZipkinApiConfig,
    query: QueryConfig,
) -> Router {
    let state = AnalyticsState {
        reader,
        zipkin: Arc::new(zipkin),
        query: Arc::new(query),
    };
    Router::new()
        .route(
            "/api/analytics/critical-path/{trace_id}",
            get(handlers::critical_path),
        )
        .route("/api/analytics/service-map", get(handlers::service_map))
        .route("/api/analytics/flow", get(handlers::flow))
        .route("/api/analytics/cct", get(handlers::cct))
        .route("/api/analytics/compare", get(compare::compare))
        .route_layer(middleware::from_fn(|request, next| {
            record_request("analytics", request, next)
        }))
        .with_state(state)
}

/// How traces become trees: `clock_skew` (`true` default, `false` keeps timestamps as
/// stored) and `orphans` (`attach` default: under the primary root; `separate`: roots of
/// their own).
fn tree_options(params: &QueryParams) -> Result<TreeOptions, ApiError> {
    let correct_clock_skew = match params.get("clock_skew") {
        None | Some("") | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid clock_skew: {other:?} is not true or false"
            )));
        }
    };
    let orphans = match params.get("orphans") {
        None | Some("") | Some("attach") => OrphanPolicy::AttachToRoot,
        Some("separate") => OrphanPolicy::SeparateRoots,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid orphans: {other:?} is not attach or separate"
            )));
        }
    };
    Ok(TreeOptions {
        orphans,
        correct_clock_skew,
    })
}

/// Runs a CPU-bound analysis off the async workers.
async fn run_blocking<T: Send + 'static>(
    analysis: impl FnOnce() -> Result<T, AnalyticsError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(analysis)
        .await
        .map_err(|error| ApiError::Internal(format!("analysis failed: {error}")))?
        .map_err(ApiError::from)
}

/// A 200 JSON answer of `value`.
fn json_answer(value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::EmptyTrace => ApiError::NotFound(error.to_string()),
            AnalyticsError::TooManySpans { .. } | AnalyticsError::UntimedRoot { .. } => {
                ApiError::BadRequest(format!("cannot analyse the trace: {error}"))
            }
            AnalyticsError::InvalidLimit { .. } => ApiError::Internal(error.to_string()),
        }
    }
}
