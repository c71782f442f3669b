//! Wire formats to and from weft's model: OTLP (protobuf, JSON) and Zipkin v2 JSON.
//!
//! Every function here is pure: bytes in, model out (or the reverse), no I/O, no panics
//! on any input. Each decoder has a fuzz target under `fuzz/`.

pub mod error;
pub mod otlp;
pub mod zipkin;

pub use error::DecodeError;
