//! Ingester configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::CatalogLimits;

use crate::error::IngesterError;

/// When the WAL writer fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalFsyncPolicy {
    /// Group commit: every write is fsynced before any push in it is acknowledged. No
    /// acknowledged span is lost on a crash, a kill -9 or a power failure.
    Always,
    /// Writes are handed to the operating system before the push is acknowledged and
    /// fsynced every `wal_fsync_interval`. Survives a process crash or kill -9 (the OS
    /// still has the data) but a power failure or kernel crash can lose up to one
    /// interval of acknowledged spans.
    Interval,
}

/// WAL, head and block-cutting settings. Byte sizes are plain bytes; durations are
/// humantime strings (`"15m"`, `"100ms"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterConfig {
    /// Directory holding `wal/` and `blocks/`. Default `./weft-data`; the app sets it
    /// from `--storage.path` (so it is not a key of this section).
    #[serde(skip)]
    pub storage_path: PathBuf,
    /// When the WAL is fsynced: `always` (default) or `interval`.
    pub wal_fsync_policy: WalFsyncPolicy,
    /// Period between fsyncs with the `interval` policy (ignored with `always`).
    /// Default 100ms.
    #[serde(with = "humantime_serde")]
    pub wal_fsync_interval: Duration,
    /// The head is cut to blocks when it holds more than this many bytes of memory
    /// (counted the way the allocator hands it out: the encoded WAL records the head
    /// keeps, their span index, trace digests, names; see `docs/benchmarks.md` for how
    /// that compares with resident memory). Default 128 MiB, about 350,000 spans of the
    /// benchmark corpus: a block every ~2 s at 150,000 spans/s, written in ~0.3 s.
    pub max_head_bytes: u64,
    /// Pushes are refused with a retry hint (HTTP 429, gRPC `RESOURCE_EXHAUSTED`) while
    /// the head and the heads still being written to blocks together hold more than
    /// this many bytes (counted like `max_head_bytes`), and the head is cut at once.
    /// That only happens when block writing cannot keep up with ingest (a slow or full
    /// disk, an overloaded machine); a healthy server writes a cut head long before the
    /// next one fills. Must be at least `max_head_bytes`. Default 384 MiB, three heads:
    /// one being written, one filling, and one of slack for a write that is slower than
    /// ingest for a while. Resident memory runs at up to about twice the counted bytes
    /// (memory of a written head returns to the system with a delay) plus requests in
    /// flight, so the defaults keep the server well under 1 GiB
    /// (`docs/benchmarks.md`).
    pub max_unflushed_bytes: u64,
    /// How long a push waits for the head and the heads being written to fall back
    /// under `max_unflushed_bytes` before it is refused. Waiting slows senders to what
    /// block writing can take (a connection's next request waits for this one's answer)
    /// instead of turning a burst into refusals, so clients see 429 /
    /// `RESOURCE_EXHAUSTED` only when memory stays short this long. A waiting request
    /// keeps its decoded spans, which the receivers' in-flight budget bounds. Default
    /// 5s, half the default timeout of OpenTelemetry and Zipkin exporters; 0 refuses at
    /// once.
    #[serde(with = "humantime_serde")]
    pub max_memory_wait: Duration,
    /// The head is cut at least this often (counted from its first span), so blocks
    /// cover bounded time and WAL replay stays short. Default 15m: short enough for a
    /// quick replay, long enough that few small blocks wait for compaction.
    #[serde(with = "humantime_serde")]
    pub max_block_duration: Duration,
    /// Most spans one trace may have in the head; further spans of that trace are
    /// rejected (counted in `PushOutcome::rejected_spans`, reason `trace_too_large`)
    /// until the head is cut. Concurrent pushes of one trace are checked independently,
    /// so each can overshoot by at most its own batch. Default 100,000.
    pub max_spans_per_trace: u64,
    /// How often the list of blocks is re-read from the store, to see blocks that the
    /// compactor (in this process or another) wrote or deleted. Default 15s; a compactor
    /// in this process also triggers a refresh after each pass.
    #[serde(with = "humantime_serde")]
    pub block_list_poll_interval: Duration,
    /// Attribute keys whose values are kept for autocomplete. Default none; the app
    /// passes Zipkin's `AUTOCOMPLETE_KEYS` (so it is not a key of this section).
    #[serde(skip)]
    pub indexed_attribute_keys: Vec<String>,
    /// Bounds of the attribute catalog (attribute keys per scope with typed values, for
    /// Tempo's tag endpoints) kept per block and head: `max_keys_per_scope` (default
    /// 1,000; 0 turns the catalog off), `max_values_per_key` (default 1,000, all types
    /// together), `max_string_value_bytes` (default 256; longer strings are left out).
    /// A scope or key over a bound is flagged truncated.
    pub attribute_catalog: CatalogLimits,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            storage_path: PathBuf::from("./weft-data"),
            wal_fsync_policy: WalFsyncPolicy::Always,
            wal_fsync_interval: Duration::from_millis(100),
            max_head_bytes: 128 * 1024 * 1024,
            max_unflushed_bytes: 384 * 1024 * 1024,
            max_memory_wait: Duration::from_secs(5),
            max_block_duration: Duration::from_secs(15 * 60),
            max_spans_per_trace: 100_000,
            block_list_poll_interval: Duration::from_secs(15),
            indexed_attribute_keys: Vec::new(),
            attribute_catalog: CatalogLimits::default(),
        }
    }
}

