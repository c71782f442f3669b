//! `GET /api/analytics/compare`, in one of three forms:
//!
//! - `a` and `b` (trace ids): the two traces compared ([`weft_analytics::compare_traces`]);
//! - `qa` and `qb` (TraceQL): two selections compared
//!   ([`weft_analytics::compare_trace_sets`]), each over `start`/`end`, overridden per
//!   side by `start_a`/`end_a` and `start_b`/`end_b` (before vs after a deploy), each at
//!   most `limit` traces;
//! - `threshold` (a Go duration, with optional `q`): one selection split by trace
//!   duration, A the traces faster than the threshold and B the rest.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use weft_analytics::SetComparison;
use weft_model::Span;

use super::handlers::{OneTrace, read_trace};
use super::select::{self, SelectionReport, SelectionRequest, trace_duration_nanos};
use super::{AnalyticsState, json_answer, run_blocking, tree_options};
use crate::error::ApiError;
use crate::params::QueryParams;
use crate::tempo::params::optional_duration;
use crate::tempo::traces::parse_trace_id;

/// A set comparison's answer.
#[derive(Serialize)]
struct SetsAnswer<'a> {
    #[serde(flatten)]
    comparison: &'a SetComparison,
    /// How set A was selected.
    selection_a: &'a SelectionReport,
    /// How set B was selected (the same selection as A's when split at a threshold).
    selection_b: &'a SelectionReport,
    /// The duration that split one selection, when `threshold` was given.
    split_threshold_nanos: Option<u64>,
    /// True when traces or spans were left out of either set for a bound.
    truncated: bool,
}

pub(super) async fn compare(
    State(state): State<AnalyticsState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, params) = state.tenant_and_params(&headers, raw.as_deref())?;
    let given = |key: &str| params.get(key).is_some_and(|text| !text.trim().is_empty());
    if given("a") || given("b") {
        return compare_two_traces(&state, &tenant, &params).await;
    }
    if given("qa") || given("qb") {
        for key in ["qa", "qb"] {
            if !given(key) {
                return Err(ApiError::missing_parameter(key));
            }
        }
        return compare_two_selections(&state, &tenant, &params).await;
    }
    if given("threshold") {
        return compare_split(&state, &tenant, &params).await;
    }
    Err(ApiError::BadRequest(String::from(
        "missing required parameter a (with b), qa (with qb), or threshold",
    )))
}

async fn compare_two_traces(
    state: &AnalyticsState,
    tenant: &weft_model::TenantId,
    params: &QueryParams,
) -> Result<Response, ApiError> {
    let options = tree_options(params)?;
    let mut traces = Vec::with_capacity(2);
    let mut reasons = Vec::new();
    for key in ["a", "b"] {
        let text = params
            .get(key)
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| ApiError::missing_parameter(key))?;
        let trace_id = parse_trace_id(text.trim())
            .map_err(|error| ApiError::BadRequest(format!("invalid {key}: {error}")))?;
        let (spans, cut) = read_trace(state, tenant, trace_id, key).await?;
        if let Some(cut) = cut {
            reasons.push(format!("{key}: {cut}"));
        }
        traces.push(spans);
    }
    let limits = state.limits(2);
    let b = traces.pop().unwrap_or_default();
    let a = traces.pop().unwrap_or_default();
    let comparison =
        run_blocking(move || weft_analytics::compare_traces(&a, &b, &options, &limits)).await?;
    let truncated = !reasons.is_empty() || comparison.coverage.truncated;
    json_answer(&OneTrace {
        analysis: &comparison,
        truncated,
        truncated_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    })
}

async fn compare_two_selections(
    state: &AnalyticsState,
    tenant: &weft_model::TenantId,
    params: &QueryParams,
) -> Result<Response, ApiError> {
    let options = tree_options(params)?;
    let limit = select::trace_limit(state, params)?;
    let window_a = select::window(state, params, "start_a", "end_a")?;
    let window_b = select::window(state, params, "start_b", "end_b")?;
    let request_a = SelectionRequest {
        query_parameter: "qa",
        query_text: params.get("qa"),
        window: window_a,
        limit,
    };
    let request_b = SelectionRequest {
        query_parameter: "qb",
        query_text: params.get("qb"),
        window: window_b,
        limit,
    };
    // Both queries are parsed before either search runs, so a bad qb costs no search.
    select::parse_query(&request_b)?;
    let selection_a = select::select(state, tenant, &request_a, |_| true).await?;
    let selection_b = select::select(state, tenant, &request_b, |_| true).await?;
    let limits = state.limits(limit);
    let (traces_a, traces_b) = (selection_a.traces, selection_b.traces);
    let comparison = run_blocking(move || {
        weft_analytics::compare_trace_sets(&traces_a, &traces_b, &options, &limits)
    })
    .await?;
    let truncated = selection_a.report.truncated()
        || selection_b.report.truncated()
        || comparison.a.coverage.truncated
        || comparison.b.coverage.truncated;
    json_answer(&SetsAnswer {
        comparison: &comparison,
        selection_a: &selection_a.report,
        selection_b: &selection_b.report,
        split_threshold_nanos: None,
        truncated,
    })
}

async fn compare_split(
    state: &AnalyticsState,
    tenant: &weft_model::TenantId,
    params: &QueryParams,
) -> Result<Response, ApiError> {
    let options = tree_options(params)?;
    let threshold = match optional_duration(params, "threshold")? {
        Some(0) => {
            return Err(ApiError::BadRequest(String::from(
                "invalid threshold: must be more than 0",
            )));
        }
        Some(threshold) => threshold,
        None => return Err(ApiError::missing_parameter("threshold")),
    };
    let limit = select::trace_limit(state, params)?;
    let request = SelectionRequest {
        query_parameter: "q",
        query_text: params.get("q"),
        window: select::window(state, params, "start", "end")?,
        limit,
    };
    let selection = select::select(state, tenant, &request, |_| true).await?;
    let (fast, slow): (Vec<Vec<Span>>, Vec<Vec<Span>>) = selection
        .traces
        .into_iter()
        .partition(|spans| trace_duration_nanos(spans) < threshold);
    let limits = state.limits(limit);
    let comparison =
        run_blocking(move || weft_analytics::compare_trace_sets(&fast, &slow, &options, &limits))
            .await?;
    let truncated = selection.report.truncated()
        || comparison.a.coverage.truncated
        || comparison.b.coverage.truncated;
    json_answer(&SetsAnswer {
        comparison: &comparison,
        selection_a: &selection.report,
        selection_b: &selection.report,
        split_threshold_nanos: Some(threshold),
        truncated,
    })
}
