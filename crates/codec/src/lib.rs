//! Wire formats to and from weft's model: OTLP (protobuf, JSON), Zipkin v2 (JSON,
//! protobuf), Zipkin v1 (JSON, Thrift) and Jaeger (Thrift compact and binary, protobuf).
//!
//! Every function here is pure: bytes in, model out (or the reverse), no I/O, no panics
//! on any input. Each decoder has a fuzz target under `fuzz/` and a deterministic
//! mutation test that runs with `cargo test`. The mappings are documented at the top of
//! each module and collected in `docs/normalisation.md`.
//!
//! - [`otlp`]: `decode_proto`, `decode_json`, `from_request` (tonic's decoded request),
//!   `to_resource_spans`, `encode_json`.
//! - [`zipkin`]: `decode_v2_json`, `decode_v2_proto`, `encode_v2_json`,
//!   `encode_v2_proto`, `encode_v2_traces_json`.
//! - [`zipkin_v1`]: `decode_json`, `decode_thrift` (Zipkin's v1 to v2 conversion).
//! - [`jaeger`]: `decode_agent_compact`, `decode_agent_binary`, `decode_batch_binary`,
//!   `decode_post_spans_request`.
//! - [`pull`]: `decode_response`, the answer to a pull scrape (`Weft-*` headers and an
//!   OTLP protobuf body).
//! - [`thrift`]: the bounded Thrift protocol reader the decoders share.

pub mod error;
pub mod jaeger;
mod json_write;
pub mod otlp;
pub mod pull;
pub mod rpc_status;
pub mod thrift;
pub mod zipkin;
pub mod zipkin_v1;

#[cfg(test)]
mod robustness_tests;

pub use error::DecodeError;
