//! A small Rust service instrumented with the OpenTelemetry SDK and weft-client: its
//! finished spans wait in a byte-bounded ring buffer and weft's scraper pulls them from
//! `/weft/spans`. Nothing is pushed anywhere.
//!
//! ```sh
//! cargo run -p weft-client --features axum --example checkout_service -- 127.0.0.1:0
//! curl 'http://127.0.0.1:PORT/checkout?items=3'     # one trace: server span and children
//! curl 'http://127.0.0.1:PORT/weft/spans?cursor=0'  # what the scraper reads
//! ```
//!
//! The bound address is printed on the first line of standard output (`listening on
//! ADDRESS`), so a test can start it on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use weft_client::{RingBuffer, RingBufferSpanProcessor, ScrapeHandler};

/// 16 MiB of finished spans waiting for the scraper.
const RING_CAPACITY_BYTES: usize = 16 * 1024 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
        .parse()?;
    let ring = Arc::new(RingBuffer::new(RING_CAPACITY_BYTES));
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("rust-checkout")
                .build(),
        )
        .with_span_processor(RingBufferSpanProcessor::new(Arc::clone(&ring)))
        .build();
    let tracer = provider.tracer("checkout_service");

    let app = Router::new()
        .route(
            "/checkout",
            get(move |Query(query): Query<Vec<(String, String)>>| {
                let items = query
                    .iter()
                    .find(|(key, _)| key == "items")
                    .and_then(|(_, value)| value.parse::<u32>().ok())
                    .unwrap_or(1);
                let trace_id = checkout(&tracer, items);
                async move { trace_id }
            }),
        )
        .merge(weft_client::axum::router(ScrapeHandler::new(ring)));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// One checkout: a server span with a child per item and a payment call; answers the
/// trace id in hex.
fn checkout(tracer: &SdkTracer, items: u32) -> String {
    let server_span = tracer
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", "/checkout"),
            KeyValue::new("http.response.status_code", 200),
        ])
        .start(tracer);
    let context = opentelemetry::Context::current_with_span(server_span);
    let trace_id = context.span().span_context().trace_id().to_string();
    for item in 0..items {
        let _reserve = tracer
            .span_builder("reserve stock")
            .with_attributes([KeyValue::new("item.index", i64::from(item))])
            .start_with_context(tracer, &context);
    }
    let _charge = tracer
        .span_builder("POST /charge")
        .with_kind(SpanKind::Client)
        .start_with_context(tracer, &context);
    trace_id
}
