//! Zipkin's view of a model span, and `QueryRequest.test()`: does a trace match a search.

use std::borrow::Cow;

use weft_model::{AttributeValue, Span, SpanKind, StatusCode};

use super::request::ZipkinQuery;

/// The span's start as a Zipkin timestamp: epoch microseconds, 0 when unknown.
pub fn timestamp_micros(span: &Span) -> u64 {
    span.start_unix_nanos / 1_000
}

/// The span's duration as Zipkin reports it: microseconds, 0 when unknown, and at least 1
/// for a non-zero duration (Zipkin rounds durations under a microsecond up).
pub fn duration_micros(span: &Span) -> u64 {
    match span.duration_nanos {
        0 => 0,
        nanos => (nanos / 1_000).max(1),
    }
}

/// Zipkin's `kind`: `None` for spans that Zipkin shows without a kind (internal and
/// unspecified ones).
pub fn zipkin_kind(span: &Span) -> Option<SpanKind> {
    match span.kind {
        SpanKind::Unspecified | SpanKind::Internal => None,
        kind => Some(kind),
    }
}

/// The value of the Zipkin tag `key` as the Zipkin encoder writes it: the span attribute
/// in its string form; else, for the tags the encoder derives, `error` from an error status
/// (its message), `otel.status_code` (`OK`/`ERROR`) from a set status, and
/// `otel.scope.name`/`otel.library.name`/`otel.scope.version`/`otel.library.version` from
/// the instrumentation scope. An `error` attribute that is `false` is no tag. `None` when
/// the span has no such tag.
pub fn tag<'a>(span: &'a Span, key: &str) -> Option<Cow<'a, str>> {
    match span.attribute(key) {
        Some(AttributeValue::Bool(false)) if key == "error" => {}
        Some(value) => {
            return Some(match value.as_str() {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Owned(value.to_text()),
            });
        }
        None => {}
    }
    let derived = match key {
        "error" if span.status.code == StatusCode::Error => span.status.message.as_str(),
        "otel.status_code" => match span.status.code {
            StatusCode::Ok => "OK",
            StatusCode::Error => "ERROR",
            StatusCode::Unset => return None,
        },
        "otel.scope.name" | "otel.library.name" => span.scope.name.as_str(),
        "otel.scope.version" | "otel.library.version" => span.scope.version.as_str(),
        _ => return None,
    };
    if derived.is_empty() && key != "error" {
        return None;
    }
    Some(Cow::Borrowed(derived))
}

/// True when Zipkin would show the span with an `error` tag: an `error` attribute (any
/// value but `false`, even empty) or an error status. An annotation (event) named `error`
/// does not count, as in Zipkin.
pub fn has_error_tag(span: &Span) -> bool {
    match span.attribute("error") {
        Some(AttributeValue::Bool(false)) | None => span.status.code == StatusCode::Error,
        Some(_) => true,
    }
}

/// True when `text` lower-cased equals `lowercase` (which must already be lower case),
/// without allocating.
pub fn equals_lowercase(text: &str, lowercase: &str) -> bool {
    text.chars()
        .flat_map(char::to_lowercase)
        .eq(lowercase.chars())
}

/// The trace's timestamp as Zipkin defines it, in epoch microseconds: the first root span
/// (no parent) that has a timestamp, else the earliest span timestamp; `None` when no span
/// has a timestamp (such a trace never matches a search).
pub fn trace_timestamp_micros(spans: &[Span]) -> Option<u64> {
    let mut earliest: Option<u64> = None;
    for span in spans {
        let timestamp = timestamp_micros(span);
        if timestamp == 0 {
            continue;
        }
        if span.parent_span_id.is_none() {
            return Some(timestamp);
        }
        earliest = Some(earliest.map_or(timestamp, |current| current.min(timestamp)));
    }
    earliest
}

