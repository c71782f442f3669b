//! Loki's index endpoints: `GET /loki/api/v1/index/stats` (streams, chunks, entries and
//! bytes a selector covers) and `GET /loki/api/v1/index/volume` (bytes per group of
//! streams, what Grafana's Logs Drilldown lists services by), from [`crate::index`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use weft_model::TenantId;

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_params::{Failure, Params};
use crate::index::{VolumeGrouping, stream_stats, volume};
use crate::logql::{MatchOp, Matcher, parse_selector};
use crate::time::now_unix_nanos;

const HOUR_NANOS: i64 = 3_600_000_000_000;
const MAX_VOLUME_LIMIT: usize = 10_000;

/// A request's tenant, parameters, selector (`query`, default every stream) and range
/// (`start`, `end`, default the last hour), checked.
pub(crate) struct Selection {
    pub(crate) tenant: TenantId,
    pub(crate) params: Params,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) start: i64,
    pub(crate) end: i64,
}

pub(crate) fn selection(
    store: &LogStore,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Selection, Failure> {
    let tenant = tenant_of(store, headers)?;
    let params = Params::parse(raw);
    // No query selects every stream (a selector needs one matcher at least).
    let matchers = match params.get("query") {
        None => Vec::new(),
        Some(text) => {
            parse_selector(text).map_err(|error| (StatusCode::BAD_REQUEST, error.to_string()))?
        }
    };
    let end = params.time("end", now_unix_nanos())?;
    let start = params.time("start", end.saturating_sub(HOUR_NANOS))?;
    if end < start {
        return Err((
            StatusCode::BAD_REQUEST,
            String::from("end timestamp must not be before or equal to start time"),
        ));
    }
    Ok(Selection {
        tenant,
        params,
        matchers,
        start,
        end,
    })
}

/// `GET /loki/api/v1/index/stats?query={...}&start=&end=`:
/// `{"streams":N,"chunks":N,"entries":N,"bytes":N}`.
pub(crate) async fn index_stats(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Selection {
        tenant,
        matchers,
        start,
        end,
        ..
    } = match selection(&store, &headers, raw.as_deref()) {
        Ok(selection) => selection,
        Err((status, message)) => return error_response(status, message),
    };
    let stats = stream_stats(&store, &tenant, &matchers, start, end);
    let (chunks, entries, bytes) = stats.values().fold((0, 0, 0), |(c, e, b), s| {
        (c + s.chunks, e + s.entries, b + s.bytes)
    });
    axum::Json(json!({
        "streams": stats.len(),
        "chunks": chunks,
        "entries": entries,
        "bytes": bytes,
    }))
    .into_response()
}

/// The volume parameters of a request: `limit` (default 100) and the grouping
/// (`targetLabels`, `aggregateBy=series|labels`).
fn volume_request(
    params: &Params,
    matchers: &[Matcher],
) -> Result<(usize, VolumeGrouping), Failure> {
    let limit = match params.get("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(limit)) if limit > 0 => limit.min(MAX_VOLUME_LIMIT),
        Some(_) => {
            return Err((
                StatusCode::BAD_REQUEST,
                String::from("invalid limit parameter: a positive integer is expected"),
            ));
        }
    };
    let targets: Vec<String> = params
        .get("targetLabels")
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let grouping = match params.get("aggregateBy").unwrap_or("series") {
        "series" => VolumeGrouping::Series(if targets.is_empty() {
            // The selector's names; a matcher that only excludes still names its label.
            let mut names: Vec<String> = matchers
                .iter()
                .filter(|matcher| matcher.op != MatchOp::NotEqual || !matcher.value.is_empty())
                .map(|matcher| matcher.name.clone())
                .collect();
            names.sort();
            names.dedup();
            names
        } else {
            targets
        }),
        "labels" => VolumeGrouping::Labels(targets),
        other => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("invalid aggregateBy {other:?}: series or labels"),
            ));
        }
    };
    Ok((limit, grouping))
}

fn metric_json(labels: Vec<(String, String)>) -> Map<String, Value> {
    labels
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect()
}

