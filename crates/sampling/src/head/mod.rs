//! Head sampling: a keep-or-drop decision per span, consistent by trace id.
//!
//! # Decision
//!
//! For a span of tenant `t` from service `s` (resource `service.name`):
//!
//! 1. A Zipkin `debug` span is kept, with probability 1.
//! 2. The ratio is `services[s]`, else `tenants[t]`, else `default_ratio`; it becomes a
//!    56-bit rejection threshold `T` ([`Threshold::from_probability`], 4 hex digits as
//!    the specification recommends; ratio 0 keeps nothing).
//! 3. The randomness `R` is the `rv` of the span's `ot` tracestate entry when it is
//!    valid, else the low 56 bits of the trace id.
//! 4. An explicit upstream decision is the `th` of the `ot` tracestate entry, consistent
//!    with `R` (`R >= th`; an inconsistent `th` is ignored as the specification asks).
//!    When `th >= T` the upstream sampler was already at least as selective, so the span
//!    is kept with the upstream probability (an *equalizing* downstream sampler cannot
//!    raise a probability).
//! 5. Otherwise the span is kept when `R >= T`, with the probability of `T`.
//!
//! Every span of a trace with the same ratio gets the same decision, and with different
//! ratios the decisions nest: a trace kept at ratio 0.1 is kept at every ratio above 0.1.
//! The W3C *sampled* flag is not an explicit decision here: every span an SDK exports
//! carries it, so honouring it would turn head sampling off.

mod threshold;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use weft_model::Span;

pub use threshold::{
    DEFAULT_PRECISION_HEX_DIGITS, HEX_DIGITS, MAX_ADJUSTED_COUNT, MIN_SAMPLING_PROBABILITY,
    ProbabilityError, Randomness, Threshold,
};

use crate::error::ConfigError;
use crate::tracestate::ot_value;
use crate::yaml::{PickKey, from_str_seed, typed};

/// Head sampling ratios. YAML shape (the section may stand alone or sit under `head:`):
///
/// ```yaml
/// head:
///   default_ratio: 1.0      # every span not matched below; default 1.0
///   tenants: { t1: 0.5 }    # per tenant id
///   services: { checkout: 0.1 }  # per resource service.name; wins over tenants
/// ```
///
/// Ratios are probabilities in `[2^-56, 1]`, or 0 to keep nothing (except debug spans).
/// It also deserializes with serde (unknown keys refused) for embedding in a larger
/// configuration; [`HeadSampler::new`] then checks the ratios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// The ratio for spans no tenant or service entry matches.
    pub default_ratio: f64,
    /// Ratios by tenant id.
    pub tenants: BTreeMap<String, f64>,
    /// Ratios by service name; a service entry wins over its tenant's entry.
    pub services: BTreeMap<String, f64>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            default_ratio: 1.0,
            tenants: BTreeMap::new(),
            services: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHeadConfig {
    default_ratio: Option<Spanned<f64>>,
    #[serde(default)]
    tenants: BTreeMap<String, Spanned<f64>>,
    #[serde(default)]
    services: BTreeMap<String, Spanned<f64>>,
}

impl HeadConfig {
    /// Parses a head sampling section from YAML: the `head:` key of a larger document
    /// (its other top-level keys are not read), or the section itself. Errors name
    /// `source_name`, the line and the offending key.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<HeadConfig, ConfigError> {
        let has_head_key = serde_saphyr::from_str::<BTreeMap<String, serde::de::IgnoredAny>>(text)
            .map(|keys| keys.contains_key("head"))
            .unwrap_or(false);
        let raw = if has_head_key {
            let seed = PickKey {
                key: "head",
                inner: typed::<RawHeadConfig>(),
            };
            from_str_seed(text, seed).map(|head| head.unwrap_or_default())
        } else {
            serde_saphyr::from_str::<RawHeadConfig>(text)
        }
        .map_err(|error| ConfigError::from_yaml(source_name, text, &error))?;

        let check = |what: String, ratio: &Spanned<f64>| -> Result<f64, ConfigError> {
            ratio_threshold(ratio.value).map_err(|error| {
                ConfigError::at(source_name, ratio.referenced, format!("{what}: {error}"))
            })?;
            Ok(ratio.value)
        };
        let default_ratio = match &raw.default_ratio {
            Some(ratio) => check(String::from("default_ratio"), ratio)?,
            None => 1.0,
        };
        let mut config = HeadConfig {
            default_ratio,
            ..HeadConfig::default()
        };
        for (tenant, ratio) in &raw.tenants {
            let value = check(format!("tenants.{tenant}"), ratio)?;
            config.tenants.insert(tenant.clone(), value);
        }
        for (service, ratio) in &raw.services {
            let value = check(format!("services.{service}"), ratio)?;
            config.services.insert(service.clone(), value);
        }
        Ok(config)
    }
}

