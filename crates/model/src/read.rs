//! The read-side seam: what query code needs from wherever spans are kept.
//!
//! The ingester implements [`TraceReader`] over its head, WAL and blocks; a scaled-out
//! querier implements it over ingesters and the object store. Query semantics (Zipkin
//! search rules, TraceQL, analytics) live above this trait and never see storage.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::catalog::AttributeCatalog;
use crate::dependency::{DependencyLink, DependencyLinker};
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
    /// Every attribute key per scope with bounded typed values, of all spans (with or
    /// without a service). Its limits bound merges into this index too.
    pub attributes: AttributeCatalog,
}

impl NameIndex {
    /// Adds one span's names. `indexed_keys` are the attribute keys whose values are kept.
    pub fn add_span(&mut self, span: &Span, indexed_keys: &[String]) {
        self.attributes.add_span(span);
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

    /// Adds everything from `other` (its attribute catalog within this index's limits).
    pub fn merge(&mut self, other: &NameIndex) {
        self.attributes.merge(&other.attributes);
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

/// A scan of stored traces for a search ([`TraceReader::scan`]).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The tenant searched.
    pub tenant: TenantId,
    /// Traces whose timestamp lies in this window.
    pub window: TimeWindow,
    /// Necessary conditions: a trace whose parts together miss a criterion is left out.
    pub filter: SpanFilter,
    /// Most traces the default implementation takes from [`TraceReader::summaries`].
    pub max_candidates: usize,
}

/// A trace a scan found.
#[derive(Debug, Clone)]
pub struct ScannedTrace {
    /// The trace's summary: of the whole trace when `spans` holds it, else of the part
    /// the scan saw.
    pub summary: TraceSummary,
    /// Every stored span of the trace, when the reader knows it has them all
    /// (`whole`); else empty, and the caller loads the trace ([`TraceReader::trace`]).
    pub spans: Vec<Span>,
    /// Whether `spans` is the whole trace.
    pub whole: bool,
}

/// One step of a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanBatch {
    /// Traces found in this step, each once per scan when `whole`; a trace stored in
    /// parts may be named again by a later step.
    pub traces: Vec<ScannedTrace>,
    /// Every trace of the window whose timestamp is above this has been reported by
    /// this step or an earlier one; 0 once the scan has seen everything.
    pub complete_above_unix_nanos: u64,
    /// True when the reader left traces out to stay within `max_candidates`.
    pub truncated: bool,
    /// Spans decoded by this step (the ones of `traces` included).
    pub decoded_spans: u64,
}

/// Read access to stored spans of one process or cluster.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// Every stored span of `trace_id` (head, WAL and blocks), unmerged, in no set order.
    /// Empty when the trace is unknown.
    async fn trace(&self, tenant: &TenantId, trace_id: TraceId) -> Result<Vec<Span>, ReadError>;

    /// Summaries of traces whose timestamp lies in `window` and whose parts, together,
    /// meet every criterion of `filter` (see [`SpanFilter`]; an empty filter admits every
    /// trace). Each trace appears once even when its spans are spread over several
    /// blocks. At most `max_traces` are returned, preferring the newest. Implementations
    /// may return a superset for span-level criteria; callers that need exact Zipkin or
    /// Tempo semantics verify on the trace's spans.
    async fn summaries(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        filter: &SpanFilter,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, ReadError>;

    /// The traces whose timestamp lies in the window and whose parts together may meet
    /// every criterion of the filter, newest data first, step by step: a consumer that
    /// has enough drops the stream and the reader stops. Readers that can tell give
    /// whole traces with their spans, so that the consumer judges them without loading
    /// them again. The default takes the summaries ([`TraceReader::summaries`]) in one
    /// step, none of them whole.
    fn scan(&self, request: ScanRequest) -> BoxStream<'_, Result<ScanBatch, ReadError>> {
        stream::once(async move {
            let max = request.max_candidates.max(1);
            let summaries = self
                .summaries(&request.tenant, request.window, &request.filter, max)
                .await?;
            Ok(ScanBatch {
                truncated: summaries.len() >= max,
                traces: summaries
                    .into_iter()
                    .map(|summary| ScannedTrace {
                        summary,
                        spans: Vec::new(),
                        whole: false,
                    })
                    .collect(),
                complete_above_unix_nanos: 0,
                decoded_spans: 0,
            })
        })
        .boxed()
    }

