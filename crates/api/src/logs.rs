//! Logs beside traces on weft's own API (the `--http.listen` port):
//!
//! - `GET /api/traces/{traceId}/logs`: the log entries of a trace, across every stream of
//!   the tenant, in the trace's time window widened by `slack` (default `5s`): entries
//!   whose metadata names the trace or whose line contains its id
//!   ([`weft_logs::links::entries_of_trace`]). `limit` (default 1,000, at most 10,000).
//! - `GET /api/logs`: a LogQL log query (`query`, `start`, `end` as Loki reads them:
//!   integers of more than 10 digits are Unix nanoseconds, shorter ones and numbers with
//!   a fraction Unix seconds, or RFC 3339; default the last hour; `limit` default 100; `direction`
//!   `backward` or `forward`), each entry with the trace id found in it
//!   ([`weft_logs::links::TraceIdFinder`]) and, with `checkTraces=true`, whether that
//!   trace is stored (at most [`MAX_CHECKED_TRACES`] distinct ids are looked up).
//!
//! The Loki API on `--loki.listen` stays as Loki has it; these answers add the links.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use serde::Serialize;
use weft_logs::LogStore;
use weft_logs::links::{LinkKind, TraceIdFinder, entries_of_trace};
use weft_logs::logql::{self, Query};
use weft_logs::query::{Bounds, Direction, QueryError, run_log_query};
use weft_model::{TenantId, TraceId, TraceReader};
use weft_query::dedupe_spans;

use crate::config::ZipkinApiConfig;
use crate::error::{ApiError, json_response, request_tenant};
use crate::params::QueryParams;
use crate::route_metrics::record_request;
use crate::tempo::traces::parse_trace_id;

/// Distinct trace ids `GET /api/logs?checkTraces=true` looks up.
pub const MAX_CHECKED_TRACES: usize = 20;
const MAX_TRACE_LOG_ENTRIES: usize = 10_000;
const MAX_LOG_QUERY_ENTRIES: usize = 5_000;
const DEFAULT_SLACK: Duration = Duration::from_secs(5);
const MAX_SLACK: Duration = Duration::from_secs(3_600);

#[derive(Clone)]
struct LogsState {
    reader: Arc<dyn TraceReader>,
    store: Arc<LogStore>,
    finder: Arc<TraceIdFinder>,
    multitenancy_enabled: bool,
}

/// Serves the endpoints of the module docs over `reader` and `store`; tenancy as in
/// `zipkin`.
pub fn logs_router(
    reader: Arc<dyn TraceReader>,
    store: Arc<LogStore>,
    zipkin: &ZipkinApiConfig,
) -> Router {
    let state = LogsState {
        reader,
        store,
        finder: Arc::new(TraceIdFinder::default()),
        multitenancy_enabled: zipkin.multitenancy_enabled,
    };
    Router::new()
        .route("/api/traces/{trace_id}/logs", get(trace_logs))
        .route("/api/logs", get(log_query))
        .route_layer(middleware::from_fn(|request, next| {
            record_request("logs", request, next)
        }))
        .with_state(state)
}

/// One entry in an answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryAnswer {
    /// Unix nanoseconds, as a string (JavaScript numbers lose them).
    timestamp: String,
    line: String,
    labels: BTreeMap<String, String>,
    structured_metadata: BTreeMap<String, String>,
    /// The trace the entry belongs to, 32 hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    /// With `checkTraces=true`: whether that trace is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_found: Option<bool>,
    /// For a trace's logs: `metadata` or `line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_by: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceLogs {
    trace_id: String,
    /// The window searched, Unix nanoseconds as strings.
    start: String,
    end: String,
    services: Vec<String>,
    entries: Vec<EntryAnswer>,
    truncated: bool,
    bytes_processed: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogQueryAnswer {
    entries: Vec<EntryAnswer>,
    truncated: bool,
    bytes_processed: u64,
}

