//! weft's native HTTP read API, for the CLI. Only the search answer follows Tempo's shape;
//! the trace answer is OTLP/JSON, not Tempo's (Tempo compatibility is later work).
//!
//! - `GET /api/search?limit=&start=&end=&service=`: trace summaries, newest first, in
//!   Tempo's search shape `{"traces":[{traceID, rootServiceName, rootTraceName,
//!   startTimeUnixNano, durationMs, spanCount}], "metrics":{"inspectedTraces":N}}`, where
//!   `inspectedTraces` is how many matching traces were examined (up to
//!   `max_traces_examined`), not how many are returned. `start`/`end` are unix seconds,
//!   both inclusive (default: the configured query lookback up to now); `limit` defaults
//!   to 20 and is capped at `max_traces_examined`; `service` filters by local service
//!   (case-insensitive). Tempo's `tags` (logfmt `key=value key2="a b"`: some span has the
//!   attribute with that text value; `service.name` restricts to spans of that service,
//!   `name` to a span name) and `minDuration`/`maxDuration` (Go durations such as `250ms`
//!   or `1.5s`, on the trace's duration, both inclusive) narrow it further.
//!   With `search_enabled: false` the answer is always
//!   `{"traces":[],"metrics":{"inspectedTraces":0}}` (after the tenant check).
//! - `GET /api/traces/{traceId}`: every span of the trace, deduplicated, as an OTLP/JSON
//!   `ExportTraceServiceRequest` `{"resourceSpans":[...]}` (lowerCamelCase keys, trace and
//!   span ids as lowercase hex as the OTLP/JSON encoding prescribes, 64-bit integers as
//!   strings); 404 when unknown. The id is 1 to 32 hex digits in any case. This is not
//!   Tempo's `/api/traces` answer (which uses base64 ids and a `batches` key).
//! - `GET /api/echo`: `echo` (Grafana's health check).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use weft_model::{MAX_FILTER_CRITERIA, SpanFilter, TimeWindow, TraceId, TraceReader, TraceSummary};
use weft_query::dedupe_spans;
use weft_query::zipkin::parse_optional_integer;

use crate::config::ZipkinApiConfig;
use crate::error::{ApiError, json_response, request_tenant, text_response};
use crate::params::QueryParams;

/// Traces listed by `/api/search` without `limit` (Tempo's default).
pub const DEFAULT_SEARCH_LIMIT: usize = 20;

/// Tempo shows this when a trace's root span has not arrived.
const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

#[derive(Clone)]
struct NativeState {
    reader: Arc<dyn TraceReader>,
    config: Arc<ZipkinApiConfig>,
}

/// Serves the native read endpoints (see the module docs) over `reader`. Tenancy and
/// bounds come from `config` (the same settings as the Zipkin API).
pub fn native_router(reader: Arc<dyn TraceReader>, config: ZipkinApiConfig) -> Router {
    let state = NativeState {
        reader,
        config: Arc::new(config),
    };
    Router::new()
        .route("/api/search", get(search))
        .route("/api/traces/{trace_id}", get(trace))
        .route(
            "/api/echo",
            get(|| async { text_response(StatusCode::OK, "echo") }),
        )
        .with_state(state)
}