impl IngesterConfig {
    /// Checks that every setting is usable. Errors name the offending key.
    pub fn validate(&self) -> Result<(), IngesterError> {
        let invalid = |message: &str| Err(IngesterError::InvalidConfig(message.to_owned()));
        if self.storage_path.as_os_str().is_empty() {
            return invalid("ingester.storage_path must not be empty");
        }
        if self.max_head_bytes == 0 {
            return invalid("ingester.max_head_bytes must be greater than 0");
        }
        if self.max_unflushed_bytes < self.max_head_bytes {
            return Err(IngesterError::InvalidConfig(format!(
                "ingester.max_unflushed_bytes ({}) must be at least ingester.max_head_bytes ({})",
                self.max_unflushed_bytes, self.max_head_bytes
            )));
        }
        if self.max_spans_per_trace == 0 {
            return invalid("ingester.max_spans_per_trace must be greater than 0");
        }
        if self.max_block_duration.is_zero() {
            return invalid("ingester.max_block_duration must be greater than 0");
        }
        if self.block_list_poll_interval.is_zero() {
            return invalid("ingester.block_list_poll_interval must be greater than 0");
        }
        if self.wal_fsync_policy == WalFsyncPolicy::Interval && self.wal_fsync_interval.is_zero() {
            return invalid(
                "ingester.wal_fsync_interval must be greater than 0 with the interval policy",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = IngesterConfig::default();
        config.validate().expect("defaults are valid");
        let json = serde_json::to_value(&config).expect("serializes");
        assert_eq!(json["wal_fsync_policy"], "always");
        assert_eq!(json["max_block_duration"], "15m");
        let back: IngesterConfig = serde_json::from_value(json).expect("parses");
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_and_zero_limits_are_rejected_by_name() {
        let unknown = serde_json::from_str::<IngesterConfig>(r#"{"max_head_byte": 1}"#);
        assert!(unknown.is_err());
        let parsed: IngesterConfig =
            serde_json::from_str(r#"{"wal_fsync_policy": "interval", "wal_fsync_interval": "0s"}"#)
                .expect("parses");
        let error = parsed.validate().expect_err("zero interval").to_string();
        assert!(error.contains("ingester.wal_fsync_interval"), "{error}");
        let inverted = IngesterConfig {
            max_head_bytes: 1 << 30,
            ..IngesterConfig::default()
        };
        let error = inverted
            .validate()
            .expect_err("limit below the head size")
            .to_string();
        assert!(
            error.contains("ingester.max_unflushed_bytes")
                && error.contains("ingester.max_head_bytes"),
            "{error}"
        );
        let zero = IngesterConfig {
            max_spans_per_trace: 0,
            ..IngesterConfig::default()
        };
        assert!(
            zero.validate()
                .expect_err("zero")
                .to_string()
                .contains("max_spans_per_trace")
        );
    }
}
