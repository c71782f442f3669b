//! `meta.json`: what a block holds, readable without touching its data.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::{NameIndex, TenantId};

use crate::block_id::BlockId;
use crate::error::StorageError;

/// The block format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The value of the `format` field in every `meta.json`.
pub const FORMAT_NAME: &str = "weft-block";

/// The most WAL ranges a block inherits from its compaction inputs
/// ([`BlockMeta::input_wal_segments`]). Keeps `meta.json` small however often blocks are
/// merged; see [`WalSegmentRange::normalized_union`] for what is dropped beyond it and
/// why that is safe.
pub const MAX_INPUT_WAL_SEGMENT_RANGES: usize = 128;

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

    /// The union of `ranges` as at most `max_ranges` disjoint ranges, sorted by first
    /// segment, with no two adjacent.
    ///
    /// Overlapping ranges and adjacent ones (`[a, b]` and `[b + 1, c]` become `[a, c]`)
    /// are merged; a gap between ranges is never bridged. Merging adjacent ranges is
    /// sound because every range comes from a block that holds *all* of its tenant's
    /// records in those segments, so together they hold all records of `[a, c]`.
    /// Bridging a gap would claim segments whose records may be in no block, and replay
    /// would skip them: data loss. Empty ranges (`first > last`) cover nothing and are
    /// dropped.
    ///
    /// When more than `max_ranges` remain, the lowest-numbered (oldest) ones are dropped.
    /// Dropping a range only makes replay re-insert records a block already holds,
    /// duplicates that query-time deduplication and the next merge remove; it never
    /// loses a record. The oldest segments are the ones most likely deleted already.
    pub fn normalized_union(
        ranges: impl IntoIterator<Item = WalSegmentRange>,
        max_ranges: usize,
    ) -> Vec<WalSegmentRange> {
        let mut sorted: Vec<WalSegmentRange> = ranges
            .into_iter()
            .filter(|range| range.first <= range.last)
            .collect();
        sorted.sort_unstable_by_key(|range| (range.first, range.last));
        let mut union: Vec<WalSegmentRange> = Vec::with_capacity(sorted.len());
        for range in sorted {
            match union.last_mut() {
                // `last + 1` saturates: a range ending at u64::MAX absorbs all later ones,
                // which it already overlaps.
                Some(previous) if range.first <= previous.last.saturating_add(1) => {
                    previous.last = previous.last.max(range.last);
                }
                _ => union.push(range),
            }
        }
        let excess = union.len().saturating_sub(max_ranges);
        union.drain(..excess);
        union
    }
}

/// Everything `meta.json` records about a block (format v1, `docs/format/blocks-v1.md`).
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
    /// Spans in the block (rows of `data.parquet`).
    pub span_count: u64,
    /// Trace parts in the block (rows of `traces.parquet`).
    pub trace_count: u64,
    /// Row groups of `data.parquet`.
    pub row_group_count: u64,
    /// Size of `data.parquet` in bytes.
    pub data_bytes: u64,
    /// Size of `traces.parquet` in bytes.
    pub traces_bytes: u64,
    /// Size of `bloom` in bytes.
    pub bloom_bytes: u64,
    /// 0 for blocks cut from the head; compaction writes its inputs' highest level + 1.
    pub compaction_level: u32,
    /// The blocks this block replaces (compaction inputs). Once this block is visible,
    /// readers ignore those blocks and cleanup deletes them.
    pub compacted_from: Vec<BlockId>,
    /// Oldest ingest time of the block's spans, in nanoseconds since the Unix epoch.
    pub ingested_min_unix_nanos: u64,
    /// Newest ingest time of the block's spans, in nanoseconds since the Unix epoch;
    /// retention judges the block by it.
    pub ingested_max_unix_nanos: u64,
    /// The WAL segments whose records for this tenant the block holds; `None` for blocks
    /// not written from the WAL (compaction, import).
    pub wal_segments: Option<WalSegmentRange>,
    /// The WAL ranges this block inherited from its compaction inputs (their own and
    /// inherited ranges): the block holds all of its tenant's records in those segments,
    /// because it holds every span of its inputs. Sorted, disjoint, not adjacent, at
    /// most [`MAX_INPUT_WAL_SEGMENT_RANGES`] (see [`WalSegmentRange::normalized_union`]).
    /// Empty for blocks cut from the head and for blocks written before this field
    /// existed (then the field is absent from `meta.json`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_wal_segments: Vec<WalSegmentRange>,
    /// Names for the name and autocomplete endpoints.
    #[serde(with = "stored_names")]
    pub names: NameIndex,
    /// The dedicated attribute keys that also occur in the generic `attributes` list of
    /// some span (a second occurrence, or a value of another type). Search reads the
    /// generic list for a criterion on a dedicated key only when the key is listed here.
    /// `None` (blocks written before this field existed): unknown, always read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_dedicated_keys: Option<Vec<String>>,
    /// Size of `dependencies.json` (the block's precomputed dependency links) in bytes.
    /// `None` (blocks written before the file existed): the block has no such file and
    /// readers link its traces one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies_bytes: Option<u64>,
}

