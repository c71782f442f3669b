//! The axum and hyper adapters answer with the protocol's headers.

#![cfg(all(feature = "axum", feature = "hyper"))]

mod common;

use std::sync::Arc;

use ::axum::body::{Body, to_bytes};
use ::hyper::service::Service;
use common::{numbered_span, scope, span_numbers};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use weft_client::hyper::ScrapeService;
use weft_client::{RingBuffer, ScrapeHandler};

async fn send(router: &::axum::Router, method: Method, uri: &str) -> http::Response<Body> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    router.clone().oneshot(request).await.expect("infallible")
}

fn handler_with_spans(count: u64) -> ScrapeHandler {
    let ring = Arc::new(RingBuffer::new(1 << 20));
    let scope = scope("s");
    for number in 0..count {
        ring.push(numbered_span(&scope, number, 0)).expect("fits");
    }
    ScrapeHandler::new(ring)
}

#[tokio::test]
async fn axum_router_answers_with_the_protocol_headers() {
    let handler = handler_with_spans(5);
    let instance = handler.ring().instance_id().to_owned();
    let router = weft_client::axum::router(handler);
    let response = send(&router, Method::GET, "/weft/spans?cursor=2").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["Weft-Cursor-First"], "2");
    assert_eq!(headers["Weft-Cursor-Next"], "5");
    assert_eq!(headers["Weft-Dropped"], "0");
    assert_eq!(headers["Weft-Dropped-Total"], "0");
    assert_eq!(headers["Weft-Instance"], instance.as_str());
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert_eq!(span_numbers(body), vec![2, 3, 4]);

    let bad = send(&router, Method::GET, "/weft/spans?max_bytes=lots").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let post = send(&router, Method::POST, "/weft/spans").await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn hyper_service_answers_with_the_protocol_headers() {
    let service = ScrapeService::at("/traces", handler_with_spans(3));
    let response = service
        .call(Request::get("/traces").body(()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["weft-cursor-next"], "3");
    assert_eq!(response.headers()["weft-cursor-first"], "0");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(span_numbers(body), vec![0, 1, 2]);

    let wrong_path = service
        .call(Request::get("/weft/spans").body(()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(wrong_path.status(), StatusCode::NOT_FOUND);
    let wrong_method = service
        .call(
            Request::builder()
                .method(Method::DELETE)
                .uri("/traces")
                .body(())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["allow"], "GET");
}
