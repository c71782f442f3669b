//! `GET /api/search`: TraceQL (`q`) or Tempo's older `tags` search, through the one
//! search engine ([`weft_query::search`]).
//!
//! Parameters as Tempo reads them: `q` (TraceQL) or `tags` (logfmt `key=value`, not
//! both), `minDuration`/`maxDuration` (Go durations, on the trace's duration),
//! `limit` (traces, default 20, 0 is an error), `start`/`end` (unix seconds; without
//! them the configured lookback up to now), `spss` (spans per span set, default 3).
//! Without `q`, weft also takes `service` (a span of that service, case-insensitive).
//!
//! The answer is Tempo's `SearchResponse` in jsonpb form (zero values left out):
//! traces newest first, each with `traceID` (hex without leading zeros),
//! `rootServiceName`, `rootTraceName`, `startTimeUnixNano`, `durationMs`, `spanSet`
//! and `spanSets` (matched spans with the attributes the query names, `matched`, and
//! the span set's `by()`/aggregate attributes), `serviceStats`; and `metrics`
//! (`inspectedTraces`, `inspectedBytes`, `inspectedSpans`). A search cut short by a
//! bound says so in `partial` and `partialReason` (not in Tempo's shape; Tempo says
//! nothing).

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use weft_model::{MAX_FILTER_CRITERIA, Span, SpanFilter};
use weft_query::search::{
    ScanOrder, SearchOutcome, SearchRequest, search as run_search, search_scan,
};
use weft_query::traceql::{self, SpanSet, Static};

use super::params::{optional_duration, parse_logfmt, unsigned};
use super::{Request, TempoState};
use crate::error::{ApiError, json_response};

/// Tempo shows this when a trace's root span has not arrived.
const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// Most spans per span set a request may ask for.
const MAX_SPANS_PER_SPANSET: usize = 10_000;

#[derive(Serialize)]
struct SearchResponse {
    traces: Vec<Value>,
    metrics: Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    partial: bool,
    #[serde(rename = "partialReason", skip_serializing_if = "Option::is_none")]
    partial_reason: Option<String>,
}

