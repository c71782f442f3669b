//! `GET /loki/api/v1/patterns?query=&start=&end=&step=`: the patterns of the newest
//! lines a log query selects ([`crate::patterns`]), per detected level, with their
//! counts per step, in Loki's shape:
//! `{"status":"success","data":[{"pattern","level","samples":[[unix_s, count]]}]}`.
//!
//! Loki keeps patterns in a dedicated ingester from everything pushed; weft clusters at
//! query time the newest [`PATTERN_LINES`] lines of the range, so the counts cover
//! those lines (the whole range when it holds fewer).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_params::{Failure, Params};
use crate::patterns::Drain;
use crate::query::{Bounds, Direction, StreamResult, run_log_query};
use crate::{Entry, LabelSet};

const HOUR_NANOS: i64 = 3_600_000_000_000;
/// Lines clustered per request, the newest of the range.
pub const PATTERN_LINES: usize = 50_000;
/// Patterns answered per level, the most frequent.
const MAX_PATTERNS_PER_LEVEL: usize = 300;

/// The level a line counts under: `detected_level` or `level` of its structured
/// metadata, then of its stream, else `unknown`.
fn level_of(labels: &LabelSet, entry: &Entry) -> String {
    let from_metadata = |name: &str| {
        entry
            .structured_metadata
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    from_metadata("detected_level")
        .or_else(|| from_metadata("level"))
        .or_else(|| labels.get("detected_level"))
        .or_else(|| labels.get("level"))
        .filter(|level| !level.is_empty())
        .unwrap_or("unknown")
        .to_ascii_lowercase()
}

/// Line counts by step start, Unix seconds.
type Samples = BTreeMap<i64, u64>;

/// Patterns of `results` per level: (pattern, level, samples), most lines first.
fn patterns_of(results: &[StreamResult], step_nanos: i64) -> Vec<(String, String, Samples)> {
    let mut per_level: HashMap<String, (Drain, HashMap<usize, Samples>)> = HashMap::new();
    for stream in results {
        for entry in &stream.entries {
            let level = level_of(&stream.labels, entry);
            let (drain, samples) = per_level.entry(level).or_default();
            let Some(cluster) = drain.train(&entry.line) else {
                continue;
            };
            let bucket = entry.timestamp_unix_nanos.div_euclid(step_nanos) * step_nanos;
            *samples
                .entry(cluster)
                .or_default()
                .entry(bucket / 1_000_000_000)
                .or_default() += 1;
        }
    }
    let mut series = Vec::new();
    for (level, (drain, mut samples)) in per_level {
        let mut clusters: Vec<(usize, u64)> = drain
            .clusters()
            .iter()
            .enumerate()
            .map(|(index, cluster)| (index, cluster.count))
            .collect();
        clusters.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
        clusters.truncate(MAX_PATTERNS_PER_LEVEL);
        for (index, _) in clusters {
            series.push((
                drain.clusters()[index].pattern(),
                level.clone(),
                samples.remove(&index).unwrap_or_default(),
            ));
        }
    }
    let total = |samples: &Samples| samples.values().sum::<u64>();
    series.sort_by(|left, right| {
        total(&right.2)
            .cmp(&total(&left.2))
            .then_with(|| (&left.1, &left.0).cmp(&(&right.1, &right.0)))
    });
    series
}

async fn answer(
    store: &LogStore,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Value, Failure> {
    let tenant = tenant_of(store, headers)?;
    let params = Params::parse(raw);
    let query = params.log_query("patterns")?;
    let (start, end) = params.range(HOUR_NANOS)?;
    let step = params.step(start, end)?;
    let bounds = Bounds {
        start_unix_nanos: start,
        end_unix_nanos: end,
        limit: PATTERN_LINES,
        direction: Direction::Backward,
    };
    let (results, _) = run_log_query(store, &tenant, &query, bounds)
        .await
        .map_err(|error| crate::http_query::query_failure(&error))?;
    let data: Vec<Value> = patterns_of(&results, step)
        .into_iter()
        .map(|(pattern, level, samples)| {
            let samples: Vec<Value> = samples
                .into_iter()
                .map(|(at, count)| json!([at, count]))
                .collect();
            json!({"pattern": pattern, "level": level, "samples": samples})
        })
        .collect();
    Ok(json!({"status": "success", "data": data}))
}

/// The handler.
pub(crate) async fn patterns(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    match answer(&store, &headers, raw.as_deref()).await {
        Ok(body) => axum::Json(body).into_response(),
        Err((status, message)) => error_response(status, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_counted_per_level_and_step() {
        let entry = |seconds: i64, line: &str, level: &str| Entry {
            timestamp_unix_nanos: seconds * 1_000_000_000,
            line: line.to_owned(),
            structured_metadata: if level.is_empty() {
                Vec::new()
            } else {
                vec![(String::from("detected_level"), level.to_owned())]
            },
        };
        let results = vec![StreamResult {
            labels: LabelSet::parse(r#"{app="api", level="WARN"}"#).expect("labels"),
            entries: vec![
                entry(100, "request 1 took 5ms", "info"),
                entry(130, "request 2 took 7ms", "info"),
                entry(190, "request 3 took 9ms", "info"),
                entry(200, "cache miss for key 12", ""),
            ],
        }];
        let series = patterns_of(&results, 60 * 1_000_000_000);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].0, "request <_> took <_>");
        assert_eq!(series[0].1, "info");
        assert_eq!(series[0].2, BTreeMap::from([(60, 1), (120, 1), (180, 1)]));
        assert_eq!(series[1].0, "cache miss for key 12");
        assert_eq!(series[1].1, "warn", "the stream's level, lower-cased");
    }
}
