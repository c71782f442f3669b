//! Jaeger's api_v3 over HTTP (`/api/v3/...`, grpc-gateway style), what jaeger-ui from
//! v2.15 (services, operations) and v2.19 (trace summaries) calls.
//!
//! Traces are OTLP/JSON (`{"result":{"resourceSpans":[..]}}`, hex ids, nanosecond times
//! as strings). Errors are `{"error":{"httpCode":400,"message":".."}}` as
//! `application/json`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use weft_model::Span;
use weft_query::jaeger::{self, TraceQuery, overview, parse_trace_id};

use super::error::V3Error;
use super::json::{OperationJson, SummaryJson};
use super::{JaegerState, query_defaults};
use crate::error::{ApiError, json_response};
use crate::params::QueryParams;

type V3Result = Result<Response, V3Error>;

fn serialize<T: Serialize>(value: &T) -> V3Result {
    let body = serde_json::to_vec(value).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

/// `{"result":<OTLP/JSON TracesData>}` for the spans of all `traces`, or 404 `No traces
/// found` when there are none (Jaeger's gateway).
fn traces_response(traces: &[Vec<Span>]) -> V3Result {
    if traces.is_empty() {
        return Err(ApiError::NotFound("No traces found".to_owned()).into());
    }
    let spans: Vec<Span> = traces.iter().flatten().cloned().collect();
    let traces_data = weft_codec::otlp::encode_json(&spans);
    let mut body = Vec::with_capacity(traces_data.len() + 11);
    body.extend_from_slice(b"{\"result\":");
    body.extend_from_slice(&traces_data);
    body.push(b'}');
    Ok(json_response(body))
}

#[derive(Serialize)]
struct ServicesJson<'a> {
    services: &'a [String],
}

/// `GET /api/v3/services`: `{"services":[..]}`.
pub(super) async fn services(State(state): State<JaegerState>, headers: HeaderMap) -> V3Result {
    let tenant = state.tenant(&headers)?;
    let services = jaeger::services(state.reader.as_ref(), &tenant).await?;
    serialize(&ServicesJson {
        services: &services,
    })
}

#[derive(Serialize)]
struct OperationsJson<'a> {
    operations: Vec<OperationJson<'a>>,
}

/// `GET /api/v3/operations?service=&spanKind=` (or `span_kind`):
/// `{"operations":[{"name","spanKind"}]}`; no service lists nothing.
pub(super) async fn operations(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V3Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let service = params.get("service").unwrap_or("");
    let span_kind = params.get("spanKind").or_else(|| params.get("span_kind"));
    let operations = state.operations(&tenant, service, span_kind).await?;
    serialize(&OperationsJson {
        operations: operations.iter().map(OperationJson::from).collect(),
    })
}

/// `GET /api/v3/traces/{trace_id}`: the trace as OTLP/JSON, or 404. `startTime`,
/// `endTime` (RFC 3339) and `rawTraces` are validated and otherwise only hints.
pub(super) async fn trace(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
    RawQuery(raw): RawQuery,
) -> V3Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let trace_id = parse_trace_id(&trace_id_text).map_err(|reason| {
        ApiError::BadRequest(format!("malformed parameter trace_id: {reason}"))
    })?;
    for name in ["startTime", "start_time", "endTime", "end_time"] {
        if let Some(value) = params.get(name).filter(|value| !value.is_empty()) {
            jaeger::params::parse_rfc3339_nanos(value).map_err(|reason| {
                ApiError::BadRequest(format!("malformed parameter {name}: {reason}"))
            })?;
        }
    }
    let spans = state.trace(&tenant, trace_id).await?;
    let traces: Vec<Vec<Span>> = if spans.is_empty() {
        Vec::new()
    } else {
        vec![spans]
    };
    traces_response(&traces)
}

async fn find(
    state: &JaegerState,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Vec<Vec<Span>>, V3Error> {
    let tenant = state.tenant(headers)?;
    let params = QueryParams::parse(raw);
    let query = TraceQuery::from_v3_params(params.pairs(), query_defaults(&state.config))?;
    Ok(state.find_traces(&tenant, &query).await?)
}

/// `GET /api/v3/traces?query.serviceName=&query.startTimeMin=&...`: matching traces as
/// one OTLP/JSON `TracesData`, or 404 `No traces found`.
pub(super) async fn search(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V3Result {
    let traces = find(&state, &headers, raw.as_deref()).await?;
    traces_response(&traces)
}

#[derive(Serialize)]
struct SummariesJson<'a> {
    summaries: Vec<SummaryJson<'a>>,
}

/// `GET /api/v3/trace-summaries` (same parameters as search): `{"summaries":[..]}`, newest
/// first; an empty list when nothing matches.
pub(super) async fn summaries(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V3Result {
    let traces = find(&state, &headers, raw.as_deref()).await?;
    let overviews: Vec<_> = traces.iter().map(|spans| overview(spans)).collect();
    serialize(&SummariesJson {
        summaries: overviews.iter().map(SummaryJson::from).collect(),
    })
}
