//! The critical path of one trace, and the aggregates over a selection: service map,
//! request-flow graph, calling-context tree.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use weft_analytics::{FlowNodeKey, FlowOptions, ServiceMapOptions, Workflow};
use weft_model::{Span, TenantId, TraceId};
use weft_query::dedupe_spans;

use super::select::{self, SelectionReport, SelectionRequest, primary_root};
use super::{AnalyticsState, json_answer, run_blocking, tree_options};
use crate::error::ApiError;
use crate::params::QueryParams;
use crate::tempo::traces::{cap_spans, parse_trace_id};

/// An aggregate's answer: the analysis's fields, the selection, and whether anything was
/// left out for a bound.
#[derive(Serialize)]
pub(super) struct Aggregate<'a, T: Serialize> {
    #[serde(flatten)]
    pub(super) analysis: &'a T,
    pub(super) selection: &'a SelectionReport,
    pub(super) truncated: bool,
}

/// A single-trace answer: the analysis's fields, and whether the trace was cut to the read
/// cap (`query.max_spans_per_trace`) first, and why.
#[derive(Serialize)]
pub(super) struct OneTrace<'a, T: Serialize> {
    #[serde(flatten)]
    pub(super) analysis: &'a T,
    pub(super) truncated: bool,
    pub(super) truncated_reason: Option<String>,
}

/// Every stored span of a trace, deduplicated and cut to the read cap (the earliest
/// kept), with the cut's reason; 404 naming `parameter` when the trace is unknown.
pub(super) async fn read_trace(
    state: &AnalyticsState,
    tenant: &TenantId,
    trace_id: TraceId,
    parameter: &str,
) -> Result<(Vec<Span>, Option<String>), ApiError> {
    let mut spans = state.reader.trace(tenant, trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!(
            "trace {} ({parameter}) not found",
            trace_id.to_hex()
        )));
    }
    dedupe_spans(&mut spans);
    let cut = cap_spans(&mut spans, &state.query);
    Ok((spans, cut))
}

pub(super) async fn critical_path(
    State(state): State<AnalyticsState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, params) = state.tenant_and_params(&headers, raw.as_deref())?;
    let trace_id = parse_trace_id(&trace_id_text)?;
    let options = tree_options(&params)?;
    let (spans, cut) = read_trace(&state, &tenant, trace_id, "traceId").await?;
    let limits = state.limits(1);
    let path =
        run_blocking(move || weft_analytics::critical_path(&spans, &options, &limits)).await?;
    json_answer(&OneTrace {
        analysis: &path,
        truncated: cut.is_some(),
        truncated_reason: cut,
    })
}

/// The selection of an aggregate with `q`, `start`, `end` and `limit`, `also` narrowing it.
async fn select_from_params(
    state: &AnalyticsState,
    tenant: &TenantId,
    params: &QueryParams,
    also: impl Fn(&[Span]) -> bool + Sync,
) -> Result<(select::Selection, u64, usize), ApiError> {
    let window = select::window(state, params, "start", "end")?;
    let limit = select::trace_limit(state, params)?;
    let request = SelectionRequest {
        query_parameter: "q",
        query_text: params.get("q"),
        window,
        limit,
    };
    let selection = select::select(state, tenant, &request, also).await?;
    let window_nanos = window
        .end_unix_nanos
        .saturating_sub(window.start_unix_nanos)
        .saturating_add(1);
    Ok((selection, window_nanos, limit))
}

pub(super) async fn service_map(
    State(state): State<AnalyticsState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, params) = state.tenant_and_params(&headers, raw.as_deref())?;
    let tree = tree_options(&params)?;
    let (selection, window_nanos, limit) =
        select_from_params(&state, &tenant, &params, |_| true).await?;
    let limits = state.limits(limit);
    let traces = selection.traces;
    let options = ServiceMapOptions {
        tree,
        window_nanos: Some(window_nanos),
    };
    let map = run_blocking(move || weft_analytics::service_map(&traces, &options, &limits)).await?;
    json_answer(&Aggregate {
        analysis: &map,
        selection: &selection.report,
        truncated: selection.report.truncated() || map.coverage.truncated,
    })
}