    /// Names of services, span names, remote services and indexed attribute values over
    /// all retained data.
    async fn names(&self, tenant: &TenantId) -> Result<NameIndex, ReadError>;

    /// Service dependency links ([`DependencyLinker`]) of the traces whose timestamp
    /// ([`TraceSummary::timestamp_unix_nanos`], Zipkin's rule) lies in `window`, summed
    /// and sorted by parent then child. Traces whose ids share the low 64 bits are linked
    /// as one where the reader links traces one by one (a server that dropped the high
    /// half of a 128-bit id still links).
    ///
    /// `max_traces` bounds the traces a reader loads and links one by one (the newest
    /// are kept); readers with precomputed links use it only for the traces they link
    /// one by one. The default implementation links every trace one by one
    /// ([`link_traces_in_window`]), so it is exact only up to `max_traces` traces.
    async fn dependencies(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        max_traces: usize,
    ) -> Result<Vec<DependencyLink>, ReadError> {
        let mut linker = DependencyLinker::new();
        link_traces_in_window(self, tenant, window, max_traces, &mut linker).await?;
        Ok(linker.links())
    }
}

/// Traces loaded at once by [`link_traces_in_window`].
const CONCURRENT_TRACE_READS: usize = 16;

/// Adds to `linker` the links of the traces whose timestamp lies in `window`, at most
/// `max_traces` of them (the newest), each loaded whole with [`TraceReader::trace`];
/// traces whose ids share the low 64 bits are linked as one. Returns the number of
/// traces found in the window before the cut to `max_traces` (more than `max_traces`
/// means the answer is partial). Errors only when the reader fails.
pub async fn link_traces_in_window<R: TraceReader + ?Sized>(
    reader: &R,
    tenant: &TenantId,
    window: TimeWindow,
    max_traces: usize,
    linker: &mut DependencyLinker,
) -> Result<usize, ReadError> {
    let max_traces = max_traces.max(1);
    let mut summaries = reader
        .summaries(tenant, window, &SpanFilter::default(), max_traces)
        .await?;
    summaries.retain(|summary| {
        summary.timestamp_unix_nanos != 0 && window.contains(summary.timestamp_unix_nanos)
    });
    let found = summaries.len();
    summaries.sort_by(|left, right| {
        right
            .timestamp_unix_nanos
            .cmp(&left.timestamp_unix_nanos)
            .then_with(|| left.trace_id.cmp(&right.trace_id))
    });
    summaries.truncate(max_traces);
    let trace_ids: Vec<TraceId> = summaries.iter().map(|summary| summary.trace_id).collect();
    let mut loads = stream::iter(group_by_low_half(&trace_ids))
        .map(|group| async move {
            let mut spans = Vec::new();
            for trace_id in group {
                spans.extend(reader.trace(tenant, trace_id).await?);
            }
            Ok::<Vec<Span>, ReadError>(spans)
        })
        .buffered(CONCURRENT_TRACE_READS);
    while let Some(loaded) = loads.next().await {
        linker.put_trace(&loaded?);
    }
    Ok(found)
}

/// `trace_ids` grouped by their low 64 bits, groups in order of first appearance.
pub fn group_by_low_half(trace_ids: &[TraceId]) -> Vec<Vec<TraceId>> {
    let mut groups: Vec<Vec<TraceId>> = Vec::new();
    let mut group_of_low_half: HashMap<u64, usize> = HashMap::new();
    for &trace_id in trace_ids {
        let low_half = trace_id.low_u64();
        match group_of_low_half.get(&low_half) {
            Some(&group) => groups[group].push(trace_id),
            None => {
                group_of_low_half.insert(low_half, groups.len());
                groups.push(vec![trace_id]);
            }
        }
    }
    groups
}

