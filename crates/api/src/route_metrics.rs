//! Request counts and latencies per API, route and status, shared by the routers.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Counts a request in `weft_api_requests_total{api,route,status}` and records its
/// latency in `weft_api_request_duration_seconds{api,route}`; `route` is the matched
/// route pattern (empty when none matched). Use as
/// `middleware::from_fn(|request, next| record_request("zipkin", request, next))`.
pub(crate) async fn record_request(api: &'static str, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("weft_api_requests_total", "api" => api, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("weft_api_request_duration_seconds", "api" => api, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
