//! The agent's `logs` section, in Promtail's shape: `positions`, `clients`,
//! `scrape_configs` (with `static_configs`, the service discovery sections of the span
//! scraper (`file_sd_configs`, `http_sd_configs`, `dns_sd_configs`,
//! `kubernetes_sd_configs`, in Prometheus's shape and checked as the scraper checks
//! them), `relabel_configs` and `pipeline_stages`), `target_config` and
//! `file_watch_config`, plus weft's `max_line_size` and per-client
//! `max_buffered_bytes`. Unknown keys are refused; [`TailConfig::validate`] checks
//! what serde cannot and names the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_scrape_config::config::{DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig};
use weft_scrape_config::{NameValidationScheme, RelabelConfig, TargetGroup};
use weft_scraper::DiscoveryConfig;

use crate::pipeline::StageConfig;

/// The `logs` section of `weft agent`'s configuration. With no `scrape_configs` the
/// agent tails nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Where read positions are kept.
    pub positions: PositionsConfig,
    /// Loki push endpoints; every line goes to each of them.
    pub clients: Vec<ClientConfig>,
    /// Which files to tail, their labels and their pipelines.
    pub scrape_configs: Vec<LogScrapeConfig>,
    /// How often targets are recomputed (globs re-expanded) and file SD files checked
    /// for changes; targets are also recomputed whenever discovery finds a change.
    pub target_config: TargetSyncConfig,
    /// How often tailed files are polled for new bytes and rotation.
    pub file_watch_config: FileWatchConfig,
    /// Longest line in bytes (default 256 KiB); longer lines are cut to this length
    /// and counted in `weft_tail_lines_truncated_total`.
    pub max_line_size: u64,
    /// A last line without `\n` is shipped on its own after waiting this long
    /// (default 5s); `0s` waits for the newline forever.
    #[serde(with = "humantime_serde")]
    pub partial_line_timeout: Duration,
    /// A file renamed or removed away from its path is read until it has given no new
    /// bytes for this long (default 2s), then closed.
    #[serde(with = "humantime_serde")]
    pub rotated_file_idle: Duration,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            positions: PositionsConfig::default(),
            clients: Vec::new(),
            scrape_configs: Vec::new(),
            target_config: TargetSyncConfig::default(),
            file_watch_config: FileWatchConfig::default(),
            max_line_size: 256 * 1024,
            partial_line_timeout: Duration::from_secs(5),
            rotated_file_idle: Duration::from_secs(2),
        }
    }
}

/// `positions`: the file of read positions, one per tailed file, keyed by device,
/// inode and a fingerprint of the file's first bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PositionsConfig {
    /// The positions file (default `/var/lib/weft/positions.json`).
    pub filename: String,
    /// Positions are written after every acknowledged batch; also at least this often
    /// (default 10s).
    #[serde(with = "humantime_serde")]
    pub sync_period: Duration,
}

impl Default for PositionsConfig {
    fn default() -> Self {
        PositionsConfig {
            filename: String::from("/var/lib/weft/positions.json"),
            sync_period: Duration::from_secs(10),
        }
    }
}

