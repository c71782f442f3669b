//! HTTP read APIs (Zipkin v2 and its UI paths, admin: /metrics, /ready) as axum routers.
