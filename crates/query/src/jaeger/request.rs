//! Jaeger search parameters, parsed and validated as Jaeger's v1 (`/api/traces`) and
//! api_v3 (`/api/v3/traces`, `/api/v3/trace-summaries`) query parsers do.

use weft_model::{SpanFilter, TimeWindow, TraceId};

use super::params::{parse_json_string_map, parse_rfc3339_nanos, parse_trace_id};
use crate::QueryError;
use crate::duration::parse_go_duration;

/// Values used when a request leaves a parameter out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JaegerQueryDefaults {
    /// The current time, epoch nanoseconds (`end` when absent).
    pub now_unix_nanos: u64,
    /// How far before `end` a v1 search starts when `start` is absent (Jaeger: 2 days).
    pub lookback_nanos: u64,
    /// Traces returned without `limit` (Jaeger: 100); also v3's `searchDepth` default.
    pub limit: usize,
}

/// A validated Jaeger trace search (`TraceQueryParameters`).
///
/// A trace matches when one of its spans satisfies every criterion at once: its service
/// is `service_name`, its name is `operation_name` (both exact, case-sensitive), its
/// duration lies within the bounds, its start lies within the window, and every tag is
/// a tag of the span, of its process or a field of one of its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceQuery {
    /// The service (required unless `trace_ids` is given).
    pub service_name: String,
    /// The span name; `None` for any.
    pub operation_name: Option<String>,
    /// `key` = `value` pairs, compared as text, keys unique.
    pub tags: Vec<(String, String)>,
    /// Earliest span start, epoch nanoseconds, inclusive.
    pub start_min_unix_nanos: u64,
    /// Latest span start, epoch nanoseconds, inclusive.
    pub start_max_unix_nanos: u64,
    /// Shortest span duration, nanoseconds, inclusive; `None` (or Jaeger's 0) for no bound.
    pub duration_min_nanos: Option<u64>,
    /// Longest span duration, nanoseconds, inclusive; `None` (or Jaeger's 0) for no bound.
    pub duration_max_nanos: Option<u64>,
    /// Most traces to return (at least 1), newest first.
    pub limit: usize,
    /// v1 only: fetch these traces instead of searching (repeated `traceID=`); ids of
    /// zeros only are dropped, since no trace has them.
    pub trace_ids: Vec<TraceId>,
    /// `raw=true`: return spans as stored, without Jaeger's adjusters.
    pub raw: bool,
}

