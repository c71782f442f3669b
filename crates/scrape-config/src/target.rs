//! From a discovered target to the target weft scrapes, exactly as Prometheus's
//! `scrape/target.go` (`PopulateDiscoveredLabels`, `PopulateLabels`,
//! `Target.URL`, `Target.hash`).
//!
//! Prometheus 3.x behaviour is implemented: no default port is added to
//! `__address__` (Prometheus 2.x appended `:80`/`:443` by scheme, or removed
//! them with `--enable-feature=no-default-scrape-port`; 3.0 made that the only
//! behaviour), and `params` only fill `__param_<name>` labels that discovery did
//! not set (2.x overwrote them).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::ScrapeConfig;
use crate::duration::PrometheusDuration;
use crate::labels::{
    ADDRESS_LABEL, INSTANCE_LABEL, JOB_LABEL, Labels, META_LABEL_PREFIX, METRICS_PATH_LABEL,
    PARAM_LABEL_PREFIX, SCHEME_LABEL, SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL,
};
use crate::relabel::relabel;

/// Label Prometheus 3.x sets from `convert_classic_histograms_to_nhcb`.
pub const CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB_LABEL: &str = "__convert_classic_histograms_to_nhcb__";
/// Label Prometheus 3.x sets from `always_scrape_classic_histograms`.
pub const ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS_LABEL: &str = "__always_scrape_classic_histograms__";
/// Label Prometheus 3.x sets from `scrape_native_histograms`.
pub const SCRAPE_NATIVE_HISTOGRAMS_LABEL: &str = "__scrape_native_histograms__";

/// A group of discovered targets sharing labels (Prometheus's
/// `targetgroup.Group`). In files and `static_configs` it is written as
/// `{targets: ["host:port", ...], labels: {name: value}}`; unknown keys are
/// errors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TargetGroup {
    /// Per-target labels; from configuration files only `__address__`. A map,
    /// not a [`Labels`]: a target label written with an empty value still
    /// shadows the group label of the same name, as in Prometheus.
    pub targets: Vec<BTreeMap<String, String>>,
    /// Labels shared by every target of the group.
    pub labels: BTreeMap<String, String>,
    /// Where the group comes from (`<file>:<index>` for file SD); empty for
    /// static configs.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargetGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

impl<'de> Deserialize<'de> for TargetGroup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawTargetGroup::deserialize(deserializer)?;
        let labels = raw.labels.unwrap_or_default();
        if labels.contains_key("") {
            return Err(serde::de::Error::custom(r#""" is not a valid label name"#));
        }
        Ok(Self {
            targets: raw
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|address| BTreeMap::from([(String::from(ADDRESS_LABEL), address)]))
                .collect(),
            labels,
            source: String::new(),
        })
    }
}

impl TargetGroup {
    /// A group of targets given by address with shared `labels`.
    pub fn from_addresses<A: Into<String>>(
        addresses: impl IntoIterator<Item = A>,
        labels: BTreeMap<String, String>,
    ) -> Self {
        Self {
            targets: addresses
                .into_iter()
                .map(|address| BTreeMap::from([(String::from(ADDRESS_LABEL), address.into())]))
                .collect(),
            labels,
            source: String::new(),
        }
    }
}

/// Gives each discovered group its source `<origin>:<index>` and the label
/// `meta_label = origin` (`__meta_filepath`, `__meta_url`); a `null` group is an
/// error, as in Prometheus's file and HTTP discovery.
pub(crate) fn finish_groups(
    groups: Vec<Option<TargetGroup>>,
    origin: &str,
    meta_label: &str,
) -> Result<Vec<TargetGroup>, String> {
    groups
        .into_iter()
        .enumerate()
        .map(|(index, group)| {
            let mut group = group.ok_or_else(|| String::from("nil target group item found"))?;
            group.source = format!("{origin}:{index}");
            group
                .labels
                .insert(meta_label.to_owned(), origin.to_owned());
            Ok(group)
        })
        .collect()
}

/// Why a discovered target cannot be scraped. Messages are Prometheus's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `__address__` is empty after relabeling.
    #[error("no address")]
    NoAddress,
    /// `__address__` contains `/` (a URL was given instead of `host:port`).
    #[error("{0:?} is not a valid hostname")]
    InvalidAddress(String),
    /// `__scrape_interval__` does not parse.
    #[error("error parsing scrape interval: {0}")]
    InvalidInterval(String),
    /// `__scrape_interval__` is zero.
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    /// `__scrape_timeout__` does not parse.
    #[error("error parsing scrape timeout: {0}")]
    InvalidTimeout(String),
    /// `__scrape_timeout__` is zero.
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    /// The timeout is longer than the interval.
    #[error("scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})")]
    TimeoutAboveInterval {
        /// `__scrape_timeout__` as written.
        timeout: String,
        /// `__scrape_interval__` as written.
        interval: String,
    },
    /// A histogram flag label is not a Go boolean.
    #[error("error parsing {description}: strconv.ParseBool: parsing {value:?}: invalid syntax")]
    InvalidBoolean {
        /// What the label configures.
        description: &'static str,
        /// The value found.
        value: String,
    },
}