/// `GET /loki/api/v1/index/volume?query={...}&start=&end=&limit=100&targetLabels=a,b&aggregateBy=series|labels`:
/// a Prometheus vector of bytes per group at `end`, largest first. Groups are the
/// values of `targetLabels`, else of the selector's label names (`aggregateBy=series`,
/// the default), or label names (`aggregateBy=labels`).
pub(crate) async fn index_volume(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Selection {
        tenant,
        params,
        matchers,
        start,
        end,
    } = match selection(&store, &headers, raw.as_deref()) {
        Ok(selection) => selection,
        Err((status, message)) => return error_response(status, message),
    };
    let (limit, grouping) = match volume_request(&params, &matchers) {
        Ok(request) => request,
        Err((status, message)) => return error_response(status, message),
    };
    let stats = stream_stats(&store, &tenant, &matchers, start, end);
    let (rows, _) = volume(&stats, &grouping, limit);
    let at = end as f64 / 1e9;
    let result: Vec<Value> = rows
        .into_iter()
        .map(|(labels, bytes)| json!({"metric": metric_json(labels), "value": [at, bytes.to_string()]}))
        .collect();
    axum::Json(json!({
        "status": "success",
        "data": {"resultType": "vector", "result": result},
    }))
    .into_response()
}

/// The gap Loki's frontend leaves between volume buckets (a millisecond).
const VOLUME_BUCKET_GAP_NANOS: i64 = 1_000_000;

/// A volume group's labels.
type GroupLabels = Vec<(String, String)>;

/// The buckets of a volume range, as Loki's frontend splits it: step-aligned, the first
/// from `start`, each ending a millisecond before the next (the last at `end`); a bucket's
/// sample is at its end.
fn volume_buckets(start: i64, end: i64, step: i64) -> Vec<(i64, i64)> {
    let mut buckets = Vec::new();
    let mut from = start - start.rem_euclid(step);
    let mut first = true;
    while from < end {
        let next = from.saturating_add(step);
        let through = if next >= end {
            end
        } else {
            next - VOLUME_BUCKET_GAP_NANOS
        };
        buckets.push((if first { start } else { from }, through));
        first = false;
        from = next;
    }
    buckets
}

/// `GET /loki/api/v1/index/volume_range?query=&start=&end=&step=&limit=&targetLabels=&aggregateBy=`:
/// the volume of each step bucket (Loki's frontend shape: a matrix when a group has more
/// than one sample, ordered by the first sample, largest first).
pub(crate) async fn index_volume_range(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Selection {
        tenant,
        params,
        matchers,
        start,
        end,
    } = match selection(&store, &headers, raw.as_deref()) {
        Ok(selection) => selection,
        Err((status, message)) => return error_response(status, message),
    };
    let (limit, grouping) = match volume_request(&params, &matchers) {
        Ok(request) => request,
        Err((status, message)) => return error_response(status, message),
    };
    let step = match params.step(start, end) {
        Ok(step) => step,
        Err((status, message)) => return error_response(status, message),
    };
    let mut series: BTreeMap<GroupLabels, Vec<(i64, u64)>> = BTreeMap::new();
    for (from, through) in volume_buckets(start, end, step) {
        // Up to the next bucket: heads count entries exactly, so the millisecond
        // between Loki's buckets must not drop any.
        let stats = stream_stats(
            &store,
            &tenant,
            &matchers,
            from,
            through.saturating_add(VOLUME_BUCKET_GAP_NANOS),
        );
        for (labels, bytes) in volume(&stats, &grouping, limit).0 {
            series.entry(labels).or_default().push((through, bytes));
        }
    }
    let matrix = series.values().any(|samples| samples.len() > 1);
    let mut ordered: Vec<(GroupLabels, Vec<(i64, u64)>)> = series.into_iter().collect();
    ordered.sort_by(|(left_name, left), (right_name, right)| {
        right[0]
            .1
            .cmp(&left[0].1)
            .then_with(|| left_name.cmp(right_name))
    });
    let sample = |(at, bytes): (i64, u64)| {
        // Sample times are in milliseconds.
        json!([(at / 1_000_000) as f64 / 1e3, bytes.to_string()])
    };
    let result: Vec<Value> = ordered
        .into_iter()
        .map(|(labels, samples)| {
            if matrix {
                let values: Vec<Value> = samples.into_iter().map(sample).collect();
                json!({"metric": metric_json(labels), "values": values})
            } else {
                json!({"metric": metric_json(labels), "value": sample(samples[0])})
            }
        })
        .collect();
    axum::Json(json!({
        "status": "success",
        "data": {"resultType": if matrix { "matrix" } else { "vector" }, "result": result},
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::volume_buckets;

    #[test]
    fn volume_buckets_are_step_aligned_and_end_a_millisecond_early() {
        let second = 1_000_000_000;
        assert_eq!(
            volume_buckets(10 * second, 40 * second, 15 * second),
            [
                (10 * second, 15 * second - 1_000_000),
                (15 * second, 30 * second - 1_000_000),
                (30 * second, 40 * second),
            ]
        );
        assert_eq!(volume_buckets(0, 30 * second, 15 * second).len(), 2);
    }
}
