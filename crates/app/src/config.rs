//! The whole configuration: each crate owns its section, this file only composes them.
//!
//! The YAML tree mirrors the flags (see [`crate::settings`]): `storage.path` in YAML is
//! `--storage.path` on the command line and `WEFT_STORAGE_PATH` in the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::settings::{self, Setting};

/// A listener address, or `off` to switch the listener off.
pub type ListenAddress = String;

/// Why the configuration could not be loaded. Messages name the key or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid YAML.
    #[error("config file {path} is not valid YAML: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or has a value of the wrong type.
    #[error("invalid configuration at `{key}`: {message}")]
    Invalid {
        /// Dotted path of the offending key (its parent for unknown keys).
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// One HTTP or gRPC listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port` to listen on, or `off`.
    pub listen: ListenAddress,
}

impl ListenerConfig {
    pub(crate) fn on(address: &str) -> Self {
        ListenerConfig {
            listen: address.to_owned(),
        }
    }

    /// The address, or `None` when the listener is switched off (`off` or empty).
    pub fn address(&self) -> Option<&str> {
        ListenerConfig::address_of(&self.listen)
    }

    fn address_of(listen: &str) -> Option<&str> {
        match listen.trim() {
            "" | "off" | "disabled" => None,
            address => Some(address),
        }
    }
}

/// The Zipkin port: ingest, query API and the `/zipkin/` UI paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinSection {
    /// `host:port` of the Zipkin port (default 9411), or `off`.
    pub listen: ListenAddress,
    /// Zipkin query API settings.
    pub query: weft_api::ZipkinApiConfig,
}

impl Default for ZipkinSection {
    fn default() -> Self {
        ZipkinSection {
            listen: String::from("0.0.0.0:9411"),
            query: weft_api::ZipkinApiConfig::default(),
        }
    }
}

/// OTLP listeners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSection {
    /// OTLP/gRPC (default 4317).
    pub grpc: ListenerConfig,
    /// OTLP/HTTP (default 4318).
    pub http: ListenerConfig,
}

impl Default for OtlpSection {
    fn default() -> Self {
        OtlpSection {
            grpc: ListenerConfig::on("0.0.0.0:4317"),
            http: ListenerConfig::on("0.0.0.0:4318"),
        }
    }
}

/// Jaeger listeners: the agent's UDP ports and the collector's HTTP and gRPC ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerSection {
    /// Agent UDP, compact Thrift `emitBatch` (default 6831): what jaeger-client libraries
    /// send to.
    pub compact: ListenerConfig,
    /// Agent UDP, binary Thrift `emitBatch` (default 6832).
    pub binary: ListenerConfig,
    /// Collector HTTP, `POST /api/traces` with a binary Thrift `Batch` (default 14268).
    pub http: ListenerConfig,
    /// Collector gRPC, `jaeger.api_v2.CollectorService/PostSpans` (default 14250).
    pub grpc: ListenerConfig,
    /// Settings of both agent UDP listeners: tenant, socket buffer, queue.
    pub agent: weft_receiver::JaegerAgentConfig,
    /// Query API for jaeger-ui and Grafana's Jaeger data source (default 16686).
    pub query: JaegerQuerySection,
    /// Remote sampling, `GET /sampling?service=` as jaeger-agent serves it (default
    /// 5778): what Jaeger clients and OpenTelemetry's `jaeger_remote` sampler poll.
    pub sampling: ListenerConfig,
}

/// The Jaeger query port: `jaeger.query.listen` and the API's settings under
/// `jaeger.query.api` (`--jaeger.query.api.default-limit`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerQuerySection {
    /// `host:port` of the Jaeger query API (default 16686, Jaeger's), or `off`.
    pub listen: ListenAddress,
    /// Jaeger query API settings.
    pub api: weft_api::JaegerApiConfig,
}

impl Default for JaegerQuerySection {
    fn default() -> Self {
        JaegerQuerySection {
            listen: String::from("0.0.0.0:16686"),
            api: weft_api::JaegerApiConfig::default(),
        }
    }
}

