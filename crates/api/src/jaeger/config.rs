//! Settings of the Jaeger query API.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_query::zipkin::ReadLimits;

use crate::config::ConfigError;

/// Settings of the Jaeger query API (v1 `/api/...` and api_v3 `/api/v3/...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerApiConfig {
    /// How far back a v1 search looks when it gives no `start` (Jaeger: 2 days); also the
    /// window from which operations learn their span kinds. Default: 48h.
    #[serde(with = "humantime_serde")]
    pub default_lookback: Duration,
    /// Traces a v1 search returns without `limit`, and api_v3's default `searchDepth`.
    /// Default: 100 (Jaeger's).
    pub default_limit: u32,
    /// Window of `/api/dependencies` without `lookback`. Default: 24h (Jaeger's).
    #[serde(with = "humantime_serde")]
    pub dependencies_lookback: Duration,
    /// Most traces one search examines, newest first, so a wide window cannot keep the
    /// server busy. Default: 10000.
    pub max_traces_examined: usize,
    /// Traces one request loads concurrently. Default: 16.
    pub concurrent_trace_reads: usize,
    /// Newest traces of a service loaded to learn the span kinds of its operations (the
    /// name index keeps names, not kinds); 0 lists every operation with an empty kind.
    /// Default: 100.
    pub operation_kind_sample_traces: usize,
    /// When true, requests name their tenant in `X-Scope-OrgID` (required). Set by the
    /// app from the top-level `multitenancy_enabled`, so it is not a key of this section.
    #[serde(skip)]
    pub multitenancy_enabled: bool,
}

impl Default for JaegerApiConfig {
    fn default() -> Self {
        JaegerApiConfig {
            default_lookback: Duration::from_secs(2 * 24 * 60 * 60),
            default_limit: 100,
            dependencies_lookback: Duration::from_secs(24 * 60 * 60),
            max_traces_examined: 10_000,
            concurrent_trace_reads: 16,
            operation_kind_sample_traces: 100,
            multitenancy_enabled: false,
        }
    }
}

impl JaegerApiConfig {
    /// Checks ranges: a positive limit and lookbacks, at least one trace examined and one
    /// concurrent read.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out_of_range = |key, reason| Err(ConfigError::OutOfRange { key, reason });
        if self.default_limit == 0 {
            return out_of_range("default_limit", "must be at least 1");
        }
        if self.default_lookback.as_millis() == 0 {
            return out_of_range("default_lookback", "must be at least 1ms");
        }
        if self.dependencies_lookback.as_millis() == 0 {
            return out_of_range("dependencies_lookback", "must be at least 1ms");
        }
        if self.max_traces_examined == 0 {
            return out_of_range("max_traces_examined", "must be at least 1");
        }
        if self.concurrent_trace_reads == 0 {
            return out_of_range("concurrent_trace_reads", "must be at least 1");
        }
        Ok(())
    }

    /// The read bounds for query functions.
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_traces_examined: self.max_traces_examined.max(1),
            concurrent_trace_reads: self.concurrent_trace_reads.max(1),
        }
    }
}
