//! Tempo's TraceQL metrics API: `GET /api/metrics/query_range` and `/api/metrics/query`.
//!
//! Parameters as Tempo's: `q` (or `query`); `start`/`end` as unix seconds, unix
//! nanoseconds (more than 10 digits) or fractional seconds, default `since`
//! (a duration, default 1h) before `end` (default now); `step` as seconds or a Go
//! duration (default: Tempo's ~240 points); `exemplars` (default and cap 100). A range
//! query is aligned like Tempo's frontend (start down to a step and one step earlier,
//! end up to a step, an end after now pulled back to now). Spans count by their start
//! time; traces that started more than 5 minutes before the range are not read (Tempo
//! reads every block overlapping the range). Traces are scanned through
//! the search engine within the query bounds (deadline, byte budget); a cut-short scan
//! answers `"status": "PARTIAL"` with the reason in `message`. Answers are Tempo's
//! protobuf JSON: zero values and empty lists left out, 64-bit integers as strings.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};
use weft_model::TimeWindow;
use weft_query::duration::format_go_duration;
use weft_query::search::{ScanOrder, SearchRequest, search_scan};
use weft_query::traceql::metrics::{
    MetricsAggregator, RangeRequest, Series, align_range, default_step_nanos,
};
use weft_query::traceql::{self, Static};

use super::TempoState;
use super::params::parse_go_duration;
use crate::error::{ApiError, json_response, request_tenant};
use crate::params::{QueryParams, now_unix_nanos};

/// Most intervals a range query may have (Tempo's `max_intervals` default).
pub(crate) const MAX_INTERVALS: u64 = 10_000;
/// Most exemplars per series (Tempo's `max_exemplars` default).
const MAX_EXEMPLARS: u64 = 100;
/// Most series in an answer (Tempo's `max_response_series` default).
const MAX_SERIES: usize = 1_000;
const DEFAULT_SINCE_NANOS: u64 = 3_600_000_000_000;
/// How long before a range a trace may start and still have spans counted in it.
const TRACE_START_MARGIN_NANOS: u64 = 300_000_000_000;

pub(super) async fn query_range(
    State(state): State<TempoState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (answer, _) = run(&state, &headers, raw.as_deref(), false).await?;
    Ok(json_response(answer.to_string().into_bytes()))
}

pub(super) async fn query_instant(
    State(state): State<TempoState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut answer, series) = run(&state, &headers, raw.as_deref(), true).await?;
    let instant: Vec<Value> = series
        .iter()
        .filter_map(|series| {
            let first = series.samples.first()?;
            let mut object = Map::new();
            object.insert("labels".into(), labels_json(&series.labels));
            if first.value != 0.0 {
                object.insert("value".into(), number(first.value));
            }
            Some(Value::Object(object))
        })
        .collect();
    if let Some(object) = answer.as_object_mut() {
        object.remove("series");
        if !instant.is_empty() {
            object.insert("series".into(), Value::Array(instant));
        }
    }
    Ok(json_response(answer.to_string().into_bytes()))
}