impl JaegerQuerySection {
    /// The address, or `None` when the listener is switched off (`off` or empty).
    pub fn address(&self) -> Option<&str> {
        ListenerConfig::address_of(&self.listen)
    }
}

impl Default for JaegerSection {
    fn default() -> Self {
        JaegerSection {
            compact: ListenerConfig::on("0.0.0.0:6831"),
            binary: ListenerConfig::on("0.0.0.0:6832"),
            http: ListenerConfig::on("0.0.0.0:14268"),
            grpc: ListenerConfig::on("0.0.0.0:14250"),
            agent: weft_receiver::JaegerAgentConfig::default(),
            query: JaegerQuerySection::default(),
            sampling: ListenerConfig::on("0.0.0.0:5778"),
        }
    }
}

/// The Loki-compatible port: push and query API for logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LokiSection {
    /// `host:port` of the Loki API (default 3100, Loki's), or `off`.
    pub listen: ListenAddress,
}

impl Default for LokiSection {
    fn default() -> Self {
        LokiSection {
            listen: String::from("0.0.0.0:3100"),
        }
    }
}

impl LokiSection {
    /// The address, or `None` when the listener is switched off (`off` or empty).
    pub fn address(&self) -> Option<&str> {
        ListenerConfig::address_of(&self.listen)
    }
}

/// Where blocks and the WAL live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Directory for the WAL, and for blocks with the `local` backend.
    pub path: PathBuf,
    /// Blocks whose newest span was ingested longer ago than this are deleted by the
    /// compactor (`compactor.tenant-retention` overrides it per tenant).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Where blocks live: `local` (under `path/blocks`, the default) or `s3`.
    pub backend: weft_storage::BackendKind,
    /// The S3-compatible bucket for `backend: s3`. Credentials come only from the
    /// standard AWS environment variables.
    pub s3: weft_storage::S3Config,
    /// Byte bounds of the block read caches (Parquet footers, bloom filters).
    pub cache: weft_storage::CacheConfig,
}

impl StorageSection {
    /// The block store settings of this section.
    pub fn backend_config(&self) -> weft_storage::StorageBackendConfig {
        weft_storage::StorageBackendConfig {
            backend: self.backend,
            s3: self.s3.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            path: PathBuf::from("./weft-data"),
            retention: Duration::from_secs(7 * 24 * 3600),
            backend: weft_storage::BackendKind::Local,
            s3: weft_storage::S3Config::default(),
            cache: weft_storage::CacheConfig::default(),
        }
    }
}

/// Log output of the process itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `weft_ingester=debug,info`, ...
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: String::from("info"),
            format: LogFormat::Text,
        }
    }
}

/// Graceful shutdown on SIGTERM.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownSection {
    /// How long in-flight requests may take to finish after SIGTERM before they are cut
    /// off (unacknowledged) and the head is flushed.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ShutdownSection {
    fn default() -> Self {
        ShutdownSection {
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration of a weft process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Native HTTP API, `/metrics` and `/ready` (default 3200).
    pub http: ListenerConfig,
    /// The Zipkin port.
    pub zipkin: ZipkinSection,
    /// OTLP listeners.
    pub otlp: OtlpSection,
    /// Jaeger listeners.
    pub jaeger: JaegerSection,
    /// The Loki-compatible logs port.
    pub loki: LokiSection,
    /// Storage location and retention.
    pub storage: StorageSection,
    /// Logs: limits, chunk cutting, WAL and query bounds.
    pub logs: weft_logs::LogsConfig,
    /// When true, every request must name its tenant in `X-Scope-OrgID`.
    pub multitenancy_enabled: bool,
    /// Request decoding limits.
    pub receiver: weft_receiver::ReceiverConfig,
    /// Validation limits.
    pub distributor: weft_distributor::DistributorConfig,
    /// WAL, head and block cutting.
    pub ingester: weft_ingester::IngesterConfig,
    /// Block merging, deduplication, retention and cleanup.
    pub compactor: weft_compactor::CompactorConfig,
    /// Search and trace-read bounds of every read API.
    pub query: weft_api::QueryConfig,
    /// RED and service-graph metrics of every span on `/metrics`, before sampling.
    pub span_metrics: weft_spanmetrics::SpanMetricsConfig,
    /// Head, tail, remote and adaptive sampling.
    pub sampling: crate::sampling::SamplingSection,
    /// Pull collection: the scraper and its Prometheus scrape configs.
    pub scrape: crate::scrape::ScrapeSection,
    /// Process logs.
    pub log: LogSection,
    /// Graceful shutdown.
    pub shutdown: ShutdownSection,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig::on("0.0.0.0:3200")
    }
}

