//! weft's canonical data model.
//!
//! Every wire format (OTLP, Zipkin, Jaeger) is decoded into these types by `weft-codec`
//! and every read API encodes from them. The model follows OpenTelemetry's span model;
//! the few Zipkin notions that OpenTelemetry lacks (the `shared` and `debug` flags, spans
//! without a timestamp) are explicit fields so that a span read back through the protocol
//! it came in on keeps its meaning.
//!
//! This crate does no I/O. [`ingest::SpanSink`] is the one seam between receivers and
//! whatever stores spans (the distributor in one process, a network client when scaled out).

pub mod attribute;
pub mod catalog;
pub mod dependency;
pub mod id;
pub mod ingest;
pub mod read;
pub mod span;
pub mod tenant;

pub use attribute::{AttributeValue, KeyValue};
pub use catalog::{
    AttributeCatalog, AttributeScope, CatalogFloat, CatalogGrowth, CatalogLimits, CatalogValueRef,
    KeyValues, ScopeCatalog,
};
pub use dependency::{DependencyLink, DependencyLinker, LinkSpan, dependency_links};
pub use id::{IdError, SpanId, TraceId};
pub use ingest::{PushError, PushOutcome, SpanSink};
pub use read::{
    MAX_FILTER_CRITERIA, NameIndex, ReadError, ScanBatch, ScanRequest, ScannedTrace, SpanFilter,
    TimeWindow, TraceReader, TraceSummary, group_by_low_half, link_traces_in_window,
};
pub use span::{
    Event, InstrumentationScope, Link, Resource, Span, SpanBatch, SpanKind, Status, StatusCode,
};
pub use tenant::{TenantError, TenantId};
