//! The scrape endpoint as an axum [`Router`](::axum::Router) (feature `axum`).

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::{RawQuery, State};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;

use crate::scrape::{DEFAULT_SCRAPE_PATH, ScrapeHandler};

/// A router answering `GET` [`DEFAULT_SCRAPE_PATH`] with `handler`; merge or nest it
/// into the application's router. Other methods get 405.
pub fn router(handler: ScrapeHandler) -> Router {
    router_at(DEFAULT_SCRAPE_PATH, handler)
}

/// A router answering `GET path` with `handler`. `path` follows axum's route syntax and
/// must start with `/` (axum panics otherwise, at router construction).
pub fn router_at(path: &str, handler: ScrapeHandler) -> Router {
    Router::new()
        .route(path, get(scrape_route))
        .with_state(handler)
}

async fn scrape_route(State(handler): State<ScrapeHandler>, RawQuery(query): RawQuery) -> Response {
    handler
        .scrape(query.as_deref().unwrap_or(""))
        .into_http_response()
        .map(Body::from)
        .into_response()
}
