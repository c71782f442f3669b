//! Running log queries, label and series lookups over heads and chunks.
//!
//! Every query has a deadline (`logs.query_timeout`) and a bound on the uncompressed
//! line bytes it may scan (`logs.max_query_bytes_scanned`). Identical entries (same
//! stream, timestamp and line; left by a WAL replay of entries already in a chunk) are
//! returned once, as Loki merges replicas.
//!
//! Chunks are read and decoded on blocking threads, one per core at a time, and their
//! results merged in the order the direction reads them. A query whose line filters
//! require a literal (`|= "x"`, the first such filter of the leading chain) searches
//! each block's lines at once for it and builds entries only for the lines holding it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use memchr::memmem;
use weft_model::TenantId;

use crate::chunk::{ChunkMeta, read_blocks};
use crate::logql::{FilterOp, LineFilterValue, LogQuery, Matcher, Pipeline, Stage};
use crate::{Entry, LabelSet, LogStore};

/// Which entries a log query keeps when over the limit, and their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first (the default).
    Backward,
    /// Oldest first.
    Forward,
}

/// The bounds of a log query: `[start, end)` in Unix nanoseconds, at most `limit`
/// entries over all streams.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Inclusive start.
    pub start_unix_nanos: i64,
    /// Exclusive end.
    pub end_unix_nanos: i64,
    /// Most entries returned.
    pub limit: usize,
    /// Order and which end of the range wins.
    pub direction: Direction,
}

/// One stream of a result, entries in the query's direction.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// The stream's labels.
    pub labels: LabelSet,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// What a query cost, reported in Loki's `stats`.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    /// Uncompressed line bytes looked at.
    pub bytes_processed: u64,
    /// Lines looked at.
    pub lines_processed: u64,
    /// Chunks that met the selector and time range.
    pub chunks_referenced: u64,
    /// Chunks read from the object store.
    pub chunks_downloaded: u64,
    /// Wall time.
    pub exec_time: Duration,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Over `logs.max_query_bytes_scanned` (400).
    #[error(
        "the query would read too many bytes (query: {would_read} bytes, limit: {limit} bytes); consider adding more specific stream selectors or reduce the time range of the query"
    )]
    TooManyBytes {
        /// Bytes the query reached.
        would_read: u64,
        /// The limit.
        limit: u64,
    },
    /// Past `logs.query_timeout` (504).
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    /// A chunk could not be read or is damaged (500).
    #[error("{0}")]
    Storage(String),
}

struct Budget {
    deadline: Instant,
    timeout: Duration,
    limit: u64,
    stats: QueryStats,
}

impl Budget {
    fn charge(&mut self, bytes: u64) -> Result<(), QueryError> {
        self.stats.bytes_processed += bytes;
        if self.stats.bytes_processed > self.limit {
            return Err(QueryError::TooManyBytes {
                would_read: self.stats.bytes_processed,
                limit: self.limit,
            });
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(self.timeout));
        }
        Ok(())
    }
}

fn in_range(bounds: &Bounds, timestamp: i64) -> bool {
    timestamp >= bounds.start_unix_nanos && timestamp < bounds.end_unix_nanos
}

