//! Jaeger's read operations over a [`TraceReader`]: trace search (FindTraces), traces by
//! id, services, operations and trace summaries.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};
use weft_model::{Span, SpanFilter, SpanKind, TenantId, TimeWindow, TraceId, TraceReader};

use super::request::TraceQuery;
use super::view::span_has_tag;
use crate::QueryError;
use crate::search::{Partial, SearchRequest};
use crate::zipkin::ReadLimits;

/// True when one span of `spans` satisfies every criterion of `query` at once (Jaeger's
/// storage rule; see [`TraceQuery`]). `query.trace_ids` is not looked at.
pub fn matches(query: &TraceQuery, spans: &[Span]) -> bool {
    spans.iter().any(|span| span_matches(query, span))
}

/// True when `span` satisfies every criterion of `query`.
pub fn span_matches(query: &TraceQuery, span: &Span) -> bool {
    // Cheap checks first: the tag check builds the span's Jaeger view.
    span.service_name().unwrap_or("") == query.service_name
        && query
            .operation_name
            .as_ref()
            .is_none_or(|name| *name == span.name)
        && query
            .duration_min_nanos
            .is_none_or(|min| span.duration_nanos >= min)
        && query
            .duration_max_nanos
            .is_none_or(|max| span.duration_nanos <= max)
        && query.window().contains(span.start_unix_nanos)
        && query
            .tags
            .iter()
            .all(|(key, value)| span_has_tag(span, key, value))
}

/// The answer of [`find_traces`].
#[derive(Debug, Clone, Default)]
pub struct FoundTraces {
    /// Matching traces, newest first, each all its stored spans with identical duplicates
    /// removed.
    pub traces: Vec<Vec<Span>>,
    /// Set when the search was cut short by a bound, so matching traces may be missing.
    /// Jaeger's answers cannot say so; the caller may log it.
    pub partial: Option<Partial>,
}

/// Jaeger's FindTraces: the newest traces (by trace timestamp) with a span matching
/// `query`, at most `query.limit` (at least 1).
///
/// Runs on the one search engine ([`crate::search::search`]): candidates are the traces
/// whose timestamp (root start, else earliest start) lies in the query window and whose
/// spans meet [`TraceQuery::span_filter`], at most `limits.max_traces_examined`, newest
/// first; each is loaded and verified with [`matches`]. A trace whose root started before
/// the window is therefore not found even when a later span of it matches. A search cut
/// short by a bound is counted in `weft_query_jaeger_searches_truncated_total` and said in
/// [`FoundTraces::partial`]. Errors only when the store fails.
pub async fn find_traces(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    query: &TraceQuery,
    limits: ReadLimits,
) -> Result<FoundTraces, QueryError> {
    let request = SearchRequest {
        tenant: tenant.clone(),
        window: query.window(),
        filter: query.span_filter(),
        limit: query.limit.max(1),
        limits: limits.search_limits(),
    };
    let outcome = crate::search::search(reader, &request, |spans| {
        matches(query, spans).then_some(())
    })
    .await?;
    metrics::counter!("weft_query_jaeger_traces_examined_total")
        .increment(outcome.metrics.inspected_traces);
    if outcome.partial.is_some() {
        metrics::counter!("weft_query_jaeger_searches_truncated_total").increment(1);
    }
    Ok(FoundTraces {
        traces: outcome
            .matches
            .into_iter()
            .map(|found| found.spans)
            .collect(),
        partial: outcome.partial,
    })
}

/// Service names as stored (case kept), sorted.
pub async fn services(
    reader: &dyn TraceReader,
    tenant: &TenantId,
) -> Result<Vec<String>, QueryError> {
    let index = reader.names(tenant).await?;
    Ok(index.services.into_iter().collect())
}

/// Span names recorded by `service_name` (exact match), sorted; empty for an unknown
/// service.
pub async fn operation_names(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    service_name: &str,
) -> Result<Vec<String>, QueryError> {
    let mut index = reader.names(tenant).await?;
    Ok(index
        .span_names
        .remove(service_name)
        .map(|names| names.into_iter().collect())
        .unwrap_or_default())
}

/// An operation of a service: a span name and the kind its spans had.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    /// The span name.
    pub name: String,
    /// `server`, `client`, `producer`, `consumer`, `internal`, or empty when unknown.
    pub span_kind: String,
}

/// Where [`operations`] learns span kinds: the store's name index has span names but not
/// kinds, so kinds come from the newest traces of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSample {
    /// The window of trace timestamps sampled.
    pub window: TimeWindow,
    /// Most traces loaded (newest first); 0 learns no kinds.
    pub max_traces: usize,
}

