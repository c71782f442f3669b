//! The Jaeger query API: v1 (`/api/...`, jaeger-ui up to v2.14 and Grafana's Jaeger data
//! source) and api_v3 over HTTP (`/api/v3/...`, jaeger-ui from v2.15), on its own port
//! (Jaeger's 16686). Semantics live in [`weft_query::jaeger`]; this module parses HTTP,
//! applies tenants and writes Jaeger's JSON shapes.

mod config;
mod error;
mod json;
mod v1;
mod v3;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware;
use axum::routing::get;
use weft_model::{Span, TenantId, TimeWindow, TraceId, TraceReader};
use weft_query::QueryError;
use weft_query::jaeger::{self, JaegerQueryDefaults, KindSample, Operation, TraceQuery};

pub use config::JaegerApiConfig;

use crate::error::{ApiError, request_tenant};
use crate::params::now_unix_nanos;
use crate::route_metrics::record_request;

#[derive(Clone)]
struct JaegerState {
    reader: Arc<dyn TraceReader>,
    config: Arc<JaegerApiConfig>,
}

impl JaegerState {
    fn tenant(&self, headers: &HeaderMap) -> Result<TenantId, ApiError> {
        request_tenant(headers, self.config.multitenancy_enabled)
    }

    /// The spans of one trace, identical duplicates removed; empty when the trace is
    /// unknown or the id is Jaeger's all-zeros id (`None`).
    async fn trace(
        &self,
        tenant: &TenantId,
        trace_id: Option<TraceId>,
    ) -> Result<Vec<Span>, QueryError> {
        match trace_id {
            Some(trace_id) => {
                weft_query::zipkin::trace_by_id(self.reader.as_ref(), tenant, trace_id).await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Jaeger's FindTraces for `query` within the configured read bounds. Jaeger's answers
    /// cannot say they are partial, so a search cut short by a bound is logged at debug
    /// (and counted by [`jaeger::find_traces`]).
    async fn find_traces(
        &self,
        tenant: &TenantId,
        query: &TraceQuery,
    ) -> Result<Vec<Vec<Span>>, QueryError> {
        let limits = self.config.read_limits();
        let found = jaeger::find_traces(self.reader.as_ref(), tenant, query, limits).await?;
        if let Some(partial) = found.partial {
            tracing::debug!(
                tenant = %tenant,
                service = %query.service_name,
                reason = %partial.describe(&limits.search_limits()),
                "jaeger search cut short"
            );
        }
        Ok(found.traces)
    }

    /// The operations of `service`, kinds learned from the newest traces of the default
    /// lookback (see [`jaeger::operations`]).
    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        span_kind: Option<&str>,
    ) -> Result<Vec<Operation>, QueryError> {
        jaeger::operations(
            self.reader.as_ref(),
            tenant,
            service,
            span_kind,
            kind_sample(&self.config),
            self.config.read_limits(),
        )
        .await
    }
}

/// Serves Jaeger's query API over `reader`.
///
/// v1: `GET /api/services`, `/api/services/{service}/operations`, `/api/operations`,
/// `/api/traces` (search, or repeated `traceID=`), `/api/traces/{traceID}`,
/// `/api/dependencies`. api_v3: `GET /api/v3/services`, `/api/v3/operations`,
/// `/api/v3/traces/{trace_id}`, `/api/v3/traces`, `/api/v3/trace-summaries`. Error shapes
/// are Jaeger's (see the `v1` and `v3` modules): 400 for bad parameters naming the
/// parameter, 404 for unknown traces, 401 without a tenant when multi-tenancy is on,
/// 503/500 when storage fails.
pub fn jaeger_query_router(reader: Arc<dyn TraceReader>, config: JaegerApiConfig) -> Router {
    let state = JaegerState {
        reader,
        config: Arc::new(config),
    };
    Router::new()
        .route("/api/services", get(v1::services))
        .route(
            "/api/services/{service}/operations",
            get(v1::service_operations),
        )
        .route("/api/operations", get(v1::operations))
        .route("/api/traces", get(v1::search))
        .route("/api/traces/{trace_id}", get(v1::trace))
        .route("/api/dependencies", get(v1::dependencies))
        .route("/api/v3/services", get(v3::services))
        .route("/api/v3/operations", get(v3::operations))
        .route("/api/v3/traces", get(v3::search))
        .route("/api/v3/traces/{trace_id}", get(v3::trace))
        .route("/api/v3/trace-summaries", get(v3::summaries))
        .route_layer(middleware::from_fn(|request, next| {
            record_request("jaeger", request, next)
        }))
        .with_state(state)
}

fn query_defaults(config: &JaegerApiConfig) -> JaegerQueryDefaults {
    JaegerQueryDefaults {
        now_unix_nanos: now_unix_nanos(),
        lookback_nanos: u64::try_from(config.default_lookback.as_nanos()).unwrap_or(u64::MAX),
        limit: usize::try_from(config.default_limit.max(1)).unwrap_or(usize::MAX),
    }
}

/// The newest traces of the default lookback, from which operations learn span kinds.
fn kind_sample(config: &JaegerApiConfig) -> KindSample {
    let defaults = query_defaults(config);
    KindSample {
        window: TimeWindow {
            start_unix_nanos: defaults
                .now_unix_nanos
                .saturating_sub(defaults.lookback_nanos),
            end_unix_nanos: defaults.now_unix_nanos,
        },
        max_traces: config.operation_kind_sample_traces,
    }
}