impl Config {
    /// Every configuration key as a flag and environment variable.
    pub fn settings() -> Vec<Setting> {
        // Serialising the defaults cannot fail for these plain structs; an empty list
        // would only mean no flags, which the CLI tests would catch.
        let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
        settings::settings_of(&defaults)
    }

    /// Loads the configuration: defaults, then the YAML file (if any), then `overrides`
    /// (environment variables and flags, already in precedence order). Unknown keys and
    /// wrongly typed values are errors naming the key.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(Setting, String)],
    ) -> Result<Config, ConfigError> {
        load_tree::<Config>(file, overrides).map(Config::composed)
    }

    /// Copies the settings that several sections share from where the user sets them.
    fn composed(mut self) -> Self {
        self.ingester.storage_path = self.storage.path.clone();
        self.logs.storage_path = self.storage.path.clone();
        self.logs.multitenancy_enabled = self.multitenancy_enabled;
        self.compactor.retention = self.storage.retention;
        self.receiver.multitenancy_enabled = self.multitenancy_enabled;
        self.zipkin.query.multitenancy_enabled = self.multitenancy_enabled;
        self.jaeger.query.api.multitenancy_enabled = self.multitenancy_enabled;
        self.ingester.indexed_attribute_keys = self.zipkin.query.autocomplete_keys.clone();
        self
    }
}

/// Defaults of `T`, then the YAML file (if any), then `overrides` (environment variables
/// and flags, already in precedence order). Unknown keys and wrongly typed values are
/// errors naming the key.
pub(crate) fn load_tree<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
    overrides: &[(Setting, String)],
) -> Result<T, ConfigError> {
    let mut tree = match file {
        Some(path) => read_yaml(path)?,
        None => Value::Object(serde_json::Map::new()),
    };
    for (setting, raw) in overrides {
        settings::set_path(&mut tree, &setting.path, setting.typed_value(raw));
    }
    serde_path_to_error::deserialize(tree).map_err(|error| {
        let key = error.path().to_string();
        ConfigError::Invalid {
            key: if key == "." {
                String::from("(top level)")
            } else {
                key
            },
            message: error.into_inner().to_string(),
        }
    })
}

