//! Operational endpoints: `GET /metrics` (Prometheus text format 0.0.4) and `GET /ready`.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::text_response;

/// The content type of Prometheus's text exposition format.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends more series to the `/metrics` text (families the `metrics` recorder cannot
/// hold, such as span metrics with their own buckets).
pub type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

/// `GET /metrics` renders `metrics` followed by each of `sources`; `GET /ready` answers
/// 200 `ready` while `ready()` is true and 503 `not ready` otherwise. `ready` is called
/// on every probe, so it must be cheap and must not block.
pub fn admin_router(
    metrics: PrometheusHandle,
    sources: Vec<MetricsSource>,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Router {
    let sources = Arc::new(sources);
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                let sources = sources.clone();
                async move { render_metrics(&metrics, &sources) }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready() {
                        text_response(StatusCode::OK, "ready")
                    } else {
                        text_response(StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        )
}

fn render_metrics(metrics: &PrometheusHandle, sources: &[MetricsSource]) -> Response {
    let mut text = metrics.render();
    for source in sources {
        source(&mut text);
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_TEXT_CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use axum::http::Request;
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;
    use crate::test_support::send;

    async fn get(router: &Router, uri: &str) -> (StatusCode, String, String) {
        let request = Request::get(uri)
            .body(Body::empty())
            .expect("valid request");
        let answer = send(router, request).await;
        (answer.status, answer.content_type(), answer.text())
    }

    #[tokio::test]
    async fn ready_follows_the_probe_and_metrics_use_the_text_format() {
        let ready_flag = Arc::new(AtomicBool::new(false));
        let probe = ready_flag.clone();
        let handle = PrometheusBuilder::new().build_recorder().handle();
        let source: MetricsSource = Arc::new(|out: &mut String| out.push_str("extra_total 3\n"));
        let router = admin_router(
            handle,
            vec![source],
            Arc::new(move || probe.load(Ordering::SeqCst)),
        );
        let (status, _, body) = get(&router, "/ready").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "not ready")
        );
        ready_flag.store(true, Ordering::SeqCst);
        let (status, _, body) = get(&router, "/ready").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
        let (status, content_type, text) = get(&router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, PROMETHEUS_TEXT_CONTENT_TYPE);
        assert!(text.ends_with("extra_total 3\n"), "{text}");
    }
}