impl BlockMeta {
    /// Every WAL range whose records of the block's tenant the block holds: its own
    /// [`BlockMeta::wal_segments`], then [`BlockMeta::input_wal_segments`]. Replay skips
    /// the tenant's records in all of them. The ranges may overlap.
    pub fn covered_wal_segments(&self) -> impl Iterator<Item = WalSegmentRange> + '_ {
        self.wal_segments
            .into_iter()
            .chain(self.input_wal_segments.iter().copied())
    }

    /// True when the block's newest ingest time (`ingested_max_unix_nanos`) is older
    /// than `retention` before `now_unix_nanos`. Span times play no part: a block of
    /// spans with old (or no) timestamps ingested recently is kept.
    pub fn is_past_retention(&self, now_unix_nanos: u64, retention: Duration) -> bool {
        let retention_nanos = u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX);
        self.ingested_max_unix_nanos < now_unix_nanos.saturating_sub(retention_nanos)
    }

    /// Parses `meta.json` bytes. The format name and version are checked before the
    /// other fields, so a block of another version gives
    /// [`StorageError::UnsupportedVersion`] rather than a parse error; malformed JSON or
    /// missing and unknown fields give [`StorageError::Corrupt`] naming `what`.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<BlockMeta, StorageError> {
        #[derive(Deserialize)]
        struct Probe {
            format: String,
            format_version: u32,
            block_id: Option<String>,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|error| StorageError::corrupt(what, error.to_string()))?;
        if probe.format != FORMAT_NAME {
            return Err(StorageError::corrupt(
                what,
                format!("format is {:?}, expected {FORMAT_NAME:?}", probe.format),
            ));
        }
        if probe.format_version != FORMAT_VERSION {
            return Err(StorageError::UnsupportedVersion {
                block_id: probe.block_id.unwrap_or_default(),
                found: probe.format_version,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_slice(bytes)
            .map_err(|error| StorageError::corrupt(what, error.to_string()))
    }

    /// The `meta.json` bytes (pretty-printed JSON).
    pub fn to_json(&self) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec_pretty(self).map_err(|error| StorageError::Encode {
            what: "meta.json",
            reason: error.to_string(),
        })
    }
}

/// `NameIndex` has no serde derive in the model; this mirrors it field for field.
mod stored_names {
    use super::*;

