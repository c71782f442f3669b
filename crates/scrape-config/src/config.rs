//! The `global` and `scrape_configs` sections of a Prometheus configuration file
//! (`config/config.go`), with Prometheus's defaults and load-time checks.
//!
//! Unknown keys are errors, as with Prometheus's strict YAML decoding. Errors
//! name the file, the line and column, and the field or job. The other top-level
//! sections of a Prometheus file (`rule_files`, `alerting`, `remote_write`, ...)
//! are accepted and ignored so an existing `prometheus.yml` loads unchanged;
//! `scrape_config_files` is rejected as not supported.

pub mod discovery;
mod global;
pub mod http_client;
mod scrape;
mod shared_fields;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::Serialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

pub use discovery::{
    DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesRole, KubernetesSdConfig,
};
use global::RawGlobalConfig;
pub use global::{
    ByteSize, DEFAULT_SCRAPE_INTERVAL, DEFAULT_SCRAPE_TIMEOUT, GlobalConfig, ScrapeLimits,
};
pub use http_client::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
use scrape::RawScrapeConfig;
pub use scrape::ScrapeConfig;

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