#[derive(Serialize)]
struct SearchResponse {
    traces: Vec<TraceRow>,
    metrics: SearchMetrics,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceRow {
    #[serde(rename = "traceID")]
    trace_id: String,
    root_service_name: String,
    root_trace_name: String,
    start_time_unix_nano: String,
    duration_ms: u64,
    span_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchMetrics {
    inspected_traces: usize,
}

impl From<&TraceSummary> for TraceRow {
    fn from(summary: &TraceSummary) -> Self {
        let hex = summary.trace_id.to_hex();
        // Tempo trims leading zeros from search results.
        let trimmed = hex.trim_start_matches('0');
        let or_placeholder = |name: &str| {
            if name.is_empty() {
                ROOT_SPAN_NOT_YET_RECEIVED.to_owned()
            } else {
                name.to_owned()
            }
        };
        TraceRow {
            trace_id: if trimmed.is_empty() {
                hex.clone()
            } else {
                trimmed.to_owned()
            },
            root_service_name: or_placeholder(&summary.root_service_name),
            root_trace_name: or_placeholder(&summary.root_span_name),
            start_time_unix_nano: summary.start_unix_nanos.to_string(),
            duration_ms: summary
                .end_unix_nanos
                .saturating_sub(summary.start_unix_nanos)
                / 1_000_000,
            span_count: summary.span_count,
        }
    }
}

fn integer(params: &QueryParams, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        Some(value) => Ok(parse_optional_integer(name, value)?),
        None => Ok(None),
    }
}

async fn search(
    State(state): State<NativeState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = request_tenant(&headers, state.config.multitenancy_enabled)?;
    if !state.config.search_enabled {
        return search_answer(&[], 0);
    }
    let params = QueryParams::parse(raw.as_deref());
    let now_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let end_seconds = match integer(&params, "end")? {
        Some(end) => u64::try_from(end)
            .map_err(|_| ApiError::BadRequest(format!("invalid value for end: {end}")))?,
        None => now_seconds,
    };
    let start_seconds = match integer(&params, "start")? {
        Some(start) => u64::try_from(start)
            .map_err(|_| ApiError::BadRequest(format!("invalid value for start: {start}")))?,
        None => end_seconds.saturating_sub(state.config.query_lookback.as_secs()),
    };
    if start_seconds > end_seconds {
        return Err(ApiError::BadRequest(format!(
            "start {start_seconds} is after end {end_seconds}"
        )));
    }
    let limit = match integer(&params, "limit")? {
        None | Some(0) => DEFAULT_SEARCH_LIMIT,
        Some(limit) if limit < 0 => {
            return Err(ApiError::BadRequest(format!(
                "invalid value for limit: {limit}"
            )));
        }
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    }
    .min(state.config.max_traces_examined.max(1));
    let window = TimeWindow {
        start_unix_nanos: start_seconds.saturating_mul(1_000_000_000),
        end_unix_nanos: end_seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(999_999_999),
    };
    let mut filter = SpanFilter::for_service(params.get("service").filter(|name| !name.is_empty()));
    if let Some(tags) = params.get("tags") {
        for (key, value) in parse_logfmt(tags)? {
            match key.as_str() {
                "service.name" => filter.service_name = Some(value),
                "name" => filter.span_name = Some(value),
                _ => filter.attributes.push((key, Some(value))),
            }
        }
        if filter.criteria_count() > MAX_FILTER_CRITERIA {
            return Err(ApiError::BadRequest(format!(
                "too many tags: at most {MAX_FILTER_CRITERIA} criteria"
            )));
        }
    }
    let min_duration_nanos = optional_duration(&params, "minDuration")?;
    let max_duration_nanos = optional_duration(&params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration_nanos, max_duration_nanos)
        && max < min
    {
        return Err(ApiError::BadRequest(String::from(
            "maxDuration must not be less than minDuration",
        )));
    }
    // Examine up to the configured bound and return the newest `limit`, so the metric
    // says how many traces were looked at.
    let examined = state.config.max_traces_examined.max(limit);
    let mut summaries = state
        .reader
        .summaries(&tenant, window, &filter, examined)
        .await?;
    summaries.retain(|summary| {
        let duration = summary
            .end_unix_nanos
            .saturating_sub(summary.start_unix_nanos);
        min_duration_nanos.is_none_or(|min| duration >= min)
            && max_duration_nanos.is_none_or(|max| duration <= max)
    });
    let inspected_traces = summaries.len();
    summaries.sort_by(|left, right| {
        right
            .timestamp_unix_nanos
            .cmp(&left.timestamp_unix_nanos)
            .then_with(|| left.trace_id.cmp(&right.trace_id))
    });
    summaries.truncate(limit);
    search_answer(&summaries, inspected_traces)
}

fn search_answer(
    summaries: &[TraceSummary],
    inspected_traces: usize,
) -> Result<Response, ApiError> {
    let response = SearchResponse {
        traces: summaries.iter().map(TraceRow::from).collect(),
        metrics: SearchMetrics { inspected_traces },
    };
    let body =
        serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

async fn trace(
    State(state): State<NativeState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = request_tenant(&headers, state.config.multitenancy_enabled)?;
    let trace_id = TraceId::from_hex(&trace_id_text)
        .map_err(|error| ApiError::BadRequest(format!("invalid trace id: {error}")))?;
    let mut spans = state.reader.trace(&tenant, trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("trace {trace_id} not found")));
    }
    dedupe_spans(&mut spans);
    Ok(json_response(weft_codec::otlp::encode_json(&spans)))
}

fn optional_duration(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_go_duration(text)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid value for {name}: {text}"))),
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10us`) in nanoseconds; `None` when it is
/// not one, is negative, or overflows.
fn parse_go_duration(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * nanos_per_unit;
    }
    (total.is_finite() && total < u64::MAX as f64).then_some(total as u64)
}

/// Tempo's `tags` parameter: space-separated `key=value` pairs in logfmt, values
/// optionally double-quoted (with `\"` and `\\` escapes).
fn parse_logfmt(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = |why: &str| ApiError::BadRequest(format!("invalid tags {text:?}: {why}"));
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(invalid("expected key=value"));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped) => value.push(escaped),
                        None => return Err(invalid("unterminated quote")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(invalid("unterminated quote")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
#[path = "native_tests.rs"]
mod tests;
