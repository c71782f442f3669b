//! Loki's index endpoints: `GET /loki/api/v1/index/stats` (streams, chunks, entries and
//! bytes a selector covers) and `GET /loki/api/v1/index/volume` (bytes per group of
//! streams, what Grafana's Logs Drilldown lists services by), from [`crate::index`].

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use weft_model::TenantId;

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::index::{VolumeGrouping, stream_stats, volume};
use crate::logql::{MatchOp, Matcher, parse_selector};
use crate::time::{now_unix_nanos, parse_time};

const HOUR_NANOS: i64 = 3_600_000_000_000;
const MAX_VOLUME_LIMIT: usize = 10_000;

/// A status and message, answered by [`error_response`].
pub(crate) type Failure = (StatusCode, String);

/// Query-string parameters, decoded.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(candidate, value)| candidate == key && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// A time parameter (Loki's forms: integer nanoseconds, seconds with a fraction,
    /// RFC 3339), `default` when absent; 400 naming it when invalid.
    pub(crate) fn time(&self, key: &str, default: i64) -> Result<i64, Failure> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => parse_time(text).ok_or_else(|| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("invalid {key} parameter {text:?}: cannot parse as a time"),
                )
            }),
        }
    }
}

/// A request's tenant, parameters, selector (`query`, default every stream) and range
/// (`start`, `end`, default the last hour), checked.
struct Selection {
    tenant: TenantId,
    params: Params,
    matchers: Vec<Matcher>,
    start: i64,
    end: i64,
}

fn selection(
    store: &LogStore,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Selection, Failure> {
    let tenant = tenant_of(store, headers)?;
    let params = Params::parse(raw);
    let text = params.get("query").unwrap_or("{}");
    let matchers =
        parse_selector(text).map_err(|error| (StatusCode::BAD_REQUEST, error.to_string()))?;
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
    let limit = match params.get("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(limit)) if limit > 0 => limit.min(MAX_VOLUME_LIMIT),
        Some(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid limit parameter: a positive integer is expected",
            );
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
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("invalid aggregateBy {other:?}: series or labels"),
            );
        }
    };
    let stats = stream_stats(&store, &tenant, &matchers, start, end);
    let (rows, _) = volume(&stats, &grouping, limit);
    let at = end as f64 / 1e9;
    let result: Vec<Value> = rows
        .into_iter()
        .map(|(labels, bytes)| {
            let metric: Map<String, Value> = labels
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect();
            json!({"metric": metric, "value": [at, bytes.to_string()]})
        })
        .collect();
    axum::Json(json!({
        "status": "success",
        "data": {"resultType": "vector", "result": result},
    }))
    .into_response()
}
