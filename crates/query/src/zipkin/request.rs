//! `GET /api/v2/traces` parameters, parsed and validated as Zipkin's `QueryRequest` does.

use weft_model::{MAX_FILTER_CRITERIA, SpanFilter, TimeWindow};

use crate::QueryError;

/// Values used when a request leaves a parameter out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipkinQueryDefaults {
    /// `endTs` when absent: the current time in epoch milliseconds.
    pub now_millis: i64,
    /// `lookback` when absent, in milliseconds (Zipkin's `QUERY_LOOKBACK`, one day).
    pub lookback_millis: i64,
    /// `limit` when absent (Zipkin: 10).
    pub limit: i64,
}

/// A validated Zipkin trace search.
///
/// Names are lower-cased (Zipkin lower-cases service and span names); an empty name, and
/// `spanName=all`, mean "no filter". Times follow Zipkin's units: `endTs` and `lookback`
/// in milliseconds, durations in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipkinQuery {
    /// Only traces with a span whose local service is this (lower case).
    pub service_name: Option<String>,
    /// Only traces with a span (of `service_name`, when set) calling this remote service.
    pub remote_service_name: Option<String>,
    /// Only traces with a span (of `service_name`, when set) with this name.
    pub span_name: Option<String>,
    /// `annotationQuery` terms in request order, keys unique (a later term with the same
    /// key replaces the earlier one, as in Zipkin's map). An empty value means a bare key:
    /// it matches an annotation (event name) or a tag key; otherwise the tag must equal it.
    pub annotation_query: Vec<(String, String)>,
    /// Inclusive lower bound on a span's duration, in microseconds (> 0).
    pub min_duration_micros: Option<u64>,
    /// Inclusive upper bound on a span's duration, in microseconds; only with a minimum.
    pub max_duration_micros: Option<u64>,
    /// End of the window, epoch milliseconds (> 0), inclusive.
    pub end_ts_millis: i64,
    /// Length of the window before `end_ts_millis`, milliseconds (> 0).
    pub lookback_millis: i64,
    /// Most traces to return (> 0).
    pub limit: usize,
}