/// Runs a log query for `tenant`.
pub async fn run_log_query(
    store: &LogStore,
    tenant: &TenantId,
    query: &LogQuery,
    bounds: Bounds,
) -> Result<(Vec<StreamResult>, QueryStats), QueryError> {
    let started = Instant::now();
    let mut budget = Budget {
        deadline: started + store.config.query_timeout,
        timeout: store.config.query_timeout,
        limit: store.config.max_query_bytes_scanned,
        stats: QueryStats::default(),
    };
    let mut found: HashMap<LabelSet, Vec<Entry>> = HashMap::new();
    let pipeline = query.pipeline();
    let mut chunks: Vec<Arc<ChunkMeta>> = Vec::new();
    {
        let state = store.read_state();
        for ((stream_tenant, labels), head) in &state.heads {
            if stream_tenant != tenant || head.entries.is_empty() || !query.selects(labels) {
                continue;
            }
            for held in &head.entries {
                if !in_range(&bounds, held.entry.timestamp_unix_nanos) {
                    continue;
                }
                budget.stats.lines_processed += 1;
                budget.charge(held.entry.line.len() as u64)?;
                keep_entry(&pipeline, labels, Cow::Borrowed(&held.entry), &mut found);
            }
        }
        chunks.extend(
            state
                .chunks
                .iter()
                .filter(|meta| meta.tenant == tenant.as_str())
                .filter(|meta| {
                    meta.max_time_unix_nanos >= bounds.start_unix_nanos
                        && meta.min_time_unix_nanos < bounds.end_unix_nanos
                })
                .filter(|meta| query.selects(&meta.labels))
                .cloned(),
        );
    }
    budget.stats.chunks_referenced = chunks.len() as u64;
    // The end of the range the direction keeps is read first.
    match bounds.direction {
        Direction::Backward => {
            chunks.sort_by_key(|meta| std::cmp::Reverse(meta.max_time_unix_nanos))
        }
        Direction::Forward => chunks.sort_by_key(|meta| meta.min_time_unix_nanos),
    }
    // Chunks come back in this order; once `limit` entries are held, a chunk that can
    // only hold entries past the limit's edge ends the scan (Loki stops there too).
    let spans: Vec<(i64, i64)> = chunks
        .iter()
        .map(|meta| (meta.min_time_unix_nanos, meta.max_time_unix_nanos))
        .collect();
    let mut edge = prune_to_limit(&mut found, bounds);
    let shared_query = Arc::new(query.clone());
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
    let mut scanned = futures::stream::iter(chunks.into_iter().map(|meta| {
        let chunk_store = store.chunk_store.clone();
        let query = shared_query.clone();
        async move {
            let bytes = chunk_store
                .read(&meta)
                .await
                .map_err(|error| QueryError::Storage(error.to_string()))?;
            tokio::task::spawn_blocking(move || scan_chunk(&query, bounds, &meta, &bytes))
                .await
                .map_err(|error| QueryError::Storage(format!("chunk worker failed: {error}")))?
        }
    }))
    .buffered(parallelism);
    for &(min_time, max_time) in &spans {
        if edge.is_some_and(|edge| beyond_edge(bounds.direction, edge, min_time, max_time)) {
            break;
        }
        let Some(scan) = scanned.next().await else {
            break;
        };
        let scan = scan?;
        budget.stats.chunks_downloaded += 1;
        budget.stats.lines_processed += scan.lines;
        budget.charge(scan.line_bytes)?;
        for (labels, entries) in scan.found {
            found.entry(labels).or_default().extend(entries);
        }
        edge = prune_to_limit(&mut found, bounds);
    }
    let results = select_entries(found, bounds);
    budget.stats.exec_time = started.elapsed();
    Ok((results, budget.stats))
}

/// With at least `limit` entries held, the time of the `limit`-th at the direction's
/// end (the newest for `backward`), after dropping every entry past it; entries at that
/// very time are all kept (a duplicate or a tie may still be chosen). `None` while
/// fewer are held. Keeps a query's memory to about `limit` entries plus one chunk per
/// core, whatever the range.
fn prune_to_limit(found: &mut HashMap<LabelSet, Vec<Entry>>, bounds: Bounds) -> Option<i64> {
    let held: usize = found.values().map(Vec::len).sum();
    if bounds.limit == 0 || held < bounds.limit {
        return None;
    }
    let mut times: Vec<i64> = found
        .values()
        .flatten()
        .map(|entry| entry.timestamp_unix_nanos)
        .collect();
    let nth = bounds.limit - 1;
    let edge = match bounds.direction {
        Direction::Backward => {
            *times
                .select_nth_unstable_by(nth, |left, right| right.cmp(left))
                .1
        }
        Direction::Forward => *times.select_nth_unstable(nth).1,
    };
    for entries in found.values_mut() {
        entries.retain(|entry| match bounds.direction {
            Direction::Backward => entry.timestamp_unix_nanos >= edge,
            Direction::Forward => entry.timestamp_unix_nanos <= edge,
        });
    }
    found.retain(|_, entries| !entries.is_empty());
    Some(edge)
}

