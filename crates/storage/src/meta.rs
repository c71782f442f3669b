//! `meta.json`: what a block holds, readable without touching its data.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::{NameIndex, TenantId};

use crate::block_id::BlockId;

/// The block format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 0;

/// The value of the `format` field in every `meta.json`.
pub const FORMAT_NAME: &str = "weft-block";

/// An inclusive range of WAL segment numbers whose records a block holds (for one
/// tenant). Replay skips records of that tenant in those segments, so a crash between
/// writing the block and deleting the segments does not duplicate spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalSegmentRange {
    /// First segment number covered.
    pub first: u64,
    /// Last segment number covered.
    pub last: u64,
}

impl WalSegmentRange {
    /// True when `segment` lies in the range (both ends inclusive).
    pub fn contains(&self, segment: u64) -> bool {
        self.first <= segment && segment <= self.last
    }
}

/// Everything `meta.json` records about a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMeta {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version ([`FORMAT_VERSION`] for blocks this build writes).
    pub format_version: u32,
    /// The block id, also its directory name.
    pub block_id: BlockId,
    /// The tenant whose spans the block holds.
    pub tenant: TenantId,
    /// When the block was written, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
    /// Earliest non-zero span start; 0 when no span has a timestamp.
    pub min_start_unix_nanos: u64,
    /// Latest span end (start + duration) over timestamped spans; 0 when none.
    pub max_end_unix_nanos: u64,
    /// Spans in the block.
    pub span_count: u64,
    /// Distinct traces in the block.
    pub trace_count: u64,
    /// Compressed chunks in `data`.
    pub chunk_count: u64,
    /// Size of the `data` file in bytes.
    pub data_bytes: u64,
    /// Size of the `index` file in bytes.
    pub index_bytes: u64,
    /// Sum of the chunks' sizes before compression, in bytes.
    pub uncompressed_bytes: u64,
    /// 0 for blocks cut from the head; compaction raises it.
    pub compaction_level: u32,
    /// The WAL segments whose records for this tenant the block holds; `None` for blocks
    /// not written from the WAL (compaction, import).
    pub wal_segments: Option<WalSegmentRange>,
    /// Names for the name and autocomplete endpoints.
    #[serde(with = "stored_names")]
    pub names: NameIndex,
}

impl BlockMeta {
    /// The time retention judges the block by: its latest span end, or its creation time
    /// when no span has a timestamp. Nanoseconds since the Unix epoch.
    pub fn retention_time_unix_nanos(&self) -> u64 {
        if self.max_end_unix_nanos != 0 {
            self.max_end_unix_nanos
        } else {
            self.created_unix_nanos
        }
    }

    /// True when the block's [retention time](Self::retention_time_unix_nanos) is older
    /// than `retention` before `now_unix_nanos`.
    pub fn is_past_retention(&self, now_unix_nanos: u64, retention: Duration) -> bool {
        let retention_nanos = u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX);
        self.retention_time_unix_nanos() < now_unix_nanos.saturating_sub(retention_nanos)
    }
}

/// `NameIndex` has no serde derive in the model; this mirrors it field for field.
mod stored_names {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StoredNames {
        services: BTreeSet<String>,
        span_names: BTreeMap<String, BTreeSet<String>>,
        remote_services: BTreeMap<String, BTreeSet<String>>,
        attribute_values: BTreeMap<String, BTreeSet<String>>,
    }

    pub fn serialize<S: serde::Serializer>(
        names: &NameIndex,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        StoredNames {
            services: names.services.clone(),
            span_names: names.span_names.clone(),
            remote_services: names.remote_services.clone(),
            attribute_values: names.attribute_values.clone(),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<NameIndex, D::Error> {
        let stored = StoredNames::deserialize(deserializer)?;
        Ok(NameIndex {
            services: stored.services,
            span_names: stored.span_names,
            remote_services: stored.remote_services,
            attribute_values: stored.attribute_values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_uses_the_latest_span_end_else_the_creation_time() {
        let mut meta = BlockMeta {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            block_id: BlockId::from_parts(1, 1),
            tenant: TenantId::single(),
            created_unix_nanos: 5_000,
            min_start_unix_nanos: 100,
            max_end_unix_nanos: 1_000,
            span_count: 1,
            trace_count: 1,
            chunk_count: 1,
            data_bytes: 1,
            index_bytes: 1,
            uncompressed_bytes: 1,
            compaction_level: 0,
            wal_segments: Some(WalSegmentRange { first: 1, last: 2 }),
            names: NameIndex::default(),
        };
        let retention = Duration::from_nanos(500);
        assert!(
            !meta.is_past_retention(1_500, retention),
            "exactly at the limit is kept"
        );
        assert!(meta.is_past_retention(1_501, retention));
        meta.max_end_unix_nanos = 0;
        assert!(!meta.is_past_retention(5_500, retention));
        assert!(meta.is_past_retention(5_501, retention));
        let json = serde_json::to_string(&meta).expect("serializes");
        assert_eq!(
            serde_json::from_str::<BlockMeta>(&json).expect("parses"),
            meta
        );
    }
}