/// Parses, scans and aggregates; the range answer's JSON and the series.
async fn run(
    state: &TempoState,
    headers: &HeaderMap,
    raw: Option<&str>,
    instant: bool,
) -> Result<(Value, Vec<Series>), ApiError> {
    let tenant = request_tenant(headers, state.zipkin.multitenancy_enabled)?;
    let params = QueryParams::parse(raw);
    let text = params
        .get("q")
        .or_else(|| params.get("query"))
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| ApiError::missing_parameter("q"))?;
    let query = traceql::parse(text)
        .map_err(|error| ApiError::BadRequest(format!("invalid TraceQL query: {error}")))?;
    let spec = query
        .metrics_spec()
        .map_err(|error| ApiError::BadRequest(format!("invalid q: {error}")))?;
    let now = now_unix_nanos();
    let (start, end) = bounds(&params, now)?;
    if start >= end {
        return Err(ApiError::BadRequest(String::from(
            "end must be greater than start",
        )));
    }
    let request = if instant {
        RangeRequest {
            start_unix_nanos: start,
            end_unix_nanos: end.min(now),
            step_nanos: end.min(now).saturating_sub(start),
            instant: true,
            max_exemplars: 0,
        }
    } else {
        let step = step_nanos(&params, start, end)?;
        if step == 0 || (end - start) / step > MAX_INTERVALS {
            return Err(ApiError::BadRequest(format!(
                "invalid step: step of {} is too small, minimum step for given range is {}",
                go_duration(step),
                go_duration((end - start) / MAX_INTERVALS)
            )));
        }
        let exemplars = match params.get("exemplars").filter(|t| !t.is_empty()) {
            None => MAX_EXEMPLARS,
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid exemplars: {text:?} is not a non-negative integer"
                ))
            })?,
        };
        let exemplars = if exemplars == 0 {
            MAX_EXEMPLARS
        } else {
            exemplars
        };
        let (start, end) = align_range(start, end, step, now);
        RangeRequest {
            start_unix_nanos: start,
            end_unix_nanos: end,
            step_nanos: step,
            instant: false,
            max_exemplars: usize::try_from(exemplars.min(MAX_EXEMPLARS)).unwrap_or(0),
        }
    };
    let aggregator = Mutex::new(MetricsAggregator::new(spec, request));
    let mut metrics = json!({});
    let mut partial = None;
    if state.zipkin.search_enabled && request.end_unix_nanos > request.start_unix_nanos {
        let search = SearchRequest {
            tenant,
            // The store selects traces by their own time; spans count by their start,
            // so traces that began up to TRACE_START_MARGIN before the range are read.
            window: TimeWindow {
                start_unix_nanos: request
                    .start_unix_nanos
                    .saturating_sub(TRACE_START_MARGIN_NANOS),
                end_unix_nanos: request.end_unix_nanos,
            },
            filter: query.pushdown(),
            limit: usize::MAX,
            limits: state.query.search_limits(),
        };
        // Every matching trace of the window is wanted: no trace limit, the scan ends at
        // the end of the data or at a bound (deadline, byte budget).
        // As for /api/search: the matcher judges what the scan hands it, and the engine
        // returns each matching trace whole (loading every part of a trace stored in
        // parts); observations are taken from the whole traces, each trace once.
        let outcome = search_scan(&*state.reader, &search, ScanOrder::FirstFound, |spans| {
            query
                .metrics_observations(spans)
                .is_ok_and(|observations| !observations.is_empty())
                .then_some(())
        })
        .await?;
        let mut seen = HashSet::new();
        {
            let mut aggregator = aggregator.lock().expect("metrics aggregator lock poisoned");
            for found in &outcome.matches {
                let Some(first) = found.spans.first() else {
                    continue;
                };
                if !seen.insert(first.trace_id) {
                    continue;
                }
                if let Ok(observations) = query.metrics_observations(&found.spans) {
                    aggregator.observe(&observations);
                }
            }
        }
        partial = outcome
            .partial
            .map(|reason| reason.describe(&search.limits));
        metrics = json!({
            "inspectedTraces": outcome.metrics.inspected_traces,
            "inspectedBytes": outcome.metrics.inspected_bytes.to_string(),
            "inspectedSpans": outcome.metrics.inspected_spans.to_string(),
        });
    }
    let aggregator = aggregator
        .into_inner()
        .expect("metrics aggregator lock poisoned");
    let mut series = aggregator.finish();
    if series.len() > MAX_SERIES {
        series.truncate(MAX_SERIES);
        partial.get_or_insert_with(|| {
            format!("Response exceeds maximum series limit of {MAX_SERIES}, a partial response is returned")
        });
    }
    let mut answer = Map::new();
    if !series.is_empty() {
        answer.insert(
            "series".into(),
            Value::Array(series.iter().map(series_json).collect()),
        );
    }
    answer.insert("metrics".into(), metrics);
    if let Some(reason) = partial {
        answer.insert("status".into(), json!("PARTIAL"));
        answer.insert("message".into(), json!(reason));
    }
    Ok((Value::Object(answer), series))
}

fn go_duration(nanos: u64) -> String {
    format_go_duration(i64::try_from(nanos).unwrap_or(i64::MAX))
}