/// Prometheus's `config.CheckTargetAddress`: an address must not contain `/`.
pub fn check_target_address(address: &str) -> Result<(), TargetError> {
    if address.contains('/') {
        return Err(TargetError::InvalidAddress(address.to_owned()));
    }
    Ok(())
}

/// A target that survived relabeling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// All labels after relabeling, including `__` ones (`__address__`,
    /// `__scheme__`, `__metrics_path__`, `__param_*`, ...); `__meta_*` removed;
    /// `instance` set.
    pub labels: Labels,
    /// The labels before relabeling (what Prometheus shows as `discoveredLabels`).
    pub discovered_labels: Labels,
    /// Scrape interval from `__scrape_interval__`.
    pub scrape_interval: PrometheusDuration,
    /// Scrape timeout from `__scrape_timeout__`.
    pub scrape_timeout: PrometheusDuration,
}

/// What became of one discovered target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TargetOutcome {
    /// It is scraped.
    Active(Target),
    /// Relabeling dropped it; its discovered labels are kept for display.
    Dropped {
        /// The labels before relabeling.
        discovered_labels: Labels,
    },
}

/// Prometheus's `PopulateDiscoveredLabels`: target labels, then group labels the
/// target does not have, then (when unset or empty) `job`, `__scrape_interval__`,
/// `__scrape_timeout__`, `__metrics_path__`, `__scheme__`, the histogram flags,
/// and `__param_<name>` for each `params` entry's first value.
pub fn discovered_labels(
    config: &ScrapeConfig,
    target: &BTreeMap<String, String>,
    group_labels: &BTreeMap<String, String>,
) -> Labels {
    let mut labels = Labels::new();
    for (name, value) in target {
        labels.set(name.clone(), value.clone());
    }
    for (name, value) in group_labels {
        if !target.contains_key(name) {
            labels.set(name.clone(), value.clone());
        }
    }
    let defaults = [
        (JOB_LABEL, config.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, config.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT_LABEL, config.scrape_timeout.to_string()),
        (METRICS_PATH_LABEL, config.metrics_path.clone()),
        (SCHEME_LABEL, config.scheme.clone()),
        (
            CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB_LABEL,
            config.convert_classic_histograms_to_nhcb.to_string(),
        ),
        (
            ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS_LABEL,
            config.always_scrape_classic_histograms.to_string(),
        ),
        (
            SCRAPE_NATIVE_HISTOGRAMS_LABEL,
            config.scrape_native_histograms.to_string(),
        ),
    ];
    for (name, value) in defaults {
        if labels.get(name).is_empty() {
            labels.set(name, value);
        }
    }
    for (name, values) in &config.params {
        let label = format!("{PARAM_LABEL_PREFIX}{name}");
        if let Some(first) = values.first()
            && labels.get(&label).is_empty()
        {
            labels.set(label, first.clone());
        }
    }
    labels
}

