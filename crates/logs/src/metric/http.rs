//! Metric queries on `/loki/api/v1/query_range` (`resultType: "matrix"`) and
//! `/loki/api/v1/query` (`"vector"`, or `"scalar"` for a literal), in Loki's JSON:
//! values are `[<Unix seconds as a number>, "<value as a string>"]`, with a `stats`
//! block beside the result.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Number, Value, json};

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_query::{labels_json, stats_json};
use crate::logql::{MetricExpr, Query, parse};
use crate::query::{QueryError, QueryStats};

use super::{EvalParams, MetricError, MetricValue, run_metric_query};

/// Loki's cap on points per series of a range query.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The metric expression of `query`, or `None` for a log query or a query that does
/// not parse (the log path reports those).
pub(crate) fn metric_expr(query: Option<&str>) -> Option<MetricExpr> {
    match parse(query?) {
        Ok(Query::Metric(expr)) => Some(expr),
        Ok(Query::Log(_)) | Err(_) => None,
    }
}

/// `step` of a range query: a number of seconds (`15`, `0.5`) or a duration (`1m`);
/// absent, Loki's default of the range / 250 in whole seconds, at least one second.
pub(crate) fn parse_step(
    step: Option<&str>,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
) -> Result<i64, String> {
    let Some(text) = step else {
        let seconds = ((end_unix_nanos - start_unix_nanos) as f64 / 1e9 / 250.0)
            .floor()
            .max(1.0);
        return Ok(seconds as i64 * 1_000_000_000);
    };
    if let Ok(seconds) = text.parse::<f64>() {
        let nanos = seconds * 1e9;
        if !nanos.is_finite() || nanos.abs() > i64::MAX as f64 {
            return Err(format!(
                "invalid step parameter: cannot parse {text:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(nanos as i64);
    }
    parse_prometheus_duration(text)
        .ok_or_else(|| format!("invalid step parameter: cannot parse {text:?} to a valid duration"))
}

/// Prometheus' duration syntax: `1h30m`, `500ms`, units y w d h m s ms.
fn parse_prometheus_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 8] = [
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
    ];
    let mut rest = text;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let amount: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, nanos) = UNITS
            .iter()
            .chain(&[("s", 1_000_000_000)])
            .find(|(unit, _)| rest.starts_with(unit))?;
        total = total.checked_add(amount.checked_mul(*nanos)?)?;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// Checks a range query's step as Loki does.
pub(crate) fn check_range_step(start: i64, end: i64, step_nanos: i64) -> Result<(), String> {
    if step_nanos <= 0 {
        return Err(String::from(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step_nanos > MAX_POINTS_PER_SERIES {
        return Err(String::from(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
        ));
    }
    Ok(())
}

/// The steps of a range query as Loki's query frontend runs them: the step is checked
/// (positive, at most 11,000 points), then `start` is rounded down and `end` up to
/// multiples of the step (in whole milliseconds) counted from the Unix epoch, so
/// steps fall on the same instants whatever `start` a client sends.
pub(crate) fn range_params(
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    step: Option<&str>,
) -> Result<EvalParams, String> {
    let step_nanos = parse_step(step, start_unix_nanos, end_unix_nanos)?;
    check_range_step(start_unix_nanos, end_unix_nanos, step_nanos)?;
    let step_millis = step_nanos / 1_000_000;
    if step_millis == 0 {
        return Ok(EvalParams {
            start_unix_nanos,
            end_unix_nanos,
            step_nanos,
        });
    }
    let aligned_step = step_millis * 1_000_000;
    let start = start_unix_nanos - start_unix_nanos.rem_euclid(aligned_step);
    let remainder = end_unix_nanos.rem_euclid(aligned_step);
    let end = if remainder == 0 {
        end_unix_nanos
    } else {
        end_unix_nanos.saturating_add(aligned_step - remainder)
    };
    Ok(EvalParams {
        start_unix_nanos: start,
        end_unix_nanos: end,
        step_nanos: aligned_step,
    })
}

/// Runs `expr` and answers in Loki's JSON.
pub(crate) async fn respond(
    store: &LogStore,
    headers: &HeaderMap,
    expr: &MetricExpr,
    params: EvalParams,
) -> Response {
    let tenant = match tenant_of(store, headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return error_response(status, message),
    };
    match run_metric_query(store, &tenant, expr, params, store.config.max_query_series).await {
        Ok((value, stats)) => success(&value, &stats),
        Err(error) => {
            let status = match &error {
                MetricError::Query(QueryError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
                MetricError::Query(QueryError::Storage(_)) | MetricError::Execution(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                MetricError::Query(QueryError::TooManyBytes { .. })
                | MetricError::Pipeline { .. }
                | MetricError::SeriesLimit(_) => StatusCode::BAD_REQUEST,
            };
            metrics::counter!("weft_logs_metric_query_failures_total", "reason" => reason(&error))
                .increment(1);
            error_response(status, error.to_string())
        }
    }
}

fn reason(error: &MetricError) -> &'static str {
    match error {
        MetricError::Query(QueryError::Timeout(_)) => "timeout",
        MetricError::Query(QueryError::Storage(_)) => "storage",
        MetricError::Query(QueryError::TooManyBytes { .. }) => "bytes_limit",
        MetricError::Pipeline { .. } => "pipeline_error",
        MetricError::SeriesLimit(_) => "series_limit",
        MetricError::Execution(_) => "execution",
    }
}

/// Unix milliseconds as Loki prints them: seconds, with a fraction only when needed.
pub(crate) fn timestamp_json(millis: i64) -> Value {
    if millis % 1000 == 0 {
        Value::Number(Number::from(millis / 1000))
    } else {
        Number::from_f64(millis as f64 / 1000.0).map_or(Value::Null, Value::Number)
    }
}

/// A sample value as Loki prints it (Go's `FormatFloat(v, 'f', -1, 64)`).
pub(crate) fn value_json(value: f64) -> Value {
    let text = if value.is_nan() {
        String::from("NaN")
    } else if value == f64::INFINITY {
        String::from("+Inf")
    } else if value == f64::NEG_INFINITY {
        String::from("-Inf")
    } else {
        format!("{value}")
    };
    Value::String(text)
}

/// The `data` object of a metric answer.
pub(crate) fn data_json(value: &MetricValue, stats: &QueryStats) -> Value {
    let (result_type, result, returned) = match value {
        MetricValue::Scalar {
            timestamp_millis,
            value,
        } => (
            "scalar",
            json!([timestamp_json(*timestamp_millis), value_json(*value)]),
            0,
        ),
        MetricValue::Vector(samples) => (
            "vector",
            Value::Array(
                samples
                    .iter()
                    .map(|sample| {
                        json!({
                            "metric": labels_json(&sample.labels),
                            "value": [timestamp_json(sample.timestamp_millis), value_json(sample.value)],
                        })
                    })
                    .collect(),
            ),
            samples.len(),
        ),
        MetricValue::Matrix(series) => (
            "matrix",
            Value::Array(
                series
                    .iter()
                    .map(|series| {
                        let values: Vec<Value> = series
                            .points
                            .iter()
                            .map(|&(millis, value)| json!([timestamp_json(millis), value_json(value)]))
                            .collect();
                        json!({"metric": labels_json(&series.labels), "values": values})
                    })
                    .collect(),
            ),
            series.iter().map(|series| series.points.len()).sum(),
        ),
    };
    json!({"resultType": result_type, "result": result, "stats": stats_json(stats, returned)})
}

fn success(value: &MetricValue, stats: &QueryStats) -> Response {
    axum::Json(json!({"status": "success", "data": data_json(value, stats)})).into_response()
}
