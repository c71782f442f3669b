//! Ingest listeners: OTLP over gRPC and HTTP, and Zipkin over HTTP.
//!
//! Each listener reads a request within [`ReceiverConfig::max_request_bytes`] (the
//! compressed body and the decompressed body are both held to it), decodes it with
//! `weft-codec`, resolves the tenant (`X-Scope-OrgID` when multi-tenancy is on) and hands
//! the batch to a [`weft_model::SpanSink`]. The client is answered only after the sink
//! answered, so a success means the spans are durable.
//!
//! - [`otlp_grpc_service`] serves `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//! - [`otlp_http_router`] serves `POST /v1/traces`, protobuf or JSON, optionally gzipped.
//! - [`zipkin_ingest_router`] serves `POST /api/v2/spans` (and `POST /`), Zipkin v2 JSON.
//!
//! Every failure goes through one table, [`ReceiveError::class`], that gives its HTTP
//! status, gRPC code and metric reason. Metrics (emitted once per request):
//! `weft_receiver_spans_received_total{protocol}`, `weft_receiver_bytes_received_total{protocol}`,
//! `weft_receiver_spans_rejected_total{protocol, reason}` and
//! `weft_receiver_requests_rejected_total{protocol, reason}`; see [`counters::Protocol`].

pub mod body;
pub mod config;
pub mod counters;
pub mod error;
pub mod grpc_limit;
mod ingest;
pub mod otlp_grpc;
pub mod otlp_http;
mod rpc_status;
pub mod zipkin_http;

pub use config::{ConfigError, ReceiverConfig};
pub use error::{ErrorClass, ReceiveError};
pub use otlp_grpc::otlp_grpc_service;
pub use otlp_http::otlp_http_router;
pub use zipkin_http::zipkin_ingest_router;
