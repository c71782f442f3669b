//! Handlers of the Zipkin v2 read API.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use weft_model::{Span, TenantId};
use weft_query::zipkin::{
    self, ZipkinQuery, ZipkinQueryDefaults, names, normalize_trace_id, parse_optional_integer,
    parse_trace_ids,
};

use super::ZipkinState;
use crate::error::{ApiError, json_response, request_tenant, text_response};
use crate::params::{QueryParams, now_unix_nanos};

/// Name lists get `Cache-Control` once there are more than this many services (Zipkin:
/// caching empty or tiny lists confuses people who are just starting).
const CACHE_NAMES_ABOVE_SERVICES: usize = 3;

fn tenant(state: &ZipkinState, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    request_tenant(headers, state.config.multitenancy_enabled)
}

fn now_millis() -> i64 {
    i64::try_from(now_unix_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn required<'a>(params: &'a QueryParams, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::missing_parameter(name))
}

/// A sorted JSON array of strings, with `Cache-Control: max-age=N, must-revalidate` when
/// `cache` is set.
fn names_response(state: &ZipkinState, mut names: Vec<String>, cache: bool) -> Response {
    names.sort();
    names.dedup();
    let body = serde_json::to_vec(&names).unwrap_or_else(|_| b"[]".to_vec());
    let mut response = json_response(body);
    if cache {
        let value = format!(
            "max-age={}, must-revalidate",
            state.config.names_max_age.as_secs()
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    response
}

fn encode_trace(spans: &[Span]) -> Vec<u8> {
    if spans.is_empty() {
        return b"[]".to_vec();
    }
    weft_codec::zipkin::encode_v2_json(spans)
}

fn encode_traces(traces: &[Vec<Span>]) -> Vec<u8> {
    if traces.is_empty() {
        return b"[]".to_vec();
    }
    weft_codec::zipkin::encode_v2_traces_json(traces)
}

/// `GET /api/v2/services`: local service names, sorted.
pub(super) async fn services(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    if !state.config.search_enabled {
        return Ok(names_response(&state, Vec::new(), false));
    }
    let index = state.reader.names(&tenant).await?;
    let services = names::service_names(&index);
    let cache = services.len() > CACHE_NAMES_ABOVE_SERVICES;
    Ok(names_response(&state, services, cache))
}

/// `GET /api/v2/spans?serviceName=`: span names of a service, sorted.
pub(super) async fn span_names(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    names_of_service(state, headers, raw, names::span_names).await
}

/// `GET /api/v2/remoteServices?serviceName=`: remote services a service calls, sorted.
pub(super) async fn remote_services(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    names_of_service(state, headers, raw, names::remote_service_names).await
}

async fn names_of_service(
    state: ZipkinState,
    headers: HeaderMap,
    raw: Option<String>,
    list: fn(&weft_model::NameIndex, &str) -> Vec<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let service_name = required(&params, "serviceName")?;
    if !state.config.search_enabled || service_name.is_empty() {
        return Ok(names_response(&state, Vec::new(), false));
    }
    let index = state.reader.names(&tenant).await?;
    let cache = names::service_names(&index).len() > CACHE_NAMES_ABOVE_SERVICES;
    Ok(names_response(&state, list(&index, service_name), cache))
}

/// `GET /api/v2/traces`: search, newest first, raw spans per trace.
pub(super) async fn traces(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let defaults = ZipkinQueryDefaults {
        now_millis: now_millis(),
        lookback_millis: state.config.query_lookback_millis(),
        limit: i64::from(state.config.default_query_limit.max(1)),
    };
    let query = ZipkinQuery::from_params(params.pairs(), defaults)?;
    if !state.config.search_enabled {
        return Ok(json_response(b"[]".to_vec()));
    }
    let traces = zipkin::search(
        state.reader.as_ref(),
        &tenant,
        &query,
        state.config.read_limits(),
    )
    .await?;
    Ok(json_response(encode_traces(&traces)))
}

/// `GET /api/v2/trace/{traceId}`: all stored spans of one trace, or 404.
pub(super) async fn trace(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let trace_id = normalize_trace_id(&trace_id_text)?;
    let spans = zipkin::trace_by_id(state.reader.as_ref(), &tenant, trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{} not found",
            trace_id.to_zipkin_hex()
        )));
    }
    Ok(json_response(encode_trace(&spans)))
}

