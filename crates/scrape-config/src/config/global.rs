//! The `global` section and the limits and byte sizes it shares with jobs.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::shared_fields::with_shared_fields;
use crate::duration::PrometheusDuration;
use crate::labels::{Labels, NameValidationScheme};

/// Default global `scrape_interval`: 1m.
pub const DEFAULT_SCRAPE_INTERVAL: PrometheusDuration = PrometheusDuration::from_secs(60);
/// Default global `scrape_timeout`: 10s (capped at the interval).
pub const DEFAULT_SCRAPE_TIMEOUT: PrometheusDuration = PrometheusDuration::from_secs(10);

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
    pub(super) fn inherit_from(&mut self, global: &ScrapeLimits) {
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
pub(super) struct RawGlobalConfig {
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
    pub(super) fn into_global(self) -> Result<GlobalConfig, String> {
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
