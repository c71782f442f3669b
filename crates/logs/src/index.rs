//! What the label index knows without reading chunks: per-stream entry, byte and chunk
//! counts in a time range ([`stream_stats`]), behind Loki's `/index/stats` and
//! `/index/volume` ([`crate::http_index`]).
//!
//! As in Loki, stored chunks count whole when they overlap the range (their meta files
//! hold totals, not per-entry times); heads count their entries in the range exactly,
//! each head with any as one chunk.

use std::collections::BTreeMap;

use weft_model::TenantId;

use crate::logql::Matcher;
use crate::{LabelSet, LogStore};

/// Totals of one stream in a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Entries.
    pub entries: u64,
    /// Bytes of log lines.
    pub bytes: u64,
    /// Chunks (stored ones overlapping the range, plus a head with entries in it).
    pub chunks: u64,
}

/// The totals of every stream of `tenant` that `matchers` select, in `[start, end)` Unix
/// nanoseconds.
pub fn stream_stats(
    store: &LogStore,
    tenant: &TenantId,
    matchers: &[Matcher],
    start_unix_nanos: i64,
    end_unix_nanos: i64,
) -> BTreeMap<LabelSet, StreamStats> {
    let selects = |labels: &LabelSet| matchers.iter().all(|matcher| matcher.matches(labels));
    let state = store.read_state();
    let mut found: BTreeMap<LabelSet, StreamStats> = BTreeMap::new();
    for ((stream_tenant, labels), head) in &state.heads {
        if stream_tenant != tenant || !selects(labels) {
            continue;
        }
        let mut stats = StreamStats::default();
        for held in &head.entries {
            let at = held.entry.timestamp_unix_nanos;
            if at >= start_unix_nanos && at < end_unix_nanos {
                stats.entries += 1;
                stats.bytes += held.entry.line.len() as u64;
            }
        }
        if stats.entries > 0 {
            stats.chunks = 1;
            let total = found.entry(labels.clone()).or_default();
            total.entries += stats.entries;
            total.bytes += stats.bytes;
            total.chunks += stats.chunks;
        }
    }
    for meta in &state.chunks {
        if meta.tenant == tenant.as_str()
            && meta.max_time_unix_nanos >= start_unix_nanos
            && meta.min_time_unix_nanos < end_unix_nanos
            && selects(&meta.labels)
        {
            let total = found.entry(meta.labels.clone()).or_default();
            total.entries += meta.entries;
            total.bytes += meta.line_bytes;
            total.chunks += 1;
        }
    }
    found
}

/// How `/index/volume` groups streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeGrouping {
    /// By the values of these labels (the selector's names, or `targetLabels`); streams
    /// without any of them are left out.
    Series(Vec<String>),
    /// One row per label name: the bytes of every stream that has it.
    Labels(Vec<String>),
}

/// A group of streams (label names and values) and its bytes.
pub type VolumeRow = (Vec<(String, String)>, u64);

/// Bytes per group, largest first, at most `limit` rows, with whether rows were left out.
pub fn volume(
    stats: &BTreeMap<LabelSet, StreamStats>,
    grouping: &VolumeGrouping,
    limit: usize,
) -> (Vec<VolumeRow>, bool) {
    let mut groups: BTreeMap<Vec<(String, String)>, u64> = BTreeMap::new();
    match grouping {
        VolumeGrouping::Series(names) => {
            for (labels, totals) in stats {
                let key: Vec<(String, String)> = labels
                    .pairs()
                    .iter()
                    .filter(|(name, _)| names.iter().any(|wanted| wanted == name))
                    .cloned()
                    .collect();
                if !key.is_empty() {
                    *groups.entry(key).or_default() += totals.bytes;
                }
            }
        }
        VolumeGrouping::Labels(names) => {
            for (labels, totals) in stats {
                for (name, _) in labels.pairs() {
                    if names.is_empty() || names.iter().any(|wanted| wanted == name) {
                        *groups
                            .entry(vec![(name.clone(), String::new())])
                            .or_default() += totals.bytes;
                    }
                }
            }
        }
    }
    let mut rows: Vec<VolumeRow> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    (rows, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> LabelSet {
        LabelSet::parse(text).expect("labels")
    }

    fn stats(entries: u64, bytes: u64) -> StreamStats {
        StreamStats {
            entries,
            bytes,
            chunks: 1,
        }
    }

    #[test]
    fn volume_groups_by_the_named_labels_largest_first() {
        let mut all = BTreeMap::new();
        all.insert(labels(r#"{job="api", level="info"}"#), stats(10, 100));
        all.insert(labels(r#"{job="api", level="error"}"#), stats(5, 300));
        all.insert(labels(r#"{job="db", level="info"}"#), stats(1, 50));
        all.insert(labels(r#"{env="prod"}"#), stats(1, 7));
        let (rows, truncated) = volume(&all, &VolumeGrouping::Series(vec!["job".into()]), 10);
        assert_eq!(
            rows,
            vec![
                (vec![("job".into(), "api".into())], 400),
                (vec![("job".into(), "db".into())], 50),
            ]
        );
        assert!(!truncated);
        let (rows, truncated) = volume(&all, &VolumeGrouping::Series(vec!["level".into()]), 1);
        assert_eq!(rows, vec![(vec![("level".into(), "error".into())], 300)]);
        assert!(truncated);
        let (rows, _) = volume(&all, &VolumeGrouping::Labels(Vec::new()), 10);
        assert_eq!(
            rows,
            vec![
                (vec![("job".into(), String::new())], 450),
                (vec![("level".into(), String::new())], 450),
                (vec![("env".into(), String::new())], 7),
            ]
        );
    }
}
