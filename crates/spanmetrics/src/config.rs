//! Settings of span and service-graph metrics.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of [`crate::SpanMetrics`]; the `span_metrics` section of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Compute and expose the metrics. Default true.
    pub enabled: bool,
    /// Most label sets per metric family (span metrics, service graph); later ones are
    /// counted in the overflow series. Default 10,000.
    pub max_series: usize,
    /// Upper bounds of the `traces_spanmetrics_latency` buckets, in seconds. Default
    /// Tempo's: 0.002 doubling 14 times (0.002 .. 16.384).
    pub latency_buckets: Vec<f64>,
    /// The service graph.
    pub service_graph: ServiceGraphConfig,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            enabled: true,
            max_series: 10_000,
            latency_buckets: exponential_buckets(0.002, 14),
            service_graph: ServiceGraphConfig::default(),
        }
    }
}

/// Settings of the service graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceGraphConfig {
    /// How long one side of an edge waits for the other. Default 10s, as Tempo.
    #[serde(with = "humantime_serde")]
    pub wait: Duration,
    /// Most unpaired sides held; sides arriving beyond it are dropped and counted.
    /// Default 100,000 (Tempo: 10,000 per tenant).
    pub max_items: usize,
    /// Upper bounds of the client and server latency buckets, in seconds. Default
    /// Tempo's: 0.1 doubling 8 times (0.1 .. 12.8).
    pub latency_buckets: Vec<f64>,
}

impl Default for ServiceGraphConfig {
    fn default() -> Self {
        ServiceGraphConfig {
            wait: Duration::from_secs(10),
            max_items: 100_000,
            latency_buckets: exponential_buckets(0.1, 8),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Bucket bounds must be finite and strictly increasing.
    #[error("span_metrics.{0}: bucket bounds must be finite and strictly increasing")]
    Buckets(&'static str),
}

impl SpanMetricsConfig {
    /// Checks the bucket bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !increasing(&self.latency_buckets) {
            return Err(ConfigError::Buckets("latency_buckets"));
        }
        if !increasing(&self.service_graph.latency_buckets) {
            return Err(ConfigError::Buckets("service_graph.latency_buckets"));
        }
        Ok(())
    }
}

fn increasing(bounds: &[f64]) -> bool {
    bounds.iter().all(|bound| bound.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1])
}

/// `count` bounds starting at `start`, each twice the previous (Prometheus's
/// `ExponentialBuckets(start, 2, count)`).
fn exponential_buckets(start: f64, count: usize) -> Vec<f64> {
    (0..count).map(|i| start * f64::from(1u32 << i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_tempos_buckets() {
        let config = SpanMetricsConfig::default();
        assert_eq!(config.latency_buckets.first(), Some(&0.002));
        assert_eq!(config.latency_buckets.last(), Some(&16.384));
        assert_eq!(config.latency_buckets.len(), 14);
        assert_eq!(
            config.service_graph.latency_buckets,
            vec![0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]
        );
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn unordered_buckets_are_refused() {
        let mut config = SpanMetricsConfig::default();
        config.service_graph.latency_buckets = vec![1.0, 0.5];
        assert_eq!(
            config.validate(),
            Err(ConfigError::Buckets("service_graph.latency_buckets"))
        );
    }
}
