//! The Loki read API: `query_range`, `query`, `labels`, `label/{name}/values`, `series`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_params::Params;
use crate::logql::{Query, parse, parse_selector};
use crate::query::{
    Bounds, Direction, QueryError, QueryStats, StreamResult, run_log_query, series,
};
use crate::time::now_unix_nanos;

const HOUR_NANOS: i64 = 3_600_000_000_000;

use crate::http_params::Failure;

fn fail(status: StatusCode, message: impl Into<String>) -> Failure {
    (status, message.into())
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// A label set as a JSON object (Loki's `stream` and `metric`).
pub(crate) fn labels_json(labels: &crate::LabelSet) -> Value {
    let map: Map<String, Value> = labels
        .pairs()
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Value::Object(map)
}

/// Loki's `stats` block of a query answer.
pub(crate) fn stats_json(stats: &QueryStats, returned: usize) -> Value {
    let seconds = stats.exec_time.as_secs_f64();
    let per_second = |amount: u64| {
        if seconds > 0.0 {
            (amount as f64 / seconds) as u64
        } else {
            0
        }
    };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_second(stats.bytes_processed),
            "linesProcessedPerSecond": per_second(stats.lines_processed),
            "totalBytesProcessed": stats.bytes_processed,
            "totalLinesProcessed": stats.lines_processed,
            "execTime": seconds,
            "queueTime": 0,
            "totalEntriesReturned": returned,
        },
        "store": {
            "totalChunksRef": stats.chunks_referenced,
            "totalChunksDownloaded": stats.chunks_downloaded,
        },
    })
}

fn streams_json(results: &[StreamResult], stats: &QueryStats) -> Response {
    let returned = results.iter().map(|stream| stream.entries.len()).sum();
    let result: Vec<Value> = results
        .iter()
        .map(|stream| {
            let values: Vec<Value> = stream
                .entries
                .iter()
                .map(|entry| json!([entry.timestamp_unix_nanos.to_string(), entry.line]))
                .collect();
            json!({"stream": labels_json(&stream.labels), "values": values})
        })
        .collect();
    success(
        json!({"resultType": "streams", "result": result, "stats": stats_json(stats, returned)}),
    )
}

async fn log_query(
    store: &LogStore,
    headers: &HeaderMap,
    params: &Params,
    start: i64,
    end: i64,
) -> Response {
    let tenant = match tenant_of(store, headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return error_response(status, message),
    };
    let Some(text) = params.get("query") else {
        return error_response(StatusCode::BAD_REQUEST, "query parameter is required");
    };
    let query = match parse(text) {
        Ok(Query::Log(query)) => query,
        Ok(Query::Metric(_)) => {
            return error_response(StatusCode::BAD_REQUEST, "a metric query is not a log query");
        }
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let limit = match params.get("limit").map(str::parse::<usize>) {
        None => store.config.default_query_limit,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => return error_response(StatusCode::BAD_REQUEST, "invalid limit parameter"),
    };
    let maximum = store.config.max_entries_limit_per_query;
    if limit > maximum {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {maximum})"
            ),
        );
    }
    let direction = match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Direction::Backward,
        Some("forward") => Direction::Forward,
        Some(other) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("invalid direction {other:?}"),
            );
        }
    };
    let bounds = Bounds {
        start_unix_nanos: start,
        end_unix_nanos: end,
        limit,
        direction,
    };
    match run_log_query(store, &tenant, &query, bounds).await {
        Ok((results, stats)) => streams_json(&results, &stats),
        Err(error) => {
            let (status, message) = query_failure(&error);
            error_response(status, message)
        }
    }
}

/// A failed log query's status and message: 400 over the bytes limit, 504 past the
/// deadline, 500 for a chunk that cannot be read.
pub(crate) fn query_failure(error: &QueryError) -> Failure {
    let status = match error {
        QueryError::TooManyBytes { .. } => StatusCode::BAD_REQUEST,
        QueryError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        QueryError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, error.to_string())
}

/// `GET /loki/api/v1/query_range`: `[start, end)`, start defaulting to an hour before end.
pub(crate) async fn query_range(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    match params.range(HOUR_NANOS) {
        Ok((start, end)) => match crate::metric::http::metric_expr(params.get("query")) {
            Some(expr) => match crate::metric::http::range_params(start, end, params.get("step")) {
                Ok(eval) => crate::metric::http::respond(&store, &headers, &expr, eval).await,
                Err(message) => error_response(StatusCode::BAD_REQUEST, message),
            },
            None => log_query(&store, &headers, &params, start, end).await,
        },
        Err((status, message)) => error_response(status, message),
    }
}

/// `GET /loki/api/v1/query`: a log query over the hour up to and including `time`.
pub(crate) async fn query_instant(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    match params.time("time", now_unix_nanos()) {
        Ok(time) => {
            if let Some(expr) = crate::metric::http::metric_expr(params.get("query")) {
                let eval = crate::metric::EvalParams::instant(time);
                return crate::metric::http::respond(&store, &headers, &expr, eval).await;
            }
            log_query(
                &store,
                &headers,
                &params,
                time - HOUR_NANOS,
                time.saturating_add(1),
            )
            .await
        }
        Err((status, message)) => error_response(status, message),
    }
}

fn matching_series(
    store: &LogStore,
    headers: &HeaderMap,
    params: &Params,
    selectors: &[&str],
) -> Result<BTreeSet<crate::LabelSet>, Failure> {
    let tenant = tenant_of(store, headers)?;
    let (start, end) = params.range(6 * HOUR_NANOS)?;
    let mut found = BTreeSet::new();
    if selectors.is_empty() {
        return Ok(series(store, &tenant, &[], start, end));
    }
    for selector in selectors {
        let matchers = parse_selector(selector)
            .map_err(|error| fail(StatusCode::BAD_REQUEST, error.to_string()))?;
        found.extend(series(store, &tenant, &matchers, start, end));
    }
    Ok(found)
}

/// `GET /loki/api/v1/labels` (optional `query` selector).
pub(crate) async fn labels(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let selectors: Vec<&str> = params.get("query").into_iter().collect();
    match matching_series(&store, &headers, &params, &selectors) {
        Ok(found) => {
            let names: BTreeSet<&str> = found
                .iter()
                .flat_map(|labels| labels.pairs().iter().map(|(name, _)| name.as_str()))
                .collect();
            success(json!(names))
        }
        Err((status, message)) => error_response(status, message),
    }
}

/// `GET /loki/api/v1/label/{name}/values` (optional `query` selector).
pub(crate) async fn label_values(
    State(store): State<Arc<LogStore>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let selectors: Vec<&str> = params.get("query").into_iter().collect();
    match matching_series(&store, &headers, &params, &selectors) {
        Ok(found) => {
            let values: BTreeSet<&str> = found
                .iter()
                .filter_map(|labels| labels.get(&name))
                .collect();
            success(json!(values))
        }
        Err((status, message)) => error_response(status, message),
    }
}

/// `GET /loki/api/v1/series` with one or more `match[]` selectors (`match` too, as
/// logcli sends them and Loki accepts).
pub(crate) async fn series_handler(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let mut selectors = params.all("match[]");
    selectors.extend(params.all("match"));
    if selectors.is_empty() {
        return error_response(StatusCode::BAD_REQUEST, "match[] parameter is required");
    }
    match matching_series(&store, &headers, &params, &selectors) {
        Ok(found) => success(Value::Array(found.iter().map(labels_json).collect())),
        Err((status, message)) => error_response(status, message),
    }
}