/// `GET /api/v2/traceMany?traceIds=a,b`: the traces among the ids that exist.
pub(super) async fn trace_many(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let trace_ids = parse_trace_ids(params.get("traceIds").unwrap_or(""))?;
    let traces = zipkin::trace_many(
        state.reader.as_ref(),
        &tenant,
        &trace_ids,
        state.config.read_limits(),
    )
    .await?;
    Ok(json_response(encode_traces(&traces)))
}

/// One dependency link as Zipkin writes it; `errorCount` is left out when 0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DependencyLinkJson<'a> {
    parent: &'a str,
    child: &'a str,
    call_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    error_count: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// `GET /api/v2/dependencies?endTs=&lookback=`: service links in the window.
pub(super) async fn dependencies(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let end_ts = parse_optional_integer("endTs", required(&params, "endTs")?)?
        .ok_or_else(|| ApiError::missing_parameter("endTs"))?;
    let lookback = match params.get("lookback") {
        Some(value) => parse_optional_integer("lookback", value)?,
        None => None,
    }
    .unwrap_or_else(|| state.config.query_lookback_millis());
    let links = zipkin::dependencies(
        state.reader.as_ref(),
        &tenant,
        end_ts,
        lookback,
        state.config.read_limits(),
    )
    .await?;
    let json: Vec<DependencyLinkJson<'_>> = links
        .iter()
        .map(|link| DependencyLinkJson {
            parent: &link.parent,
            child: &link.child,
            call_count: link.call_count,
            error_count: link.error_count,
        })
        .collect();
    let body = serde_json::to_vec(&json).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

/// `GET /api/v2/autocompleteKeys`: the configured keys, sorted, always cacheable.
pub(super) async fn autocomplete_keys(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    tenant(&state, &headers)?;
    let keys = state.config.autocomplete_keys.clone();
    Ok(names_response(&state, keys, true))
}

/// `GET /api/v2/autocompleteValues?key=`: values seen for a configured key, sorted.
pub(super) async fn autocomplete_values(
    State(state): State<ZipkinState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let params = QueryParams::parse(raw.as_deref());
    let key = required(&params, "key")?;
    let configured = &state.config.autocomplete_keys;
    if !state.config.search_enabled || !configured.iter().any(|k| k == key) {
        return Ok(names_response(&state, Vec::new(), false));
    }
    let index = state.reader.names(&tenant).await?;
    let values = names::autocomplete_values(&index, key, configured);
    let cache = values.len() > CACHE_NAMES_ABOVE_SERVICES;
    Ok(names_response(&state, values, cache))
}

/// zipkin-lens's settings, as Zipkin's `ZipkinUiConfiguration` serves them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UiConfigJson<'a> {
    environment: &'a str,
    query_limit: u32,
    default_lookback: u64,
    search_enabled: bool,
    logs_url: Option<&'a str>,
    support_url: Option<&'a str>,
    archive_post_url: Option<&'a str>,
    archive_url: Option<&'a str>,
    dependency: UiDependencyJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UiDependencyJson {
    enabled: bool,
    low_error_rate: f64,
    high_error_rate: f64,
}

/// `GET /zipkin/config.json`.
pub(super) async fn ui_config(State(state): State<ZipkinState>) -> Response {
    let config = &state.config;
    let json = UiConfigJson {
        environment: &config.ui_environment,
        query_limit: config.default_query_limit,
        default_lookback: u64::try_from(config.ui_default_lookback.as_millis()).unwrap_or(u64::MAX),
        search_enabled: config.search_enabled,
        logs_url: None,
        support_url: None,
        archive_post_url: None,
        archive_url: None,
        dependency: UiDependencyJson {
            enabled: config.ui_dependency_enabled,
            low_error_rate: config.ui_dependency_low_error_rate,
            high_error_rate: config.ui_dependency_high_error_rate,
        },
    };
    match serde_json::to_vec(&json) {
        Ok(body) => json_response(body),
        Err(error) => text_response(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}
