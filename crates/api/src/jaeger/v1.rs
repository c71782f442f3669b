//! Jaeger's v1 query API (`/api/...`), what jaeger-ui up to v2.14 calls.
//!
//! Answers are `{"data":..,"total":N,"limit":0,"offset":0,"errors":null}`. Errors use the
//! same envelope with `"data":null` and `"errors":[{"code":400,"msg":".."}]`, the matching
//! status, and `Content-Type: text/plain` (Jaeger writes them with `http.Error`).

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use weft_query::jaeger::{self, TraceQuery, jaeger_trace_id_hex, parse_trace_id, to_jaeger_trace};
use weft_query::zipkin;

use super::error::V1Error;
use super::json::{DependencyJson, Envelope, ErrorJson, OperationJson, trace_json};
use super::{JaegerState, query_defaults};
use crate::error::{ApiError, json_response};
use crate::params::{QueryParams, now_unix_nanos};

type V1Result = Result<Response, V1Error>;

fn envelope_response<T: Serialize>(envelope: &Envelope<T>) -> V1Result {
    let body =
        serde_json::to_vec(envelope).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

/// `GET /api/services`: service names, sorted.
pub(super) async fn services(State(state): State<JaegerState>, headers: HeaderMap) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let services = jaeger::services(state.reader.as_ref(), &tenant).await?;
    envelope_response(&Envelope::new(&services, services.len()))
}

/// `GET /api/services/{service}/operations`: the service's span names, sorted.
pub(super) async fn service_operations(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    Path(service): Path<String>,
) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let names = jaeger::operation_names(state.reader.as_ref(), &tenant, &service).await?;
    envelope_response(&Envelope::new(&names, names.len()))
}

/// `GET /api/operations?service=&spanKind=`: `[{"name","spanKind"}]`.
pub(super) async fn operations(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let service = params.get("service").unwrap_or("");
    if service.is_empty() {
        return Err(ApiError::BadRequest("parameter 'service' is required".to_owned()).into());
    }
    let operations = state
        .operations(&tenant, service, params.get("spanKind"))
        .await?;
    let json: Vec<OperationJson<'_>> = operations.iter().map(OperationJson::from).collect();
    envelope_response(&Envelope::new(&json, json.len()))
}

/// `GET /api/traces`: search, or several traces by repeated `traceID`.
pub(super) async fn search(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let query = TraceQuery::from_v1_params(params.pairs(), query_defaults(&state.config))?;
    let (traces, missing) = if query.trace_ids.is_empty() {
        (state.find_traces(&tenant, &query).await?, Vec::new())
    } else {
        let limits = state.config.read_limits();
        jaeger::traces_by_ids(state.reader.as_ref(), &tenant, &query.trace_ids, limits).await?
    };
    let views: Vec<_> = traces
        .iter()
        .map(|spans| to_jaeger_trace(spans[0].trace_id, spans, !query.raw))
        .collect();
    let data: Vec<_> = views.iter().map(trace_json).collect();
    let mut envelope = Envelope::new(data, 0);
    if !missing.is_empty() {
        envelope.errors = Some(
            missing
                .iter()
                .map(|trace_id| ErrorJson {
                    code: 0,
                    msg: "trace not found".to_owned(),
                    trace_id: Some(jaeger_trace_id_hex(*trace_id)),
                })
                .collect(),
        );
    }
    envelope_response(&envelope)
}

/// `GET /api/traces/{traceID}`: one trace, or 404 `trace not found`. `start` and `end`
/// (µs) are validated and otherwise only hints, as in Jaeger's memory store.
pub(super) async fn trace(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
    RawQuery(raw): RawQuery,
) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let trace_id = parse_trace_id(&trace_id_text).map_err(ApiError::BadRequest)?;
    for name in ["start", "end"] {
        if let Some(value) = params.get(name).filter(|value| !value.is_empty()) {
            value.parse::<i64>().map_err(|error| {
                ApiError::BadRequest(format!("unable to parse param '{name}': {error}"))
            })?;
        }
    }
    let raw_spans = match params.get("raw") {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unable to parse param 'raw': strconv.ParseBool: parsing \"{other}\": invalid syntax"
            ))
            .into());
        }
    };
    let spans = state.trace(&tenant, trace_id).await?;
    let Some(first) = spans.first() else {
        return Err(ApiError::NotFound("trace not found".to_owned()).into());
    };
    let view = to_jaeger_trace(first.trace_id, &spans, !raw_spans);
    envelope_response(&Envelope::new([trace_json(&view)], 0))
}

/// `GET /api/dependencies?endTs=&lookback=` (both ms): service links in the window.
pub(super) async fn dependencies(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> V1Result {
    let tenant = state.tenant(&headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let millis_param = |name: &str| -> Result<Option<i64>, ApiError> {
        match params.get(name).filter(|value| !value.is_empty()) {
            None => Ok(None),
            Some(value) => value.parse::<i64>().map(Some).map_err(|error| {
                ApiError::BadRequest(format!("unable to parse param '{name}': {error}"))
            }),
        }
    };
    let end_ts_millis = millis_param("endTs")?
        .unwrap_or_else(|| i64::try_from(now_unix_nanos() / 1_000_000).unwrap_or(i64::MAX));
    let lookback_millis = millis_param("lookback")?.unwrap_or_else(|| {
        i64::try_from(state.config.dependencies_lookback.as_millis()).unwrap_or(i64::MAX)
    });
    let links = zipkin::dependencies(
        state.reader.as_ref(),
        &tenant,
        end_ts_millis,
        lookback_millis,
        state.config.read_limits(),
    )
    .await?;
    let json: Vec<DependencyJson<'_>> = links
        .iter()
        .map(|link| DependencyJson {
            parent: &link.parent,
            child: &link.child,
            call_count: link.call_count,
        })
        .collect();
    envelope_response(&Envelope::new(json, 0))
}
