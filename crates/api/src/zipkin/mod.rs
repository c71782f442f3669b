//! The Zipkin v2 read API (`GET /api/v2/*`), the same under `/zipkin/api/v2/*` for
//! zipkin-lens, and `/zipkin/config.json`.
//!
//! Only GET routes are defined here. Zipkin's POST routes (`/api/v2/spans`, `/`) belong to
//! the receiver's ingest router on the same port; axum merges two routers that define the
//! same path with different methods into one method router, so the app simply does
//! `zipkin_router(..).merge(zipkin_ingest_router(..))` (a test here guards that this keeps
//! working). Neither router may define GET on those paths.

mod handlers;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use std::sync::Arc;
use weft_model::TraceReader;

use crate::config::ZipkinApiConfig;
use crate::route_metrics::record_request;

/// The path prefixes the API is served under: Zipkin's own and zipkin-lens's.
pub const API_PREFIXES: [&str; 2] = ["/api/v2", "/zipkin/api/v2"];

#[derive(Clone)]
struct ZipkinState {
    reader: Arc<dyn TraceReader>,
    config: Arc<ZipkinApiConfig>,
}

/// Serves every GET of the Zipkin v2 API over `reader`, under `/api/v2/` and
/// `/zipkin/api/v2/`, plus `GET /zipkin/config.json` (zipkin-lens's settings).
///
/// Endpoints: `services`, `spans`, `remoteServices`, `traces`, `trace/{traceId}`,
/// `traceMany`, `dependencies`, `autocompleteKeys`, `autocompleteValues`. JSON answers are
/// `application/json`; errors are `text/plain` with Zipkin's messages (400 for bad
/// parameters, 404 `<id> not found` for an unknown trace, 401 without a tenant when
/// multi-tenancy is on, 503/500 when storage fails). Merge with the receiver's router for
/// the POST routes (see the module docs).
pub fn zipkin_router(reader: Arc<dyn TraceReader>, config: ZipkinApiConfig) -> Router {
    let state = ZipkinState {
        reader,
        config: Arc::new(config),
    };
    let mut router = Router::new();
    for prefix in API_PREFIXES {
        router = router
            .route(&format!("{prefix}/services"), get(handlers::services))
            .route(&format!("{prefix}/spans"), get(handlers::span_names))
            .route(
                &format!("{prefix}/remoteServices"),
                get(handlers::remote_services),
            )
            .route(&format!("{prefix}/traces"), get(handlers::traces))
            .route(
                &format!("{prefix}/trace/{{trace_id}}"),
                get(handlers::trace),
            )
            .route(&format!("{prefix}/traceMany"), get(handlers::trace_many))
            .route(
                &format!("{prefix}/dependencies"),
                get(handlers::dependencies),
            )
            .route(
                &format!("{prefix}/autocompleteKeys"),
                get(handlers::autocomplete_keys),
            )
            .route(
                &format!("{prefix}/autocompleteValues"),
                get(handlers::autocomplete_values),
            );
    }
    router
        .route("/zipkin/config.json", get(handlers::ui_config))
        .route_layer(middleware::from_fn(|request, next| {
            record_request("zipkin", request, next)
        }))
        .with_state(state)
}
