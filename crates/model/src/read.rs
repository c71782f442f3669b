//! The read-side seam: what query code needs from wherever spans are kept.
//!
//! The ingester implements [`TraceReader`] over its head, WAL and blocks; a scaled-out
//! querier implements it over ingesters and the object store. Query semantics (Zipkin
//! search rules, TraceQL, analytics) live above this trait and never see storage.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use crate::id::TraceId;
use crate::span::Span;
use crate::tenant::TenantId;

/// An inclusive time range in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// First nanosecond included.
    pub start_unix_nanos: u64,
    /// Last nanosecond included.
    pub end_unix_nanos: u64,
}

impl TimeWindow {
    /// True when `unix_nanos` lies inside the window (both ends inclusive).
    pub fn contains(&self, unix_nanos: u64) -> bool {
        self.start_unix_nanos <= unix_nanos && unix_nanos <= self.end_unix_nanos
    }

    /// True when the window overlaps `[start, end]`.
    pub fn overlaps(&self, start_unix_nanos: u64, end_unix_nanos: u64) -> bool {
        start_unix_nanos <= self.end_unix_nanos && self.start_unix_nanos <= end_unix_nanos
    }
}

/// What search needs to know about a trace before reading its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// The trace's timestamp as Zipkin defines it: the root span's start, else the
    /// earliest span start; 0 when no span has a timestamp (then search never matches it).
    pub timestamp_unix_nanos: u64,
    /// The earliest start and latest end over all spans (0 when unknown).
    pub start_unix_nanos: u64,
    /// Latest end over all spans.
    pub end_unix_nanos: u64,
    /// Number of spans stored for the trace.
    pub span_count: u32,
    /// Root service name (empty when the root is missing or has no service).
    pub root_service_name: String,
    /// Root span name (empty when the root is missing).
    pub root_span_name: String,
}

/// Names seen in stored spans, for the name and autocomplete endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameIndex {
    /// Service names of spans' own resources.
    pub services: BTreeSet<String>,
    /// Span names by service.
    pub span_names: BTreeMap<String, BTreeSet<String>>,
    /// Remote service names (see [`Span::remote_service_name`]) by local service.
    pub remote_services: BTreeMap<String, BTreeSet<String>>,
    /// Values seen for each indexed attribute key (only the configured autocomplete keys).
    pub attribute_values: BTreeMap<String, BTreeSet<String>>,
}

impl NameIndex {
    /// Adds one span's names. `indexed_keys` are the attribute keys whose values are kept.
    pub fn add_span(&mut self, span: &Span, indexed_keys: &[String]) {
        let Some(service) = span.service_name() else {
            return;
        };
        if !self.services.contains(service) {
            self.services.insert(service.to_owned());
        }
        if !span.name.is_empty() {
            insert_nested(&mut self.span_names, service, &span.name);
        }
        if let Some(remote) = span.remote_service_name() {
            insert_nested(&mut self.remote_services, service, remote);
        }
        for key in indexed_keys {
            if let Some(value) = span.attribute(key) {
                let text = value.to_text();
                insert_nested(&mut self.attribute_values, key, &text);
            }
        }
    }

    /// Adds everything from `other`.
    pub fn merge(&mut self, other: &NameIndex) {
        self.services.extend(other.services.iter().cloned());
        for (maps, other_maps) in [
            (&mut self.span_names, &other.span_names),
            (&mut self.remote_services, &other.remote_services),
            (&mut self.attribute_values, &other.attribute_values),
        ] {
            for (key, values) in other_maps {
                maps.entry(key.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
    }
}

fn insert_nested(map: &mut BTreeMap<String, BTreeSet<String>>, key: &str, value: &str) {
    match map.get_mut(key) {
        Some(values) => {
            if !values.contains(value) {
                values.insert(value.to_owned());
            }
        }
        None => {
            map.insert(key.to_owned(), BTreeSet::from([value.to_owned()]));
        }
    }
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The request is wrong (HTTP 400).
    #[error("{0}")]
    InvalidInput(String),
    /// Storage failed or is unreachable (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// A stored block could not be decoded (HTTP 500).
    #[error("{0}")]
    Corrupt(String),
}

/// Read access to stored spans of one process or cluster.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// Every stored span of `trace_id` (head, WAL and blocks), unmerged, in no set order.
    /// Empty when the trace is unknown.
    async fn trace(&self, tenant: &TenantId, trace_id: TraceId) -> Result<Vec<Span>, ReadError>;

    /// Summaries of traces whose timestamp lies in `window`, restricted to traces that
    /// have a span of `service_name` when given (compared case-insensitively). Each trace
    /// appears once even when its spans are spread over several blocks. At most
    /// `max_traces` are returned, preferring the newest.
    async fn summaries(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        service_name: Option<&str>,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, ReadError>;

    /// Names of services, span names, remote services and indexed attribute values over
    /// all retained data.
    async fn names(&self, tenant: &TenantId) -> Result<NameIndex, ReadError>;
}
