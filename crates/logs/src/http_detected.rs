//! What Grafana's Logs Drilldown asks before it shows anything: `GET
//! /loki/api/v1/detected_labels` (the stream labels worth grouping by, with their
//! cardinality, from the index) and `GET /loki/api/v1/detected_fields` with `GET
//! /loki/api/v1/detected_field/{name}/values` (the fields found in the newest lines
//! of a log query: structured metadata, and the line read as JSON, else logfmt), in
//! Loki's shapes and with Loki's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_index::{Selection, selection};
use crate::http_params::{Failure, Params};
use crate::index::stream_stats;
use crate::logql::detect::{line_fields, value_type};
use crate::query::{Bounds, Direction, StreamResult, run_log_query};

const HOUR_NANOS: i64 = 3_600_000_000_000;
/// Loki's defaults: lines read (`line_limit`) and fields answered (`limit`).
const DEFAULT_LINE_LIMIT: usize = 100;
const DEFAULT_FIELD_LIMIT: usize = 1000;
/// Labels Loki keeps even when every value looks like an id.
const STATIC_LABELS: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

/// True when a label's values are all ids (numbers or UUIDs), which Loki leaves out of
/// detected labels; one or two values of only `0`/`1` are a boolean and kept.
fn only_ids(values: &BTreeSet<&str>) -> bool {
    if values.is_empty() {
        return true;
    }
    if values.len() <= 2 && values.iter().all(|value| matches!(*value, "0" | "1")) {
        return false;
    }
    values
        .iter()
        .all(|value| crate::logql::pipeline::go_parse_float(value).is_ok() || is_uuid(value))
}

/// Go's `uuid.Parse` forms: 36 characters with dashes, optionally `urn:uuid:` or
/// braces around, or 32 hex digits.
fn is_uuid(text: &str) -> bool {
    let inner = text
        .strip_prefix("urn:uuid:")
        .or_else(|| {
            text.strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
        })
        .unwrap_or(text);
    match inner.len() {
        32 => inner.bytes().all(|byte| byte.is_ascii_hexdigit()),
        36 => inner.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

/// `GET /loki/api/v1/detected_labels?query={...}&start=&end=`:
/// `{"detectedLabels":[{"label":"app","cardinality":3}]}`, by label name.
pub(crate) async fn detected_labels(
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
    let streams = stream_stats(&store, &tenant, &matchers, start, end);
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for labels in streams.keys() {
        for (name, value) in labels.pairs() {
            values.entry(name).or_default().insert(value);
        }
    }
    let detected: Vec<Value> = values
        .iter()
        .filter(|(name, values)| STATIC_LABELS.contains(name) || !only_ids(values))
        .map(|(name, values)| json!({"label": name, "cardinality": values.len()}))
        .collect();
    axum::Json(json!({ "detectedLabels": detected })).into_response()
}

/// One detected field while lines are read.
#[derive(Default)]
struct Field {
    values: BTreeSet<String>,
    kind: &'static str,
    parsers: Vec<&'static str>,
    json_path: Option<Vec<String>>,
}

/// The fields of `results`, at most `limit` of them (the first found), as Loki's
/// frontend collects them: structured metadata (no parser), then the line's fields.
/// A field's type is that of the last value it was given.
fn collect_fields(results: &[StreamResult], limit: usize) -> BTreeMap<String, Field> {
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    let admit = |fields: &BTreeMap<String, Field>, name: &str| -> bool {
        fields.contains_key(name) || fields.len() < limit
    };
    for stream in results {
        for entry in &stream.entries {
            for (name, value) in &entry.structured_metadata {
                if !admit(&fields, name) {
                    continue;
                }
                let field = fields.entry(name.clone()).or_default();
                field.kind = value_type(value);
                field.values.insert(value.clone());
            }
            let Some(found) = line_fields(&stream.labels, &entry.line) else {
                continue;
            };
            for (name, value, path) in found.fields {
                if !admit(&fields, &name) {
                    continue;
                }
                let field = fields.entry(name).or_default();
                if !field.parsers.contains(&found.parser) {
                    field.parsers.push(found.parser);
                }
                if path.is_some() {
                    field.json_path = path;
                }
                field.kind = value_type(&value);
                field.values.insert(value);
            }
        }
    }
    fields
}

/// The request of both detected-fields endpoints, checked, and the lines it reads,
/// with the field limit.
async fn read_lines(
    store: &LogStore,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<(Vec<StreamResult>, usize), Failure> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let tenant = tenant_of(store, headers)?;
    let params = Params::parse(raw);
    let query = params.log_query("detected fields")?;
    let (start, end) = params.range(HOUR_NANOS)?;
    let positive = |key: &str, default: usize| match params.get(key) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(value) if value > 0 => Ok(value),
            _ => Err(bad(format!(
                "{key} must be a positive integer, got {text:?}"
            ))),
        },
    };
    let line_limit = positive("line_limit", DEFAULT_LINE_LIMIT)?;
    let maximum = store.config.max_entries_limit_per_query;
    if line_limit > maximum {
        return Err(bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({line_limit} > {maximum})"
        )));
    }
    let limit_key = if params.get("limit").is_some() {
        "limit"
    } else {
        "field_limit"
    };
    let field_limit = positive(limit_key, DEFAULT_FIELD_LIMIT)?;
    let bounds = Bounds {
        start_unix_nanos: start,
        end_unix_nanos: end,
        limit: line_limit,
        direction: Direction::Backward,
    };
    let (results, _) = run_log_query(store, &tenant, &query, bounds)
        .await
        .map_err(|error| crate::http_query::query_failure(&error))?;
    Ok((results, field_limit))
}

