//! Trace analytics over in-memory spans, served as JSON by the APIs and the UI.
//!
//! Every analysis takes the spans of whole traces (`&[Span]` per trace: what
//! [`weft_model::TraceReader::trace`] returns, fragments and Zipkin's shared client/server
//! halves included), does no I/O, and returns a serde-serialisable result whose JSON shape
//! is documented on its type. Times are nanoseconds since the Unix epoch, durations are
//! nanoseconds; field names carry their units. Ids are lowercase hex.
//!
//! - [`critical_path`]: the chain of span segments that determines one trace's latency,
//!   after clock-skew correction.
//! - [`service_map`]: services and the calls between them, with counts, errors and
//!   latency quantiles.
//! - [`flow_graph`]: the request-flow graph of one workflow (root service and operation)
//!   aggregated over many traces, with the most common critical path marked.
//! - [`calling_context_tree`]: a tree keyed by the path of (service, operation) from each
//!   root, merged across traces and workflows, with inclusive and exclusive times.
//! - [`compare_traces`] and [`compare_trace_sets`]: differences between two traces or two
//!   sets of traces, aligned by calling context and ranked, largest first.
//!
//! How a trace becomes a tree (fragments, shared spans, async children, orphans, cycles)
//! and how clock skew is corrected is described in [`tree`]. Every analysis is bounded by
//! [`Limits`]: a trace over `max_spans_per_trace` is an error for single-trace analyses
//! and is skipped (and counted) by aggregates; node caps set truncation flags in
//! [`Coverage`]. Traversals are iterative, so deep traces cannot overflow the stack.
//!
//! Quantiles are exact, by the nearest-rank method (see [`LatencySummary`]).

mod cct;
mod compare;
mod critical;
mod error;
mod flow;
mod limits;
mod names;
mod service_map;
mod stats;
pub mod tree;

#[cfg(test)]
mod tests;

pub use cct::{CallingContextTree, CctNode, calling_context_tree};
pub use compare::{
    Frame, Presence, SetComparison, SetComparisonNode, SetNodeStats, SetSummary, TraceComparison,
    TraceComparisonNode, TraceNodeTotals, TraceRef, compare_trace_sets, compare_traces,
};
pub use critical::{CriticalPath, PathSegment, SpanOnPath, critical_path};
pub use error::AnalyticsError;
pub use flow::{
    CommonPath, FlowEdge, FlowGraph, FlowNode, FlowNodeKey, FlowOptions, PerTrace, Workflow,
    flow_graph,
};
pub use limits::{Coverage, Limits};
pub use service_map::{
    CallStats, Connection, ServiceEdge, ServiceMap, ServiceMapOptions, ServiceNode, service_map,
};
pub use stats::{HistogramBucket, LatencySummary};
pub use tree::{ClockSkewCorrection, ClockSkewReport, OrphanPolicy, TreeOptions};
