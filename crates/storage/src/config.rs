//! Where blocks live: the storage backend configuration.

use serde::{Deserialize, Serialize};

/// Which object store holds the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The local filesystem under the storage path (the embedded default).
    #[default]
    Local,
    /// An S3-compatible object store.
    S3,
}

/// The storage backend: local disk or S3, plus the read caches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageBackendConfig {
    /// `local` (default: blocks under the storage path) or `s3`.
    pub backend: BackendKind,
    /// S3 settings, used when `backend` is `s3`.
    pub s3: S3Config,
    /// Byte bounds of the in-memory read caches.
    pub cache: CacheConfig,
}

/// An S3-compatible bucket. Credentials come only from the standard AWS environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), never
/// from configuration; the fields set here override `AWS_REGION`, `AWS_ENDPOINT` and
/// friends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// The bucket name (required for the s3 backend).
    pub bucket: String,
    /// Endpoint URL of an S3-compatible server (`http://127.0.0.1:9000`); empty for
    /// AWS itself. When set, requests use path-style addressing.
    pub endpoint: String,
    /// The region; empty means `AWS_REGION` or the client's default.
    pub region: String,
    /// Key prefix under which blocks are stored inside the bucket (no leading or
    /// trailing `/` needed); empty for the bucket root.
    pub prefix: String,
    /// Allow plain `http://` endpoints (test servers, private networks).
    pub allow_http: bool,
}

/// Byte bounds of the caches an object block store keeps in memory. Each cache evicts
/// its least recently used entries once over its bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Parquet footers (metadata with page indexes) of opened blocks, in bytes.
    pub max_footer_bytes: u64,
    /// Bloom filters over the trace ids of blocks, in bytes (about 0.13 B per stored
    /// span, so the default holds those of ~500 M spans). A trace lookup reads the bloom
    /// of every block whose bloom is not cached; size it to the spans retained when
    /// lookups must not touch storage.
    pub max_bloom_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_footer_bytes: 64 * 1024 * 1024,
            max_bloom_bytes: 64 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let config: StorageBackendConfig = serde_json::from_str(
            r#"{"backend":"s3","s3":{"bucket":"weft","endpoint":"http://127.0.0.1:1","allow_http":true}}"#,
        )
        .expect("valid config");
        assert_eq!(config.backend, BackendKind::S3);
        assert_eq!(config.s3.bucket, "weft");
        assert!(config.s3.allow_http);
        assert_eq!(config.cache, CacheConfig::default());
        assert!(
            serde_json::from_str::<StorageBackendConfig>(r#"{"s3":{"secret_key":"x"}}"#).is_err(),
            "credentials are not configuration"
        );
        let default: StorageBackendConfig = serde_json::from_str("{}").expect("empty is valid");
        assert_eq!(default.backend, BackendKind::Local);
    }
}