impl TraceQuery {
    /// Parses the query-string pairs of v1 `GET /api/traces` (already percent-decoded).
    ///
    /// Keys: `service`, `operation`, `tags` (a JSON object of strings, repeatable),
    /// `tag` (`key:value`, repeatable), `start`, `end` (epoch µs; default now minus the
    /// lookback, and now), `minDuration`, `maxDuration` (Go durations), `limit` (default
    /// 100), `traceID` (repeatable), `raw`; `lookback` and other keys are ignored (the UI
    /// has already turned its lookback into `start`). For a single-valued key the last
    /// value counts. Errors with Jaeger's messages, e.g. `unable to parse param 'start':
    /// ...`, `malformed 'tag' parameter, expecting key:value, received: x`, `cannot parse
    /// traceID param: ...`, `parameter 'service' is required`, `'maxDuration' should be
    /// greater than 'minDuration'`.
    pub fn from_v1_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        defaults: JaegerQueryDefaults,
    ) -> Result<Self, QueryError> {
        let mut service = "";
        let mut operation = "";
        let mut start = "";
        let mut end = "";
        let mut limit = "";
        let mut min_duration = "";
        let mut max_duration = "";
        let mut raw = "";
        let mut simple_tags = Vec::new();
        let mut json_tags = Vec::new();
        let mut trace_id_texts = Vec::new();
        for (key, value) in params {
            match key {
                "service" => service = value,
                "operation" => operation = value,
                "start" => start = value,
                "end" => end = value,
                "limit" => limit = value,
                "minDuration" => min_duration = value,
                "maxDuration" => max_duration = value,
                "raw" => raw = value,
                "tag" => simple_tags.push(value),
                "tags" => json_tags.push(value),
                "traceID" => trace_id_texts.push(value),
                _ => {}
            }
        }
        let end_unix_nanos = match parse_v1_micros("end", end)? {
            Some(micros) => micros.saturating_mul(1_000).saturating_add(999),
            None => defaults.now_unix_nanos,
        };
        let start_min_unix_nanos = match parse_v1_micros("start", start)? {
            Some(micros) => micros.saturating_mul(1_000),
            None => defaults
                .now_unix_nanos
                .saturating_sub(defaults.lookback_nanos),
        };
        let mut tags: Vec<(String, String)> = Vec::new();
        for tag in simple_tags {
            let Some((key, value)) = tag.split_once(':') else {
                return Err(QueryError::invalid(format!(
                    "malformed 'tag' parameter, expecting key:value, received: {tag}"
                )));
            };
            put_tag(&mut tags, key, value);
        }
        for text in json_tags {
            let pairs = parse_json_string_map(text).map_err(|reason| {
                QueryError::invalid(format!(
                    "malformed 'tags' parameter, cannot unmarshal JSON: {reason}"
                ))
            })?;
            for (key, value) in pairs {
                put_tag(&mut tags, &key, &value);
            }
        }
        let limit = match limit {
            "" => defaults.limit,
            text => match text.parse::<i32>() {
                Ok(value) if value > 0 => value as usize,
                Ok(_) => defaults.limit,
                Err(error) => {
                    return Err(QueryError::invalid(format!(
                        "unable to parse param 'limit': {error}"
                    )));
                }
            },
        };
        let duration_min_nanos = parse_duration_param("minDuration", min_duration, v1_error)?;
        let duration_max_nanos = parse_duration_param("maxDuration", max_duration, v1_error)?;
        let mut trace_ids = Vec::new();
        for text in trace_id_texts {
            let parsed = parse_trace_id(text).map_err(|reason| {
                QueryError::invalid(format!("cannot parse traceID param: {reason}"))
            })?;
            if let Some(trace_id) = parsed
                && !trace_ids.contains(&trace_id)
            {
                trace_ids.push(trace_id);
            }
        }
        let raw = parse_bool_param("raw", raw, v1_error)?;
        if trace_ids.is_empty() && service.is_empty() {
            return Err(QueryError::invalid("parameter 'service' is required"));
        }
        if let (Some(min), Some(max)) = (duration_min_nanos, duration_max_nanos)
            && max < min
        {
            return Err(QueryError::invalid(
                "'maxDuration' should be greater than 'minDuration'",
            ));
        }
        Ok(TraceQuery {
            service_name: service.to_owned(),
            operation_name: (!operation.is_empty()).then(|| operation.to_owned()),
            tags,
            start_min_unix_nanos,
            start_max_unix_nanos: end_unix_nanos,
            duration_min_nanos,
            duration_max_nanos,
            limit,
            trace_ids,
            raw,
        })
    }

    /// Parses the query-string pairs of api_v3 `GET /api/v3/traces` and
    /// `/api/v3/trace-summaries`. Each parameter is accepted in its camelCase and its older
    /// snake_case form: `query.serviceName`, `query.operationName`, `query.startTimeMin`
    /// and `query.startTimeMax` (RFC 3339, both required), `query.durationMin`,
    /// `query.durationMax` (Go durations), `query.searchDepth` (or `query.num_traces`;
    /// default 100), `query.attributes` (a JSON object of strings), `query.rawTraces`.
    ///
    /// Errors (Jaeger's texts): `query.startTimeMin and query.startTimeMax are required`,
    /// `malformed parameter <name>: <reason>` naming the parameter as sent, `parameter
    /// 'query.serviceName' is required`, `query.startTimeMax must not be before
    /// query.startTimeMin`, `'query.durationMax' should be greater than
    /// 'query.durationMin'`, `query.searchDepth must be greater than 0`.
    pub fn from_v3_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        defaults: JaegerQueryDefaults,
    ) -> Result<Self, QueryError> {
        let mut values: [(&str, &str); V3_PARAMETERS.len()] = [("", ""); V3_PARAMETERS.len()];
        for (key, value) in params {
            if let Some(slot) = V3_PARAMETERS.iter().position(|names| names.contains(&key)) {
                values[slot] = (key, value);
            }
        }
        let [
            service,
            operation,
            time_min,
            time_max,
            duration_min,
            duration_max,
            search_depth,
            attributes,
            raw,
        ] = values;
        if time_min.1.is_empty() || time_max.1.is_empty() {
            return Err(QueryError::invalid(
                "query.startTimeMin and query.startTimeMax are required",
            ));
        }
        let start_min_unix_nanos =
            parse_rfc3339_nanos(time_min.1).map_err(|reason| v3_error(time_min.0, &reason))?;
        let start_max_unix_nanos =
            parse_rfc3339_nanos(time_max.1).map_err(|reason| v3_error(time_max.0, &reason))?;
        let duration_min_nanos = parse_duration_param(duration_min.0, duration_min.1, v3_error)?;
        let duration_max_nanos = parse_duration_param(duration_max.0, duration_max.1, v3_error)?;
        let limit = match search_depth.1 {
            "" => defaults.limit,
            text => {
                let depth = text
                    .parse::<i64>()
                    .map_err(|error| v3_error(search_depth.0, &error.to_string()))?;
                if depth <= 0 {
                    return Err(QueryError::invalid(format!(
                        "{} must be greater than 0",
                        search_depth.0
                    )));
                }
                usize::try_from(depth).unwrap_or(usize::MAX)
            }
        };
        let mut tags = Vec::new();
        if !attributes.1.is_empty() {
            let pairs = parse_json_string_map(attributes.1)
                .map_err(|reason| v3_error(attributes.0, &reason))?;
            for (key, value) in pairs {
                put_tag(&mut tags, &key, &value);
            }
        }
        let raw = parse_bool_param(raw.0, raw.1, v3_error)?;
        if service.1.is_empty() {
            return Err(QueryError::invalid(
                "parameter 'query.serviceName' is required",
            ));
        }
        if start_max_unix_nanos < start_min_unix_nanos {
            return Err(QueryError::invalid(format!(
                "{} must not be before {}",
                time_max.0, time_min.0
            )));
        }
        if let (Some(min), Some(max)) = (duration_min_nanos, duration_max_nanos)
            && max < min
        {
            return Err(QueryError::invalid(format!(
                "'{}' should be greater than '{}'",
                duration_max.0, duration_min.0
            )));
        }
        Ok(TraceQuery {
            service_name: service.1.to_owned(),
            operation_name: (!operation.1.is_empty()).then(|| operation.1.to_owned()),
            tags,
            start_min_unix_nanos,
            start_max_unix_nanos,
            duration_min_nanos,
            duration_max_nanos,
            limit,
            trace_ids: Vec::new(),
            raw,
        })
    }

    /// The window of span starts this query accepts (both ends inclusive).
    pub fn window(&self) -> TimeWindow {
        TimeWindow {
            start_unix_nanos: self.start_min_unix_nanos,
            end_unix_nanos: self.start_max_unix_nanos,
        }
    }

    /// The criteria storage can check without loading traces, a superset of
    /// [`matches`](super::search::matches): service, operation and the duration bounds.
    /// Tags are not pushed down, because a tag may be a process tag or a log field, which
    /// [`SpanFilter`] does not look at.
    pub fn span_filter(&self) -> SpanFilter {
        SpanFilter {
            service_name: (!self.service_name.is_empty()).then(|| self.service_name.clone()),
            remote_service_name: None,
            span_name: self.operation_name.clone(),
            attributes: Vec::new(),
            min_duration_nanos: self.duration_min_nanos,
            max_duration_nanos: self.duration_max_nanos,
        }
    }
}