/// True when a chunk spanning `[min_time, max_time]` holds only entries past `edge`.
fn beyond_edge(direction: Direction, edge: i64, min_time: i64, max_time: i64) -> bool {
    match direction {
        Direction::Backward => max_time < edge,
        Direction::Forward => min_time > edge,
    }
}

/// What one chunk gave a log query.
struct ChunkScan {
    /// Kept entries by post-pipeline labels.
    found: HashMap<LabelSet, Vec<Entry>>,
    /// Lines in the query's range.
    lines: u64,
    /// Their bytes.
    line_bytes: u64,
}

/// The literal every line a query keeps contains: the first `|= "x"` (one non-empty
/// alternative) among the line filters before any other stage (later stages may
/// rewrite the line).
fn required_literal(query: &LogQuery) -> Option<&str> {
    query
        .pipeline
        .iter()
        .map_while(|stage| match stage {
            Stage::LineFilter(filter) => Some(filter),
            _ => None,
        })
        .find_map(|filter| match (filter.op, filter.alternatives.as_slice()) {
            (FilterOp::Contains, [LineFilterValue::Text { value, regex: None }])
                if !value.is_empty() =>
            {
                Some(value.as_str())
            }
            _ => None,
        })
}

/// Decodes the blocks of one chunk in the query's range and runs the pipeline over
/// their entries (only those holding the required literal, when there is one).
fn scan_chunk(
    query: &LogQuery,
    bounds: Bounds,
    meta: &ChunkMeta,
    bytes: &[u8],
) -> Result<ChunkScan, QueryError> {
    let failed = |error: crate::chunk::ChunkError| {
        QueryError::Storage(format!("chunk {}: {error}", meta.id))
    };
    let pipeline = query.pipeline();
    let finder = required_literal(query).map(memmem::Finder::new);
    let mut scan = ChunkScan {
        found: HashMap::new(),
        lines: 0,
        line_bytes: 0,
    };
    for block in read_blocks(bytes).map_err(failed)? {
        if !block
            .header
            .overlaps(bounds.start_unix_nanos, bounds.end_unix_nanos)
        {
            continue;
        }
        let decoded = block.decode(true).map_err(failed)?;
        for (&timestamp, &length) in decoded
            .timestamps_unix_nanos
            .iter()
            .zip(&decoded.line_lengths)
        {
            if in_range(&bounds, timestamp) {
                scan.lines += 1;
                scan.line_bytes += u64::from(length);
            }
        }
        let candidates: Vec<usize> = match &finder {
            Some(finder) => decoded.entries_containing(finder),
            None => (0..decoded.len()).collect(),
        };
        for index in candidates {
            if !in_range(&bounds, decoded.timestamps_unix_nanos[index]) {
                continue;
            }
            let Some(line) = decoded.line(index) else {
                continue;
            };
            if !pipeline.keeps_line(line) {
                continue;
            }
            if let Some(entry) = decoded.entry(index) {
                keep_entry(&pipeline, &meta.labels, Cow::Owned(entry), &mut scan.found);
            }
        }
    }
    Ok(scan)
}