impl ZipkinQuery {
    /// Parses query-string pairs (already percent-decoded) of `GET /api/v2/traces`.
    ///
    /// Recognised keys: `serviceName`, `remoteServiceName`, `spanName`, `annotationQuery`,
    /// `minDuration`, `maxDuration`, `endTs`, `lookback`, `limit`; others are ignored, and
    /// a repeated key keeps its last value. Errors with Zipkin's messages, checked in its
    /// order: `endTs <= 0`, `limit <= 0`, `lookback <= 0`, `minDuration <= 0`,
    /// `maxDuration < minDuration`, `maxDuration is only valid with minDuration`; a value
    /// that is not an integer gives `invalid value for <name>: <value>`.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        defaults: ZipkinQueryDefaults,
    ) -> Result<Self, QueryError> {
        let mut service_name = None;
        let mut remote_service_name = None;
        let mut span_name = None;
        let mut annotation_query_text = None;
        let mut min_duration = None;
        let mut max_duration = None;
        let mut end_ts = None;
        let mut lookback = None;
        let mut limit = None;
        for (key, value) in params {
            match key {
                "serviceName" => service_name = Some(value),
                "remoteServiceName" => remote_service_name = Some(value),
                "spanName" => span_name = Some(value),
                "annotationQuery" => annotation_query_text = Some(value),
                "minDuration" => min_duration = parse_optional_integer(key, value)?,
                "maxDuration" => max_duration = parse_optional_integer(key, value)?,
                "endTs" => end_ts = parse_optional_integer(key, value)?,
                "lookback" => lookback = parse_optional_integer(key, value)?,
                "limit" => limit = parse_optional_integer(key, value)?,
                _ => {}
            }
        }
        let end_ts_millis = end_ts.unwrap_or(defaults.now_millis);
        let limit = limit.unwrap_or(defaults.limit);
        let lookback_millis = lookback.unwrap_or(defaults.lookback_millis);
        if end_ts_millis <= 0 {
            return Err(QueryError::invalid("endTs <= 0"));
        }
        if limit <= 0 {
            return Err(QueryError::invalid("limit <= 0"));
        }
        if lookback_millis <= 0 {
            return Err(QueryError::invalid("lookback <= 0"));
        }
        match (min_duration, max_duration) {
            (Some(min), _) if min <= 0 => return Err(QueryError::invalid("minDuration <= 0")),
            (Some(min), Some(max)) if max < min => {
                return Err(QueryError::invalid("maxDuration < minDuration"));
            }
            (None, Some(_)) => {
                return Err(QueryError::invalid(
                    "maxDuration is only valid with minDuration",
                ));
            }
            _ => {}
        }
        Ok(ZipkinQuery {
            service_name: name_filter(service_name, false),
            remote_service_name: name_filter(remote_service_name, false),
            span_name: name_filter(span_name, true),
            annotation_query: parse_annotation_query(annotation_query_text.unwrap_or("")),
            // Both are positive here, so the casts cannot wrap.
            min_duration_micros: min_duration.map(|value| value as u64),
            max_duration_micros: max_duration.map(|value| value.max(0) as u64),
            end_ts_millis,
            lookback_millis,
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        })
    }

    /// The window of trace timestamps this query accepts, in nanoseconds, both ends
    /// inclusive. Zipkin compares the trace timestamp in microseconds with
    /// `[(endTs - lookback) * 1000, endTs * 1000]`, so the nanosecond window ends 999 ns
    /// after `endTs` (those nanoseconds truncate to the same microsecond).
    pub fn window(&self) -> TimeWindow {
        zipkin_window(self.end_ts_millis, self.lookback_millis)
    }

    /// The criteria storage can check without loading traces: a superset of what
    /// [`matches`](super::matcher::matches) accepts (the caller still verifies each
    /// candidate). Annotation terms on tags that the Zipkin encoder derives (`error`,
    /// `otel.status_code`, `otel.scope.*`, `otel.library.*`) are not pushed down, since
    /// they are not stored as attributes; neither are terms past the mask's capacity.
    /// Durations map to nanoseconds the way [`duration_micros`] rounds them.
    ///
    /// [`duration_micros`]: super::matcher::duration_micros
    pub fn span_filter(&self) -> SpanFilter {
        const DERIVED_TAGS: [&str; 6] = [
            "error",
            "otel.status_code",
            "otel.scope.name",
            "otel.scope.version",
            "otel.library.name",
            "otel.library.version",
        ];
        let mut filter = SpanFilter {
            service_name: self.service_name.clone(),
            remote_service_name: self.remote_service_name.clone(),
            span_name: self.span_name.clone(),
            attributes: Vec::new(),
            // Zipkin shows a non-zero duration under 1 µs as 1 µs.
            min_duration_nanos: self.min_duration_micros.map(|min| match min {
                0 | 1 => 1,
                min => min.saturating_mul(1_000),
            }),
            max_duration_nanos: self
                .max_duration_micros
                .map(|max| max.saturating_mul(1_000).saturating_add(999)),
        };
        for (key, value) in &self.annotation_query {
            if DERIVED_TAGS.contains(&key.as_str())
                || filter.criteria_count() + 1 >= MAX_FILTER_CRITERIA
            {
                continue;
            }
            let value = (!value.is_empty()).then(|| value.clone());
            filter.attributes.push((key.clone(), value));
        }
        filter
    }

    /// True when nothing but the service and the window constrains the search, so every
    /// trace the store returns for the window matches.
    pub fn has_only_service_filter(&self) -> bool {
        self.remote_service_name.is_none()
            && self.span_name.is_none()
            && self.annotation_query.is_empty()
            && self.min_duration_micros.is_none()
            && self.max_duration_micros.is_none()
    }
}

/// The nanosecond window of trace timestamps Zipkin accepts for `endTs` and `lookback` in
/// milliseconds (see [`ZipkinQuery::window`]). A start before the epoch is clamped to 0;
/// huge values saturate instead of overflowing.
pub fn zipkin_window(end_ts_millis: i64, lookback_millis: i64) -> TimeWindow {
    let end_millis = u64::try_from(end_ts_millis).unwrap_or(0);
    let start_millis = u64::try_from(end_ts_millis.saturating_sub(lookback_millis)).unwrap_or(0);
    TimeWindow {
        start_unix_nanos: start_millis.saturating_mul(1_000_000),
        end_unix_nanos: end_millis.saturating_mul(1_000_000).saturating_add(999),
    }
}

/// Parses an optional integer parameter; an empty value counts as absent.
///
/// Errors with `invalid value for <name>: <value>` when it is not a base-10 `i64`.
pub fn parse_optional_integer(name: &str, value: &str) -> Result<Option<i64>, QueryError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    trimmed
        .parse::<i64>()
        .map(Some)
        .map_err(|_| QueryError::invalid(format!("invalid value for {name}: {value}")))
}

fn name_filter(value: Option<&str>, all_means_unset: bool) -> Option<String> {
    let lowered = value?.to_lowercase();
    if lowered.is_empty() || (all_means_unset && lowered == "all") {
        return None;
    }
    Some(lowered)
}

