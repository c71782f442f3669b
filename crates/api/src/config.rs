//! Configuration of the read APIs.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_query::zipkin::ReadLimits;

/// Why a [`ZipkinApiConfig`] is unusable. The message names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value outside its allowed range.
    #[error("{key}: {reason}")]
    OutOfRange {
        /// The offending key.
        key: &'static str,
        /// What is allowed.
        reason: &'static str,
    },
}

/// Settings of the Zipkin query API, its UI paths and the native search API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinApiConfig {
    /// Tag keys whose values `/api/v2/autocompleteValues` serves (Zipkin's
    /// `AUTOCOMPLETE_KEYS`). The store must index the same keys. Default: none.
    pub autocomplete_keys: Vec<String>,
    /// Lookback used when a search or dependency request gives none (Zipkin's
    /// `QUERY_LOOKBACK`). Default: 24h.
    #[serde(with = "humantime_serde")]
    pub query_lookback: Duration,
    /// Traces returned by `/api/v2/traces` without `limit`, and the UI's `queryLimit`.
    /// Default: 10.
    pub default_query_limit: u32,
    /// The UI's default lookback (`defaultLookback` in `/zipkin/config.json`). Default: 7 days.
    #[serde(with = "humantime_serde")]
    pub ui_default_lookback: Duration,
    /// When false, search and name endpoints answer empty lists and the UI hides search;
    /// trace by id still works (Zipkin's `SEARCH_ENABLED`). Default: true.
    pub search_enabled: bool,
    /// When true, requests name their tenant in `X-Scope-OrgID` (required); when false,
    /// every request reads the single tenant. Default: false. Set by the app from the
    /// top-level `multitenancy_enabled`, so it is not a key of this section.
    #[serde(skip)]
    pub multitenancy_enabled: bool,
    /// `Cache-Control: max-age` of name lists once there are more than 3 services
    /// (Zipkin's `zipkin.query.names-max-age`). Default: 5m.
    #[serde(with = "humantime_serde")]
    pub names_max_age: Duration,
    /// Most traces one search or dependency request examines, newest first, so a wide
    /// window cannot keep the server busy. Default: 10000.
    pub max_traces_examined: usize,
    /// Traces one request loads concurrently. Default: 16.
    pub concurrent_trace_reads: usize,
    /// The UI's `environment` label. Default: empty.
    pub ui_environment: String,
    /// Whether the UI shows the dependency graph. Default: true.
    pub ui_dependency_enabled: bool,
    /// Error rate from which the UI colours a dependency link yellow, 0 to 1. Default: 0.5.
    pub ui_dependency_low_error_rate: f64,
    /// Error rate from which the UI colours a dependency link red, 0 to 1. Default: 0.75.
    pub ui_dependency_high_error_rate: f64,
}

impl Default for ZipkinApiConfig {
    fn default() -> Self {
        ZipkinApiConfig {
            autocomplete_keys: Vec::new(),
            query_lookback: Duration::from_secs(24 * 60 * 60),
            default_query_limit: 10,
            ui_default_lookback: Duration::from_secs(7 * 24 * 60 * 60),
            search_enabled: true,
            multitenancy_enabled: false,
            names_max_age: Duration::from_secs(300),
            max_traces_examined: 10_000,
            concurrent_trace_reads: 16,
            ui_environment: String::new(),
            ui_dependency_enabled: true,
            ui_dependency_low_error_rate: 0.5,
            ui_dependency_high_error_rate: 0.75,
        }
    }
}

impl ZipkinApiConfig {
    /// Checks ranges: a positive limit and lookbacks, at least one trace examined and one
    /// concurrent read, error rates within 0 to 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out_of_range = |key, reason| Err(ConfigError::OutOfRange { key, reason });
        if self.default_query_limit == 0 {
            return out_of_range("default_query_limit", "must be at least 1");
        }
        if self.query_lookback.as_millis() == 0 {
            return out_of_range("query_lookback", "must be at least 1ms");
        }
        if self.ui_default_lookback.as_millis() == 0 {
            return out_of_range("ui_default_lookback", "must be at least 1ms");
        }
        if self.max_traces_examined == 0 {
            return out_of_range("max_traces_examined", "must be at least 1");
        }
        if self.concurrent_trace_reads == 0 {
            return out_of_range("concurrent_trace_reads", "must be at least 1");
        }
        for (key, rate) in [
            (
                "ui_dependency_low_error_rate",
                self.ui_dependency_low_error_rate,
            ),
            (
                "ui_dependency_high_error_rate",
                self.ui_dependency_high_error_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return out_of_range(key, "must be between 0 and 1");
            }
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

    /// `query_lookback` in milliseconds, at least 1.
    pub fn query_lookback_millis(&self) -> i64 {
        i64::try_from(self.query_lookback.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_zipkin() {
        let config = ZipkinApiConfig::default();
        assert_eq!(config.query_lookback_millis(), 86_400_000);
        assert_eq!(config.ui_default_lookback.as_millis(), 604_800_000);
        assert_eq!(config.default_query_limit, 10);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_rejected_and_durations_are_humantime() {
        let parsed: ZipkinApiConfig =
            serde_json::from_str(r#"{"query_lookback":"2h","autocomplete_keys":["env"]}"#)
                .expect("valid config");
        assert_eq!(parsed.query_lookback_millis(), 7_200_000);
        assert_eq!(parsed.autocomplete_keys, ["env"]);
        let unknown = serde_json::from_str::<ZipkinApiConfig>(r#"{"lookback":"2h"}"#);
        assert!(unknown.is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let config = ZipkinApiConfig {
            ui_dependency_high_error_rate: 2.0,
            ..ZipkinApiConfig::default()
        };
        let message = config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with("ui_dependency_high_error_rate"),
            "{message}"
        );
    }
}