/// `start`/`end`/`since` as Tempo reads them, nanoseconds.
fn bounds(params: &QueryParams, now: u64) -> Result<(u64, u64), ApiError> {
    let since = match params.get("since").filter(|t| !t.is_empty()) {
        None => DEFAULT_SINCE_NANOS,
        Some(text) => prometheus_duration(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "could not parse 'since' parameter: {text:?} is not a duration"
            ))
        })?,
    };
    let end = match params.get("end").filter(|t| !t.is_empty()) {
        None => now,
        Some(text) => timestamp(text).ok_or_else(|| {
            ApiError::BadRequest(format!("could not parse 'end' parameter: {text:?}"))
        })?,
    };
    let start = match params.get("start").filter(|t| !t.is_empty()) {
        None => end.min(now).saturating_sub(since),
        Some(text) => timestamp(text).ok_or_else(|| {
            ApiError::BadRequest(format!("could not parse 'start' parameter: {text:?}"))
        })?,
    };
    Ok((start, end))
}

/// Unix seconds (up to 10 digits), unix nanoseconds or fractional seconds (RFC 3339,
/// which Tempo also reads, is not read yet).
fn timestamp(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
    {
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        return Some(whole as u64 * 1_000_000_000 + millis as u64 * 1_000_000);
    }
    match text.parse::<u64>() {
        Ok(value) if text.len() <= 10 => Some(value.saturating_mul(1_000_000_000)),
        Ok(value) => Some(value),
        Err(_) => None,
    }
}

/// A Go duration, or Prometheus' `d`/`w`/`y` units.
fn prometheus_duration(text: &str) -> Option<u64> {
    if let Some(nanos) = parse_go_duration(text) {
        return Some(nanos);
    }
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let days: u64 = match unit {
        "d" => 1,
        "w" => 7,
        "y" => 365,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()
        .map(|n| n * days * 86_400_000_000_000)
}

/// `step` as seconds or a Go duration; Tempo's default without it.
fn step_nanos(params: &QueryParams, start: u64, end: u64) -> Result<u64, ApiError> {
    match params.get("step").filter(|t| !t.is_empty()) {
        None => Ok(default_step_nanos(start, end)),
        Some(text) => {
            if let Ok(seconds) = text.trim().parse::<f64>() {
                if (0.0..9.2e9).contains(&seconds) {
                    return Ok((seconds * 1e9) as u64);
                }
                return Err(ApiError::BadRequest(format!(
                    "invalid step: cannot parse {text:?}: step must be positive"
                )));
            }
            parse_go_duration(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid step: cannot parse {text:?} to a valid duration"
                ))
            })
        }
    }
}

fn series_json(series: &Series) -> Value {
    let mut object = Map::new();
    object.insert("labels".into(), labels_json(&series.labels));
    let samples: Vec<Value> = series
        .samples
        .iter()
        .map(|sample| {
            let mut point = Map::new();
            point.insert(
                "timestampMs".into(),
                json!(sample.timestamp_millis.to_string()),
            );
            if sample.value != 0.0 {
                point.insert("value".into(), number(sample.value));
            }
            Value::Object(point)
        })
        .collect();
    object.insert("samples".into(), Value::Array(samples));
    if !series.exemplars.is_empty() {
        let exemplars: Vec<Value> = series
            .exemplars
            .iter()
            .map(|exemplar| {
                let mut object = Map::new();
                object.insert("labels".into(), labels_json(&exemplar.labels));
                if exemplar.value != 0.0 {
                    object.insert("value".into(), number(exemplar.value));
                }
                object.insert(
                    "timestampMs".into(),
                    json!(exemplar.timestamp_millis.to_string()),
                );
                Value::Object(object)
            })
            .collect();
        object.insert("exemplars".into(), Value::Array(exemplars));
    }
    Value::Object(object)
}

/// Labels as OTLP `KeyValue`s the way Tempo's `AsAnyValue` writes them.
fn labels_json(labels: &[(String, Static)]) -> Value {
    Value::Array(
        labels
            .iter()
            .map(|(key, value)| json!({"key": key, "value": any_value(value)}))
            .collect(),
    )
}

fn any_value(value: &Static) -> Value {
    match value {
        Static::Int(i) => json!({"intValue": i.to_string()}),
        Static::Float(f) => json!({"doubleValue": number(*f)}),
        Static::Bool(b) => json!({"boolValue": b}),
        other => json!({"stringValue": other.to_text()}),
    }
}

/// A double as Go's protobuf JSON writes it: integral values without a fraction.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}