/// Splits `annotationQuery` on `" and "`. A term with `=` is `key=value` (split at the
/// first `=`); a term without is a bare key (trimmed). Empty keys are dropped; a repeated
/// key keeps the last value, in the position of its first occurrence.
fn parse_annotation_query(text: &str) -> Vec<(String, String)> {
    let mut terms: Vec<(String, String)> = Vec::new();
    for term in text.split(" and ") {
        let (key, value) = match term.split_once('=') {
            Some((key, value)) => (key, value),
            None => (term.trim(), ""),
        };
        if key.is_empty() {
            continue;
        }
        match terms.iter_mut().find(|(existing, _)| existing == key) {
            Some(existing) => existing.1 = value.to_owned(),
            None => terms.push((key.to_owned(), value.to_owned())),
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: ZipkinQueryDefaults = ZipkinQueryDefaults {
        now_millis: 1_000_000,
        lookback_millis: 86_400_000,
        limit: 10,
    };

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<ZipkinQuery, QueryError> {
        ZipkinQuery::from_params(pairs.iter().copied(), DEFAULTS)
    }

    fn error(pairs: &[(&'static str, &'static str)]) -> String {
        match parse(pairs) {
            Err(error) => error.to_string(),
            Ok(query) => panic!("expected an error, got {query:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_parameters_are_absent() {
        let query = parse(&[]).expect("valid");
        assert_eq!(query.end_ts_millis, 1_000_000);
        assert_eq!(query.lookback_millis, 86_400_000);
        assert_eq!(query.limit, 10);
        assert!(query.has_only_service_filter());
    }

    #[test]
    fn validation_messages_are_zipkins() {
        assert_eq!(error(&[("endTs", "0")]), "endTs <= 0");
        assert_eq!(error(&[("limit", "0")]), "limit <= 0");
        assert_eq!(error(&[("lookback", "-1")]), "lookback <= 0");
        assert_eq!(error(&[("minDuration", "0")]), "minDuration <= 0");
        assert_eq!(
            error(&[("minDuration", "5"), ("maxDuration", "4")]),
            "maxDuration < minDuration"
        );
        assert_eq!(
            error(&[("maxDuration", "4")]),
            "maxDuration is only valid with minDuration"
        );
        assert_eq!(error(&[("limit", "ten")]), "invalid value for limit: ten");
        // Zipkin checks endTs before limit.
        assert_eq!(error(&[("limit", "0"), ("endTs", "-5")]), "endTs <= 0");
    }

    #[test]
    fn names_are_lowercased_and_empty_or_all_means_unset() {
        let query = parse(&[
            ("serviceName", "FrontEnd"),
            ("remoteServiceName", "BackEnd"),
            ("spanName", "GET"),
        ])
        .expect("valid");
        assert_eq!(query.service_name.as_deref(), Some("frontend"));
        assert_eq!(query.remote_service_name.as_deref(), Some("backend"));
        assert_eq!(query.span_name.as_deref(), Some("get"));
        let unset = parse(&[("serviceName", ""), ("spanName", "all")]).expect("valid");
        assert_eq!(unset.service_name, None);
        assert_eq!(unset.span_name, None);
        let all_service = parse(&[("serviceName", "all")]).expect("valid");
        assert_eq!(all_service.service_name.as_deref(), Some("all"));
    }

    #[test]
    fn annotation_query_splits_on_and() {
        let query = parse(&[(
            "annotationQuery",
            "foo and bar and baz=qux and http.path=/a=b",
        )])
        .expect("valid");
        assert_eq!(
            query.annotation_query,
            [
                ("foo".to_owned(), String::new()),
                ("bar".to_owned(), String::new()),
                ("baz".to_owned(), "qux".to_owned()),
                ("http.path".to_owned(), "/a=b".to_owned()),
            ]
        );
        let empty = parse(&[("annotationQuery", "")]).expect("valid");
        assert!(empty.annotation_query.is_empty());
    }

    #[test]
    fn window_is_inclusive_at_microsecond_grain() {
        let window = zipkin_window(5, 2);
        assert_eq!(window.start_unix_nanos, 3_000_000);
        // 5 ms = 5000 µs; a timestamp of 5000.999 µs truncates to 5000 µs and matches.
        assert_eq!(window.end_unix_nanos, 5_000_999);
        // A lookback reaching before the epoch clamps to 0.
        assert_eq!(zipkin_window(5, 100).start_unix_nanos, 0);
        assert_eq!(zipkin_window(i64::MAX, 1).end_unix_nanos, u64::MAX);
    }
}