    use weft_model::{AttributeCatalog, AttributeScope, CatalogFloat, KeyValues, ScopeCatalog};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StoredNames {
        services: BTreeSet<String>,
        span_names: BTreeMap<String, BTreeSet<String>>,
        remote_services: BTreeMap<String, BTreeSet<String>>,
        attribute_values: BTreeMap<String, BTreeSet<String>>,
        /// Absent in blocks written before the catalog existed: an empty catalog.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        attributes: BTreeMap<String, StoredScope>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StoredScope {
        #[serde(default, skip_serializing_if = "is_false")]
        keys_truncated: bool,
        keys: BTreeMap<String, StoredValues>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StoredValues {
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        string: BTreeSet<String>,
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        int: BTreeSet<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        float: Vec<f64>,
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        bool: BTreeSet<bool>,
        #[serde(default, skip_serializing_if = "is_false")]
        truncated: bool,
    }

    fn is_false(flag: &bool) -> bool {
        !flag
    }

    fn store_catalog(catalog: &AttributeCatalog) -> BTreeMap<String, StoredScope> {
        catalog
            .scopes
            .iter()
            .filter(|(_, scope)| !scope.keys.is_empty() || scope.keys_truncated)
            .map(|(scope, keys)| {
                let stored = StoredScope {
                    keys_truncated: keys.keys_truncated,
                    keys: keys
                        .keys
                        .iter()
                        .map(|(key, values)| {
                            let stored = StoredValues {
                                string: values.strings.clone(),
                                int: values.ints.clone(),
                                float: values.floats.iter().map(|float| float.0).collect(),
                                bool: values.bools.clone(),
                                truncated: values.truncated,
                            };
                            (key.clone(), stored)
                        })
                        .collect(),
                };
                (scope.as_str().to_owned(), stored)
            })
            .collect()
    }

    fn load_catalog<E: serde::de::Error>(
        stored: BTreeMap<String, StoredScope>,
    ) -> Result<AttributeCatalog, E> {
        let mut catalog = AttributeCatalog::default();
        for (name, scope) in stored {
            let Some(parsed) = AttributeScope::parse(&name) else {
                return Err(E::custom(format!("unknown attribute scope {name:?}")));
            };
            let mut keys = BTreeMap::new();
            for (key, values) in scope.keys {
                if values.float.iter().any(|float| !float.is_finite()) {
                    return Err(E::custom(format!(
                        "attribute {name}.{key} has a non-finite float"
                    )));
                }
                let values = KeyValues {
                    strings: values.string,
                    ints: values.int,
                    floats: values.float.into_iter().map(CatalogFloat).collect(),
                    bools: values.bool,
                    truncated: values.truncated,
                };
                keys.insert(key, values);
            }
            let scope = ScopeCatalog {
                keys,
                keys_truncated: scope.keys_truncated,
            };
            catalog.scopes.insert(parsed, scope);
        }
        Ok(catalog)
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
            attributes: store_catalog(&names.attributes),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<NameIndex, D::Error> {
        let stored = StoredNames::deserialize(deserializer)?;
        Ok(NameIndex {
            attributes: load_catalog(stored.attributes)?,
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

    fn range(first: u64, last: u64) -> WalSegmentRange {
        WalSegmentRange { first, last }
    }

    fn meta() -> BlockMeta {
        BlockMeta {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            block_id: BlockId::from_parts(1, 1),
            tenant: TenantId::single(),
            created_unix_nanos: 5_000,
            min_start_unix_nanos: 100,
            max_end_unix_nanos: 1_000,
            span_count: 1,
            trace_count: 1,
            row_group_count: 1,
            data_bytes: 1,
            traces_bytes: 1,
            bloom_bytes: 1,
            compaction_level: 0,
            compacted_from: vec![BlockId::from_parts(0, 7)],
            ingested_min_unix_nanos: 4_000,
            ingested_max_unix_nanos: 4_500,
            wal_segments: Some(WalSegmentRange { first: 1, last: 2 }),
            input_wal_segments: vec![range(5, 9), range(11, 11)],
            names: NameIndex::default(),
            generic_dedicated_keys: Some(Vec::new()),
            dependencies_bytes: Some(10),
        }
    }

    #[test]
    fn retention_judges_by_the_newest_ingest_time_not_span_times() {
        let meta = meta();
        let retention = Duration::from_nanos(500);
        assert!(
            !meta.is_past_retention(5_000, retention),
            "exactly at the limit is kept"
        );
        assert!(meta.is_past_retention(5_001, retention));
        // Span times (max_end 1_000) are far older but do not matter.
        assert!(!meta.is_past_retention(4_900, retention));
    }

    #[test]
    fn meta_round_trips_through_json() {
        let meta = meta();
        let json = meta.to_json().expect("serializes");
        assert_eq!(BlockMeta::from_json(&json, "meta").expect("parses"), meta);
    }

    #[test]
    fn meta_without_inherited_wal_ranges_parses_and_omits_the_field() {
        let mut meta = meta();
        meta.input_wal_segments.clear();
        let json = meta.to_json().expect("serializes");
        let text = String::from_utf8(json.clone()).expect("utf-8");
        assert!(!text.contains("input_wal_segments"), "{text}");
        assert_eq!(BlockMeta::from_json(&json, "meta").expect("parses"), meta);
        // A meta.json as written before the field existed, spelled out.
        let old = br#"{
            "format": "weft-block", "format_version": 1,
            "block_id": "0190f5c2a1b37e4d9c0a11223344aabb", "tenant": "single-tenant",
            "created_unix_nanos": 5, "min_start_unix_nanos": 1, "max_end_unix_nanos": 2,
            "span_count": 1, "trace_count": 1, "row_group_count": 1, "data_bytes": 1,
            "traces_bytes": 1, "bloom_bytes": 1, "compaction_level": 0,
            "compacted_from": [], "ingested_min_unix_nanos": 3,
            "ingested_max_unix_nanos": 4, "wal_segments": { "first": 12, "last": 13 },
            "names": { "services": [], "span_names": {}, "remote_services": {},
                       "attribute_values": {} }
        }"#;
        let parsed = BlockMeta::from_json(old, "meta").expect("an old meta.json parses");
        assert!(parsed.input_wal_segments.is_empty());
        assert_eq!(parsed.generic_dedicated_keys, None);
        assert_eq!(
            parsed.dependencies_bytes, None,
            "old blocks have no dependency file"
        );
        assert_eq!(
            parsed.covered_wal_segments().collect::<Vec<_>>(),
            vec![range(12, 13)]
        );
    }

    #[test]
    fn the_attribute_catalog_round_trips_and_old_metas_have_an_empty_one() {
        use weft_model::{
            AttributeScope, AttributeValue, CatalogGrowth, CatalogLimits, CatalogValueRef,
        };
        let mut meta = meta();
        let limits = CatalogLimits {
            max_values_per_key: 2,
            ..CatalogLimits::default()
        };
        meta.names.attributes.limits = limits;
        let mut growth = CatalogGrowth::default();
        let mut insert = |scope, key: &str, value: AttributeValue| {
            let value_ref = CatalogValueRef::of(&value, &limits);
            meta.names
                .attributes
                .insert(scope, key, value_ref, &mut growth);
        };
        insert(AttributeScope::Span, "ratio", AttributeValue::Double(-0.25));
        // Regression: parsed without serde_json's `float_roundtrip`, this came back as
        // -3699136912833.608.
        insert(
            AttributeScope::Span,
            "big",
            AttributeValue::Double(-3699136912833.6084),
        );
        insert(AttributeScope::Span, "code", AttributeValue::Int(200));
        insert(
            AttributeScope::Span,
            "code",
            AttributeValue::String("x".into()),
        );
        insert(AttributeScope::Span, "code", AttributeValue::Bool(true));
        insert(
            AttributeScope::Resource,
            "blob",
            AttributeValue::Bytes(vec![1]),
        );
        meta.names
            .attributes
            .scopes
            .entry(AttributeScope::Link)
            .or_default()
            .keys_truncated = true;
        let json = meta.to_json().expect("serializes");
        let text = String::from_utf8(json.clone()).expect("utf-8");
        assert!(text.contains(r#""truncated": true"#), "{text}");
        let parsed = BlockMeta::from_json(&json, "meta").expect("parses");
        // Limits are not stored: the reader's own apply.
        meta.names.attributes.limits = CatalogLimits::default();
        assert_eq!(parsed, meta);

        let unknown_scope = text.replace(r#""link": {"#, r#""linq": {"#);
        assert!(matches!(
            BlockMeta::from_json(unknown_scope.as_bytes(), "meta"),
            Err(StorageError::Corrupt { .. })
        ));
        let old = text.replace(r#""attributes": {"#, r#""old_attributes": {"#);
        assert!(
            BlockMeta::from_json(old.as_bytes(), "meta").is_err(),
            "unknown fields fail"
        );
        let mut without = meta.clone();
        without.names.attributes = Default::default();
        let json = without.to_json().expect("serializes");
        assert!(!String::from_utf8_lossy(&json).contains(r#""attributes""#));
        let parsed = BlockMeta::from_json(&json, "meta").expect("parses");
        assert!(parsed.names.attributes.is_empty());
    }

    #[test]
    fn covered_wal_segments_are_the_own_range_then_the_inherited_ones() {
        let mut meta = meta();
        assert_eq!(
            meta.covered_wal_segments().collect::<Vec<_>>(),
            vec![range(1, 2), range(5, 9), range(11, 11)]
        );
        meta.wal_segments = None;
        assert_eq!(
            meta.covered_wal_segments().collect::<Vec<_>>(),
            vec![range(5, 9), range(11, 11)]
        );
    }

    #[test]
    fn normalized_union_merges_overlaps_and_adjacency_but_keeps_gaps() {
        let union = WalSegmentRange::normalized_union(
            [
                range(20, 25),
                range(1, 3),
                range(4, 6),   // adjacent to [1, 3]
                range(8, 9),   // a gap (segment 7) before it
                range(22, 30), // overlaps [20, 25]
                range(9, 9),   // inside [8, 9]
                range(31, 31), // adjacent to [20, 30]
                range(5, 4),   // empty
            ],
            MAX_INPUT_WAL_SEGMENT_RANGES,
        );
        assert_eq!(union, vec![range(1, 6), range(8, 9), range(20, 31)]);
        assert!(WalSegmentRange::normalized_union([], 4).is_empty());
        assert_eq!(
            WalSegmentRange::normalized_union([range(u64::MAX - 1, u64::MAX), range(3, 3)], 4),
            vec![range(3, 3), range(u64::MAX - 1, u64::MAX)]
        );
        assert_eq!(
            WalSegmentRange::normalized_union([range(0, u64::MAX), range(7, 9)], 4),
            vec![range(0, u64::MAX)]
        );
    }

    #[test]
    fn normalized_union_drops_the_lowest_ranges_beyond_the_cap() {
        // Every other segment: nothing merges.
        let ranges = (0..10u64).map(|index| range(index * 2, index * 2));
        let union = WalSegmentRange::normalized_union(ranges, 4);
        assert_eq!(
            union,
            vec![range(12, 12), range(14, 14), range(16, 16), range(18, 18)]
        );
        // The cap applies after merging: adjacent ranges do not count twice.
        let ranges = (0..300u64).map(|segment| range(segment, segment));
        assert_eq!(
            WalSegmentRange::normalized_union(ranges, MAX_INPUT_WAL_SEGMENT_RANGES),
            vec![range(0, 299)]
        );
        let spread = (0..200u64).map(|index| range(index * 10, index * 10 + 5));
        let union = WalSegmentRange::normalized_union(spread, MAX_INPUT_WAL_SEGMENT_RANGES);
        assert_eq!(union.len(), MAX_INPUT_WAL_SEGMENT_RANGES);
        assert_eq!(union.first(), Some(&range(720, 725)));
        assert_eq!(union.last(), Some(&range(1990, 1995)));
    }

    #[test]
    fn other_versions_are_refused_before_their_fields_are_parsed() {
        let v0 = br#"{"format":"weft-block","format_version":0,"block_id":"00","chunk_count":3}"#;
        assert!(matches!(
            BlockMeta::from_json(v0, "meta"),
            Err(StorageError::UnsupportedVersion {
                found: 0,
                supported: 1,
                ..
            })
        ));
        assert!(matches!(
            BlockMeta::from_json(b"{not json", "meta"),
            Err(StorageError::Corrupt { .. })
        ));
        let other = br#"{"format":"other","format_version":1}"#;
        assert!(matches!(
            BlockMeta::from_json(other, "meta"),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