/// Accepted names of each api_v3 search parameter, in the order `from_v3_params`
/// destructures them.
const V3_PARAMETERS: [&[&str]; 9] = [
    &["query.serviceName", "query.service_name"],
    &["query.operationName", "query.operation_name"],
    &["query.startTimeMin", "query.start_time_min"],
    &["query.startTimeMax", "query.start_time_max"],
    &["query.durationMin", "query.duration_min"],
    &["query.durationMax", "query.duration_max"],
    &[
        "query.searchDepth",
        "query.search_depth",
        "query.num_traces",
        "query.numTraces",
    ],
    &["query.attributes"],
    &["query.rawTraces", "query.raw_traces"],
];

fn v1_error(name: &str, reason: &str) -> QueryError {
    QueryError::invalid(format!("unable to parse param '{name}': {reason}"))
}

fn v3_error(name: &str, reason: &str) -> QueryError {
    QueryError::invalid(format!("malformed parameter {name}: {reason}"))
}

/// A tag criterion; a repeated key keeps the last value, as Jaeger's map does.
fn put_tag(tags: &mut Vec<(String, String)>, key: &str, value: &str) {
    match tags.iter_mut().find(|(existing, _)| existing == key) {
        Some(existing) => existing.1 = value.to_owned(),
        None => tags.push((key.to_owned(), value.to_owned())),
    }
}

/// An epoch-microsecond parameter; empty means absent, negative clamps to 0.
fn parse_v1_micros(name: &str, text: &str) -> Result<Option<u64>, QueryError> {
    if text.is_empty() {
        return Ok(None);
    }
    let micros = text
        .parse::<i64>()
        .map_err(|error| v1_error(name, &error.to_string()))?;
    Ok(Some(u64::try_from(micros).unwrap_or(0)))
}

/// A Go duration parameter; empty and `0` mean no bound. Go's error texts; a negative
/// duration is refused too (`time: negative duration "<text>"`), since no Jaeger bound
/// can be negative.
fn parse_duration_param(
    name: &str,
    text: &str,
    error: fn(&str, &str) -> QueryError,
) -> Result<Option<u64>, QueryError> {
    if text.is_empty() {
        return Ok(None);
    }
    let nanos = parse_go_duration(text).map_err(|reason| error(name, &reason.to_string()))?;
    let nanos = u64::try_from(nanos)
        .map_err(|_| error(name, &format!("time: negative duration \"{text}\"")))?;
    Ok((nanos != 0).then_some(nanos))
}

/// A Go `strconv.ParseBool` parameter; empty means false.
fn parse_bool_param(
    name: &str,
    text: &str,
    error: fn(&str, &str) -> QueryError,
) -> Result<bool, QueryError> {
    match text {
        "" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(error(
            name,
            &format!("strconv.ParseBool: parsing \"{other}\": invalid syntax"),
        )),
    }
}