/// Span-level search criteria, pushed down to wherever spans are kept.
///
/// Each criterion is judged separately per trace part ("some span of the part meets
/// it"), and answers say which criteria each part met as a bit mask, so parts of one
/// trace kept in different places (head, several blocks) combine by OR: a trace matches
/// when, over all its parts, every criterion was met ([`SpanFilter::full_mask`]).
///
/// When `service_name` is set, a span counts for the other criteria only if its own
/// service equals it (Zipkin's rule). Names compare ASCII case-insensitively; attribute
/// values compare exactly against the value's text form ([`AttributeValue::to_text`]).
/// Storage engines may answer a superset (a part claimed to meet a criterion it does not
/// meet); callers that need exact answers verify on the spans.
///
/// [`AttributeValue::to_text`]: crate::AttributeValue::to_text
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanFilter {
    /// Only spans of this local service count; itself criterion 0 when set.
    pub service_name: Option<String>,
    /// A span with this remote service ([`Span::remote_service_name`]).
    pub remote_service_name: Option<String>,
    /// A span with this name.
    pub span_name: Option<String>,
    /// Each: a span with a span attribute `key` whose text equals the value; when the
    /// value is `None`, a span with the attribute at all or with an event named `key`.
    pub attributes: Vec<(String, Option<String>)>,
    /// A span with `duration >= min` nanoseconds (and `<= max` when that is set too).
    pub min_duration_nanos: Option<u64>,
    /// A span with `duration <= max` nanoseconds (and `>= min` when that is set too).
    pub max_duration_nanos: Option<u64>,
}

/// Most criteria one [`SpanFilter`] may have (bits of a `u64` mask).
pub const MAX_FILTER_CRITERIA: usize = 64;

impl SpanFilter {
    /// A filter with only a service criterion (or none).
    pub fn for_service(service_name: Option<&str>) -> Self {
        SpanFilter {
            service_name: service_name.map(str::to_owned),
            ..SpanFilter::default()
        }
    }

    /// Number of criteria, i.e. bits of a full mask, in this order: service (if set),
    /// remote service (if set), span name (if set), each attribute, duration (if a
    /// minimum or maximum is set).
    pub fn criteria_count(&self) -> usize {
        usize::from(self.service_name.is_some())
            + usize::from(self.remote_service_name.is_some())
            + usize::from(self.span_name.is_some())
            + self.attributes.len()
            + usize::from(self.has_duration())
    }

    /// True when the filter has no criteria (every trace part matches).
    pub fn is_empty(&self) -> bool {
        self.criteria_count() == 0
    }

    /// The mask with every criterion met (0 for an empty filter). Filters with more than
    /// [`MAX_FILTER_CRITERIA`] criteria saturate: callers reject them first.
    pub fn full_mask(&self) -> u64 {
        match self.criteria_count() {
            0 => 0,
            n if n >= MAX_FILTER_CRITERIA => u64::MAX,
            n => (1u64 << n) - 1,
        }
    }

    fn has_duration(&self) -> bool {
        self.min_duration_nanos.is_some() || self.max_duration_nanos.is_some()
    }

