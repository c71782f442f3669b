//! The `global` and `scrape_configs` sections of a Prometheus configuration file
//! (`config/config.go`), with Prometheus's defaults and load-time checks.
//!
//! Unknown keys are errors, as with Prometheus's strict YAML decoding. Errors
//! name the file, the line and column, and the field or job. The other top-level
//! sections of a Prometheus file (`rule_files`, `alerting`, `remote_write`, ...)
//! are accepted and ignored so an existing `prometheus.yml` loads unchanged;
//! `scrape_config_files` is rejected as not supported.

pub mod discovery;
pub mod http_client;
mod shared_fields;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::duration::PrometheusDuration;
use crate::labels::{Labels, NameValidationScheme};
use crate::relabel::RelabelConfig;
use crate::target::TargetGroup;
pub use discovery::{
    DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesRole, KubernetesSdConfig,
};
use http_client::join_directory;
pub use http_client::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
use shared_fields::with_shared_fields;

/// Default global `scrape_interval`: 1m.
pub const DEFAULT_SCRAPE_INTERVAL: PrometheusDuration = PrometheusDuration::from_secs(60);
/// Default global `scrape_timeout`: 10s (capped at the interval).
pub const DEFAULT_SCRAPE_TIMEOUT: PrometheusDuration = PrometheusDuration::from_secs(10);

/// A configuration error: where (file, line, column when known) and what.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a valid configuration.
    #[error("{}", render_location(source_name, *line, *column, message))]
    Invalid {
        /// File name (or `<input>` for text).
        source_name: String,
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What is wrong, naming the field or job.
        message: String,
    },
}

fn render_location(
    source_name: &str,
    line: Option<u64>,
    column: Option<u64>,
    message: &str,
) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{source_name}:{line}:{column}: {message}"),
        (Some(line), None) => format!("{source_name}:{line}: {message}"),
        _ => format!("{source_name}: {message}"),
    }
}

/// Byte size with Prometheus's base-2 units (`units.Base2Bytes`): `512KB`,
/// `10MiB`, `1GB` (KB and KiB both mean 1024), `0` for no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `<number><unit>` (repeatable, e.g. `1MB512KB`; decimals allowed,
    /// truncated to whole bytes) with units `B`, `KB`..`EB`, `KiB`..`EiB`, or `0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        const PREFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
        let invalid = || format!("invalid byte size {text:?}");
        if text == "0" {
            return Ok(Self(0));
        }
        let mut rest = text;
        let mut total = 0f64;
        if rest.is_empty() {
            return Err(invalid());
        }
        while !rest.is_empty() {
            let number_end = rest
                .find(|character: char| !(character.is_ascii_digit() || character == '.'))
                .unwrap_or(rest.len());
            let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
            rest = &rest[number_end..];
            let unit_end = rest
                .find(|character: char| character.is_ascii_digit() || character == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let stem = unit
                .strip_suffix("iB")
                .filter(|stem| !stem.is_empty())
                .or_else(|| unit.strip_suffix('B'))
                .ok_or_else(invalid)?;
            let power = PREFIXES
                .iter()
                .position(|prefix| *prefix == stem)
                .ok_or_else(invalid)?;
            total += number * 1024f64.powi(power as i32);
        }
        if total >= i64::MAX as f64 {
            return Err(invalid());
        }
        Ok(Self(total as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Limits that a job inherits from `global` when it leaves them at 0 (0 means no
/// limit). Weft uses `body_size_limit` and `sample_limit` (as a span limit);
/// the others are accepted for compatibility.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeLimits {
    /// Largest uncompressed response body in bytes; 0 = no limit.
    #[serde(default)]
    pub body_size_limit: ByteSize,
    /// Most samples (for weft: spans) per scrape; 0 = no limit.
    #[serde(default)]
    pub sample_limit: u64,
    /// Most targets per job after relabeling; 0 = no limit.
    #[serde(default)]
    pub target_limit: u64,
    /// Most labels per series; 0 = no limit.
    #[serde(default)]
    pub label_limit: u64,
    /// Longest label name; 0 = no limit.
    #[serde(default)]
    pub label_name_length_limit: u64,
    /// Longest label value; 0 = no limit.
    #[serde(default)]
    pub label_value_length_limit: u64,
    /// Most dropped targets kept for display per job; 0 = no limit.
    #[serde(default)]
    pub keep_dropped_targets: u64,
}

impl ScrapeLimits {
    fn inherit_from(&mut self, global: &ScrapeLimits) {
        let inherit = |own: &mut u64, global: u64| {
            if *own == 0 {
                *own = global;
            }
        };
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = global.body_size_limit;
        }
        inherit(&mut self.sample_limit, global.sample_limit);
        inherit(&mut self.target_limit, global.target_limit);
        inherit(&mut self.label_limit, global.label_limit);
        inherit(
            &mut self.label_name_length_limit,
            global.label_name_length_limit,
        );
        inherit(
            &mut self.label_value_length_limit,
            global.label_value_length_limit,
        );
        inherit(&mut self.keep_dropped_targets, global.keep_dropped_targets);
    }
}

/// The `global` section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GlobalConfig {
    /// Default scrape interval; default 1m.
    pub scrape_interval: PrometheusDuration,
    /// Default scrape timeout; default `min(10s, scrape_interval)`; never above
    /// the interval.
    pub scrape_timeout: PrometheusDuration,
    /// Labels added to everything this scraper collects; also part of the
    /// scrape offset seed.
    pub external_labels: Labels,
    /// Default limits for every job.
    pub limits: ScrapeLimits,
    /// Label name validation for relabeling; default UTF-8 (Prometheus 3.x).
    pub metric_name_validation_scheme: NameValidationScheme,
    /// Default for jobs' `scrape_native_histograms`.
    pub scrape_native_histograms: bool,
    /// Default for jobs' `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// Default for jobs' `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            external_labels: Labels::new(),
            limits: ScrapeLimits::default(),
            metric_name_validation_scheme: NameValidationScheme::Utf8,
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
        }
    }
}

