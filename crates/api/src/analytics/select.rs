//! Which traces an aggregate analysis reads: a TraceQL filter over a time window, through
//! the one search engine ([`weft_query::search::search_scan`]), bounded by a trace count
//! and the `query` section's deadline, candidate and byte bounds.

use serde::Serialize;
use weft_model::{Span, TenantId, TimeWindow};
use weft_query::search::{ScanOrder, SearchRequest, search_scan};
use weft_query::traceql;

use super::AnalyticsState;
use crate::error::ApiError;
use crate::params::{QueryParams, now_unix_nanos};
use crate::tempo::params::unsigned;

/// What a request asks to select.
pub(super) struct SelectionRequest<'a> {
    /// The parameter the query came from (named in errors): `q`, `qa` or `qb`.
    pub(super) query_parameter: &'static str,
    /// The TraceQL text; `None` or blank selects every trace (`{ }`).
    pub(super) query_text: Option<&'a str>,
    /// Traces whose timestamp lies in this window.
    pub(super) window: TimeWindow,
    /// Most traces selected.
    pub(super) limit: usize,
}

/// How a selection went, returned with every aggregate.
///
/// JSON: `{"query": "{ }", "start_unix_nanos": 1, "end_unix_nanos": 2, "limit": 1000,
/// "traces_selected": 12, "inspected_traces": 40, "limit_reached": false, "partial":
/// false, "partial_reason": null}`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SelectionReport {
    /// The TraceQL query run.
    pub(super) query: String,
    /// The window's first nanosecond.
    pub(super) start_unix_nanos: u64,
    /// The window's last nanosecond (inclusive).
    pub(super) end_unix_nanos: u64,
    /// The trace limit applied (the request's, lowered to `query.max_analytics_traces`).
    pub(super) limit: usize,
    /// Traces selected and handed to the analysis.
    pub(super) traces_selected: u64,
    /// Traces the search judged.
    pub(super) inspected_traces: u64,
    /// True when `limit` traces matched, so more may exist in the window.
    pub(super) limit_reached: bool,
    /// True when the search stopped at a bound (deadline, candidates, bytes).
    pub(super) partial: bool,
    /// Which bound, as a sentence.
    pub(super) partial_reason: Option<String>,
}

impl SelectionReport {
    /// True when matching traces may have been left out.
    pub(super) fn truncated(&self) -> bool {
        self.limit_reached || self.partial
    }
}

/// The selected traces (each whole, deduplicated, newest first) and the report.
pub(super) struct Selection {
    pub(super) traces: Vec<Vec<Span>>,
    pub(super) report: SelectionReport,
}

/// The `limit` parameter: the configured default without it, at least 1, lowered to
/// `query.max_analytics_traces`.
pub(super) fn trace_limit(state: &AnalyticsState, params: &QueryParams) -> Result<usize, ApiError> {
    let maximum = state.query.max_analytics_traces.max(1);
    match unsigned(params, "limit")? {
        Some(0) => Err(ApiError::BadRequest(String::from(
            "invalid limit: must be a positive number",
        ))),
        Some(limit) => Ok(usize::try_from(limit).unwrap_or(usize::MAX).min(maximum)),
        None => Ok(state.query.default_analytics_traces.clamp(1, maximum)),
    }
}

/// The window from unix-second parameters `start_key`/`end_key` (both inclusive, falling
/// back to `start`/`end` when absent); without any, the configured lookback up to now.
pub(super) fn window(
    state: &AnalyticsState,
    params: &QueryParams,
    start_key: &'static str,
    end_key: &'static str,
) -> Result<TimeWindow, ApiError> {
    let value =
        |key: &'static str, fallback: &'static str| -> Result<Option<(u64, &str)>, ApiError> {
            match unsigned(params, key)? {
                Some(value) => Ok(Some((value, key))),
                None if key != fallback => {
                    Ok(unsigned(params, fallback)?.map(|value| (value, fallback)))
                }
                None => Ok(None),
            }
        };
    let start = value(start_key, "start")?;
    let end = value(end_key, "end")?;
    let now_seconds = now_unix_nanos() / 1_000_000_000;
    let (start, end) = match (start, end) {
        (None, None) => (
            now_seconds.saturating_sub(state.zipkin.query_lookback.as_secs()),
            now_seconds,
        ),
        (start, end) => {
            let (start, start_name) = start.unwrap_or((0, start_key));
            let (end, end_name) = end.unwrap_or((now_seconds, end_key));
            if end <= start {
                return Err(ApiError::BadRequest(format!(
                    "invalid {end_name}: must be after {start_name} (received {start_name}={start} {end_name}={end})"
                )));
            }
            (start, end)
        }
    };
    Ok(TimeWindow {
        start_unix_nanos: start.saturating_mul(1_000_000_000),
        end_unix_nanos: end
            .saturating_mul(1_000_000_000)
            .saturating_add(999_999_999),
    })
}

