//! The ten TraceQL queries of the query benchmark (`weft bench query --traceql-runs`),
//! written the way engineers search a shop's traces in Grafana: by service and status
//! code, by status alone, a regex on an attribute, a structural `>>` question, a
//! `count()` pipeline, a spanset `&&`, latency bounds.
//!
//! The unit test checks on a generated corpus that each query matches a share of traces
//! that makes a one-hour window of the 50-million-span corpus hold at least its `limit`
//! of matches, so a benchmark answer with fewer traces means the server missed some.

/// One TraceQL query of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceqlCase {
    /// A short name for reports.
    pub label: &'static str,
    /// The query, as typed in Grafana.
    pub query: &'static str,
}

/// The queries, from selective to broad.
pub const TRACEQL_CASES: [TraceqlCase; 10] = [
    TraceqlCase {
        label: "service + status code",
        query: r#"{ resource.service.name = "frontend" && span.http.response.status_code = 500 }"#,
    },
    TraceqlCase {
        label: "no service: failed server spans",
        query: "{ status = error && kind = server }",
    },
    TraceqlCase {
        label: "regex on an attribute",
        query: r#"{ span.db.statement =~ "UPDATE .*" }"#,
    },
    TraceqlCase {
        label: "structural >>",
        query: r#"{ resource.service.name = "frontend" } >> { resource.service.name = "payment-service" && status = error }"#,
    },
    TraceqlCase {
        label: "pipeline count() > 3",
        query: r#"{ resource.service.name = "product-catalog" && kind = server } | count() > 3"#,
    },
    TraceqlCase {
        label: "span name + duration",
        query: r#"{ name = "PlaceOrder" && duration > 10ms }"#,
    },
    TraceqlCase {
        label: "no service: slow database calls",
        query: r#"{ span.db.system = "redis" && duration > 5ms }"#,
    },
    TraceqlCase {
        label: "root service + method",
        query: r#"{ rootServiceName = "api-gateway" && span.http.request.method = "POST" }"#,
    },
    TraceqlCase {
        label: "spanset &&",
        query: r#"{ resource.service.name = "payment-service" } && { resource.service.name = "fraud-detection" && status = error }"#,
    },
    TraceqlCase {
        label: "no service: slow traces",
        query: "{ traceDuration > 20ms && kind = server }",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GeneratorSettings, TraceGenerator};

    #[test]
    fn every_query_parses_and_matches_a_useful_share_of_the_corpus() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let traces: Vec<_> = (0..20_000u64)
            .map(|i| generator.next_trace(1_700_000_000_000_000_000 + i * 1_000_000))
            .collect();
        let mut too_rare = Vec::new();
        for case in TRACEQL_CASES {
            let query = weft_query::traceql::parse(case.query)
                .unwrap_or_else(|error| panic!("{}: {error}", case.label));
            let matches = traces
                .iter()
                .filter(|trace| !query.evaluate(trace).is_empty())
                .count();
            eprintln!("{:<34} {:>6} of {}", case.label, matches, traces.len());
            // A one-hour window of the 24-hour, 50M-span corpus holds ~120,000 traces:
            // 0.05% of them is 60 matches, three times the default limit of 20.
            if matches * 2_000 < traces.len() {
                too_rare.push(case.label);
            }
        }
        assert!(too_rare.is_empty(), "too rare: {too_rare:?}");
    }
}