with_shared_fields! {
[limits]
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobalConfig {
    #[serde(default)]
    scrape_interval: Option<PrometheusDuration>,
    #[serde(default)]
    scrape_timeout: Option<PrometheusDuration>,
    #[serde(default)]
    external_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    metric_name_validation_scheme: Option<NameValidationScheme>,
    #[serde(default)]
    scrape_native_histograms: Option<bool>,
    #[serde(default)]
    always_scrape_classic_histograms: bool,
    #[serde(default)]
    convert_classic_histograms_to_nhcb: bool,
    // Accepted for compatibility with Prometheus files; not used by weft.
    #[serde(default, rename = "evaluation_interval")]
    _evaluation_interval: Option<PrometheusDuration>,
    #[serde(default, rename = "rule_query_offset")]
    _rule_query_offset: Option<PrometheusDuration>,
    #[serde(default, rename = "query_log_file")]
    _query_log_file: Option<IgnoredAny>,
    #[serde(default, rename = "scrape_failure_log_file")]
    _scrape_failure_log_file: Option<IgnoredAny>,
    #[serde(default, rename = "scrape_protocols")]
    _scrape_protocols: Option<IgnoredAny>,
    #[serde(default, rename = "extra_scrape_metrics")]
    _extra_scrape_metrics: Option<bool>,
    #[serde(default, rename = "metric_name_escaping_scheme")]
    _metric_name_escaping_scheme: Option<IgnoredAny>,
}
}

impl RawGlobalConfig {
    fn into_global(self) -> Result<GlobalConfig, String> {
        let scheme = self
            .metric_name_validation_scheme
            .unwrap_or(NameValidationScheme::Utf8);
        let mut external_labels = Labels::new();
        let limits = self.limits();
        for (name, value) in self.external_labels.unwrap_or_default() {
            if !scheme.is_valid_label_name(&name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
            external_labels.set(name, value);
        }
        let scrape_interval = self
            .scrape_interval
            .filter(|interval| !interval.is_zero())
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        let written_timeout = self.scrape_timeout.unwrap_or_default();
        if written_timeout > scrape_interval {
            return Err(String::from(
                "global scrape timeout greater than scrape interval",
            ));
        }
        let scrape_timeout = if written_timeout.is_zero() {
            DEFAULT_SCRAPE_TIMEOUT.min(scrape_interval)
        } else {
            written_timeout
        };
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            external_labels,
            limits,
            metric_name_validation_scheme: scheme,
            scrape_native_histograms: self.scrape_native_histograms.unwrap_or(false),
            always_scrape_classic_histograms: self.always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb: self.convert_classic_histograms_to_nhcb,
        })
    }
}

