//! Query semantics above [`weft_model::TraceReader`]: Zipkin search rules, dependency
//! links, trace assembly.
//!
//! Nothing here knows how spans are stored or how requests arrive: the API crate parses
//! HTTP and calls these functions with a reader.
//!
//! - [`zipkin`]: Zipkin v2 read semantics ([`zipkin::ZipkinQuery`], [`zipkin::search`],
//!   [`zipkin::trace_by_id`], [`zipkin::trace_many`], [`zipkin::dependencies`], names).
//! - [`traceql`]: Tempo's TraceQL: [`traceql::parse`], evaluation over one trace's spans,
//!   pushdown of necessary conditions into a [`weft_model::SpanFilter`].
//! - [`dependency`]: Zipkin's dependency linker over any traces.
//! - [`duration`]: Go's duration text ([`duration::parse_go_duration`],
//!   [`duration::format_go_duration`]), shared by every API and TraceQL.
//! - [`dedupe_spans`]: the one place identical duplicate spans are removed on read.
//! - [`search`]: the one search engine every API uses (candidates newest first, exact
//!   matcher, limit, deadline and byte budget, partial answers said so).
//! - [`memory::MemoryTraceReader`]: an exact in-memory reader for tests.

pub mod dependency;
pub mod duration;
pub mod jaeger;
pub mod memory;
pub mod search;
pub mod traceql;
pub mod zipkin;

mod dedupe;
mod error;

pub use dedupe::dedupe_spans;
pub use dependency::{DependencyLink, DependencyLinker, dependency_links};
pub use error::QueryError;
