//! The application side of weft's pull collection.
//!
//! An application keeps its finished spans in a [`RingBuffer`] bounded in bytes, and
//! weft's scraper pulls them over HTTP (`GET /weft/spans?cursor=N`, specified in
//! `docs/pull-protocol.md`). Unlike a destructive drain, a scrape removes nothing: each
//! scraper keeps its own cursor (a span sequence number), so several scrapers all see
//! every span, a failed scrape is simply repeated, and the only loss is eviction of the
//! oldest spans when the byte budget is full — counted, per scraper
//! (`Weft-Dropped`) and in total (`Weft-Dropped-Total`).
//!
//! The pieces:
//!
//! - [`RingBuffer`]: spans encoded once to OTLP protobuf at push ([`EncodedSpan`]),
//!   held as shared bytes; [`RingBuffer::read`] copies handles out under a short lock
//!   and the response is assembled from the pre-encoded bytes afterwards
//!   ([`encode_export_request`]).
//! - [`RingBufferSpanProcessor`]: an OpenTelemetry SDK span processor pushing every
//!   finished sampled span into a ring.
//! - [`HeadSampler`]: an SDK sampler with AWS X-Ray style [`SamplingRule`]s (globs over
//!   service, HTTP method and URL path; priority; a reservoir per second then a fixed
//!   rate) over a probabilistic default ratio.
//! - [`ScrapeHandler`]: the framework-neutral endpoint, `scrape(query)` returning status,
//!   headers and body; [`axum::router`] (feature `axum`) and [`hyper::ScrapeService`]
//!   (feature `hyper`) mount it.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
//! use opentelemetry_sdk::Resource;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use prost::Message;
//! use weft_client::{HeadSampler, RingBuffer, RingBufferSpanProcessor, SamplingRule, ScrapeHandler};
//!
//! // 8 MiB of spans; sample no health checks and all other traces (default ratio 1.0).
//! let ring = Arc::new(RingBuffer::new(8 * 1024 * 1024));
//! let health_checks = SamplingRule {
//!     name: "health".to_owned(),
//!     priority: 1,
//!     url_path: "/health*".to_owned(),
//!     reservoir_per_second: 0,
//!     fixed_rate: 0.0,
//!     ..SamplingRule::default()
//! };
//! let sampler = HeadSampler::new("checkout", vec![health_checks], 1.0)?;
//! let provider = SdkTracerProvider::builder()
//!     .with_resource(Resource::builder().with_service_name("checkout").build())
//!     .with_sampler(sampler)
//!     .with_span_processor(RingBufferSpanProcessor::new(Arc::clone(&ring)))
//!     .build();
//!
//! let tracer = provider.tracer("example");
//! tracer.in_span("GET /cart", |_cx| {});
//! tracer
//!     .span_builder("GET /healthz")
//!     .with_attributes([KeyValue::new("url.path", "/healthz")])
//!     .start(&tracer);
//!
//! // What the scraper does (normally over HTTP, with the axum or hyper adapter).
//! let handler = ScrapeHandler::new(ring);
//! let response = handler.scrape("cursor=0");
//! assert_eq!(response.status, 200);
//! assert_eq!(response.header("weft-cursor-next"), Some("1"));
//! let request = ExportTraceServiceRequest::decode(response.body)?;
//! let span = &request.resource_spans[0].scope_spans[0].spans[0];
//! assert_eq!(span.name, "GET /cart");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod encode;
pub mod processor;
pub mod ring;
pub mod sampler;
pub mod scrape;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;

pub use encode::{EncodedResource, EncodedScope, EncodedSpan, encode_export_request};
pub use processor::RingBufferSpanProcessor;
pub use ring::{
    Batch, DEFAULT_CAPACITY_BYTES, PushError, RingBuffer, RingStats, SPAN_OVERHEAD_BYTES,
};
pub use sampler::{HeadDecision, HeadSampler, SamplingConfigError, SamplingRule};
pub use scrape::{
    CONTENT_TYPE_PROTOBUF, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SCRAPE_PATH, HEADER_CURSOR_FIRST,
    HEADER_CURSOR_NEXT, HEADER_DROPPED, HEADER_DROPPED_TOTAL, HEADER_INSTANCE, ScrapeHandler,
    ScrapeQuery, ScrapeQueryError, ScrapeResponse,
};