/// Runs the pipeline over one entry of the stream `labels` and files what it keeps
/// under its post-pipeline labels (Loki groups a log query's result that way). Line
/// filters alone on an entry without structured metadata take the fast path: no
/// label work, the entry filed under its stream.
fn keep_entry(
    pipeline: &Pipeline<'_>,
    labels: &LabelSet,
    entry: Cow<'_, Entry>,
    found: &mut HashMap<LabelSet, Vec<Entry>>,
) {
    if pipeline.only_line_filters() && entry.structured_metadata.is_empty() {
        if !pipeline.keeps_line(&entry.line) {
            return;
        }
        match found.get_mut(labels) {
            Some(entries) => entries.push(entry.into_owned()),
            None => {
                found.insert(labels.clone(), vec![entry.into_owned()]);
            }
        }
        return;
    }
    let Some(processed) = pipeline.process(
        entry.timestamp_unix_nanos,
        &entry.line,
        labels,
        &entry.structured_metadata,
    ) else {
        return;
    };
    let line = processed.line.into_owned();
    let labels = processed.labels;
    let kept = match entry {
        Cow::Owned(entry) => Entry { line, ..entry },
        Cow::Borrowed(entry) => Entry {
            timestamp_unix_nanos: entry.timestamp_unix_nanos,
            line,
            structured_metadata: entry.structured_metadata.clone(),
        },
    };
    found.entry(labels).or_default().push(kept);
}

/// Dedupes each stream, keeps the `limit` entries at the direction's end over all
/// streams, and orders each stream's entries by the direction.
fn select_entries(found: HashMap<LabelSet, Vec<Entry>>, bounds: Bounds) -> Vec<StreamResult> {
    let mut all: Vec<(i64, usize, Entry)> = Vec::new();
    let mut streams: Vec<LabelSet> = Vec::new();
    for (labels, mut entries) in found {
        entries.sort_by(|left, right| {
            (left.timestamp_unix_nanos, &left.line).cmp(&(right.timestamp_unix_nanos, &right.line))
        });
        entries.dedup_by(|right, left| {
            left.timestamp_unix_nanos == right.timestamp_unix_nanos && left.line == right.line
        });
        if entries.is_empty() {
            continue;
        }
        let index = streams.len();
        streams.push(labels);
        all.extend(
            entries
                .into_iter()
                .map(|entry| (entry.timestamp_unix_nanos, index, entry)),
        );
    }
    match bounds.direction {
        Direction::Backward => all.sort_by_key(|item| std::cmp::Reverse((item.0, item.1))),
        Direction::Forward => all.sort_by_key(|item| (item.0, item.1)),
    }
    all.truncate(bounds.limit);
    let mut grouped: BTreeMap<usize, Vec<Entry>> = BTreeMap::new();
    for (_, index, entry) in all {
        grouped.entry(index).or_default().push(entry);
    }
    let mut results: Vec<StreamResult> = grouped
        .into_iter()
        .map(|(index, entries)| StreamResult {
            labels: streams[index].clone(),
            entries,
        })
        .collect();
    results.sort_by(|left, right| left.labels.cmp(&right.labels));
    results
}

/// The label sets of `tenant`'s streams with data in `[start, end)` that meet every
/// matcher (every stream when `matchers` is empty), sorted.
pub fn series(
    store: &LogStore,
    tenant: &TenantId,
    matchers: &[Matcher],
    start_unix_nanos: i64,
    end_unix_nanos: i64,
) -> BTreeSet<LabelSet> {
    let selects = |labels: &LabelSet| matchers.iter().all(|matcher| matcher.matches(labels));
    let state = store.read_state();
    let mut found = BTreeSet::new();
    for ((stream_tenant, labels), head) in &state.heads {
        if stream_tenant == tenant
            && selects(labels)
            && head.entries.iter().any(|held| {
                held.entry.timestamp_unix_nanos >= start_unix_nanos
                    && held.entry.timestamp_unix_nanos < end_unix_nanos
            })
        {
            found.insert(labels.clone());
        }
    }
    for meta in &state.chunks {
        if meta.tenant == tenant.as_str()
            && meta.max_time_unix_nanos >= start_unix_nanos
            && meta.min_time_unix_nanos < end_unix_nanos
            && selects(&meta.labels)
        {
            found.insert(meta.labels.clone());
        }
    }
    found
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
