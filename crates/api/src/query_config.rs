//! Bounds of the search engine and of trace reads, shared by every read API
//! (the `query` section of the configuration).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_query::search::SearchLimits;

use crate::config::ConfigError;

/// Settings of search and trace reads: how much one request may inspect and return.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// A search stops after this long and answers what it found, marked partial.
    /// Default: 30s.
    #[serde(with = "humantime_serde")]
    pub search_deadline: Duration,
    /// A search stops after inspecting this many bytes of spans (in memory), marked
    /// partial. Default: 1 GiB.
    pub max_search_bytes: u64,
    /// Most candidate traces one search inspects, newest first; a search that needs
    /// more is marked partial. Default: 20000.
    pub max_search_candidates: usize,
    /// Traces one search loads at once. Default: 16.
    pub concurrent_trace_reads: usize,
    /// A trace read returns at most this many spans (the earliest) and is marked
    /// partial beyond it. Default: 100000.
    pub max_spans_per_trace: usize,
    /// Spans per span set in TraceQL search answers without `spss` (Tempo's default).
    /// Default: 3.
    pub default_spans_per_spanset: usize,
    /// Traces per search answer when the request gives no `limit` (Tempo's default).
    /// Default: 20.
    pub default_search_limit: usize,
    /// Largest search answer; a search stops adding traces once it is reached and is
    /// marked partial. Default: 16 MiB.
    pub max_response_bytes: usize,
    /// Traces an analytics request (service map, flow graph, calling-context tree, set
    /// comparison) selects when it gives no `limit`. Default: 1000.
    pub default_analytics_traces: usize,
    /// Most traces one analytics request selects, whatever its `limit`; a larger `limit`
    /// is lowered to this. Default: 10000.
    pub max_analytics_traces: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            search_deadline: Duration::from_secs(30),
            max_search_bytes: 1 << 30,
            max_search_candidates: 20_000,
            concurrent_trace_reads: 16,
            max_spans_per_trace: 100_000,
            default_spans_per_spanset: 3,
            default_search_limit: 20,
            max_response_bytes: 16 << 20,
            default_analytics_traces: 1_000,
            max_analytics_traces: 10_000,
        }
    }
}

impl QueryConfig {
    /// Checks that every bound is positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out_of_range = |key, reason| Err(ConfigError::OutOfRange { key, reason });
        if self.search_deadline.is_zero() {
            return out_of_range("search_deadline", "must be more than 0s");
        }
        for (key, value) in [
            ("max_search_bytes", self.max_search_bytes as usize),
            ("max_search_candidates", self.max_search_candidates),
            ("concurrent_trace_reads", self.concurrent_trace_reads),
            ("max_spans_per_trace", self.max_spans_per_trace),
            ("default_search_limit", self.default_search_limit),
            ("max_response_bytes", self.max_response_bytes),
            ("default_analytics_traces", self.default_analytics_traces),
            ("max_analytics_traces", self.max_analytics_traces),
        ] {
            if value == 0 {
                return out_of_range(key, "must be at least 1");
            }
        }
        Ok(())
    }

    /// The engine's bounds.
    pub fn search_limits(&self) -> SearchLimits {
        SearchLimits {
            max_candidates: self.max_search_candidates.max(1),
            deadline: self.search_deadline,
            max_inspected_bytes: self.max_search_bytes.max(1),
            concurrent_reads: self.concurrent_trace_reads.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_bounds_name_their_key() {
        assert!(QueryConfig::default().validate().is_ok());
        let config = QueryConfig {
            max_spans_per_trace: 0,
            ..QueryConfig::default()
        };
        let message = config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.starts_with("max_spans_per_trace"), "{message}");
        let parsed: QueryConfig =
            serde_json::from_str(r#"{"search_deadline":"5s"}"#).expect("valid");
        assert_eq!(parsed.search_limits().deadline, Duration::from_secs(5));
    }
}
