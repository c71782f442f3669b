//! Searches that the query benchmark runs against the bench corpus: a service, one span
//! attribute with a value the corpus has for that service, and a minimum duration, so
//! every search has to combine a service, an attribute and a duration criterion.
//!
//! The unit test below checks on a generated corpus that each case matches a useful
//! share of traces under both the native API's rules (`minDuration` on the whole
//! trace's duration) and Zipkin's (on a span of the service), so a search that finds
//! nothing against a bench corpus means the server is wrong, not the parameters.

use std::time::Duration;

/// One search of the query benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCase {
    /// The local service (`service=` / `serviceName=`).
    pub service_name: &'static str,
    /// A span attribute key.
    pub attribute_key: &'static str,
    /// The attribute's value as text (integers in decimal).
    pub attribute_value: &'static str,
    /// The minimum duration (`minDuration=`).
    pub min_duration: Duration,
}

impl SearchCase {
    /// A short label for reports: `frontend http.response.status_code=500 >=100ms`.
    pub fn label(&self) -> String {
        format!(
            "{} {}={} >={}ms",
            self.service_name,
            self.attribute_key,
            self.attribute_value,
            self.min_duration.as_millis()
        )
    }

    /// The query of the native `GET /api/search` over `[start_seconds, end_seconds]`
    /// (unix seconds, both inclusive), as name-value pairs to be URL-encoded:
    /// `service`, `tags` (logfmt `key=value`), `minDuration` (a Go duration), `start`,
    /// `end`, `limit`.
    pub fn native_query(
        &self,
        start_seconds: u64,
        end_seconds: u64,
        limit: usize,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("service", self.service_name.to_owned()),
            (
                "tags",
                format!("{}={}", self.attribute_key, self.attribute_value),
            ),
            (
                "minDuration",
                format!("{}ms", self.min_duration.as_millis()),
            ),
            ("start", start_seconds.to_string()),
            ("end", end_seconds.to_string()),
            ("limit", limit.to_string()),
        ]
    }

    /// The query of Zipkin's `GET /api/v2/traces` for the `lookback_millis` before
    /// `end_millis` (unix milliseconds): `serviceName`, `annotationQuery` (`key=value`),
    /// `minDuration` (microseconds), `endTs`, `lookback`, `limit`.
    pub fn zipkin_query(
        &self,
        end_millis: u64,
        lookback_millis: u64,
        limit: usize,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("serviceName", self.service_name.to_owned()),
            (
                "annotationQuery",
                format!("{}={}", self.attribute_key, self.attribute_value),
            ),
            ("minDuration", self.min_duration.as_micros().to_string()),
            ("endTs", end_millis.to_string()),
            ("lookback", lookback_millis.to_string()),
            ("limit", limit.to_string()),
        ]
    }
}

/// The searches, from very selective (about 0.1% of traces) to broad (about 5%).
pub const SEARCH_CASES: [SearchCase; 5] = [
    SearchCase {
        service_name: "frontend",
        attribute_key: "http.response.status_code",
        attribute_value: "500",
        min_duration: Duration::from_millis(100),
    },
    SearchCase {
        service_name: "product-catalog",
        attribute_key: "db.system",
        attribute_value: "postgresql",
        min_duration: Duration::from_millis(20),
    },
    SearchCase {
        service_name: "auth-service",
        attribute_key: "db.system",
        attribute_value: "mysql",
        min_duration: Duration::from_millis(10),
    },
    SearchCase {
        service_name: "checkout-service",
        attribute_key: "rpc.method",
        attribute_value: "PlaceOrder",
        min_duration: Duration::from_millis(50),
    },
    SearchCase {
        service_name: "api-gateway",
        attribute_key: "http.request.method",
        attribute_value: "POST",
        min_duration: Duration::from_millis(20),
    },
];

#[cfg(test)]
mod tests {
    use weft_model::SpanFilter;

    use super::*;
    use crate::{GeneratorSettings, TraceGenerator};

    #[test]
    fn every_search_case_matches_the_corpus_under_native_and_zipkin_rules() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let traces: Vec<_> = (0..20_000u64)
            .map(|i| generator.next_trace(1_700_000_000_000_000_000 + i * 1_000_000))
            .collect();
        for case in SEARCH_CASES {
            let min_nanos = case.min_duration.as_nanos() as u64;
            let attribute = (
                case.attribute_key.to_owned(),
                Some(case.attribute_value.to_owned()),
            );
            let tag_only = SpanFilter {
                service_name: Some(case.service_name.to_owned()),
                attributes: vec![attribute.clone()],
                ..SpanFilter::default()
            };
            let zipkin = SpanFilter {
                min_duration_nanos: Some(min_nanos),
                ..tag_only.clone()
            };
            let (mut native_matches, mut zipkin_matches) = (0usize, 0usize);
            for trace in &traces {
                let start = trace.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
                let end = trace.iter().map(|s| s.end_unix_nanos()).max().unwrap_or(0);
                if tag_only.spans_mask(trace) == tag_only.full_mask() && end - start >= min_nanos {
                    native_matches += 1;
                }
                if zipkin.spans_mask(trace) == zipkin.full_mask() {
                    zipkin_matches += 1;
                }
            }
            // At least 0.03% of traces: ~35 per hour in a 50M-span, 24-hour corpus.
            assert!(
                native_matches >= 6,
                "{}: native {native_matches}",
                case.label()
            );
            assert!(
                zipkin_matches >= 6,
                "{}: zipkin {zipkin_matches}",
                case.label()
            );
            assert!(
                native_matches < traces.len() / 10,
                "{} is selective",
                case.label()
            );
        }
    }

    #[test]
    fn queries_carry_every_criterion_in_each_api_s_units() {
        let case = SEARCH_CASES[0];
        let native = case.native_query(100, 3_700, 20);
        assert!(native.contains(&("tags", "http.response.status_code=500".to_owned())));
        assert!(native.contains(&("minDuration", "100ms".to_owned())));
        assert!(native.contains(&("start", "100".to_owned())));
        let zipkin = case.zipkin_query(3_700_000, 3_600_000, 10);
        assert!(
            zipkin.contains(&("minDuration", "100000".to_owned())),
            "micros"
        );
        assert!(zipkin.contains(&(
            "annotationQuery",
            "http.response.status_code=500".to_owned()
        )));
        assert!(zipkin.contains(&("lookback", "3600000".to_owned())));
    }
}