pub(super) async fn search(
    State(state): State<TempoState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Request {
        tenant,
        params,
        window,
    } = state.request(&headers, raw.as_deref())?;
    let query_text = params.get("q").filter(|text| !text.trim().is_empty());
    let tags = params.get("tags").filter(|text| !text.trim().is_empty());
    if query_text.is_some() && tags.is_some() {
        return Err(ApiError::BadRequest(String::from(
            "invalid request: can't specify tags and q in the same query",
        )));
    }
    let min_duration = optional_duration(&params, "minDuration")?;
    let max_duration = optional_duration(&params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && max < min
    {
        return Err(ApiError::BadRequest(String::from(
            "invalid maxDuration: must be greater than minDuration",
        )));
    }
    let limit = match unsigned(&params, "limit")? {
        Some(0) => {
            return Err(ApiError::BadRequest(String::from(
                "invalid limit: must be a positive number",
            )));
        }
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
        None => state.query.default_search_limit,
    }
    .min(state.query.max_search_candidates.max(1));
    let spans_per_spanset = match unsigned(&params, "spss")? {
        Some(spss) => usize::try_from(spss)
            .unwrap_or(usize::MAX)
            .min(MAX_SPANS_PER_SPANSET),
        None => state.query.default_spans_per_spanset,
    };
    if !state.zipkin.search_enabled {
        return answer(Vec::new(), json!({}), None);
    }

    let query = match query_text {
        Some(text) => Some(
            traceql::parse(text)
                .map_err(|error| ApiError::BadRequest(format!("invalid TraceQL query: {error}")))?,
        ),
        None => None,
    };
    let filter = match &query {
        Some(query) => query.pushdown(),
        None => {
            let mut filter = tags_filter(tags.unwrap_or(""))?;
            if let Some(service) = params.get("service").filter(|name| !name.is_empty()) {
                filter.service_name = Some(service.to_owned());
            }
            filter
        }
    };
    let request = SearchRequest {
        tenant,
        window,
        filter: filter.clone(),
        limit,
        limits: state.query.search_limits(),
    };
    let duration_ok = |spans: &[Span]| {
        let duration = trace_duration(spans);
        min_duration.is_none_or(|min| duration >= min)
            && max_duration.is_none_or(|max| duration <= max)
    };
    let outcome: SearchOutcome<Vec<SpanSet>> = match &query {
        // TraceQL scans the newest data first and judges whole traces as they are
        // decoded; `with(most_recent=true)` makes the answer the newest matches.
        Some(query) => {
            let order = if query.most_recent() {
                ScanOrder::MostRecent
            } else {
                ScanOrder::FirstFound
            };
            search_scan(&*state.reader, &request, order, |spans| {
                if !duration_ok(spans) {
                    return None;
                }
                let spansets = query.evaluate(spans);
                (!spansets.is_empty()).then_some(spansets)
            })
            .await?
        }
        None => {
            run_search(&*state.reader, &request, |spans| {
                let full = filter.full_mask();
                (duration_ok(spans) && filter.spans_mask(spans) & full == full).then(Vec::new)
            })
            .await?
        }
    };

    let mut traces = Vec::with_capacity(outcome.matches.len());
    let mut response_bytes = 0usize;
    let mut partial = outcome
        .partial
        .map(|reason| reason.describe(&request.limits));
    for found in &outcome.matches {
        let row = trace_row(&found.spans, &found.result, spans_per_spanset);
        response_bytes += row.to_string().len();
        if response_bytes > state.query.max_response_bytes {
            partial = Some(format!(
                "partial result: the answer reached the response size limit of {} bytes (query.max_response_bytes)",
                state.query.max_response_bytes
            ));
            break;
        }
        traces.push(row);
    }
    let metrics = json!({
        "inspectedTraces": outcome.metrics.inspected_traces,
        "inspectedBytes": outcome.metrics.inspected_bytes.to_string(),
        "inspectedSpans": outcome.metrics.inspected_spans.to_string(),
    });
    answer(traces, metrics, partial)
}

fn answer(
    traces: Vec<Value>,
    metrics: Value,
    partial: Option<String>,
) -> Result<Response, ApiError> {
    let response = SearchResponse {
        traces,
        metrics,
        partial: partial.is_some(),
        partial_reason: partial,
    };
    let body =
        serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(json_response(body))
}

/// Tempo's `tags`: every `key=value` met by some span of the trace (`service.name` by
/// the span's service, `name` by a span name, others by a span attribute's text).
fn tags_filter(tags: &str) -> Result<SpanFilter, ApiError> {
    let mut filter = SpanFilter::default();
    let mut seen = Vec::new();
    for (key, value) in parse_logfmt(tags)? {
        if seen.contains(&key) {
            return Err(ApiError::BadRequest(format!(
                "invalid tags: tag {key} has been set twice"
            )));
        }
        seen.push(key.clone());
        match key.as_str() {
            "service.name" => filter.service_name = Some(value),
            "name" => filter.span_name = Some(value),
            _ => filter.attributes.push((key, Some(value))),
        }
    }
    if filter.criteria_count() > MAX_FILTER_CRITERIA {
        return Err(ApiError::BadRequest(format!(
            "invalid tags: at most {MAX_FILTER_CRITERIA} tags"
        )));
    }
    Ok(filter)
}

/// Latest end minus earliest start over the trace's spans.
fn trace_duration(spans: &[Span]) -> u64 {
    let start = spans
        .iter()
        .map(|span| span.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let end = spans.iter().map(Span::end_unix_nanos).max().unwrap_or(0);
    end.saturating_sub(start)
}

/// One `TraceSearchMetadata` in jsonpb form.
fn trace_row(spans: &[Span], spansets: &[SpanSet], spans_per_spanset: usize) -> Value {
    let root = spans.iter().find(|span| span.parent_span_id.is_none());
    let start = spans
        .iter()
        .map(|span| span.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let mut row = serde_json::Map::new();
    row.insert("traceID".into(), Value::String(trimmed_trace_id(spans)));
    let root_service = root
        .and_then(Span::service_name)
        .unwrap_or(ROOT_SPAN_NOT_YET_RECEIVED);
    row.insert(
        "rootServiceName".into(),
        Value::String(root_service.to_owned()),
    );
    if let Some(root) = root {
        row.insert("rootTraceName".into(), Value::String(root.name.clone()));
    }
    row.insert("startTimeUnixNano".into(), Value::String(start.to_string()));
    let duration_ms = trace_duration(spans) / 1_000_000;
    if duration_ms > 0 {
        row.insert("durationMs".into(), Value::from(duration_ms));
    }
    let sets: Vec<Value> = spansets
        .iter()
        .map(|set| spanset_json(spans, set, spans_per_spanset))
        .collect();
    if let Some(first) = sets.first() {
        row.insert("spanSet".into(), first.clone());
        row.insert("spanSets".into(), Value::Array(sets));
    }
    row.insert("serviceStats".into(), service_stats(spans));
    Value::Object(row)
}

fn trimmed_trace_id(spans: &[Span]) -> String {
    let hex = spans
        .first()
        .map(|span| span.trace_id.to_hex())
        .unwrap_or_default();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        String::from("0")
    } else {
        trimmed.to_owned()
    }
}

fn service_stats(spans: &[Span]) -> Value {
    let mut stats: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for span in spans {
        let entry = stats.entry(span.service_name().unwrap_or("")).or_default();
        entry.0 += 1;
        if span.status.code == weft_model::StatusCode::Error {
            entry.1 += 1;
        }
    }
    let mut out = serde_json::Map::new();
    for (service, (spans, errors)) in stats {
        let mut entry = serde_json::Map::new();
        entry.insert("spanCount".into(), Value::from(spans));
        if errors > 0 {
            entry.insert("errorCount".into(), Value::from(errors));
        }
        out.insert(service.to_owned(), Value::Object(entry));
    }
    Value::Object(out)
}

fn spanset_json(spans: &[Span], set: &SpanSet, spans_per_spanset: usize) -> Value {
    let mut out = serde_json::Map::new();
    let listed: Vec<Value> = set
        .spans
        .iter()
        .take(spans_per_spanset)
        .filter_map(|matched| {
            let span = spans.get(matched.index)?;
            let mut entry = serde_json::Map::new();
            entry.insert("spanID".into(), Value::String(span.span_id.to_hex()));
            if matched.name_reported && !span.name.is_empty() {
                entry.insert("name".into(), Value::String(span.name.clone()));
            }
            entry.insert(
                "startTimeUnixNano".into(),
                Value::String(span.start_unix_nanos.to_string()),
            );
            entry.insert(
                "durationNanos".into(),
                Value::String(span.duration_nanos.to_string()),
            );
            if !matched.attributes.is_empty() {
                entry.insert("attributes".into(), key_values(&matched.attributes));
            }
            Some(Value::Object(entry))
        })
        .collect();
    if !listed.is_empty() {
        out.insert("spans".into(), Value::Array(listed));
    }
    if set.matched > 0 {
        out.insert("matched".into(), Value::from(set.matched));
    }
    if !set.attributes.is_empty() {
        out.insert("attributes".into(), key_values(&set.attributes));
    }
    Value::Object(out)
}

fn key_values(pairs: &[(String, Static)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(key, value)| json!({"key": key, "value": any_value(value)}))
            .collect(),
    )
}

/// A TraceQL value as Tempo renders it in search answers (`Static.AsAnyValue`):
/// durations as Go duration text, status and kind by name, nil as `nil`.
fn any_value(value: &Static) -> Value {
    match value {
        Static::Int(number) => json!({"intValue": number.to_string()}),
        Static::Float(number) => json!({"doubleValue": number}),
        Static::Bool(flag) => json!({"boolValue": flag}),
        Static::String(text) => json!({"stringValue": text}),
        Static::Duration(_) | Static::Status(_) | Static::Kind(_) | Static::Nil => {
            json!({"stringValue": value.to_text()})
        }
        Static::Array(values) => {
            json!({"arrayValue": {"values": values.iter().map(any_value).collect::<Vec<_>>()}})
        }
    }
}
