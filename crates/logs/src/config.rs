//! The logs configuration (`logs.*` keys and flags).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When the logs WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalFsyncPolicy {
    /// Every push is fsynced before it is acknowledged (survives power loss).
    Always,
    /// Pushes are acknowledged once written; a background task fsyncs every
    /// `wal_fsync_interval` (survives a process crash, not a power loss).
    Interval,
}

/// Limits, chunk cutting and WAL settings of the logs store. Defaults follow Loki's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Longest accepted log line in bytes (Loki's `max_line_size`, 256 KiB); longer
    /// entries are rejected with 400. 0 disables the check.
    pub max_line_size_bytes: usize,
    /// Most labels a stream may have (Loki's `max_label_names_per_series`).
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes (Loki's `max_label_name_length`); longer gets 400.
    pub max_label_name_length: usize,
    /// Longest label value in bytes (Loki's `max_label_value_length`); longer gets 400.
    pub max_label_value_length: usize,
    /// Per-tenant ingestion rate in MiB/s of lines plus structured metadata (Loki's
    /// `ingestion_rate_mb`). A push over it is refused whole with 429. 0 disables it.
    pub ingestion_rate_mb: f64,
    /// Per-tenant burst in MiB (Loki's `ingestion_burst_size_mb`): the most one push,
    /// or a quiet tenant's first pushes together, may carry.
    pub ingestion_burst_size_mb: f64,
    /// Per-stream rate in bytes/s of lines (Loki's `per_stream_rate_limit`, 3 MiB/s);
    /// entries over it are refused with 429 naming the stream. 0 disables it.
    pub per_stream_rate_limit_bytes: u64,
    /// Per-stream burst in bytes (Loki's `per_stream_rate_limit_burst`, 15 MiB).
    pub per_stream_rate_limit_burst_bytes: u64,
    /// Most active streams (streams with unflushed entries) per tenant (Loki's
    /// `max_global_streams_per_user`); a push creating one more gets 429. 0 disables it.
    pub max_streams_per_user: usize,
    /// Most bytes of lines and structured metadata held in heads across all streams.
    /// Past it heads are cut into chunks at once; a push that still does not fit is
    /// refused with 503 and `Retry-After` (back-pressure) instead of growing memory.
    pub max_head_bytes: u64,
    /// Largest push body, before and after decompression; larger bodies get 413.
    pub max_request_body_bytes: usize,
    /// Entries older than this (relative to now) are rejected (`reject_old_samples`).
    #[serde(with = "humantime_serde")]
    pub reject_old_samples_max_age: Duration,
    /// Entries newer than now plus this are rejected (`creation_grace_period`).
    #[serde(with = "humantime_serde")]
    pub creation_grace_period: Duration,
    /// How far behind the newest entry of its stream an entry may be (Loki's
    /// unordered-writes window, `max_chunk_age / 2`); older ones get 400
    /// `entry too far behind`.
    #[serde(with = "humantime_serde")]
    pub out_of_order_window: Duration,
    /// Uncompressed bytes of entries at which a stream's head is cut into a chunk (as
    /// soon as a push takes it there).
    pub chunk_target_bytes: usize,
    /// Uncompressed bytes per compressed block inside a chunk.
    pub chunk_block_bytes: usize,
    /// A head older than this (since its first entry arrived) is cut into a chunk.
    #[serde(with = "humantime_serde")]
    pub max_chunk_age: Duration,
    /// A head that received nothing for this long is cut into a chunk.
    #[serde(with = "humantime_serde")]
    pub chunk_idle_period: Duration,
    /// How often heads are checked for cutting by age and idleness.
    #[serde(with = "humantime_serde")]
    pub flush_check_period: Duration,
    /// When the logs WAL is fsynced: `always` (default) or `interval`.
    pub wal_fsync_policy: WalFsyncPolicy,
    /// Period between fsyncs with the `interval` policy.
    #[serde(with = "humantime_serde")]
    pub wal_fsync_interval: Duration,
    /// A WAL segment is closed and a new one started past this size.
    pub wal_segment_bytes: u64,
    /// Default `limit` of a log query.
    pub default_query_limit: usize,
    /// Largest `limit` a log query may ask for (Loki's `max_entries_limit_per_query`).
    pub max_entries_limit_per_query: usize,
    /// Most uncompressed bytes one query may scan; past it the query fails with 400.
    pub max_query_bytes_scanned: u64,
    /// Most series a metric query may return (Loki's `max_query_series`); past it the
    /// query fails with 400.
    pub max_query_series: usize,
    /// Deadline of every query; past it the query fails with 503.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// How long streams are kept (Loki's `retention_period`): a chunk whose newest entry
    /// is older is deleted. 0 keeps logs forever.
    #[serde(with = "humantime_serde")]
    pub retention_period: Duration,
    /// Per-stream retention (Loki's `retention_stream`): `selector`, `priority`,
    /// `period`; of the matching rules the highest priority, then the shortest period.
    pub retention_stream: Vec<crate::retention::StreamRetention>,
    /// Per-tenant `retention_period` and `retention_stream`, replacing the global ones.
    pub retention_overrides: BTreeMap<String, crate::retention::TenantRetention>,
    /// How often expired chunks are looked for and deleted.
    #[serde(with = "humantime_serde")]
    pub retention_check_period: Duration,
    /// Copied from the top-level `multitenancy_enabled`.
    #[serde(skip)]
    pub multitenancy_enabled: bool,
    /// Copied from `storage.path`: the WAL lives in `<path>/logs/wal`.
    #[serde(skip)]
    pub storage_path: PathBuf,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_line_size_bytes: 256 * 1024,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            per_stream_rate_limit_bytes: 3 * 1024 * 1024,
            per_stream_rate_limit_burst_bytes: 15 * 1024 * 1024,
            max_streams_per_user: 5000,
            max_head_bytes: 1024 * 1024 * 1024,
            max_request_body_bytes: 64 * 1024 * 1024,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(10 * 60),
            out_of_order_window: Duration::from_secs(3600),
            chunk_target_bytes: 4 * 1024 * 1024,
            chunk_block_bytes: 256 * 1024,
            max_chunk_age: Duration::from_secs(2 * 3600),
            chunk_idle_period: Duration::from_secs(30 * 60),
            flush_check_period: Duration::from_secs(30),
            wal_fsync_policy: WalFsyncPolicy::Always,
            wal_fsync_interval: Duration::from_millis(100),
            wal_segment_bytes: 64 * 1024 * 1024,
            default_query_limit: 100,
            max_entries_limit_per_query: 5000,
            max_query_bytes_scanned: 10 * 1024 * 1024 * 1024,
            max_query_series: 500,
            query_timeout: Duration::from_secs(60),
            retention_period: Duration::from_secs(7 * 24 * 3600),
            retention_stream: Vec::new(),
            retention_overrides: BTreeMap::new(),
            retention_check_period: Duration::from_secs(10 * 60),
            multitenancy_enabled: false,
            storage_path: PathBuf::from("./weft-data"),
        }
    }
}

