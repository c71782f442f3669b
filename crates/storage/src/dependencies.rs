//! A block's service dependency links, precomputed when the block is written and stored
//! as `dependencies.json` (format: `docs/format/blocks-v1.md`).
//!
//! Each self-contained trace part of the block ([`LinkSpan::part_is_self_contained`]) is
//! linked on its own ([`DependencyLinker`]) and its links are added to the bucket of the
//! part's timestamp (Zipkin's trace timestamp: the root's start, else the earliest span
//! start; parts without one are left out, as Zipkin never counts them). The other parts
//! are not linked: their trace ids are kept in the bucket of their own timestamp, so that
//! readers link their traces once, whole. Buckets are [`DEPENDENCY_BUCKET_NANOS`] wide and
//! aligned to the Unix epoch, so a window's whole buckets are summed without touching
//! spans and only its edges and split traces need traces ([`split_window`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use weft_model::{DependencyLink, DependencyLinker, LinkSpan, TimeWindow, TraceId};

use crate::error::StorageError;

/// Width of a dependency bucket: one minute, in nanoseconds. Finer buckets make the
/// edges of a window (linked trace by trace) cheaper and the file larger; a minute keeps
/// a day of 50 service pairs near 100 KB and the edges of any window under two minutes.
pub const DEPENDENCY_BUCKET_NANOS: u64 = 60 * 1_000_000_000;

/// Version of the `dependencies.json` encoding.
pub const DEPENDENCIES_FORMAT_VERSION: u32 = 1;

/// The start of the bucket holding `unix_nanos`.
pub fn bucket_start(unix_nanos: u64) -> u64 {
    unix_nanos - unix_nanos % DEPENDENCY_BUCKET_NANOS
}

/// `window` cut into the part made of whole buckets (`None` when no bucket fits) and the
/// rest at its edges (zero, one or two windows), all inclusive and disjoint.
pub fn split_window(window: TimeWindow) -> (Option<TimeWindow>, Vec<TimeWindow>) {
    if window.start_unix_nanos > window.end_unix_nanos {
        return (None, Vec::new());
    }
    let first_whole = match window.start_unix_nanos % DEPENDENCY_BUCKET_NANOS {
        0 => Some(window.start_unix_nanos),
        offset => window
            .start_unix_nanos
            .checked_add(DEPENDENCY_BUCKET_NANOS - offset),
    };
    // One past the end of the last whole bucket.
    let end_exclusive = window.end_unix_nanos.saturating_add(1);
    let past_whole = bucket_start(end_exclusive);
    match first_whole {
        Some(first) if first < past_whole => {
            let mut edges = Vec::new();
            if window.start_unix_nanos < first {
                edges.push(TimeWindow {
                    start_unix_nanos: window.start_unix_nanos,
                    end_unix_nanos: first - 1,
                });
            }
            if past_whole <= window.end_unix_nanos {
                edges.push(TimeWindow {
                    start_unix_nanos: past_whole,
                    end_unix_nanos: window.end_unix_nanos,
                });
            }
            let whole = TimeWindow {
                start_unix_nanos: first,
                end_unix_nanos: past_whole - 1,
            };
            (Some(whole), edges)
        }
        _ => (None, vec![window]),
    }
}

/// Dependency links by bucket, and the trace parts left to link whole. Memory: one entry
/// per bucket and service pair, and one per part that is not self-contained.
#[derive(Debug)]
pub struct DependencyBuckets {
    /// Bucket start (a multiple of [`DEPENDENCY_BUCKET_NANOS`]) to its links.
    buckets: BTreeMap<u64, DependencyLinker>,
    /// Bucket start to the trace ids of the parts with their timestamp in it that are not
    /// self-contained (not in `buckets`).
    split_traces: BTreeMap<u64, BTreeSet<TraceId>>,
    /// False for a file written before split traces were recorded: then every part,
    /// self-contained or not, was added to `buckets`.
    records_split_traces: bool,
}

impl Default for DependencyBuckets {
    fn default() -> Self {
        DependencyBuckets {
            buckets: BTreeMap::new(),
            split_traces: BTreeMap::new(),
            records_split_traces: true,
        }
    }
}

