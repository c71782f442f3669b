//! Distributor configuration.

use serde::Deserialize;

/// Limits the distributor enforces on every batch. Byte sizes are plain bytes (UTF-8
/// bytes for strings); every limit is inclusive (a value exactly at the limit passes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributorConfig {
    /// Most spans one request may carry; a larger batch is rejected whole (HTTP 413, gRPC
    /// RESOURCE_EXHAUSTED without a retry hint). Default 100,000: SDK exporters send at
    /// most a few thousand spans per request and the OpenTelemetry Collector's batch
    /// processor 8,192 by default, so only a misbehaving client reaches it.
    ///
    /// Checked here on the decoded batch, this bounds what is forwarded, not what decoding
    /// costs: by then the request is already decoded. The app passes the same value to
    /// the receivers (`weft_receiver::ReceiverContext`), which count spans on the wire and
    /// refuse an oversize request before decoding it; memory of requests in flight is
    /// bounded by `receiver.max_inflight_bytes`.
    pub max_spans_per_request: u64,
    /// Most bytes in a span name; a longer name drops the span. Default 8 KiB: names are
    /// meant to be low-cardinality labels, but some instrumentations put whole SQL
    /// statements in them, and dropping those would lose real data.
    pub max_span_name_bytes: u64,
    /// Most bytes in an attribute key (span, event, link and resource attributes); a
    /// longer key drops the span. Default 1 KiB: semantic-convention keys are under
    /// 100 bytes, so anything near the limit is generated garbage.
    pub max_attribute_key_bytes: u64,
    /// Most bytes in one attribute value (strings and byte arrays by length, arrays and
    /// maps by the sum of their parts, other scalars as 8); a larger value drops the span.
    /// Default 64 KiB: room for stack traces and SQL statements, not for request bodies.
    pub max_attribute_value_bytes: u64,
    /// Most attributes directly on one span (events, links and the resource are counted
    /// separately, each against the same limit); more drops the span. Default 1,024:
    /// eight times the OpenTelemetry SDK's default attribute count limit of 128.
    pub max_attributes_per_span: u64,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        DistributorConfig {
            max_spans_per_request: 100_000,
            max_span_name_bytes: 8 * 1024,
            max_attribute_key_bytes: 1024,
            max_attribute_value_bytes: 64 * 1024,
            max_attributes_per_span: 1024,
        }
    }
}

/// Why a [`DistributorConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit of zero would reject every span or request.
    #[error("distributor.{0} must be greater than 0")]
    Zero(&'static str),
}

impl DistributorConfig {
    /// Checks that every limit is usable. Errors name the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            ("max_spans_per_request", self.max_spans_per_request),
            ("max_span_name_bytes", self.max_span_name_bytes),
            ("max_attribute_key_bytes", self.max_attribute_key_bytes),
            ("max_attribute_value_bytes", self.max_attribute_value_bytes),
            ("max_attributes_per_span", self.max_attributes_per_span),
        ];
        match limits.iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(ConfigError::Zero(key)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_config_keeps_defaults_for_missing_keys() {
        let config: DistributorConfig =
            serde_json::from_str(r#"{"max_span_name_bytes": 100}"#).expect("valid config");
        assert_eq!(config.max_span_name_bytes, 100);
        assert_eq!(config.max_attribute_value_bytes, 64 * 1024);
        assert_eq!(config.max_spans_per_request, 100_000);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let result = serde_json::from_str::<DistributorConfig>(r#"{"max_span_bytes": 1}"#);
        let message = result.expect_err("unknown key").to_string();
        assert!(message.contains("max_span_bytes"), "{message}");
    }

    #[test]
    fn yaml_config_parses() {
        let config: DistributorConfig =
            serde_saphyr::from_str("max_attributes_per_span: 7\n").expect("valid yaml");
        assert_eq!(config.max_attributes_per_span, 7);
    }

    #[test]
    fn zero_limit_is_rejected_with_its_key() {
        let config = DistributorConfig {
            max_attribute_key_bytes: 0,
            ..DistributorConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::Zero("max_attribute_key_bytes"))
        );
        assert_eq!(DistributorConfig::default().validate(), Ok(()));
    }
}
