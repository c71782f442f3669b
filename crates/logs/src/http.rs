//! The Loki HTTP API on the `--loki.listen` port.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use weft_model::TenantId;

use crate::LogStore;
use crate::push::{DecodeError, decode_content_encoding, decode_json, decode_protobuf};

/// Routes of the Loki API over `store`.
pub fn router(store: Arc<LogStore>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push))
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

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

async fn push(State(store): State<Arc<LogStore>>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = match tenant_of(&store, &headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return error_response(status, message),
    };
    let limit = store.config.max_request_body_bytes;
    let content_type = header_text(&headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = header_text(&headers, header::CONTENT_ENCODING);
    let decoded = decode_content_encoding(encoding, &body, limit).and_then(|plain| {
        // Loki reads JSON only when told so; protobuf is the default (also without a
        // Content-Type), snappy-compressed whatever Content-Encoding says.
        if content_type == "application/json" {
            decode_json(&plain)
        } else {
            decode_protobuf(&plain, limit)
        }
    });
    let streams = match decoded {
        Ok(streams) => streams,
        Err(error @ DecodeError::TooLarge { .. }) => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, error.to_string());
        }
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    match store.push(&tenant, streams).await {
        Err(error) => {
            tracing::warn!(%error, "logs wal write failed; push not acknowledged");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write the logs wal: {error}"),
            )
        }
        Ok(summary) if !summary.rejections.is_empty() => {
            // Loki stores the valid entries and answers 400 naming the rejected ones.
            let shown: Vec<&str> = summary
                .rejections
                .iter()
                .take(10)
                .map(String::as_str)
                .collect();
            let mut message = shown.join("\n");
            if summary.rejections.len() > shown.len() {
                message.push_str(&format!(
                    "\nuser '{tenant}', total ignored: {} out of {}",
                    summary.rejections.len(),
                    summary.rejections.len() + summary.accepted_entries
                ));
            }
            error_response(StatusCode::BAD_REQUEST, message)
        }
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
    }
}
