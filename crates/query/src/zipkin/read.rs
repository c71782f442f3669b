//! The Zipkin read operations over a [`TraceReader`]: search, trace by id, several traces
//! by id, and dependency links over a time window.

use futures_util::stream::{self, StreamExt};
use weft_model::{Span, TenantId, TraceId, TraceReader};

use super::matcher::matches;
use super::request::{ZipkinQuery, zipkin_window};
use crate::QueryError;
use crate::dedupe::dedupe_spans;
use crate::dependency::DependencyLink;
use crate::search::{SearchLimits, SearchRequest};

/// Bounds on the work one request may do, so that a huge window or a rare predicate cannot
/// keep the server busy without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most traces one search or dependency request loads and examines (newest first);
    /// traces beyond it are not considered. At least 1 is used.
    pub max_traces_examined: usize,
    /// Traces loaded concurrently. At least 1 is used.
    pub concurrent_trace_reads: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_traces_examined: 10_000,
            concurrent_trace_reads: 16,
        }
    }
}

impl ReadLimits {
    /// The search engine's bounds: at most `max_traces_examined` candidates, loaded
    /// `concurrent_trace_reads` at a time (both at least 1), with the engine's default
    /// deadline and byte budget.
    pub fn search_limits(self) -> SearchLimits {
        SearchLimits {
            max_candidates: self.max_traces_examined.max(1),
            concurrent_reads: self.concurrent_trace_reads.max(1),
            ..SearchLimits::default()
        }
    }
}

/// Zipkin's `GET /api/v2/traces`: the newest traces matching `query`, at most
/// `query.limit`, newest first (by the trace timestamp). Each trace is all its stored spans,
/// raw and unmerged, with identical duplicates removed.
///
/// Runs on the one search engine ([`crate::search::search`]): candidates for the query
/// window and the pushed-down filter, at most `limits.max_traces_examined` of them, each
/// loaded and tested with [`matches()`](super::matcher::matches). Zipkin's answer cannot
/// say it is partial, so a search cut short by a bound is counted in
/// `weft_query_zipkin_searches_truncated_total`. Errors only when the store fails.
pub async fn search(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    query: &ZipkinQuery,
    limits: ReadLimits,
) -> Result<Vec<Vec<Span>>, QueryError> {
    let mut search_limits = limits.search_limits();
    if query.has_only_service_filter() {
        // Every candidate matches, so reading ahead past the limit would be wasted.
        search_limits.concurrent_reads = search_limits.concurrent_reads.min(query.limit.max(1));
    }
    let request = SearchRequest {
        tenant: tenant.clone(),
        window: query.window(),
        filter: query.span_filter(),
        limit: query.limit,
        limits: search_limits,
    };
    let outcome = crate::search::search(reader, &request, |spans| {
        matches(query, spans).then_some(())
    })
    .await?;
    metrics::counter!("weft_query_zipkin_traces_examined_total")
        .increment(outcome.metrics.inspected_traces);
    if outcome.partial.is_some() {
        metrics::counter!("weft_query_zipkin_searches_truncated_total").increment(1);
    }
    Ok(outcome
        .matches
        .into_iter()
        .map(|found| found.spans)
        .collect())
}

/// Zipkin's `GET /api/v2/trace/{traceId}`: every stored span of the trace (exact 128-bit
/// match), identical duplicates removed; empty when the trace is unknown.
pub async fn trace_by_id(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    trace_id: TraceId,
) -> Result<Vec<Span>, QueryError> {
    let mut spans = reader.trace(tenant, trace_id).await?;
    dedupe_spans(&mut spans);
    Ok(spans)
}

/// Zipkin's `GET /api/v2/traceMany`: the traces among `trace_ids` that exist, in request
/// order, each deduplicated as in [`trace_by_id`]; unknown ids are left out.
pub async fn trace_many(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    trace_ids: &[TraceId],
    limits: ReadLimits,
) -> Result<Vec<Vec<Span>>, QueryError> {
    let (traces, _missing) = traces_by_ids(reader, tenant, trace_ids, limits).await?;
    Ok(traces)
}

/// The traces among `trace_ids` that exist, in request order, each deduplicated as in
/// [`trace_by_id`], and the ids that do not exist; `limits.concurrent_trace_reads` loaded
/// at once. Used by Zipkin's `traceMany` and Jaeger's `traceID=` lookups.
pub async fn traces_by_ids(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    trace_ids: &[TraceId],
    limits: ReadLimits,
) -> Result<(Vec<Vec<Span>>, Vec<TraceId>), QueryError> {
    let mut loads = stream::iter(trace_ids.iter().copied())
        .map(|trace_id| async move { (trace_id, trace_by_id(reader, tenant, trace_id).await) })
        .buffered(limits.concurrent_trace_reads.max(1));
    let mut found = Vec::new();
    let mut missing = Vec::new();
    while let Some((trace_id, loaded)) = loads.next().await {
        let spans = loaded?;
        if spans.is_empty() {
            missing.push(trace_id);
        } else {
            found.push(spans);
        }
    }
    Ok((found, missing))
}

/// Zipkin's `GET /api/v2/dependencies`: links over the traces whose timestamp lies in
/// `[(end_ts_millis - lookback_millis) * 1000, end_ts_millis * 1000]` microseconds, sorted
/// by parent then child.
///
/// The reader answers ([`TraceReader::dependencies`]): stores with precomputed per-block
/// links sum them and link only the traces at the window's edges one by one; there (and
/// in readers without precomputed links) traces whose ids share the low 64 bits are
/// linked as one (a server that dropped the high half of a 128-bit id still links, and
/// the call is not counted twice). At most `limits.max_traces_examined` traces, the
/// newest, are linked one by one. Errors with `endTs <= 0` or `lookback <= 0` (Zipkin's
/// texts), or when the store fails.
pub async fn dependencies(
    reader: &dyn TraceReader,
    tenant: &TenantId,
    end_ts_millis: i64,
    lookback_millis: i64,
    limits: ReadLimits,
) -> Result<Vec<DependencyLink>, QueryError> {
    if end_ts_millis <= 0 {
        return Err(QueryError::invalid("endTs <= 0"));
    }
    if lookback_millis <= 0 {
        return Err(QueryError::invalid("lookback <= 0"));
    }
    let window = zipkin_window(end_ts_millis, lookback_millis);
    let max_traces = limits.max_traces_examined.max(1);
    Ok(reader.dependencies(tenant, window, max_traces).await?)
}