fn map_query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::TooManyBytes { .. } => ApiError::BadRequest(error.to_string()),
        QueryError::Timeout(_) => ApiError::Unavailable(error.to_string()),
        QueryError::Storage(_) => ApiError::Internal(error.to_string()),
    }
}

fn json_answer(value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

fn bounded_number(
    params: &QueryParams,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(0) | Err(_) => Err(ApiError::BadRequest(format!(
                "invalid {name} {text:?}: a positive integer is expected"
            ))),
            Ok(value) => Ok(value.min(max)),
        },
    }
}

fn map_pairs(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

async fn trace_logs(
    State(state): State<LogsState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = request_tenant(&headers, state.multitenancy_enabled)?;
    let params = QueryParams::parse(raw.as_deref());
    let trace_id = parse_trace_id(&trace_id_text)?;
    let limit = bounded_number(&params, "limit", 1_000, MAX_TRACE_LOG_ENTRIES)?;
    let slack = match params.get("slack") {
        None | Some("") => DEFAULT_SLACK,
        Some(text) => humantime::parse_duration(text)
            .map_err(|error| ApiError::BadRequest(format!("invalid slack {text:?}: {error}")))?
            .min(MAX_SLACK),
    };
    let mut spans = state.reader.trace(&tenant, trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!(
            "trace {} not found",
            trace_id.to_hex()
        )));
    }
    dedupe_spans(&mut spans);
    let first = spans
        .iter()
        .map(|span| span.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let last = spans
        .iter()
        .map(|span| span.start_unix_nanos.saturating_add(span.duration_nanos))
        .max()
        .unwrap_or(first);
    let slack_nanos = u64::try_from(slack.as_nanos()).unwrap_or(u64::MAX);
    let start = to_i64(first.saturating_sub(slack_nanos));
    // The window's end is exclusive: one nanosecond past the last span's end.
    let end = to_i64(last.saturating_add(slack_nanos).saturating_add(1));
    let mut services: Vec<String> = spans
        .iter()
        .filter_map(|span| span.service_name().map(str::to_owned))
        .collect();
    services.sort();
    services.dedup();
    let hex = trace_id.to_hex();
    let (linked, stats, truncated) =
        entries_of_trace(&state.store, &tenant, &hex, start, end, limit)
            .await
            .map_err(map_query_error)?;
    let entries = linked
        .into_iter()
        .map(|linked| EntryAnswer {
            timestamp: linked.entry.timestamp_unix_nanos.to_string(),
            structured_metadata: map_pairs(&linked.entry.structured_metadata),
            line: linked.entry.line,
            labels: map_pairs(linked.labels.pairs()),
            trace_id: Some(hex.clone()),
            trace_found: Some(true),
            matched_by: Some(match linked.kind {
                LinkKind::Metadata => "metadata",
                LinkKind::Line => "line",
            }),
        })
        .collect();
    json_answer(&TraceLogs {
        trace_id: hex,
        start: start.to_string(),
        end: end.to_string(),
        services,
        entries,
        truncated,
        bytes_processed: stats.bytes_processed,
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A time parameter as Loki reads it ([`weft_logs::time::parse_time`]): Unix nanoseconds
/// (integers of more than 10 digits), Unix seconds, or RFC 3339.
fn time_param(params: &QueryParams, name: &str, default: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default),
        Some(text) => weft_logs::time::parse_time(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid {name} {text:?}: Unix nanoseconds, Unix seconds or RFC 3339 expected"
            ))
        }),
    }
}