impl LogsConfig {
    /// Checks values that serde cannot; messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("logs.chunk_target_bytes", self.chunk_target_bytes as u64),
            ("logs.chunk_block_bytes", self.chunk_block_bytes as u64),
            (
                "logs.max_request_body_bytes",
                self.max_request_body_bytes as u64,
            ),
            ("logs.wal_segment_bytes", self.wal_segment_bytes),
            (
                "logs.max_entries_limit_per_query",
                self.max_entries_limit_per_query as u64,
            ),
            ("logs.default_query_limit", self.default_query_limit as u64),
            ("logs.max_query_series", self.max_query_series as u64),
            ("logs.max_head_bytes", self.max_head_bytes),
            (
                "logs.max_label_name_length",
                self.max_label_name_length as u64,
            ),
            (
                "logs.max_label_value_length",
                self.max_label_value_length as u64,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        for (key, value) in [
            ("logs.ingestion_rate_mb", self.ingestion_rate_mb),
            ("logs.ingestion_burst_size_mb", self.ingestion_burst_size_mb),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "{key} must be a finite number of MiB, 0 or more, got {value}"
                ));
            }
        }
        self.retention_rules()?;
        if self.retention_check_period.is_zero() {
            return Err(String::from(
                "logs.retention_check_period must be greater than 0",
            ));
        }
        if self.flush_check_period.is_zero() {
            return Err(String::from(
                "logs.flush_check_period must be greater than 0",
            ));
        }
        if self.wal_fsync_policy == WalFsyncPolicy::Interval && self.wal_fsync_interval.is_zero() {
            return Err(String::from(
                "logs.wal_fsync_interval must be greater than 0 with the interval policy",
            ));
        }
        Ok(())
    }

    /// The parsed retention rules; the error names the key and the selector.
    pub fn retention_rules(&self) -> Result<crate::retention::RetentionRules, String> {
        crate::retention::RetentionRules::new(
            self.retention_period,
            &self.retention_stream,
            &self.retention_overrides,
        )
    }

    /// The WAL directory.
    pub fn wal_directory(&self) -> PathBuf {
        self.storage_path.join("logs").join("wal")
    }
}
