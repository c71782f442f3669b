//! One `scrape_configs` entry: parsing, Prometheus's defaults and checks.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig};
use super::global::{GlobalConfig, ScrapeLimits};
use super::http_client::{HttpClientConfig, join_directory};
use super::shared_fields::with_shared_fields;
use crate::duration::PrometheusDuration;
use crate::labels::NameValidationScheme;
use crate::relabel::RelabelConfig;
use crate::target::TargetGroup;

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
    /// Kubernetes service discovery (run by weft-scraper's `discovery::kubernetes`).
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
    pub(super) struct RawScrapeConfig {
        #[serde(default)]
        pub(super) job_name: Option<Spanned<String>>,
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
pub(super) struct JobError {
    pub(super) line: Option<u64>,
    pub(super) column: Option<u64>,
    pub(super) message: String,
}

impl RawScrapeConfig {
    /// Prometheus's `ScrapeConfig.UnmarshalYAML` + `Validate(global)`.
    pub(super) fn into_scrape_config(
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

    pub(super) fn set_directory(&mut self, directory: &Path) {
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