/// The request's query text (`{ }` when none) and the parsed query; 400 naming the
/// parameter when it is not TraceQL.
pub(super) fn parse_query<'a>(
    request: &SelectionRequest<'a>,
) -> Result<(&'a str, traceql::Query), ApiError> {
    let query_text = request
        .query_text
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .unwrap_or("{ }");
    let query = traceql::parse(query_text).map_err(|error| {
        ApiError::BadRequest(format!(
            "invalid {}: invalid TraceQL query: {error}",
            request.query_parameter
        ))
    })?;
    Ok((query_text, query))
}

/// Runs the selection: the newest matches first (all matches with
/// `with(most_recent=true)`), traces for which `also` is false left out.
pub(super) async fn select(
    state: &AnalyticsState,
    tenant: &TenantId,
    request: &SelectionRequest<'_>,
    also: impl Fn(&[Span]) -> bool + Sync,
) -> Result<Selection, ApiError> {
    let (query_text, query) = parse_query(request)?;
    let mut report = SelectionReport {
        query: query_text.to_owned(),
        start_unix_nanos: request.window.start_unix_nanos,
        end_unix_nanos: request.window.end_unix_nanos,
        limit: request.limit,
        traces_selected: 0,
        inspected_traces: 0,
        limit_reached: false,
        partial: false,
        partial_reason: None,
    };
    if !state.zipkin.search_enabled {
        return Ok(Selection {
            traces: Vec::new(),
            report,
        });
    }
    let search = SearchRequest {
        tenant: tenant.clone(),
        window: request.window,
        filter: query.pushdown(),
        limit: request.limit,
        limits: state.query.search_limits(),
    };
    let order = if query.most_recent() {
        ScanOrder::MostRecent
    } else {
        ScanOrder::FirstFound
    };
    let outcome = search_scan(&*state.reader, &search, order, |spans| {
        (also(spans) && !query.evaluate(spans).is_empty()).then_some(())
    })
    .await?;
    report.traces_selected = outcome.matches.len() as u64;
    report.inspected_traces = outcome.metrics.inspected_traces;
    report.limit_reached = outcome.matches.len() >= request.limit;
    report.partial = outcome.partial.is_some();
    report.partial_reason = outcome
        .partial
        .map(|reason| reason.describe(&search.limits));
    let traces = outcome
        .matches
        .into_iter()
        .map(|found| found.spans)
        .collect();
    Ok(Selection { traces, report })
}

/// The primary root as the analyses pick it: the earliest timed span without a parent id
/// (ties: the longest), else the earliest span whose parent is not in the trace.
pub(super) fn primary_root(spans: &[Span]) -> Option<&Span> {
    let parentless = earliest(
        spans
            .iter()
            .filter(|span| span.parent_span_id.is_none() && span.start_unix_nanos != 0),
    );
    parentless.or_else(|| {
        let ids: std::collections::HashSet<_> = spans.iter().map(|span| span.span_id).collect();
        earliest(spans.iter().filter(|span| {
            span.parent_span_id
                .is_none_or(|parent| !ids.contains(&parent))
        }))
    })
}

/// The earliest span (ties: the longest, then the first).
fn earliest<'a>(candidates: impl Iterator<Item = &'a Span>) -> Option<&'a Span> {
    let mut best: Option<&Span> = None;
    for span in candidates {
        let key = |span: &Span| {
            (
                span.start_unix_nanos,
                std::cmp::Reverse(span.duration_nanos),
            )
        };
        if best.is_none_or(|current| key(span) < key(current)) {
            best = Some(span);
        }
    }
    best
}

/// Latest end minus earliest start over the trace's timed spans, nanoseconds.
pub(super) fn trace_duration_nanos(spans: &[Span]) -> u64 {
    let timed = spans.iter().filter(|span| span.start_unix_nanos != 0);
    let start = timed.clone().map(|span| span.start_unix_nanos).min();
    let end = timed.map(Span::end_unix_nanos).max();
    match (start, end) {
        (Some(start), Some(end)) => end.saturating_sub(start),
        _ => 0,
    }
}
