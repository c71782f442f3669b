//! Receiver configuration.

use serde::{Deserialize, Serialize};

/// Settings shared by every ingest listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Most bytes one request body may have, checked both as received (compressed) and
    /// after gunzip; a larger request is answered 413 (gRPC: RESOURCE_EXHAUSTED without
    /// a retry hint). Also the gRPC maximum decoding message
    /// size. Default 64 MiB, the OTLP specification's recommended server limit.
    pub max_request_bytes: u64,
    /// When true, every request must name its tenant in the `X-Scope-OrgID` header (gRPC
    /// metadata `x-scope-orgid`); requests without a valid one are answered 401 (gRPC
    /// UNAUTHENTICATED). When false, the header is ignored and every span belongs to the
    /// single tenant. Default false. Set by the app from the top-level
    /// `multitenancy_enabled`, so it is not a key of this section.
    #[serde(skip)]
    pub multitenancy_enabled: bool,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_request_bytes: 64 * 1024 * 1024,
            multitenancy_enabled: false,
        }
    }
}

/// Why a [`ReceiverConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit of zero would reject every request.
    #[error("receiver.{0} must be greater than 0")]
    Zero(&'static str),
}

impl ReceiverConfig {
    /// Checks the settings. Errors name the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_request_bytes == 0 {
            return Err(ConfigError::Zero("max_request_bytes"));
        }
        Ok(())
    }

    /// `max_request_bytes` as a `usize`, saturating on 32-bit targets.
    pub fn max_request_bytes_usize(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_otlp_recommendation() {
        let config: ReceiverConfig = serde_saphyr::from_str("{}").expect("empty config");
        assert_eq!(config.max_request_bytes, 64 * 1024 * 1024);
        assert!(!config.multitenancy_enabled);
    }

    #[test]
    fn unknown_keys_and_zero_limit_are_rejected() {
        let unknown = serde_saphyr::from_str::<ReceiverConfig>("max_body_bytes: 5\n");
        assert!(unknown.is_err());
        let config: ReceiverConfig =
            serde_saphyr::from_str("max_request_bytes: 0\n").expect("parses");
        assert_eq!(
            config.validate().map_err(|e| e.to_string()),
            Err("receiver.max_request_bytes must be greater than 0".to_owned())
        );
    }
}