/// One `scrape_configs` entry (a job), with globals filled in and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScrapeConfig {
    /// Job name; unique; default value of the `job` label.
    pub job_name: String,
    /// Line of `job_name` in the file (for messages about this job).
    pub line: u64,
    /// Keep labels the target exposes when they clash with target labels.
    pub honor_labels: bool,
    /// Use timestamps the target exposes; default true.
    pub honor_timestamps: bool,
    /// Query parameters of the scrape URL; the first value of each becomes
    /// `__param_<name>`.
    pub params: BTreeMap<String, Vec<String>>,
    /// Scrape interval (the global one when unset).
    pub scrape_interval: PrometheusDuration,
    /// Scrape timeout (`min(global timeout, interval)` when unset); never above the
    /// interval.
    pub scrape_timeout: PrometheusDuration,
    /// HTTP path; default `/metrics`.
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// Ask targets for compressed responses; default true.
    pub enable_compression: bool,
    /// Limits, the global ones filling those left at 0.
    pub limits: ScrapeLimits,
    /// Label name validation scheme for this job's relabel rules.
    pub metric_name_validation_scheme: NameValidationScheme,
    /// Whether native histograms are scraped (drives a `__` label Prometheus sets).
    pub scrape_native_histograms: bool,
    /// Whether classic histograms are always scraped (drives a `__` label).
    pub always_scrape_classic_histograms: bool,
    /// Whether classic histograms become NHCB (drives a `__` label).
    pub convert_classic_histograms_to_nhcb: bool,
    /// HTTP client settings for scrapes.
    pub http_client: HttpClientConfig,
    /// Static target groups.
    pub static_configs: Vec<TargetGroup>,
    /// File service discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// HTTP service discovery.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// DNS service discovery.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Kubernetes service discovery (parsed and validated only).
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// Target relabeling, validated with `metric_name_validation_scheme`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Metric relabeling (validated; weft applies none to spans yet).
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

with_shared_fields! {
    [http_client, limits]
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawScrapeConfig {
        #[serde(default)]
        job_name: Option<Spanned<String>>,
        #[serde(default)]
        honor_labels: bool,
        #[serde(default)]
        honor_timestamps: Option<bool>,
        #[serde(default, rename = "track_timestamps_staleness")]
        _track_timestamps_staleness: bool,
        #[serde(default)]
        params: Option<BTreeMap<String, Vec<String>>>,
        #[serde(default)]
        scrape_interval: Option<PrometheusDuration>,
        #[serde(default)]
        scrape_timeout: Option<PrometheusDuration>,
        #[serde(default)]
        metrics_path: Option<String>,
        #[serde(default)]
        scheme: Option<String>,
        #[serde(default)]
        enable_compression: Option<bool>,
        #[serde(default)]
        metric_name_validation_scheme: Option<NameValidationScheme>,
        #[serde(default)]
        scrape_native_histograms: Option<bool>,
        #[serde(default)]
        always_scrape_classic_histograms: Option<bool>,
        #[serde(default)]
        convert_classic_histograms_to_nhcb: Option<bool>,
        #[serde(default)]
        static_configs: Option<Vec<Option<TargetGroup>>>,
        #[serde(default)]
        file_sd_configs: Option<Vec<FileSdConfig>>,
        #[serde(default)]
        http_sd_configs: Option<Vec<HttpSdConfig>>,
        #[serde(default)]
        dns_sd_configs: Option<Vec<DnsSdConfig>>,
        #[serde(default)]
        kubernetes_sd_configs: Option<Vec<KubernetesSdConfig>>,
        #[serde(default)]
        relabel_configs: Option<Vec<Option<Spanned<RelabelConfig>>>>,
        #[serde(default)]
        metric_relabel_configs: Option<Vec<Option<Spanned<RelabelConfig>>>>,
        // Accepted for compatibility with Prometheus files; not used by weft.
        #[serde(default, rename = "scrape_protocols")]
        _scrape_protocols: Option<IgnoredAny>,
        #[serde(default, rename = "fallback_scrape_protocol")]
        _fallback_scrape_protocol: Option<IgnoredAny>,
        #[serde(default, rename = "scrape_failure_log_file")]
        _scrape_failure_log_file: Option<IgnoredAny>,
        #[serde(default, rename = "native_histogram_bucket_limit")]
        _native_histogram_bucket_limit: Option<IgnoredAny>,
        #[serde(default, rename = "native_histogram_min_bucket_factor")]
        _native_histogram_min_bucket_factor: Option<IgnoredAny>,
        #[serde(default, rename = "metric_name_escaping_scheme")]
        _metric_name_escaping_scheme: Option<IgnoredAny>,
        #[serde(default, rename = "extra_scrape_metrics")]
        _extra_scrape_metrics: Option<IgnoredAny>,
    }
}