/// `GET /loki/api/v1/detected_fields?query=&start=&end=&line_limit=100&limit=1000`:
/// `{"fields":[{"label","type","cardinality","parsers","jsonPath"}],"limit":N}`.
pub(crate) async fn detected_fields(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (results, limit) = match read_lines(&store, &headers, raw.as_deref()).await {
        Ok(read) => read,
        Err((status, message)) => return error_response(status, message),
    };
    let fields: Vec<Value> = collect_fields(&results, limit)
        .into_iter()
        .map(|(name, field)| {
            let mut answer = json!({
                "label": name,
                "type": field.kind,
                "cardinality": field.values.len(),
                "parsers": if field.parsers.is_empty() { Value::Null } else { json!(field.parsers) },
            });
            if let Some(path) = field.json_path {
                answer["jsonPath"] = json!(path);
            }
            answer
        })
        .collect();
    // Loki leaves `limit` out of an empty answer.
    let body = if fields.is_empty() {
        json!({ "fields": fields })
    } else {
        json!({ "fields": fields, "limit": limit })
    };
    axum::Json(body).into_response()
}

/// `GET /loki/api/v1/detected_field/{name}/values?query=&start=&end=&line_limit=&limit=`:
/// `{"values":[...],"limit":N}`, the distinct values of one field, sorted.
pub(crate) async fn detected_field_values(
    State(store): State<Arc<LogStore>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (results, limit) = match read_lines(&store, &headers, raw.as_deref()).await {
        Ok(read) => read,
        Err((status, message)) => return error_response(status, message),
    };
    let mut values: BTreeSet<String> = BTreeSet::new();
    'streams: for stream in &results {
        for entry in &stream.entries {
            if values.len() >= limit {
                break 'streams;
            }
            for (field, value) in &entry.structured_metadata {
                if *field == name {
                    values.insert(value.clone());
                }
            }
            if let Some(found) = line_fields(&stream.labels, &entry.line) {
                for (field, value, _) in found.fields {
                    if field == name {
                        values.insert(value);
                    }
                }
            }
        }
    }
    let body = if values.is_empty() {
        json!({ "values": values })
    } else {
        json!({ "values": values, "limit": limit })
    };
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, LabelSet};

    #[test]
    fn ids_and_uuids_are_left_out_booleans_kept() {
        let set = |values: &[&'static str]| values.iter().copied().collect::<BTreeSet<&str>>();
        assert!(only_ids(&set(&["1", "2", "3"])));
        assert!(only_ids(&set(&[
            "6f1c2a8e-3b9d-4c1e-9f2a-1b2c3d4e5f60",
            "{6f1c2a8e-3b9d-4c1e-9f2a-1b2c3d4e5f61}",
            "6f1c2a8e3b9d4c1e9f2a1b2c3d4e5f62",
        ])));
        assert!(!only_ids(&set(&["0", "1"])), "a boolean");
        assert!(!only_ids(&set(&["1", "2", "api"])));
        assert!(only_ids(&set(&[])));
    }

    #[test]
    fn fields_come_from_metadata_and_lines_up_to_the_limit() {
        let entry = |line: &str, metadata: &[(&str, &str)]| Entry {
            timestamp_unix_nanos: 1,
            line: line.to_owned(),
            structured_metadata: metadata
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        let results = vec![StreamResult {
            labels: LabelSet::parse(r#"{app="api"}"#).expect("labels"),
            entries: vec![
                entry(
                    r#"{"status":200,"user":{"id":"u1"}}"#,
                    &[("trace_id", "abc")],
                ),
                entry(
                    r#"{"status":500,"user":{"id":"u1"}}"#,
                    &[("trace_id", "abd")],
                ),
                entry("took=1.5s status=404", &[]),
            ],
        }];
        let fields = collect_fields(&results, 10);
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["status", "took", "trace_id", "user_id"]
        );
        assert_eq!(fields["status"].values.len(), 3);
        assert_eq!(fields["status"].parsers, ["json", "logfmt"]);
        assert_eq!(fields["status"].kind, "int");
        assert_eq!(fields["took"].kind, "duration");
        assert!(fields["trace_id"].parsers.is_empty());
        assert_eq!(
            fields["user_id"].json_path,
            Some(vec![String::from("user"), String::from("id")])
        );
        assert_eq!(fields["user_id"].values.len(), 1);
        let limited = collect_fields(&results, 2);
        assert_eq!(limited.len(), 2, "the first two found");
        assert!(limited.contains_key("trace_id") && limited.contains_key("status"));
    }
}
