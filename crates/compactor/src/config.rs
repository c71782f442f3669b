//! Compactor configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::{CatalogLimits, TenantId};

use crate::error::CompactorError;

/// When and how blocks are merged, and how long they are kept. Durations are humantime
/// strings (`"30s"`, `"24h"`); byte sizes are plain bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactorConfig {
    /// Whether the background loop ([`crate::Compactor::spawn`]) runs. When false the
    /// loop returns at once; blocks are then neither merged nor deleted by retention.
    /// Default true.
    pub enabled: bool,
    /// Time between the starts of two passes (a pass that overruns delays the next one,
    /// passes never overlap). Default 30s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Entry `i` is the window of ingest time within which blocks of level `i` are
    /// merged into level `i + 1`; blocks of level `level_windows.len()` are final.
    /// A block belongs to the window that holds its newest ingest time, windows being
    /// aligned on the Unix epoch. Each entry must be a whole multiple of the previous
    /// one, so that a merged block lies inside one window of the next level. Default
    /// `["1h", "24h"]`: blocks cut by the ingester are merged per hour, those per day.
    #[serde(with = "humantime_list")]
    pub level_windows: Vec<Duration>,
    /// Fewest blocks a merge takes. Default 2; at least 2.
    pub min_inputs: usize,
    /// Most blocks one merge takes (each input holds one Parquet row group in memory
    /// while merging). Default 16; at least `min_inputs`, at most 1024.
    pub max_inputs: usize,
    /// A merge takes no more inputs than keep the sum of their span counts at or below
    /// this, so a merged block holds at most this many spans. Default 5,000,000.
    pub max_output_spans: u64,
    /// A merge takes no more inputs than keep the sum of their `data.parquet` sizes at or
    /// below this many bytes; the merged block is about that size or smaller (merging
    /// removes duplicates and usually compresses better). Default 256 MiB.
    pub max_output_bytes: u64,
    /// In a window whose end is less than this long ago, blocks are merged only in
    /// batches that reach `max_inputs` or a size bound, so that a window still receiving
    /// blocks is not merged over and over into small blocks; after it, whatever the
    /// window holds is merged. Should exceed the ingester's `max_block_duration` (late
    /// blocks of a window arrive up to that long after its end). Default 20m.
    #[serde(with = "humantime_serde")]
    pub window_settle_delay: Duration,
    /// Incomplete blocks (files without `meta.json`: a write in progress or one cut off
    /// by a crash) whose newest file is older than this are deleted. Must exceed the
    /// longest block write of any process sharing the store. Default 1h.
    #[serde(with = "humantime_serde")]
    pub orphan_grace: Duration,
    /// Blocks whose newest span was ingested longer ago than this are deleted, unless
    /// `tenant_retention` names the tenant. Default 7 days; the app sets it from
    /// `storage.retention` (so it is not a key of this section).
    #[serde(skip)]
    pub retention: Duration,
    /// Retention per tenant id, overriding `retention` (for instance `{"team-a": "30d"}`).
    /// Keys must be valid tenant ids; values greater than 0. Default none.
    #[serde(with = "humantime_map")]
    pub tenant_retention: BTreeMap<String, Duration>,
    /// Bounds of the attribute catalog (attribute keys per scope with typed values, for
    /// Tempo's tag endpoints) of the blocks it writes: `max_keys_per_scope` (default
    /// 1,000; 0 turns the catalog off), `max_values_per_key` (default 1,000, all types
    /// together), `max_string_value_bytes` (default 256; longer strings are left out).
    /// A scope or key over a bound is flagged truncated.
    pub attribute_catalog: CatalogLimits,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            enabled: true,
            interval: Duration::from_secs(30),
            level_windows: vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)],
            min_inputs: 2,
            max_inputs: 16,
            max_output_spans: 5_000_000,
            max_output_bytes: 256 * 1024 * 1024,
            window_settle_delay: Duration::from_secs(20 * 60),
            orphan_grace: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            tenant_retention: BTreeMap::new(),
            attribute_catalog: CatalogLimits::default(),
        }
    }
}

/// The most inputs a merge may be configured to take.
pub const MAX_INPUTS_LIMIT: usize = 1024;