/// The operations of `service_name` (exact match), sorted by name then kind.
///
/// Names are all the service's span names from the name index. Kinds are learned from the
/// spans of the service in the newest `sample.max_traces` traces of `sample.window`; a
/// name seen with several kinds is listed once per kind, and a name not seen in the
/// sample is listed with an empty kind. With `span_kind` set (case-insensitive), only
/// the operations seen with that kind are listed, so operations outside the sample are
/// missing from a filtered list.
pub async fn operations(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    service_name: &str,
    span_kind: Option<&str>,
    sample: KindSample,
    limits: ReadLimits,
) -> Result<Vec<Operation>, QueryError> {
    if service_name.is_empty() {
        return Ok(Vec::new());
    }
    let names = operation_names(reader, tenant, service_name).await?;
    let mut kinds_by_name: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let filter = SpanFilter::for_service(Some(service_name));
    let summaries = if sample.max_traces == 0 {
        Vec::new()
    } else {
        reader
            .summaries(tenant, sample.window, &filter, sample.max_traces)
            .await?
    };
    let mut loads = stream::iter(summaries.into_iter().map(|summary| summary.trace_id))
        .map(|trace_id| reader.trace(tenant, trace_id))
        .buffered(limits.concurrent_trace_reads.max(1));
    while let Some(loaded) = loads.next().await {
        for span in loaded? {
            if span.service_name() == Some(service_name) && span.kind != SpanKind::Unspecified {
                kinds_by_name
                    .entry(span.name.clone())
                    .or_default()
                    .insert(span.kind.as_str());
            }
        }
    }
    let mut operations = Vec::new();
    for name in names {
        let kinds = kinds_by_name.remove(&name).unwrap_or_default();
        if kinds.is_empty() {
            operations.push(Operation {
                name,
                span_kind: String::new(),
            });
            continue;
        }
        for kind in kinds {
            operations.push(Operation {
                name: name.clone(),
                span_kind: kind.to_owned(),
            });
        }
    }
    if let Some(wanted) = span_kind.filter(|kind| !kind.is_empty()) {
        operations.retain(|operation| operation.span_kind.eq_ignore_ascii_case(wanted));
    }
    operations.sort();
    Ok(operations)
}

/// Per-service counts of a [`TraceOverview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOverview {
    /// The service name.
    pub name: String,
    /// Its spans in the trace.
    pub span_count: u64,
    /// Of those, spans with an error status or `error` tag.
    pub error_span_count: u64,
}

/// api_v3's trace summary: what the search results list shows of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOverview {
    /// The trace.
    pub trace_id: TraceId,
    /// Service of the root span (the earliest span without a parent); empty without one.
    pub root_service_name: String,
    /// Name of the root span; empty without one.
    pub root_operation_name: String,
    /// Earliest span start, epoch nanoseconds.
    pub min_start_unix_nanos: u64,
    /// Latest span end, epoch nanoseconds.
    pub max_end_unix_nanos: u64,
    /// Spans in the trace.
    pub span_count: u64,
    /// Spans with an error status or `error` tag.
    pub error_span_count: u64,
    /// Spans whose parent is not in the trace.
    pub orphan_span_count: u64,
    /// Per service, sorted by name.
    pub services: Vec<ServiceOverview>,
}

/// Summarises one trace's spans (at least one span).
pub fn overview(spans: &[Span]) -> TraceOverview {
    let span_ids: BTreeSet<_> = spans.iter().map(|span| span.span_id).collect();
    let root = spans
        .iter()
        .filter(|span| span.parent_span_id.is_none())
        .min_by_key(|span| span.start_unix_nanos);
    let mut services: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut error_span_count = 0;
    let mut orphan_span_count = 0;
    for span in spans {
        let error = u64::from(span.is_error());
        error_span_count += error;
        if span
            .parent_span_id
            .is_some_and(|parent| !span_ids.contains(&parent))
        {
            orphan_span_count += 1;
        }
        let counts = services
            .entry(span.service_name().unwrap_or(super::view::NO_SERVICE_NAME))
            .or_default();
        counts.0 += 1;
        counts.1 += error;
    }
    TraceOverview {
        trace_id: spans.first().map(|span| span.trace_id).unwrap_or_default(),
        root_service_name: root
            .and_then(|span| span.service_name())
            .unwrap_or_default()
            .to_owned(),
        root_operation_name: root.map(|span| span.name.clone()).unwrap_or_default(),
        min_start_unix_nanos: spans
            .iter()
            .map(|span| span.start_unix_nanos)
            .filter(|&start| start != 0)
            .min()
            .unwrap_or(0),
        max_end_unix_nanos: spans.iter().map(Span::end_unix_nanos).max().unwrap_or(0),
        span_count: spans.len() as u64,
        error_span_count,
        orphan_span_count,
        services: services
            .into_iter()
            .map(|(name, (span_count, error_span_count))| ServiceOverview {
                name: name.to_owned(),
                span_count,
                error_span_count,
            })
            .collect(),
    }
}