/// A located problem inside one job.
struct JobError {
    line: Option<u64>,
    column: Option<u64>,
    message: String,
}

impl RawScrapeConfig {
    /// Prometheus's `ScrapeConfig.UnmarshalYAML` + `Validate(global)`.
    fn into_scrape_config(
        mut self,
        global: &GlobalConfig,
        job_line: u64,
    ) -> Result<ScrapeConfig, JobError> {
        let job_name = self
            .job_name
            .take()
            .map(|spanned| spanned.value)
            .unwrap_or_default();
        let at_job = |message: String| JobError {
            line: Some(job_line),
            column: None,
            message: format!("scrape config with job name {job_name:?}: {message}"),
        };
        let mut http_client = self.take_http_client();
        http_client.validate().map_err(at_job)?;
        let mut limits = self.limits();
        limits.inherit_from(&global.limits);
        let mut static_configs = Vec::new();
        for (index, group) in self.static_configs.take().into_iter().flatten().enumerate() {
            let Some(group) = group else {
                return Err(at_job(format!(
                    "static_configs[{index}]: empty or null section in static_configs"
                )));
            };
            static_configs.push(group);
        }
        let relabel_configs = self.relabel_configs.unwrap_or_default();
        if relabel_configs.is_empty() {
            for group in &static_configs {
                for target in &group.targets {
                    let address = target
                        .get(crate::labels::ADDRESS_LABEL)
                        .map_or("", String::as_str);
                    crate::target::check_target_address(address)
                        .map_err(|error| at_job(error.to_string()))?;
                }
            }
        }
        let scrape_interval = self
            .scrape_interval
            .filter(|interval| !interval.is_zero())
            .unwrap_or(global.scrape_interval);
        let written_timeout = self.scrape_timeout.unwrap_or_default();
        if written_timeout > scrape_interval {
            return Err(at_job(format!(
                "scrape timeout ({written_timeout}) greater than scrape interval ({scrape_interval})"
            )));
        }
        let scrape_timeout = if written_timeout.is_zero() {
            global.scrape_timeout.min(scrape_interval)
        } else {
            written_timeout
        };
        // Like Prometheus, any scheme is accepted here: relabeling can change
        // `__scheme__` anyway, so the scraper checks it per target.
        let scheme = self.scheme.unwrap_or_else(|| String::from("http"));
        let name_scheme = self
            .metric_name_validation_scheme
            .unwrap_or(global.metric_name_validation_scheme);
        let validate_rules = |rules: Vec<Option<Spanned<RelabelConfig>>>, field: &str| {
            let kind = if field == "relabel_configs" {
                "target"
            } else {
                "metric"
            };
            let mut validated = Vec::with_capacity(rules.len());
            for (index, rule) in rules.into_iter().enumerate() {
                let Some(mut rule) = rule else {
                    return Err(at_job(format!(
                        "{field}[{index}]: empty or null {kind} relabeling rule in scrape config"
                    )));
                };
                rule.value.validate(name_scheme).map_err(|error| JobError {
                    line: Some(rule.referenced.line()),
                    column: Some(rule.referenced.column()),
                    message: format!(
                        "scrape config with job name {job_name:?}: {field}[{index}]: {error}"
                    ),
                })?;
                validated.push(rule.value);
            }
            Ok(validated)
        };
        let relabel_configs = validate_rules(relabel_configs, "relabel_configs")?;
        let metric_relabel_configs = validate_rules(
            self.metric_relabel_configs.unwrap_or_default(),
            "metric_relabel_configs",
        )?;
        Ok(ScrapeConfig {
            job_name,
            line: job_line,
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            params: self.params.unwrap_or_default(),
            scrape_interval,
            scrape_timeout,
            metrics_path: self
                .metrics_path
                .unwrap_or_else(|| String::from("/metrics")),
            scheme,
            enable_compression: self.enable_compression.unwrap_or(true),
            limits,
            metric_name_validation_scheme: name_scheme,
            scrape_native_histograms: self
                .scrape_native_histograms
                .unwrap_or(global.scrape_native_histograms),
            always_scrape_classic_histograms: self
                .always_scrape_classic_histograms
                .unwrap_or(global.always_scrape_classic_histograms),
            convert_classic_histograms_to_nhcb: self
                .convert_classic_histograms_to_nhcb
                .unwrap_or(global.convert_classic_histograms_to_nhcb),
            http_client,
            static_configs,
            file_sd_configs: self.file_sd_configs.unwrap_or_default(),
            http_sd_configs: self.http_sd_configs.unwrap_or_default(),
            dns_sd_configs: self.dns_sd_configs.unwrap_or_default(),
            kubernetes_sd_configs: self.kubernetes_sd_configs.unwrap_or_default(),
            relabel_configs,
            metric_relabel_configs,
        })
    }
}