impl CompactorConfig {
    /// Checks every setting and returns the per-tenant retention with validated tenant
    /// ids. Errors name the offending key (`compactor.<field>`, or the tenant key).
    pub fn validate(&self) -> Result<BTreeMap<TenantId, Duration>, CompactorError> {
        let invalid = |message: String| Err(CompactorError::InvalidConfig(message));
        if self.interval.is_zero() {
            return invalid("compactor.interval must be greater than 0".to_owned());
        }
        for (level, window) in self.level_windows.iter().enumerate() {
            if window.as_nanos() == 0 {
                return invalid(format!(
                    "compactor.level_windows[{level}] must be greater than 0"
                ));
            }
            if level > 0 {
                let previous = self.level_windows[level - 1].as_nanos();
                if window.as_nanos() % previous != 0 {
                    return invalid(format!(
                        "compactor.level_windows[{level}] ({}) must be a whole multiple of compactor.level_windows[{}] ({})",
                        humantime_serde::re::humantime::format_duration(*window),
                        level - 1,
                        humantime_serde::re::humantime::format_duration(
                            self.level_windows[level - 1]
                        ),
                    ));
                }
            }
        }
        if self.min_inputs < 2 {
            return invalid(format!(
                "compactor.min_inputs ({}) must be at least 2",
                self.min_inputs
            ));
        }
        if self.max_inputs < self.min_inputs || self.max_inputs > MAX_INPUTS_LIMIT {
            return invalid(format!(
                "compactor.max_inputs ({}) must be between compactor.min_inputs ({}) and {MAX_INPUTS_LIMIT}",
                self.max_inputs, self.min_inputs
            ));
        }
        if self.max_output_spans == 0 {
            return invalid("compactor.max_output_spans must be greater than 0".to_owned());
        }
        if self.max_output_bytes == 0 {
            return invalid("compactor.max_output_bytes must be greater than 0".to_owned());
        }
        if self.retention.is_zero() {
            return invalid("storage.retention must be greater than 0".to_owned());
        }
        let mut tenant_retention = BTreeMap::new();
        for (key, retention) in &self.tenant_retention {
            let tenant = TenantId::parse(key).map_err(|error| {
                CompactorError::InvalidConfig(format!(
                    "compactor.tenant_retention key {key:?} is not a valid tenant id: {error}"
                ))
            })?;
            if retention.is_zero() {
                return invalid(format!(
                    "compactor.tenant_retention.{key} must be greater than 0"
                ));
            }
            tenant_retention.insert(tenant, *retention);
        }
        Ok(tenant_retention)
    }
}

/// `Vec<Duration>` as a list of humantime strings.
mod humantime_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(values: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|value| humantime_serde::Serde::from(*value))
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        let values = Vec::<humantime_serde::Serde<Duration>>::deserialize(deserializer)?;
        Ok(values.into_iter().map(|value| value.into_inner()).collect())
    }
}

/// `BTreeMap<String, Duration>` with humantime strings as values.
mod humantime_map {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        values: &BTreeMap<String, Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|(key, value)| (key, humantime_serde::Serde::from(*value)))
            .collect::<BTreeMap<_, _>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let values =
            BTreeMap::<String, humantime_serde::Serde<Duration>>::deserialize(deserializer)?;
        Ok(values
            .into_iter()
            .map(|(key, value)| (key, value.into_inner()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_as_humantime() {
        let config = CompactorConfig::default();
        config.validate().expect("defaults are valid");
        let json = serde_json::to_value(&config).expect("serializes");
        assert_eq!(json["interval"], "30s");
        assert_eq!(json["level_windows"], serde_json::json!(["1h", "1day"]));
        assert!(
            json.get("retention").is_none(),
            "retention comes from storage"
        );
        let back: CompactorConfig = serde_json::from_value(json).expect("parses");
        assert_eq!(back, config);
    }

    #[test]
    fn tenant_retention_parses_humantime_and_validates_keys_by_name() {
        let config: CompactorConfig =
            serde_json::from_str(r#"{"tenant_retention": {"team-a": "30d", "b": "12h"}}"#)
                .expect("parses");
        let retention = config.validate().expect("valid");
        let team_a = TenantId::parse("team-a").expect("valid id");
        assert_eq!(retention[&team_a], Duration::from_secs(30 * 24 * 3600));
        assert_eq!(retention.len(), 2);

        let bad: CompactorConfig =
            serde_json::from_str(r#"{"tenant_retention": {"a/b": "1d"}}"#).expect("parses");
        let error = bad.validate().expect_err("invalid tenant").to_string();
        assert!(
            error.contains("compactor.tenant_retention") && error.contains("\"a/b\""),
            "{error}"
        );
        let zero: CompactorConfig =
            serde_json::from_str(r#"{"tenant_retention": {"a": "0s"}}"#).expect("parses");
        assert!(
            zero.validate()
                .expect_err("zero retention")
                .to_string()
                .contains("compactor.tenant_retention.a")
        );
        assert!(
            serde_json::from_str::<CompactorConfig>(r#"{"tenant_retention": {"a": "soon"}}"#)
                .is_err()
        );
    }

    #[test]
    fn unknown_keys_and_unusable_limits_are_rejected_by_name() {
        assert!(serde_json::from_str::<CompactorConfig>(r#"{"max_input": 3}"#).is_err());
        assert!(serde_json::from_str::<CompactorConfig>(r#"{"retention": "1d"}"#).is_err());
        let cases: [(CompactorConfig, &str); 5] = [
            (
                CompactorConfig {
                    min_inputs: 1,
                    ..CompactorConfig::default()
                },
                "compactor.min_inputs",
            ),
            (
                CompactorConfig {
                    max_inputs: 1,
                    ..CompactorConfig::default()
                },
                "compactor.max_inputs",
            ),
            (
                CompactorConfig {
                    level_windows: vec![Duration::from_secs(3600), Duration::from_secs(5400)],
                    ..CompactorConfig::default()
                },
                "compactor.level_windows[1]",
            ),
            (
                CompactorConfig {
                    interval: Duration::ZERO,
                    ..CompactorConfig::default()
                },
                "compactor.interval",
            ),
            (
                CompactorConfig {
                    max_output_bytes: 0,
                    ..CompactorConfig::default()
                },
                "compactor.max_output_bytes",
            ),
        ];
        for (config, key) in cases {
            let error = config.validate().expect_err(key).to_string();
            assert!(error.contains(key), "{error} should name {key}");
        }
    }
}
