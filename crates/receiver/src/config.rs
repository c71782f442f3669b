//! Receiver configuration.

use serde::{Deserialize, Serialize};

/// Settings shared by every ingest listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Most bytes one request body may have, checked both as received (compressed) and
    /// after gunzip; a larger request is answered 413 (gRPC: RESOURCE_EXHAUSTED without
    /// a retry hint, which OTLP clients do not retry). Also the gRPC maximum decoding
    /// message size. Default 64 MiB, the OTLP specification's recommended server limit.
    pub max_request_bytes: u64,
    /// Memory all HTTP and gRPC ingest requests in flight may hold together, in bytes,
    /// shared by every listener of the process (see [`crate::inflight`]). A request is
    /// charged 4 times the bytes of its body (as received, then inflated) plus about 320
    /// bytes per span before it reads, inflates or decodes them; when the budget has no
    /// room for 1 s the request is answered 429 with `Retry-After` (gRPC:
    /// RESOURCE_EXHAUSTED with a `RetryInfo`), counted with reason `overloaded`. One
    /// request's charge is capped at the whole budget, so keep it at least 4 times
    /// `max_request_bytes` for such a request to share the budget. The Jaeger agent's UDP
    /// listeners are bounded by their queues instead. Default 256 MiB.
    pub max_inflight_bytes: u64,
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
            max_inflight_bytes: 256 * 1024 * 1024,
            multitenancy_enabled: false,
        }
    }
}

/// Settings of the Jaeger agent UDP listeners (compact and binary Thrift `emitBatch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerAgentConfig {
    /// The tenant that spans arriving over UDP are stored under. A datagram has no headers
    /// to name one, so with multi-tenancy on this is the only way to choose it; with it off,
    /// keep the default, `single-tenant`, which is the id every span gets then. Must be a
    /// valid tenant id (`[A-Za-z0-9!_.*'()-]`, at most 150 characters).
    pub tenant: String,
    /// `SO_RCVBUF` asked for each UDP socket, in bytes: how much of a burst the kernel can
    /// hold while the listener is busy. Linux doubles the value and caps it at
    /// `net.core.rmem_max` (raise that sysctl to get more); the size obtained is logged.
    /// 0 keeps the system default. Default 8 MiB.
    pub socket_receive_buffer_bytes: u64,
    /// Decoded datagrams that may wait for the sink, per listener. When the queue is
    /// full, further datagrams are dropped and counted (reason `overloaded`), so memory
    /// stays bounded at about this many decoded datagrams (each under 64 KiB on the wire).
    /// Default 256.
    pub queue_datagrams: u64,
}

impl Default for JaegerAgentConfig {
    fn default() -> Self {
        JaegerAgentConfig {
            tenant: String::from("single-tenant"),
            socket_receive_buffer_bytes: 8 * 1024 * 1024,
            queue_datagrams: 256,
        }
    }
}

impl JaegerAgentConfig {
    /// Checks the settings; errors name the key under `section` (e.g. `jaeger.agent`).
    pub fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.queue_datagrams == 0 {
            return Err(ConfigError::ZeroKey(format!("{section}.queue_datagrams")));
        }
        weft_model::TenantId::parse(&self.tenant).map_err(|error| ConfigError::Tenant {
            key: format!("{section}.tenant"),
            message: error.to_string(),
        })?;
        Ok(())
    }
}

/// Why a [`ReceiverConfig`] or [`JaegerAgentConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit of zero would reject every request.
    #[error("receiver.{0} must be greater than 0")]
    Zero(&'static str),
    /// A limit of zero, named by its full key.
    #[error("{0} must be greater than 0")]
    ZeroKey(String),
    /// A tenant id that is not valid.
    #[error("{key}: {message}")]
    Tenant {
        /// The full key.
        key: String,
        /// What is wrong with the id.
        message: String,
    },
}

impl ReceiverConfig {
    /// Checks the settings. Errors name the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_request_bytes == 0 {
            return Err(ConfigError::Zero("max_request_bytes"));
        }
        if self.max_inflight_bytes == 0 {
            return Err(ConfigError::Zero("max_inflight_bytes"));
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
        assert_eq!(config.max_inflight_bytes, 256 * 1024 * 1024);
        assert!(!config.multitenancy_enabled);
    }

    #[test]
    fn agent_config_validates_tenant_and_queue() {
        assert_eq!(
            JaegerAgentConfig::default().validate("jaeger.agent"),
            Ok(())
        );
        let bad_tenant = JaegerAgentConfig {
            tenant: String::from("a/b"),
            ..JaegerAgentConfig::default()
        };
        let message = bad_tenant
            .validate("jaeger.agent")
            .map_err(|e| e.to_string())
            .expect_err("slash");
        assert!(message.starts_with("jaeger.agent.tenant: "), "{message}");
        let no_queue = JaegerAgentConfig {
            queue_datagrams: 0,
            ..JaegerAgentConfig::default()
        };
        assert_eq!(
            no_queue.validate("jaeger.agent").map_err(|e| e.to_string()),
            Err("jaeger.agent.queue_datagrams must be greater than 0".to_owned())
        );
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
        let config: ReceiverConfig =
            serde_saphyr::from_str("max_inflight_bytes: 0\n").expect("parses");
        assert_eq!(
            config.validate().map_err(|e| e.to_string()),
            Err("receiver.max_inflight_bytes must be greater than 0".to_owned())
        );
    }
}
