//! Prometheus `scrape_configs` for weft's pull collection: parsing, relabeling and
//! target label computation with exactly Prometheus's semantics (3.x, read from
//! `prometheus/prometheus` at `d15adb9ad7e5`, 2026-08).
//!
//! * [`labels`]: the sorted label set [`Labels`] and label name validation
//!   ([`NameValidationScheme`]: Prometheus 3.x validates relabel target labels
//!   with the scrape config's `metric_name_validation_scheme`, UTF-8 by default,
//!   so any non-empty name is accepted unless `legacy` is configured).
//! * [`relabel`]: [`RelabelConfig`] with every action and [`relabel()`].
//! * [`duration`]: Prometheus durations (`1m30s`, `5m`, `1h`).
//! * [`config`]: the `global` and `scrape_configs` sections of a Prometheus
//!   configuration file, unknown keys rejected, errors naming file, line and field.
//! * [`target`]: Prometheus's `PopulateLabels`: discovered target + job config ->
//!   final labels, scrape URL, or the reason the target is dropped or invalid.
//! * [`file_sd`]: file service discovery target group files (YAML and JSON) and
//!   their glob patterns; [`http_sd`]: HTTP service discovery responses.
//! * [`offset`]: how Prometheus spreads a target's scrapes over its interval.
//!
//! Nothing here does I/O except [`config::load_file`] and [`file_sd`]'s file
//! readers; discovery mechanisms other than file and static are parsed and
//! validated only.

pub mod config;
pub mod duration;
pub mod file_sd;
pub mod go_regex;
pub mod http_sd;
pub mod labels;
pub mod offset;
pub mod relabel;
pub mod target;

pub use config::{Config, ConfigError, GlobalConfig, ScrapeConfig};
pub use duration::PrometheusDuration;
pub use labels::{Labels, NameValidationScheme};
pub use relabel::{Action, RelabelConfig, RelabelConfigError, relabel};
pub use target::{TargetError, TargetGroup, TargetOutcome, populate_labels};