fn read_yaml(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let value: Value = serde_saphyr::from_str(&text).map_err(|error| ConfigError::Yaml {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    Ok(match value {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_listeners_have_flags_with_the_usual_ports() {
        let settings = Config::settings();
        let default_of = |flag: &str| {
            settings
                .iter()
                .find(|setting| setting.flag == flag)
                .map(Setting::default_text)
        };
        assert_eq!(
            default_of("jaeger.compact.listen").as_deref(),
            Some("0.0.0.0:6831")
        );
        assert_eq!(
            default_of("jaeger.binary.listen").as_deref(),
            Some("0.0.0.0:6832")
        );
        assert_eq!(
            default_of("jaeger.http.listen").as_deref(),
            Some("0.0.0.0:14268")
        );
        assert_eq!(
            default_of("jaeger.grpc.listen").as_deref(),
            Some("0.0.0.0:14250")
        );
        assert_eq!(
            default_of("jaeger.agent.tenant").as_deref(),
            Some("single-tenant")
        );
        assert!(default_of("jaeger.agent.socket-receive-buffer-bytes").is_some());
    }

    /// The setting behind `--<flag>`.
    fn setting(flag: &str) -> Setting {
        Config::settings()
            .into_iter()
            .find(|setting| setting.flag == flag)
            .unwrap_or_else(|| panic!("no flag --{flag}"))
    }

    #[test]
    fn jaeger_query_listener_has_a_flag_and_its_settings_are_checked() {
        assert_eq!(
            setting("jaeger.query.listen").default_text(),
            "0.0.0.0:16686"
        );
        assert_eq!(
            setting("jaeger.query.listen").env,
            "WEFT_JAEGER_QUERY_LISTEN"
        );
        assert_eq!(
            setting("jaeger.query.api.default-limit").default_text(),
            "100"
        );

        let overrides = vec![
            (setting("jaeger.query.listen"), String::from("off")),
            (
                setting("jaeger.query.api.default-limit"),
                String::from("20"),
            ),
            (setting("multitenancy-enabled"), String::from("true")),
        ];
        let config = Config::load(None, &overrides).expect("valid");
        assert_eq!(config.jaeger.query.address(), None);
        assert_eq!(config.jaeger.query.api.default_limit, 20);
        assert!(config.jaeger.query.api.multitenancy_enabled);
        let on = Config::load(None, &[]).expect("valid");
        assert_eq!(on.jaeger.query.address(), Some("0.0.0.0:16686"));

        let directory =
            std::env::temp_dir().join(format!("weft-app-jaeger-query-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let file = directory.join("weft.yaml");
        std::fs::write(
            &file,
            "jaeger:\n  query:\n    listen: 127.0.0.1:1\n    api:\n      default_lookback: 1h\n",
        )
        .expect("write");
        let from_yaml = Config::load(Some(&file), &[]).expect("valid yaml");
        assert_eq!(from_yaml.jaeger.query.address(), Some("127.0.0.1:1"));
        assert_eq!(from_yaml.jaeger.query.api.default_lookback.as_secs(), 3600);
        std::fs::write(&file, "jaeger:\n  query:\n    limit: 5\n").expect("write");
        let error = Config::load(Some(&file), &[]).expect_err("unknown key");
        let _ = std::fs::remove_dir_all(&directory);
        assert!(error.to_string().contains("limit"), "{error}");
    }

    #[test]
    fn jaeger_listeners_can_be_switched_off_and_unknown_keys_are_named() {
        let overrides: Vec<(Setting, String)> = Config::settings()
            .into_iter()
            .filter(|setting| setting.flag == "jaeger.compact.listen")
            .map(|setting| (setting, String::from("off")))
            .collect();
        let config = Config::load(None, &overrides).expect("valid");
        assert_eq!(config.jaeger.compact.address(), None);
        assert_eq!(config.jaeger.binary.address(), Some("0.0.0.0:6832"));

        let directory =
            std::env::temp_dir().join(format!("weft-app-config-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let file = directory.join("weft.yaml");
        std::fs::write(&file, "jaeger:\n  thrift:\n    listen: 1\n").expect("write");
        let error = Config::load(Some(&file), &[]).expect_err("unknown key");
        let _ = std::fs::remove_dir_all(&directory);
        assert!(error.to_string().contains("jaeger"), "{error}");
    }

    #[test]
    fn scrape_coalescing_has_flags_with_the_scraper_defaults() {
        assert_eq!(setting("scrape.coalesce-max-delay").default_text(), "5ms");
        assert_eq!(setting("scrape.coalesce-max-spans").default_text(), "10000");
        assert_eq!(setting("scrape.coalesce-max-pushes").default_text(), "2");
        let overrides = vec![
            (setting("scrape.coalesce-max-delay"), String::from("20ms")),
            (setting("scrape.coalesce-max-spans"), String::from("1")),
        ];
        let config = Config::load(None, &overrides).expect("valid");
        assert_eq!(
            config.scrape.coalesce_max_delay,
            std::time::Duration::from_millis(20)
        );
        assert_eq!(config.scrape.coalesce_max_spans, 1);
        assert_eq!(config.scrape.coalesce_max_pushes, 2);
    }
}