/// Prometheus's `PopulateLabels`: discovered labels, `relabel_configs`, then the
/// checks (address present and without `/`, interval and timeout parse, are
/// non-zero and timeout <= interval, histogram flags are booleans), `__meta_*`
/// removed and `instance` defaulted to `__address__`.
pub fn populate_labels(
    config: &ScrapeConfig,
    target: &BTreeMap<String, String>,
    group_labels: &BTreeMap<String, String>,
) -> Result<TargetOutcome, TargetError> {
    let discovered = discovered_labels(config, target, group_labels);
    let Some(mut labels) = relabel(&discovered, &config.relabel_configs) else {
        return Ok(TargetOutcome::Dropped {
            discovered_labels: discovered,
        });
    };
    let address = labels.get(ADDRESS_LABEL).to_owned();
    if address.is_empty() {
        return Err(TargetError::NoAddress);
    }
    check_target_address(&address)?;
    let interval_text = labels.get(SCRAPE_INTERVAL_LABEL).to_owned();
    let scrape_interval = PrometheusDuration::parse(&interval_text)
        .map_err(|error| TargetError::InvalidInterval(error.to_string()))?;
    if scrape_interval.is_zero() {
        return Err(TargetError::ZeroInterval);
    }
    let timeout_text = labels.get(SCRAPE_TIMEOUT_LABEL).to_owned();
    let scrape_timeout = PrometheusDuration::parse(&timeout_text)
        .map_err(|error| TargetError::InvalidTimeout(error.to_string()))?;
    if scrape_timeout.is_zero() {
        return Err(TargetError::ZeroTimeout);
    }
    if scrape_timeout > scrape_interval {
        return Err(TargetError::TimeoutAboveInterval {
            timeout: timeout_text,
            interval: interval_text,
        });
    }
    for (label, description) in [
        (
            CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB_LABEL,
            "convert classic histograms to nhcb",
        ),
        (
            ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS_LABEL,
            "always scrape classic histograms",
        ),
        (SCRAPE_NATIVE_HISTOGRAMS_LABEL, "scrape native histograms"),
    ] {
        let value = labels.get(label);
        if !value.is_empty() && parse_go_bool(value).is_none() {
            return Err(TargetError::InvalidBoolean {
                description,
                value: value.to_owned(),
            });
        }
    }
    labels.retain(|name, _| !name.starts_with(META_LABEL_PREFIX));
    if labels.get(INSTANCE_LABEL).is_empty() {
        labels.set(INSTANCE_LABEL, address);
    }
    Ok(TargetOutcome::Active(Target {
        labels,
        discovered_labels: discovered,
        scrape_interval,
        scrape_timeout,
    }))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Every target of `group` under `config`: active and dropped targets, and the
/// failures (`instance <index> in group <source>: <error>`), in target order.
pub fn targets_from_group(
    config: &ScrapeConfig,
    group: &TargetGroup,
) -> (Vec<TargetOutcome>, Vec<String>) {
    let mut outcomes = Vec::with_capacity(group.targets.len());
    let mut failures = Vec::new();
    for (index, target) in group.targets.iter().enumerate() {
        match populate_labels(config, target, &group.labels) {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => failures.push(format!(
                "instance {index} in group {}: {error}",
                group.source
            )),
        }
    }
    (outcomes, failures)
}

impl Target {
    /// The labels a scraped series carries: those not starting with `__`.
    pub fn public_labels(&self) -> Labels {
        self.labels.without_reserved()
    }

    /// Prometheus's `Target.URL().String()`:
    /// `<__scheme__>://<__address__><__metrics_path__>?<query>`, the query being
    /// `params` with each `__param_<name>` label replacing the first value of
    /// `<name>` (or adding it), keys sorted, form-encoded as Go's `url.Values`.
    pub fn scrape_url(&self, config: &ScrapeConfig) -> String {
        let mut params = config.params.clone();
        for (name, value) in self.labels.iter() {
            let Some(key) = name.strip_prefix(PARAM_LABEL_PREFIX) else {
                continue;
            };
            let values = params.entry(key.to_owned()).or_default();
            match values.first_mut() {
                Some(first) => *first = value.to_owned(),
                None => values.push(value.to_owned()),
            }
        }
        let mut url = String::new();
        let scheme = self.labels.get(crate::labels::SCHEME_LABEL);
        let host = self.labels.get(ADDRESS_LABEL);
        let path = self.labels.get(METRICS_PATH_LABEL);
        if !scheme.is_empty() {
            url.push_str(scheme);
            url.push(':');
        }
        if !scheme.is_empty() || !host.is_empty() {
            url.push_str("//");
            escape_into(&mut url, host, Encoding::Host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            url.push('/');
        }
        escape_into(&mut url, path, Encoding::Path);
        let query = encode_query(&params);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }

    /// Prometheus's `Target.hash()`: FNV-1a 64 of the decimal labels hash
    /// (zero-padded to 16 digits) followed by the scrape URL. Input to
    /// [`crate::offset::offset`].
    pub fn hash(&self, config: &ScrapeConfig) -> u64 {
        let mut text = format!("{:016}", self.labels.prometheus_hash());
        text.push_str(&self.scrape_url(config));
        crate::offset::fnv1a_64(text.as_bytes())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Host,
    Path,
    QueryComponent,
}

/// Go's `url.shouldEscape` for the modes `URL.String` and `url.Values.Encode` use.
fn should_escape(byte: u8, encoding: Encoding) -> bool {
    if byte.is_ascii_alphanumeric() {
        return false;
    }
    if encoding == Encoding::Host
        && matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match byte {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match encoding {
            Encoding::Path => byte == b'?',
            Encoding::QueryComponent => true,
            Encoding::Host => true,
        },
        _ => true,
    }
}

fn escape_into(output: &mut String, text: &str, encoding: Encoding) {
    for byte in text.bytes() {
        if byte == b' ' && encoding == Encoding::QueryComponent {
            output.push('+');
        } else if should_escape(byte, encoding) {
            let _ = write!(output, "%{byte:02X}");
        } else {
            output.push(char::from(byte));
        }
    }
}

/// Go's `url.Values.Encode`: keys sorted, `key=value` pairs joined by `&`.
fn encode_query(params: &BTreeMap<String, Vec<String>>) -> String {
    let mut query = String::new();
    for (key, values) in params {
        for value in values {
            if !query.is_empty() {
                query.push('&');
            }
            escape_into(&mut query, key, Encoding::QueryComponent);
            query.push('=');
            escape_into(&mut query, value, Encoding::QueryComponent);
        }
    }
    query
}
