//! Wire formats to and from weft's model: OTLP (protobuf, JSON) and Zipkin v2 JSON.
//!
//! Every function here is pure: bytes in, model out (or the reverse), no I/O, no panics
//! on any input. Each decoder has a fuzz target under `fuzz/` and a deterministic
//! robustness test that feeds it mutated input.
//!
//! - [`otlp`]: `decode_proto`, `decode_json`, `from_request` (tonic's decoded request),
//!   `to_resource_spans`, `encode_json`.
//! - [`zipkin`]: `decode_v2_json`, `encode_v2_json`, `encode_v2_traces_json`; the module
//!   docs hold the Zipkin to model mapping.

pub mod error;
pub mod jaeger;
mod json_write;
pub mod otlp;
pub mod thrift;
pub mod zipkin;
pub mod zipkin_v1;

#[cfg(test)]
mod robustness_tests;

pub use error::DecodeError;