async fn log_query(
    State(state): State<LogsState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = request_tenant(&headers, state.multitenancy_enabled)?;
    let params = QueryParams::parse(raw.as_deref());
    let text = params
        .get("query")
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest(String::from("missing required parameter query")))?;
    let query = match logql::parse(text) {
        Ok(Query::Log(query)) => query,
        Ok(Query::Metric(_)) => {
            return Err(ApiError::BadRequest(String::from(
                "a metric query: /api/logs answers log queries; use /loki/api/v1/query_range on the Loki port for metrics",
            )));
        }
        Err(error) => return Err(ApiError::BadRequest(error.to_string())),
    };
    let now = weft_logs::time::now_unix_nanos();
    let end = time_param(&params, "end", now)?;
    let start = time_param(&params, "start", end.saturating_sub(3_600 * 1_000_000_000))?;
    if end <= start {
        return Err(ApiError::BadRequest(String::from(
            "invalid time range: end must be after start",
        )));
    }
    let limit = bounded_number(&params, "limit", 100, MAX_LOG_QUERY_ENTRIES)?;
    let direction = match params.get("direction") {
        None | Some("") | Some("backward") => Direction::Backward,
        Some("forward") => Direction::Forward,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid direction {other:?}: backward or forward"
            )));
        }
    };
    let check = matches!(params.get("checkTraces"), Some("true") | Some("1"));
    let bounds = Bounds {
        start_unix_nanos: start,
        end_unix_nanos: end,
        limit: limit.saturating_add(1),
        direction,
    };
    let (streams, stats) = run_log_query(&state.store, &tenant, &query, bounds)
        .await
        .map_err(map_query_error)?;
    let mut entries: Vec<EntryAnswer> = Vec::new();
    for stream in streams {
        let labels = map_pairs(stream.labels.pairs());
        for entry in stream.entries {
            entries.push(EntryAnswer {
                timestamp: entry.timestamp_unix_nanos.to_string(),
                trace_id: state.finder.find(&entry.line, &entry.structured_metadata),
                structured_metadata: map_pairs(&entry.structured_metadata),
                line: entry.line,
                labels: labels.clone(),
                trace_found: None,
                matched_by: None,
            });
        }
    }
    // One order over every stream: the query's direction, ties by line.
    entries.sort_by(|a, b| {
        let (a_time, b_time) = (parse_nanos(&a.timestamp), parse_nanos(&b.timestamp));
        let order = match direction {
            Direction::Forward => a_time.cmp(&b_time),
            Direction::Backward => b_time.cmp(&a_time),
        };
        order.then_with(|| a.line.cmp(&b.line))
    });
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    if check {
        check_traces(&state, &tenant, &mut entries).await?;
    }
    json_answer(&LogQueryAnswer {
        entries,
        truncated,
        bytes_processed: stats.bytes_processed,
    })
}

fn parse_nanos(text: &str) -> i64 {
    text.parse().unwrap_or(0)
}

/// Marks each entry's trace as stored or not, looking up at most [`MAX_CHECKED_TRACES`]
/// distinct ids (the first ones in answer order), four at a time.
async fn check_traces(
    state: &LogsState,
    tenant: &TenantId,
    entries: &mut [EntryAnswer],
) -> Result<(), ApiError> {
    let mut distinct: Vec<String> = Vec::new();
    for entry in entries.iter() {
        if let Some(id) = &entry.trace_id
            && !distinct.contains(id)
            && distinct.len() < MAX_CHECKED_TRACES
        {
            distinct.push(id.clone());
        }
    }
    let looked_up: Vec<(String, bool)> = futures::stream::iter(distinct)
        .map(|hex| async move {
            let found = match TraceId::from_hex(&hex) {
                Ok(trace_id) => state
                    .reader
                    .trace(tenant, trace_id)
                    .await
                    .map(|spans| !spans.is_empty()),
                Err(_) => Ok(false),
            };
            (hex, found)
        })
        .buffered(4)
        .map(|(hex, found)| found.map(|found| (hex, found)))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let found: HashMap<String, bool> = looked_up.into_iter().collect();
    for entry in entries.iter_mut() {
        if let Some(id) = &entry.trace_id {
            entry.trace_found = found.get(id).copied();
        }
    }
    Ok(())
}
