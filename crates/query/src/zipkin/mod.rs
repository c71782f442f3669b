//! Zipkin v2 read semantics: request parsing and validation, `QueryRequest.test()`, trace
//! ids, name lists, and the read operations themselves.

pub mod ids;
pub mod matcher;
pub mod names;
pub mod read;
pub mod request;

#[cfg(test)]
mod tests;

pub use ids::{normalize_trace_id, parse_trace_ids};
pub use read::{ReadLimits, dependencies, search, trace_by_id, trace_many, traces_by_ids};
pub use request::{ZipkinQuery, ZipkinQueryDefaults, parse_optional_integer, zipkin_window};
