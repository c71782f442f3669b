//! `GET /sampling?service=X` and `GET /api/sampling?service=X`: the JSON endpoint Jaeger
//! SDKs and OpenTelemetry's Jaeger remote samplers poll (Jaeger's agent served it on port
//! 5778 at `/sampling`, its collector at `/api/sampling` on 14268; Jaeger v2 answers on
//! any path of 5778).

use crate::provider::SamplingProvider;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The two paths served.
pub const SAMPLING_PATHS: [&str; 2] = ["/sampling", "/api/sampling"];

/// A router serving [`SAMPLING_PATHS`] from `provider`. The `service` query parameter is
/// required exactly once (400 otherwise, with a plain-text message); an empty value asks
/// for the default strategy. The body is [`crate::SamplingStrategyResponse::to_json`] with
/// `Content-Type: application/json`.
pub fn router(provider: Arc<SamplingProvider>) -> Router {
    let mut router = Router::new();
    for path in SAMPLING_PATHS {
        router = router.route(path, get(get_sampling_strategy));
    }
    router.with_state(provider)
}

async fn get_sampling_strategy(
    State(provider): State<Arc<SamplingProvider>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut services = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "service")
        .map(|(_, value)| value);
    let service = match (services.next(), services.next()) {
        (Some(service), None) => service,
        (None, _) => {
            return (
                StatusCode::BAD_REQUEST,
                "missing query parameter `service`: ask for /sampling?service=<service name>",
            )
                .into_response();
        }
        (Some(_), Some(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                "query parameter `service` is given more than once: give it once",
            )
                .into_response();
        }
    };
    let body = provider.strategy_for(&service).to_json();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