/// A ratio's threshold: [`Threshold::NEVER`] for 0.
fn ratio_threshold(ratio: f64) -> Result<Threshold, ProbabilityError> {
    if ratio == 0.0 {
        return Ok(Threshold::NEVER);
    }
    Threshold::from_probability(ratio, DEFAULT_PRECISION_HEX_DIGITS)
}

/// A ratio that cannot be sampled with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {source}")]
pub struct RatioError {
    /// `default_ratio`, `tenants.<id>` or `services.<name>`.
    pub key: String,
    /// What is wrong with the value.
    pub source: ProbabilityError,
}

/// Why a span was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepReason {
    /// Zipkin `debug`: the sender forced sampling.
    Debug,
    /// The span's `ot` tracestate threshold was already at least as selective as ours.
    UpstreamThreshold,
    /// The span's randomness passed our threshold.
    Ratio,
}

/// A head sampling decision for one span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadDecision {
    /// Keep the span.
    Keep {
        /// The probability this span had of being kept along its whole path; its inverse
        /// is the span's adjusted count. 1 for debug spans.
        probability: f64,
        /// The threshold that probability comes from (the upstream one or ours); this is
        /// what a caller would write back as `ot=th:...`.
        threshold: Threshold,
        /// Why.
        reason: KeepReason,
    },
    /// Drop the span.
    Drop,
}

impl HeadDecision {
    /// True for [`HeadDecision::Keep`].
    pub fn is_keep(&self) -> bool {
        matches!(self, HeadDecision::Keep { .. })
    }
}

/// Decides head sampling per span. Immutable after construction, so `&self` is shared
/// freely between threads.
#[derive(Debug, Clone)]
pub struct HeadSampler {
    default_threshold: Threshold,
    tenant_thresholds: BTreeMap<String, Threshold>,
    service_thresholds: BTreeMap<String, Threshold>,
}

impl HeadSampler {
    /// Builds a sampler; fails when a ratio is outside `[2^-56, 1]` and not 0.
    pub fn new(config: &HeadConfig) -> Result<HeadSampler, RatioError> {
        let convert = |key: String, ratio: f64| {
            ratio_threshold(ratio).map_err(|source| RatioError { key, source })
        };
        let mut tenant_thresholds = BTreeMap::new();
        for (tenant, ratio) in &config.tenants {
            tenant_thresholds.insert(
                tenant.clone(),
                convert(format!("tenants.{tenant}"), *ratio)?,
            );
        }
        let mut service_thresholds = BTreeMap::new();
        for (service, ratio) in &config.services {
            service_thresholds.insert(
                service.clone(),
                convert(format!("services.{service}"), *ratio)?,
            );
        }
        Ok(HeadSampler {
            default_threshold: convert(String::from("default_ratio"), config.default_ratio)?,
            tenant_thresholds,
            service_thresholds,
        })
    }

    /// Our threshold for a span of `tenant` from `service`: service entry, else tenant
    /// entry, else the default.
    pub fn threshold_for(&self, tenant: &str, service: Option<&str>) -> Threshold {
        service
            .and_then(|name| self.service_thresholds.get(name))
            .or_else(|| self.tenant_thresholds.get(tenant))
            .copied()
            .unwrap_or(self.default_threshold)
    }

    /// The decision for one span of `tenant` (see the module documentation).
    pub fn decide(&self, span: &Span, tenant: &str) -> HeadDecision {
        if span.debug {
            return HeadDecision::Keep {
                probability: 1.0,
                threshold: Threshold::ALWAYS,
                reason: KeepReason::Debug,
            };
        }
        let ours = self.threshold_for(tenant, span.service_name());
        let randomness = ot_value(&span.trace_state, "rv")
            .and_then(Randomness::from_rv)
            .unwrap_or_else(|| Randomness::from_trace_id(&span.trace_id));
        let upstream = ot_value(&span.trace_state, "th")
            .and_then(Threshold::from_th)
            .filter(|threshold| threshold.should_sample(randomness));
        if let Some(upstream) = upstream
            && upstream >= ours
        {
            return HeadDecision::Keep {
                probability: upstream.probability(),
                threshold: upstream,
                reason: KeepReason::UpstreamThreshold,
            };
        }
        if ours.should_sample(randomness) {
            HeadDecision::Keep {
                probability: ours.probability(),
                threshold: ours,
                reason: KeepReason::Ratio,
            }
        } else {
            HeadDecision::Drop
        }
    }
}