/// Zipkin's `QueryRequest.test()`: true when the trace (all its stored spans) matches.
///
/// - The trace timestamp ([`trace_timestamp_micros`]) must lie in
///   `[(endTs - lookback) * 1000, endTs * 1000]` microseconds.
/// - When `service_name` is set, a span of that local service must exist, and every other
///   criterion is evaluated only on spans of that service.
/// - Each criterion (remote service, span name, each annotation-query term, duration) must
///   be met by some such span; they need not all be met by the same span, as in Zipkin.
/// - Duration is per span: `duration >= min`, and `<= max` when a maximum is given.
/// - Names compare case-insensitively; tag values compare exactly.
pub fn matches(query: &ZipkinQuery, spans: &[Span]) -> bool {
    let Some(timestamp) = trace_timestamp_micros(spans) else {
        return false;
    };
    let timestamp = i128::from(timestamp);
    let end_micros = i128::from(query.end_ts_millis) * 1_000;
    let start_micros =
        (i128::from(query.end_ts_millis) - i128::from(query.lookback_millis)) * 1_000;
    if timestamp < start_micros || timestamp > end_micros {
        return false;
    }

    let mut service_found = query.service_name.is_none();
    let mut remote_found = query.remote_service_name.is_none();
    let mut span_name_found = query.span_name.is_none();
    let mut duration_found =
        query.min_duration_micros.is_none() && query.max_duration_micros.is_none();
    let mut terms_found = vec![false; query.annotation_query.len()];
    let mut terms_remaining = terms_found.len();

    for span in spans {
        if let Some(service) = &query.service_name {
            match span.service_name() {
                Some(local) if equals_lowercase(local, service) => service_found = true,
                _ => continue,
            }
        }
        if !remote_found
            && let (Some(wanted), Some(remote)) =
                (&query.remote_service_name, span.remote_service_name())
        {
            remote_found = equals_lowercase(remote, wanted);
        }
        if !span_name_found && let Some(wanted) = &query.span_name {
            span_name_found = equals_lowercase(&span.name, wanted);
        }
        if !duration_found && let Some(min) = query.min_duration_micros {
            let duration = duration_micros(span);
            duration_found =
                duration >= min && query.max_duration_micros.is_none_or(|max| duration <= max);
        }
        if terms_remaining > 0 {
            for ((key, value), found) in query.annotation_query.iter().zip(terms_found.iter_mut()) {
                if *found {
                    continue;
                }
                let annotation_match =
                    value.is_empty() && span.events.iter().any(|event| event.name == *key);
                let tag_match = tag(span, key)
                    .is_some_and(|tag_value| value.is_empty() || tag_value == value.as_str());
                if annotation_match || tag_match {
                    *found = true;
                    terms_remaining -= 1;
                }
            }
        }
    }
    service_found && remote_found && span_name_found && duration_found && terms_remaining == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin::request::ZipkinQueryDefaults;
    use std::sync::Arc;
    use weft_model::{Event, KeyValue, Resource, SpanId, TraceId};

    const T_MILLIS: i64 = 1_700_000_000_000;

    fn span(service: &str, id: u64, parent: Option<u64>, name: &str) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(id), name);
        span.parent_span_id = parent.map(SpanId::from_u64);
        span.resource = Arc::new(Resource::for_service(service));
        span.start_unix_nanos = T_MILLIS as u64 * 1_000_000;
        span.duration_nanos = 100_000_000;
        span
    }

    fn query(pairs: &[(&str, &str)]) -> ZipkinQuery {
        let defaults = ZipkinQueryDefaults {
            now_millis: T_MILLIS + 1,
            lookback_millis: 60_000,
            limit: 10,
        };
        ZipkinQuery::from_params(pairs.iter().copied(), defaults).expect("valid query")
    }

    fn frontend_backend() -> Vec<Span> {
        let mut frontend = span("frontend", 1, None, "get /");
        frontend.kind = SpanKind::Server;
        frontend.events.push(Event {
            time_unix_nanos: frontend.start_unix_nanos,
            name: "web".to_owned(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
        frontend.attributes.push(KeyValue::new("http.path", "/"));
        let mut client = span("frontend", 2, Some(1), "get /api");
        client.kind = SpanKind::Client;
        client
            .attributes
            .push(KeyValue::new("peer.service", "Backend"));
        client.duration_nanos = 50_000_000;
        let mut backend = span("backend", 2, Some(1), "get /api");
        backend.kind = SpanKind::Server;
        backend.shared = true;
        backend.attributes.push(KeyValue::new("baz", "qux"));
        backend.duration_nanos = 40_000_000;
        vec![frontend, client, backend]
    }

    #[test]
    fn window_bounds_are_inclusive_in_milliseconds() {
        let trace = vec![span("a", 1, None, "x")];
        let at = |end: i64, lookback: i64| {
            let mut q = query(&[]);
            q.end_ts_millis = end;
            q.lookback_millis = lookback;
            matches(&q, &trace)
        };
        assert!(at(T_MILLIS, 1));
        assert!(at(T_MILLIS + 1, 1));
        assert!(!at(T_MILLIS - 1, 1));
        assert!(!at(T_MILLIS + 2, 1));
    }

    #[test]
    fn trace_timestamp_prefers_the_root_else_the_earliest() {
        let mut late_root = span("a", 1, None, "root");
        late_root.start_unix_nanos += 5_000_000;
        let child = span("a", 2, Some(1), "child");
        let expected_root = late_root.start_unix_nanos / 1_000;
        assert_eq!(
            trace_timestamp_micros(&[child.clone(), late_root]),
            Some(expected_root)
        );
        let mut later_child = child.clone();
        later_child.start_unix_nanos += 7_000;
        assert_eq!(
            trace_timestamp_micros(&[later_child, child.clone()]),
            Some(child.start_unix_nanos / 1_000)
        );
        let mut untimed = child;
        untimed.start_unix_nanos = 0;
        assert_eq!(trace_timestamp_micros(&[untimed.clone()]), None);
        assert!(!matches(&query(&[]), &[untimed]));
    }

    #[test]
    fn service_remote_and_span_name_filters_are_case_insensitive() {
        let trace = frontend_backend();
        assert!(matches(&query(&[("serviceName", "FRONTEND")]), &trace));
        assert!(!matches(&query(&[("serviceName", "db")]), &trace));
        assert!(matches(
            &query(&[
                ("serviceName", "frontend"),
                ("remoteServiceName", "BACKEND")
            ]),
            &trace
        ));
        // backend's spans do not call backend.
        assert!(!matches(
            &query(&[("serviceName", "backend"), ("remoteServiceName", "backend")]),
            &trace
        ));
        assert!(matches(&query(&[("spanName", "GET /API")]), &trace));
        assert!(!matches(
            &query(&[("serviceName", "backend"), ("spanName", "get /")]),
            &trace
        ));
    }

    #[test]
    fn annotation_query_is_scoped_to_the_service_that_recorded_it() {
        let trace = frontend_backend();
        assert!(matches(
            &query(&[("serviceName", "frontend"), ("annotationQuery", "web")]),
            &trace
        ));
        assert!(!matches(
            &query(&[("serviceName", "backend"), ("annotationQuery", "web")]),
            &trace
        ));
        assert!(matches(
            &query(&[("annotationQuery", "web and baz=qux")]),
            &trace
        ));
        assert!(matches(&query(&[("annotationQuery", "baz")]), &trace));
        assert!(!matches(
            &query(&[("annotationQuery", "baz=other")]),
            &trace
        ));
        assert!(!matches(
            &query(&[("annotationQuery", "web and missing")]),
            &trace
        ));
        // A tag value is not an annotation, and key=value never matches an annotation.
        assert!(!matches(&query(&[("annotationQuery", "web=x")]), &trace));
    }

    #[test]
    fn duration_bounds_are_inclusive_and_per_span_of_the_service() {
        let trace = frontend_backend();
        let ms = |value: u64| (value * 1_000).to_string();
        let (forty, fifty, hundred) = (ms(40), ms(50), ms(100));
        assert!(matches(
            &query(&[("minDuration", &forty), ("maxDuration", &forty)]),
            &trace
        ));
        assert!(matches(
            &query(&[("serviceName", "backend"), ("minDuration", &forty)]),
            &trace
        ));
        assert!(!matches(
            &query(&[("serviceName", "backend"), ("minDuration", &fifty)]),
            &trace
        ));
        assert!(matches(
            &query(&[("serviceName", "frontend"), ("minDuration", &hundred)]),
            &trace
        ));
        let (one, two) = (ms(41), ms(49));
        assert!(!matches(
            &query(&[("minDuration", &one), ("maxDuration", &two)]),
            &trace
        ));
    }

    #[test]
    fn error_status_reads_as_an_error_tag() {
        let mut failed = span("a", 1, None, "x");
        failed.status.code = StatusCode::Error;
        failed.status.message = "boom".to_owned();
        assert!(has_error_tag(&failed));
        assert!(matches(
            &query(&[("annotationQuery", "error")]),
            std::slice::from_ref(&failed)
        ));
        assert!(matches(
            &query(&[("annotationQuery", "error=boom")]),
            &[failed]
        ));
        let mut empty_error = span("a", 1, None, "x");
        empty_error.attributes.push(KeyValue::new("error", ""));
        assert!(matches(
            &query(&[("annotationQuery", "error")]),
            &[empty_error]
        ));
        let mut not_an_error = span("a", 1, None, "x");
        not_an_error.attributes.push(KeyValue::new("error", false));
        assert!(!has_error_tag(&not_an_error));
        assert!(!matches(
            &query(&[("annotationQuery", "error")]),
            &[not_an_error]
        ));
    }

    #[test]
    fn derived_status_and_scope_tags_are_searchable() {
        let mut ok = span("a", 1, None, "x");
        ok.status.code = StatusCode::Ok;
        ok.scope = Arc::new(weft_model::InstrumentationScope {
            name: "io.opentelemetry.http".to_owned(),
            version: String::new(),
            attributes: Vec::new(),
        });
        assert_eq!(tag(&ok, "otel.status_code").as_deref(), Some("OK"));
        assert_eq!(
            tag(&ok, "otel.library.name").as_deref(),
            Some("io.opentelemetry.http")
        );
        assert_eq!(tag(&ok, "otel.scope.version"), None);
        assert_eq!(tag(&ok, "error"), None);
    }
}