pub(super) async fn cct(
    State(state): State<AnalyticsState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, params) = state.tenant_and_params(&headers, raw.as_deref())?;
    let options = tree_options(&params)?;
    let (selection, _, limit) = select_from_params(&state, &tenant, &params, |_| true).await?;
    let limits = state.limits(limit);
    let traces = selection.traces;
    let tree =
        run_blocking(move || weft_analytics::calling_context_tree(&traces, &options, &limits))
            .await?;
    json_answer(&Aggregate {
        analysis: &tree,
        selection: &selection.report,
        truncated: selection.report.truncated() || tree.coverage.truncated,
    })
}

/// A flow graph answer: the graph, how its workflow was chosen, the selection.
#[derive(Serialize)]
struct FlowAnswer<'a> {
    #[serde(flatten)]
    aggregate: Aggregate<'a, weft_analytics::FlowGraph>,
    /// `parameters` when `root_service` and `root_operation` named it, else
    /// `most_common` (the most frequent among the selected traces that fit the parameters
    /// given).
    workflow_chosen_from: &'static str,
}

pub(super) async fn flow(
    State(state): State<AnalyticsState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, params) = state.tenant_and_params(&headers, raw.as_deref())?;
    let tree = tree_options(&params)?;
    let node_key = match params.get("node_key") {
        None | Some("") | Some("calling_position") => FlowNodeKey::CallingPosition,
        Some("operation") => FlowNodeKey::Operation,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid node_key: {other:?} is not calling_position or operation"
            )));
        }
    };
    let root_service = params.get("root_service").filter(|text| !text.is_empty());
    let root_operation = params.get("root_operation").filter(|text| !text.is_empty());
    let fits = |spans: &[Span]| {
        let Some(root) = primary_root(spans) else {
            return false;
        };
        root_service.is_none_or(|service| root.service_name() == Some(service))
            && root_operation.is_none_or(|operation| root.name == operation)
    };
    let (selection, _, limit) = select_from_params(&state, &tenant, &params, fits).await?;
    let (workflow, chosen_from) = match (root_service, root_operation) {
        (Some(service), Some(operation)) => (
            Workflow {
                root_service: service.to_owned(),
                root_operation: operation.to_owned(),
            },
            "parameters",
        ),
        _ => (most_common_workflow(&selection.traces), "most_common"),
    };
    let limits = state.limits(limit);
    let traces = selection.traces;
    let options = FlowOptions { tree, node_key };
    let graph =
        run_blocking(move || weft_analytics::flow_graph(&traces, &workflow, &options, &limits))
            .await?;
    json_answer(&FlowAnswer {
        aggregate: Aggregate {
            analysis: &graph,
            selection: &selection.report,
            truncated: selection.report.truncated() || graph.coverage.truncated,
        },
        workflow_chosen_from: chosen_from,
    })
}

/// The (root service, root operation) most traces have; ties go to the smallest pair.
/// Empty names when there are no traces.
fn most_common_workflow(traces: &[Vec<Span>]) -> Workflow {
    let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
    for spans in traces {
        if let Some(root) = primary_root(spans) {
            let key = (root.service_name().unwrap_or(""), root.name.as_str());
            *counts.entry(key).or_default() += 1;
        }
    }
    let best = counts
        .into_iter()
        .max_by(|(left, left_count), (right, right_count)| {
            left_count.cmp(right_count).then_with(|| right.cmp(left))
        })
        .map(|(key, _)| key)
        .unwrap_or(("", ""));
    Workflow {
        root_service: best.0.to_owned(),
        root_operation: best.1.to_owned(),
    }
}