impl ScrapeConfig {
    /// A job with every default (global defaults, no targets, no rules), for
    /// building configurations in code.
    pub fn new(job_name: impl Into<String>, global: &GlobalConfig) -> Self {
        Self {
            job_name: job_name.into(),
            line: 0,
            honor_labels: false,
            honor_timestamps: true,
            params: BTreeMap::new(),
            scrape_interval: global.scrape_interval,
            scrape_timeout: global.scrape_timeout.min(global.scrape_interval),
            metrics_path: String::from("/metrics"),
            scheme: String::from("http"),
            enable_compression: true,
            limits: global.limits,
            metric_name_validation_scheme: global.metric_name_validation_scheme,
            scrape_native_histograms: global.scrape_native_histograms,
            always_scrape_classic_histograms: global.always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb: global.convert_classic_histograms_to_nhcb,
            http_client: HttpClientConfig::default(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            http_sd_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            kubernetes_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }

    fn set_directory(&mut self, directory: &Path) {
        self.http_client.set_directory(directory);
        for file_sd in &mut self.file_sd_configs {
            for file in &mut file_sd.files {
                join_directory(directory, file);
            }
        }
        for http_sd in &mut self.http_sd_configs {
            http_sd.http_client.set_directory(directory);
        }
        for kubernetes_sd in &mut self.kubernetes_sd_configs {
            kubernetes_sd.http_client.set_directory(directory);
            join_directory(directory, &mut kubernetes_sd.kubeconfig_file);
        }
    }
}

/// The parts of a Prometheus configuration file weft uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Config {
    /// The `global` section (defaults when absent or empty).
    pub global: GlobalConfig,
    /// The jobs, in file order; job names are unique.
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<Spanned<RawGlobalConfig>>,
    #[serde(default)]
    scrape_configs: Option<Vec<Option<Spanned<RawScrapeConfig>>>>,
    #[serde(default)]
    scrape_config_files: Option<Spanned<IgnoredAny>>,
    // Other Prometheus sections, accepted and ignored.
    #[serde(default, rename = "rule_files")]
    _rule_files: Option<IgnoredAny>,
    #[serde(default, rename = "alerting")]
    _alerting: Option<IgnoredAny>,
    #[serde(default, rename = "remote_write")]
    _remote_write: Option<IgnoredAny>,
    #[serde(default, rename = "remote_read")]
    _remote_read: Option<IgnoredAny>,
    #[serde(default, rename = "storage")]
    _storage: Option<IgnoredAny>,
    #[serde(default, rename = "tracing")]
    _tracing: Option<IgnoredAny>,
    #[serde(default, rename = "otlp")]
    _otlp: Option<IgnoredAny>,
    #[serde(default, rename = "runtime")]
    _runtime: Option<IgnoredAny>,
}

impl Config {
    /// Parses configuration text. `source_name` names the input in errors;
    /// relative file paths stay as written.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let invalid =
            |line: Option<u64>, column: Option<u64>, message: String| ConfigError::Invalid {
                source_name: source_name.to_owned(),
                line,
                column,
                message,
            };
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str::<Option<RawConfig>>(text)
                .map_err(|error| {
                    let location = error.location();
                    invalid(
                        location.map(|location| location.line()),
                        location.map(|location| location.column()),
                        yaml_message(&error),
                    )
                })?
                .unwrap_or_default()
        };
        if let Some(files) = &raw.scrape_config_files {
            return Err(invalid(
                Some(files.referenced.line()),
                Some(files.referenced.column()),
                String::from(
                    "scrape_config_files is not supported; list the jobs in scrape_configs",
                ),
            ));
        }
        let global = match raw.global {
            None => RawGlobalConfig::default()
                .into_global()
                .map_err(|message| (None, None, message)),
            Some(spanned) => spanned.value.into_global().map_err(|message| {
                (
                    Some(spanned.referenced.line()),
                    Some(spanned.referenced.column()),
                    message,
                )
            }),
        }
        .map_err(|(line, column, message)| invalid(line, column, format!("global: {message}")))?;
        let mut scrape_configs = Vec::new();
        let mut job_names = HashSet::new();
        for (index, job) in raw
            .scrape_configs
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let Some(job) = job else {
                return Err(invalid(
                    None,
                    None,
                    format!("scrape_configs[{index}]: empty or null scrape config section"),
                ));
            };
            let job_line = job.referenced.line();
            let job_name_is_empty = job
                .value
                .job_name
                .as_ref()
                .is_none_or(|name| name.value.is_empty());
            if job_name_is_empty {
                return Err(invalid(
                    Some(job_line),
                    Some(job.referenced.column()),
                    format!("scrape_configs[{index}]: job_name is empty"),
                ));
            }
            let scrape_config = job
                .value
                .into_scrape_config(&global, job_line)
                .map_err(|error| invalid(error.line, error.column, error.message))?;
            if !job_names.insert(scrape_config.job_name.clone()) {
                return Err(invalid(
                    Some(job_line),
                    None,
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        scrape_config.job_name
                    ),
                ));
            }
            scrape_configs.push(scrape_config);
        }
        Ok(Self {
            global,
            scrape_configs,
        })
    }

    /// Reads and parses a configuration file; relative paths inside it (file SD
    /// files, credential and TLS files) are made relative to its directory.
    pub fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        let directory = path.parent().unwrap_or(Path::new("."));
        for job in &mut config.scrape_configs {
            job.set_directory(directory);
        }
        Ok(config)
    }

    /// The job named `job_name`.
    pub fn job(&self, job_name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs
            .iter()
            .find(|job| job.job_name == job_name)
    }
}

/// Reads and parses a Prometheus configuration file (see [`Config::load_file`]).
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    Config::load_file(path)
}

/// The YAML error's message without serde-saphyr's source snippet and location
/// (`error: line N column M: ...` prefix or `... at line N, column M` suffix):
/// callers report the location separately.
pub(crate) fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = text.lines().next().unwrap_or_default();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    let text = match text.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(text, |(_, message)| message),
        None => text,
    };
    let without_suffix = text
        .rsplit_once(" at line ")
        .and_then(|(message, location)| {
            let (line, column) = location.split_once(", column ")?;
            let is_number =
                |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
            (is_number(line) && is_number(column)).then_some(message)
        });
    without_suffix.unwrap_or(text).to_owned()
}
