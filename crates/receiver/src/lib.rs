//! Ingest listeners: OTLP over gRPC and HTTP, Zipkin over HTTP, and Jaeger's collector
//! (HTTP and gRPC) and agent (UDP).
//!
//! Every listener is built from one [`ReceiverContext`] (the sink, the settings, the
//! per-request span limit and the process-wide [`InflightBudget`]): build it once and pass
//! it to each constructor. Each request listener reads a request within
//! [`ReceiverConfig::max_request_bytes`] (the compressed body and the decompressed body are
//! both held to it), charging [`ReceiverConfig::max_inflight_bytes`] as it goes (429 /
//! RESOURCE_EXHAUSTED with a retry hint when full), counts its spans on the wire (413 /
//! RESOURCE_EXHAUSTED without a retry hint over the limit, nothing decoded), decodes it
//! with `weft-codec` (bodies over 256 KiB on the blocking pool), resolves the tenant
//! (`X-Scope-OrgID` when multi-tenancy is on) and hands the batch to a
//! [`weft_model::SpanSink`]. The client is answered only after the sink answered, so a
//! success means the spans are durable.
//!
//! - [`otlp_grpc_service`] serves `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//! - [`otlp_http_router`] serves `POST /v1/traces`, protobuf or JSON, optionally gzipped,
//!   and `POST /v1/logs` ([`otlp_logs`]), handing log records to the context's
//!   [`LogsSink`]; [`otlp_logs_grpc_service`] serves `LogsService/Export`.
//! - [`zipkin_ingest_router`] serves `POST /api/v2/spans` (and `POST /`: v2 JSON and
//!   proto3) and `POST /api/v1/spans` (v1 JSON and Thrift).
//! - [`jaeger_collector_http_router`] serves `POST /api/traces` (binary Thrift `Batch`).
//! - [`jaeger_grpc_service`] serves `jaeger.api_v2.CollectorService/PostSpans`.
//! - [`jaeger_sampling_grpc_service`] serves `jaeger.api_v2.SamplingManager/GetSamplingStrategy`
//!   with a method body the caller gives (it is not ingest: no budget, tenant or sink).
//! - [`serve_jaeger_agent_udp`] serves one agent UDP socket (compact or binary Thrift
//!   `emitBatch`); a datagram has no answer, so drops are only counted.
//!
//! Every failure goes through one table, [`ReceiveError::class`], that gives its HTTP
//! status, gRPC code and metric reason. Metrics (emitted once per request or datagram):
//! `weft_receiver_spans_received_total{protocol}`, `weft_receiver_bytes_received_total{protocol}`,
//! `weft_receiver_spans_rejected_total{protocol, reason}` and
//! `weft_receiver_requests_rejected_total{protocol, reason}` (see [`counters::Protocol`]),
//! plus the kernel's view of the UDP sockets, `weft_receiver_udp_kernel_drops_total{listener}`
//! and `weft_receiver_udp_receive_queue_bytes{listener}`.

pub mod body;
pub mod config;
mod context;
pub mod counters;
pub mod error;
mod grpc_body;
pub mod grpc_limit;
mod grpc_unary;
pub mod inflight;
mod ingest;
pub mod jaeger_agent;
pub mod jaeger_grpc;
pub mod jaeger_http;
pub mod jaeger_sampling_grpc;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod otlp_logs;
pub mod raw_codec;
use weft_codec::rpc_status;
mod span_count;
mod text_http;
mod udp_kernel_stats;
pub mod zipkin_http;

pub use config::{ConfigError, JaegerAgentConfig, ReceiverConfig};
pub use context::ReceiverContext;
pub use error::{ErrorClass, ReceiveError};
pub use inflight::{InflightBudget, Reservation};
pub use jaeger_agent::{AgentProtocol, serve_jaeger_agent_udp};
pub use jaeger_grpc::jaeger_grpc_service;
pub use jaeger_http::jaeger_collector_http_router;
pub use jaeger_sampling_grpc::jaeger_sampling_grpc_service;
pub use otlp_grpc::otlp_grpc_service;
pub use otlp_http::otlp_http_router;
pub use otlp_logs::{LogsPushOutcome, LogsSink, OtlpLogsPayload, otlp_logs_grpc_service};
pub use zipkin_http::zipkin_ingest_router;
