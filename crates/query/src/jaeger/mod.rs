//! Jaeger query semantics: the v1 (`/api/...`) and api_v3 (`/api/v3/...`) request
//! parameters, FindTraces (one span must satisfy service, operation, tags, duration and
//! window together; tags match span tags, process tags and log fields), traces by id,
//! services, operations with kinds, trace summaries, and Jaeger's view of a trace
//! ([`JaegerTrace`]) built by the OpenTelemetry-to-Jaeger mapping.
//!
//! Dependencies are Zipkin's ([`crate::zipkin::dependencies`]); the API layer serves them
//! in Jaeger's shape.

pub mod params;
pub mod request;
pub mod search;
pub mod view;

#[cfg(test)]
mod tests;

pub use crate::zipkin::traces_by_ids;
pub use params::{jaeger_trace_id_hex, parse_trace_id};
pub use request::{JaegerQueryDefaults, TraceQuery};
pub use search::{
    FoundTraces, KindSample, Operation, ServiceOverview, TraceOverview, find_traces, matches,
    operation_names, operations, overview, services,
};
pub use view::{
    JaegerKeyValue, JaegerLog, JaegerProcess, JaegerReference, JaegerSpan, JaegerTrace,
    JaegerValue, ReferenceType, to_jaeger_trace,
};