/// One Loki push endpoint (`clients[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// The push URL, e.g. `http://localhost:3100/loki/api/v1/push`.
    pub url: String,
    /// Sent as `X-Scope-OrgID` when not empty.
    pub tenant_id: String,
    /// Longest wait before a non-full batch is sent (default 1s).
    #[serde(with = "humantime_serde")]
    pub batchwait: Duration,
    /// Most bytes of lines in one batch (default 1 MiB).
    pub batchsize: u64,
    /// Retries of a batch refused with 429 or 5xx, or not answered.
    pub backoff_config: BackoffConfig,
    /// Labels added to every stream; a stream's own label of the same name wins.
    pub external_labels: BTreeMap<String, String>,
    /// Longest wait for one push request (default 10s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// Sent as `Authorization: Bearer <token>` when not empty.
    pub bearer_token: String,
    /// Most bytes of lines read but not yet acknowledged by this client (default
    /// 16 MiB). When reached, files are not read further until a batch is
    /// acknowledged: nothing is dropped.
    pub max_buffered_bytes: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            url: String::new(),
            tenant_id: String::new(),
            batchwait: Duration::from_secs(1),
            batchsize: 1024 * 1024,
            backoff_config: BackoffConfig::default(),
            external_labels: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            basic_auth: None,
            bearer_token: String::new(),
            max_buffered_bytes: 16 * 1024 * 1024,
        }
    }
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// `backoff_config`: exponential backoff between retries of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First wait (default 500ms).
    #[serde(with = "humantime_serde")]
    pub min_period: Duration,
    /// Longest wait (default 5m); each wait doubles until this.
    #[serde(with = "humantime_serde")]
    pub max_period: Duration,
    /// Retries before the batch is given up, counted in `weft_tail_dropped_lines_total`
    /// and its positions committed; 0 (the default, unlike Promtail's 10) retries
    /// forever so no line is lost while the server is away.
    pub max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            min_period: Duration::from_millis(500),
            max_period: Duration::from_secs(300),
            max_retries: 0,
        }
    }
}

/// `target_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSyncConfig {
    /// How often globs are re-expanded and file SD files checked for changes
    /// (default 10s).
    #[serde(with = "humantime_serde")]
    pub sync_period: Duration,
}

impl Default for TargetSyncConfig {
    fn default() -> Self {
        TargetSyncConfig {
            sync_period: Duration::from_secs(10),
        }
    }
}

/// `file_watch_config`: files are polled; the interval grows from the minimum to the
/// maximum while a file gives no new bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileWatchConfig {
    /// Poll interval of an active file (default 250ms).
    #[serde(with = "humantime_serde")]
    pub min_poll_frequency: Duration,
    /// Poll interval of an idle file (default 250ms).
    #[serde(with = "humantime_serde")]
    pub max_poll_frequency: Duration,
}

impl Default for FileWatchConfig {
    fn default() -> Self {
        FileWatchConfig {
            min_poll_frequency: Duration::from_millis(250),
            max_poll_frequency: Duration::from_millis(250),
        }
    }
}

/// One `scrape_configs[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogScrapeConfig {
    /// Name of the job, for metrics and errors.
    pub job_name: String,
    /// Target groups written in the file; each target's labels must end with
    /// `__path__` (a glob) after relabeling.
    #[serde(default)]
    pub static_configs: Vec<TargetGroup>,
    /// Target group files, as Prometheus's `file_sd_configs`; a file that cannot be
    /// read or parsed keeps its last good groups.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Target groups polled from HTTP endpoints, as Prometheus's `http_sd_configs`;
    /// a failed poll keeps the last good groups.
    #[serde(default)]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Targets from DNS records (SRV, A, AAAA, MX, NS), as Prometheus's
    /// `dns_sd_configs`, with `__meta_dns_*` labels.
    #[serde(default)]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Kubernetes objects (every role) listed and watched on the API server, as
    /// Prometheus's `kubernetes_sd_configs`, with `__meta_kubernetes_*` labels.
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// Prometheus relabeling of each target's labels; a dropped target is not tailed.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Stages every line goes through.
    #[serde(default)]
    pub pipeline_stages: Vec<StageConfig>,
}

impl LogScrapeConfig {
    /// The service discovery sections, as the span scraper's discovery runs them.
    pub fn discovery_config(&self) -> DiscoveryConfig {
        DiscoveryConfig {
            static_configs: self.static_configs.clone(),
            file_sd_configs: self.file_sd_configs.clone(),
            http_sd_configs: self.http_sd_configs.clone(),
            dns_sd_configs: self.dns_sd_configs.clone(),
            kubernetes_sd_configs: self.kubernetes_sd_configs.clone(),
        }
    }
}