    /// The criteria `span` meets, as a mask (see [`SpanFilter::criteria_count`] for the
    /// bit order). A span of another service than `service_name` meets none.
    pub fn span_mask(&self, span: &Span) -> u64 {
        let mut mask = 0u64;
        let mut bit = 0usize;
        let set = |mask: &mut u64, bit: &mut usize, met: bool| {
            if met && *bit < MAX_FILTER_CRITERIA {
                *mask |= 1u64 << *bit;
            }
            *bit += 1;
        };
        if let Some(service) = &self.service_name {
            let own = span
                .service_name()
                .is_some_and(|own| own.eq_ignore_ascii_case(service));
            if !own {
                return 0;
            }
            set(&mut mask, &mut bit, true);
        }
        if let Some(remote) = &self.remote_service_name {
            let met = span
                .remote_service_name()
                .is_some_and(|name| name.eq_ignore_ascii_case(remote));
            set(&mut mask, &mut bit, met);
        }
        if let Some(name) = &self.span_name {
            set(&mut mask, &mut bit, span.name.eq_ignore_ascii_case(name));
        }
        for (key, value) in &self.attributes {
            let met = match value {
                Some(value) => span
                    .attributes
                    .iter()
                    .any(|attribute| attribute.key == *key && attribute.value.to_text() == *value),
                None => {
                    span.attributes
                        .iter()
                        .any(|attribute| attribute.key == *key)
                        || span.events.iter().any(|event| event.name == *key)
                }
            };
            set(&mut mask, &mut bit, met);
        }
        if self.has_duration() {
            let duration = span.duration_nanos;
            let met = self.min_duration_nanos.is_none_or(|min| duration >= min)
                && self.max_duration_nanos.is_none_or(|max| duration <= max);
            set(&mut mask, &mut bit, met);
        }
        mask
    }

    /// The criteria met by some span of `spans` (OR of [`SpanFilter::span_mask`]).
    pub fn spans_mask<'a>(&self, spans: impl IntoIterator<Item = &'a Span>) -> u64 {
        let full = self.full_mask();
        let mut mask = 0;
        for span in spans {
            mask |= self.span_mask(span);
            if mask == full {
                break;
            }
        }
        mask
    }
}

#[cfg(test)]
mod filter_tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Event, KeyValue, Resource, SpanId, SpanKind};

    fn span(service: &str, name: &str, duration_nanos: u64) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(1), name);
        span.resource = Arc::new(Resource::for_service(service));
        span.duration_nanos = duration_nanos;
        span
    }

    #[test]
    fn criteria_bits_follow_the_documented_order() {
        let filter = SpanFilter {
            service_name: Some("Frontend".into()),
            remote_service_name: Some("db".into()),
            span_name: Some("GET".into()),
            attributes: vec![
                ("http.status_code".into(), Some("500".into())),
                ("retry".into(), None),
            ],
            min_duration_nanos: Some(10),
            max_duration_nanos: None,
        };
        assert_eq!(filter.criteria_count(), 6);
        assert_eq!(filter.full_mask(), 0b11_1111);

        let mut client = span("frontend", "get", 20);
        client.kind = SpanKind::Client;
        client.attributes.push(KeyValue::new("peer.service", "DB"));
        client
            .attributes
            .push(KeyValue::new("http.status_code", 500i64));
        assert_eq!(filter.span_mask(&client), 0b10_1111);

        let mut retry = span("frontend", "other", 5);
        retry.events.push(Event {
            time_unix_nanos: 0,
            name: "retry".into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
        assert_eq!(filter.span_mask(&retry), 0b01_0001);
        assert_eq!(filter.spans_mask([&client, &retry]), filter.full_mask());

        let other_service = span("backend", "get", 20);
        assert_eq!(
            filter.span_mask(&other_service),
            0,
            "other services count for nothing"
        );
    }

    #[test]
    fn durations_bound_both_ways_and_an_empty_filter_has_no_bits() {
        let filter = SpanFilter {
            min_duration_nanos: Some(10),
            max_duration_nanos: Some(20),
            ..SpanFilter::default()
        };
        assert_eq!(filter.span_mask(&span("a", "x", 9)), 0);
        assert_eq!(filter.span_mask(&span("a", "x", 10)), 1);
        assert_eq!(filter.span_mask(&span("a", "x", 20)), 1);
        assert_eq!(filter.span_mask(&span("a", "x", 21)), 0);
        let empty = SpanFilter::default();
        assert!(empty.is_empty());
        assert_eq!(empty.full_mask(), 0);
        assert_eq!(empty.span_mask(&span("a", "x", 1)), 0);
    }
}