impl DependencyBuckets {
    /// No links.
    pub fn new() -> Self {
        DependencyBuckets::default()
    }

    /// Adds one trace part (`spans`: its spans as [`LinkSpan::from_span`] gives them)
    /// to the bucket of `timestamp_unix_nanos`, the part's timestamp: its links when it
    /// is self-contained, else its trace id. A part without a timestamp (0) adds nothing.
    pub fn add_part(&mut self, timestamp_unix_nanos: u64, trace_id: TraceId, spans: Vec<LinkSpan>) {
        if timestamp_unix_nanos == 0 || spans.is_empty() {
            return;
        }
        let bucket = bucket_start(timestamp_unix_nanos);
        if LinkSpan::part_is_self_contained(&spans) {
            self.buckets
                .entry(bucket)
                .or_default()
                .put_link_spans(spans);
        } else {
            self.split_traces
                .entry(bucket)
                .or_default()
                .insert(trace_id);
        }
    }

    /// True when every trace part with its timestamp in a bucket was added to it,
    /// self-contained or not (a file written before split traces were recorded); else
    /// only the self-contained parts were.
    pub fn sums_every_part(&self) -> bool {
        !self.records_split_traces
    }

    /// The trace ids of the parts that are not self-contained with their timestamp in
    /// `window` (by bucket: every bucket that overlaps the window), in id order.
    pub fn split_traces_in(&self, window: TimeWindow) -> impl Iterator<Item = TraceId> + '_ {
        let first = bucket_start(window.start_unix_nanos);
        let last = window.end_unix_nanos.max(first);
        self.split_traces
            .range(first..=last)
            .flat_map(|(_, trace_ids)| trace_ids.iter().copied())
    }

    /// True when no bucket has a link or a split trace.
    pub fn is_empty(&self) -> bool {
        self.buckets.values().all(DependencyLinker::is_empty) && self.split_traces.is_empty()
    }

    /// Adds to `linker` the links of every bucket that lies wholly inside `window`.
    pub fn sum_whole_buckets(&self, window: TimeWindow, linker: &mut DependencyLinker) {
        let Some(last_start) = window
            .end_unix_nanos
            .checked_add(1)
            .map(|end| end.saturating_sub(DEPENDENCY_BUCKET_NANOS))
        else {
            // The window ends at u64::MAX: the last bucket ends there too.
            let range = window.start_unix_nanos..;
            for (_, bucket) in self.buckets.range(range) {
                linker.add_links(&bucket.links());
            }
            return;
        };
        if last_start < window.start_unix_nanos {
            return;
        }
        for (_, bucket) in self.buckets.range(window.start_unix_nanos..=last_start) {
            linker.add_links(&bucket.links());
        }
    }

    /// The `dependencies.json` bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, StorageError> {
        let mut services: BTreeMap<String, u32> = BTreeMap::new();
        let bucket_links: Vec<(u64, Vec<DependencyLink>)> = self
            .buckets
            .iter()
            .map(|(start, linker)| (*start, linker.links()))
            .filter(|(_, links)| !links.is_empty())
            .collect();
        for (_, links) in &bucket_links {
            for link in links {
                services.entry(link.parent.clone()).or_insert(0);
                services.entry(link.child.clone()).or_insert(0);
            }
        }
        for (index, number) in services.values_mut().enumerate() {
            *number = u32::try_from(index).unwrap_or(u32::MAX);
        }
        let number = |name: &str| services.get(name).copied().unwrap_or(0);
        let stored = StoredDependencies {
            format_version: DEPENDENCIES_FORMAT_VERSION,
            bucket_seconds: DEPENDENCY_BUCKET_NANOS / 1_000_000_000,
            buckets: bucket_links
                .iter()
                .map(|(start, links)| StoredBucket {
                    start_unix_nanos: *start,
                    links: links
                        .iter()
                        .map(|link| {
                            [
                                u64::from(number(&link.parent)),
                                u64::from(number(&link.child)),
                                link.call_count,
                                link.error_count,
                            ]
                        })
                        .collect(),
                })
                .collect(),
            services: services.into_keys().collect(),
            split_traces: Some(
                self.split_traces
                    .iter()
                    .map(|(start, trace_ids)| StoredSplitTraces {
                        start_unix_nanos: *start,
                        trace_ids: trace_ids.iter().map(TraceId::to_hex).collect(),
                    })
                    .collect(),
            ),
        };
        serde_json::to_vec(&stored).map_err(|error| StorageError::Encode {
            what: "dependencies.json",
            reason: error.to_string(),
        })
    }

    /// Parses `dependencies.json` bytes; anything malformed (unknown fields, another
    /// version or bucket width, a service number out of range, a misaligned bucket) is
    /// [`StorageError::Corrupt`] naming `what`.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<DependencyBuckets, StorageError> {
        let stored: StoredDependencies = serde_json::from_slice(bytes)
            .map_err(|error| StorageError::corrupt(what, error.to_string()))?;
        if stored.format_version != DEPENDENCIES_FORMAT_VERSION {
            return Err(StorageError::corrupt(
                what,
                format!(
                    "format_version is {}, expected {DEPENDENCIES_FORMAT_VERSION}",
                    stored.format_version
                ),
            ));
        }
        if stored.bucket_seconds.checked_mul(1_000_000_000) != Some(DEPENDENCY_BUCKET_NANOS) {
            return Err(StorageError::corrupt(
                what,
                format!(
                    "bucket_seconds is {}, expected {}",
                    stored.bucket_seconds,
                    DEPENDENCY_BUCKET_NANOS / 1_000_000_000
                ),
            ));
        }
        let mut buckets: BTreeMap<u64, DependencyLinker> = BTreeMap::new();
        let service = |number: u64| -> Result<&str, StorageError> {
            usize::try_from(number)
                .ok()
                .and_then(|index| stored.services.get(index))
                .map(String::as_str)
                .ok_or_else(|| {
                    StorageError::corrupt(what, format!("service number {number} out of range"))
                })
        };
        let mut seen: HashSet<u64> = HashSet::new();
        for bucket in &stored.buckets {
            if bucket.start_unix_nanos % DEPENDENCY_BUCKET_NANOS != 0
                || !seen.insert(bucket.start_unix_nanos)
            {
                return Err(StorageError::corrupt(
                    what,
                    format!(
                        "bucket start {} is misaligned or repeated",
                        bucket.start_unix_nanos
                    ),
                ));
            }
            let linker = buckets.entry(bucket.start_unix_nanos).or_default();
            for [parent, child, call_count, error_count] in &bucket.links {
                linker.add_counts(
                    service(*parent)?,
                    service(*child)?,
                    *call_count,
                    *error_count,
                );
            }
        }
        let mut split_traces: BTreeMap<u64, BTreeSet<TraceId>> = BTreeMap::new();
        for bucket in stored.split_traces.iter().flatten() {
            if bucket.start_unix_nanos % DEPENDENCY_BUCKET_NANOS != 0
                || split_traces.contains_key(&bucket.start_unix_nanos)
            {
                return Err(StorageError::corrupt(
                    what,
                    format!(
                        "split trace bucket start {} is misaligned or repeated",
                        bucket.start_unix_nanos
                    ),
                ));
            }
            let trace_ids = bucket
                .trace_ids
                .iter()
                .map(|hex| {
                    TraceId::from_hex(hex).map_err(|error| {
                        StorageError::corrupt(what, format!("split trace id {hex:?}: {error}"))
                    })
                })
                .collect::<Result<BTreeSet<TraceId>, StorageError>>()?;
            split_traces.insert(bucket.start_unix_nanos, trace_ids);
        }
        Ok(DependencyBuckets {
            buckets,
            split_traces,
            records_split_traces: stored.split_traces.is_some(),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredDependencies {
    format_version: u32,
    bucket_seconds: u64,
    services: Vec<String>,
    buckets: Vec<StoredBucket>,
    /// Absent in files written before split traces were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split_traces: Option<Vec<StoredSplitTraces>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSplitTraces {
    start_unix_nanos: u64,
    /// Lower-case hex trace ids, sorted.
    trace_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBucket {
    start_unix_nanos: u64,
    /// `[parent service number, child service number, calls, errors]`.
    links: Vec<[u64; 4]>,
}

#[cfg(test)]
mod tests;
