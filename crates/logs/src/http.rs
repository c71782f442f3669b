//! The Loki HTTP API on the `--loki.listen` port.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use weft_model::TenantId;

use crate::LogStore;

/// Routes of the Loki API over `store`.
pub fn router(store: Arc<LogStore>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(crate::push_http::push))
        .route(
            "/loki/api/v1/query_range",
            get(crate::http_query::query_range),
        )
        .route("/loki/api/v1/query", get(crate::http_query::query_instant))
        .route("/loki/api/v1/labels", get(crate::http_query::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(crate::http_query::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(crate::http_query::series_handler),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(crate::http_index::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(crate::http_index::index_volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(crate::http_index::index_volume_range),
        )
        .route("/loki/api/v1/patterns", get(crate::http_patterns::patterns))
        .route(
            "/loki/api/v1/detected_labels",
            get(crate::http_detected::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(crate::http_detected::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(crate::http_detected::detected_field_values),
        )
        .route(
            "/loki/api/v1/tail",
            get(crate::http_tail::tail)
                .layer(axum::Extension(crate::http_tail::TailSlots::default())),
        )
        .with_state(store)
        // Bodies are bounded by `logs.max_request_body_bytes` in the handler.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// A plain-text error answer, as Loki sends them.
pub(crate) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The tenant of a request: `X-Scope-OrgID` when multi-tenancy is on (401 `no org id`
/// when missing, as Loki answers), else the single tenant.
pub(crate) fn tenant_of(
    store: &LogStore,
    headers: &HeaderMap,
) -> Result<TenantId, (StatusCode, String)> {
    let header = headers
        .get("x-scope-orgid")
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    match TenantId::from_header(store.config.multitenancy_enabled, header) {
        Ok(tenant) => Ok(tenant),
        Err(weft_model::TenantError::Missing) => {
            Err((StatusCode::UNAUTHORIZED, String::from("no org id")))
        }
        Err(error) => Err((
            StatusCode::BAD_REQUEST,
            format!("invalid X-Scope-OrgID: {error}"),
        )),
    }
}