/// Why the `logs` section is not usable; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("logs.{key}: {message}")]
pub struct TailConfigError {
    /// The key, e.g. `clients[0].url`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> TailConfigError {
    TailConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl TailConfig {
    /// Whether anything is to be tailed.
    pub fn is_enabled(&self) -> bool {
        !self.scrape_configs.is_empty()
    }

    /// Checks what deserialisation cannot: URLs, sizes, durations, service discovery
    /// settings the span scraper refuses too, relabel rules and stage settings
    /// (regular expressions compile, formats are known).
    pub fn validate(&mut self) -> Result<(), TailConfigError> {
        if !self.is_enabled() {
            return Ok(());
        }
        if self.clients.is_empty() {
            return Err(invalid(
                "clients",
                "at least one client is needed when scrape_configs are given",
            ));
        }
        if self.positions.filename.is_empty() {
            return Err(invalid("positions.filename", "must not be empty"));
        }
        if self.max_line_size == 0 {
            return Err(invalid("max_line_size", "must be above 0"));
        }
        if self.file_watch_config.min_poll_frequency.is_zero()
            || self.file_watch_config.max_poll_frequency < self.file_watch_config.min_poll_frequency
        {
            return Err(invalid(
                "file_watch_config",
                "min_poll_frequency must be above 0 and at most max_poll_frequency",
            ));
        }
        if self.target_config.sync_period.is_zero() {
            return Err(invalid("target_config.sync_period", "must be above 0"));
        }
        for (index, client) in self.clients.iter().enumerate() {
            let key = |field: &str| format!("clients[{index}].{field}");
            if !(client.url.starts_with("http://") || client.url.starts_with("https://")) {
                return Err(invalid(
                    key("url"),
                    format!("{:?} is not an http:// or https:// URL", client.url),
                ));
            }
            if reqwest::Url::parse(&client.url).is_err() {
                return Err(invalid(
                    key("url"),
                    format!("{:?} is not a valid URL", client.url),
                ));
            }
            if client.batchsize == 0 {
                return Err(invalid(key("batchsize"), "must be above 0"));
            }
            if client.max_buffered_bytes < client.batchsize.max(self.max_line_size) {
                return Err(invalid(
                    key("max_buffered_bytes"),
                    format!(
                        "{} is below batchsize ({}) or max_line_size ({})",
                        client.max_buffered_bytes, client.batchsize, self.max_line_size
                    ),
                ));
            }
            if client.max_buffered_bytes > u64::from(u32::MAX) {
                return Err(invalid(key("max_buffered_bytes"), "must be below 4 GiB"));
            }
            if client.timeout.is_zero() {
                return Err(invalid(key("timeout"), "must be above 0"));
            }
            let backoff = &client.backoff_config;
            if backoff.min_period.is_zero() || backoff.max_period < backoff.min_period {
                return Err(invalid(
                    key("backoff_config"),
                    "min_period must be above 0 and at most max_period",
                ));
            }
        }
        let mut job_names = std::collections::HashSet::new();
        for (index, scrape) in self.scrape_configs.iter_mut().enumerate() {
            let key = |field: &str| format!("scrape_configs[{index}].{field}");
            if scrape.job_name.is_empty() {
                return Err(invalid(key("job_name"), "must not be empty"));
            }
            if !job_names.insert(scrape.job_name.clone()) {
                return Err(invalid(
                    key("job_name"),
                    format!("{:?} is used by two scrape configs", scrape.job_name),
                ));
            }
            for (rule_index, rule) in scrape.relabel_configs.iter_mut().enumerate() {
                rule.validate(NameValidationScheme::default())
                    .map_err(|error| {
                        invalid(
                            key(&format!("relabel_configs[{rule_index}]")),
                            error.to_string(),
                        )
                    })?;
            }
            crate::pipeline::Pipeline::compile(&scrape.pipeline_stages, &scrape.job_name).map_err(
                |error| {
                    invalid(
                        key(&format!("pipeline_stages[{}]", error.stage)),
                        error.message,
                    )
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
