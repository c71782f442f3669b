//! Samples of one log range: every entry of the selected streams in the time span the
//! query needs, run through the range's pipeline, grouped into series.
//!
//! Chunks are decoded and their entries run through the pipeline on blocking threads,
//! up to one chunk per core at a time; heads are read under the store's lock. The line
//! bytes looked at are charged against `logs.max_query_bytes_scanned` and the deadline
//! is checked as each stream head and each chunk is done.
//!
//! A range whose answer needs only entry times and line lengths (see
//! [`counts_from_times`]) reads just the block index of a v2 chunk and adds its entries
//! up per window edge: the leaf's points are then weights (entries, or line bytes)
//! at window edges, not one point per entry. A chunk whose time range meets another
//! source of the same stream (duplicates must be dropped by line), a v1 chunk, and a
//! chunk with structured metadata when labels are kept, take the per-entry path.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use weft_model::TenantId;

use crate::chunk::{CHUNK_PREFIX_BYTES, ChunkMeta, index_bytes, read_block_index, read_blocks};
use crate::chunk_store::ChunkStore;
use crate::logql::{Grouping, LogRange, RangeFunction};
use crate::query::{QueryError, QueryStats};
use crate::{LabelSet, LogStore};

use super::range::Point;
use super::vector::group_labels;

/// How the labels a pipeline produced are reduced before samples are grouped into
/// series (Loki's `GroupedLabels`): samples with `__error__` always keep all theirs.
#[derive(Debug, Clone)]
pub(crate) enum SourceGrouping {
    /// Keep the pipeline's labels.
    Keep,
    /// No labels at all (`absent_over_time`, or `sum(...)` pushed down).
    Nothing,
    /// `by`/`without`.
    Group(Grouping),
}

/// A log range to read, with what the evaluator needs to turn entries into samples.
#[derive(Debug, Clone)]
pub(crate) struct LeafRequest {
    /// The log range (owned so it can move to blocking threads).
    pub(crate) range: Arc<LogRange>,
    /// The range function (decides the sample value without an unwrap).
    pub(crate) function: RangeFunction,
    /// Label reduction at the source.
    pub(crate) grouping: SourceGrouping,
    /// Exclusive lower bound, Unix nanoseconds.
    pub(crate) after_unix_nanos: i64,
    /// Inclusive upper bound, Unix nanoseconds.
    pub(crate) until_unix_nanos: i64,
    /// Every window start and end of the query's steps, ascending and distinct: no
    /// window boundary falls strictly between two neighbours, so entries between them
    /// can be counted together.
    pub(crate) window_edges: Arc<[i64]>,
}

/// Whether `function` over `range` needs only entry times and line lengths: a stream
/// selector without pipeline stages or unwrap under `count_over_time`, `rate`,
/// `bytes_over_time`, `bytes_rate` or `absent_over_time`. Its leaf's points carry a
/// weight (entries for the counting functions, line bytes for the bytes functions), so
/// the evaluator sums values where it would count points.
pub(crate) fn counts_from_times(function: RangeFunction, range: &LogRange) -> bool {
    range.query.pipeline.is_empty()
        && range.unwrap.is_none()
        && matches!(
            function,
            RangeFunction::CountOverTime
                | RangeFunction::Rate
                | RangeFunction::BytesOverTime
                | RangeFunction::BytesRate
                | RangeFunction::AbsentOverTime
        )
}

/// The series of one log range: labels and points sorted by time.
pub(crate) type LeafSeries = Vec<(Arc<LabelSet>, Vec<Point>)>;

/// One extracted sample before grouping into series.
struct Extracted {
    labels: LabelSet,
    timestamp_unix_nanos: i64,
    line_hash: u64,
    value: f64,
}

/// The deadline and bytes budget shared by every range of a query.
pub(crate) struct Budget {
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
    pub(crate) limit: u64,
    pub(crate) stats: QueryStats,
}

impl Budget {
    pub(crate) fn new(store: &LogStore) -> Self {
        Budget {
            deadline: Instant::now() + store.config.query_timeout,
            timeout: store.config.query_timeout,
            limit: store.config.max_query_bytes_scanned,
            stats: QueryStats::default(),
        }
    }

    fn charge(&mut self, bytes: u64, lines: u64) -> Result<(), QueryError> {
        self.stats.bytes_processed += bytes;
        self.stats.lines_processed += lines;
        if self.stats.bytes_processed > self.limit {
            return Err(QueryError::TooManyBytes {
                would_read: self.stats.bytes_processed,
                limit: self.limit,
            });
        }
        self.check_deadline()
    }

    pub(crate) fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(self.timeout));
        }
        Ok(())
    }
}

fn line_hash(line: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut hasher);
    hasher.finish()
}

/// Runs the pipeline over one entry of `stream`; `None` when dropped or out of span.
fn extract(
    request: &LeafRequest,
    stream: &LabelSet,
    timestamp: i64,
    line: &str,
    metadata: &[(String, String)],
) -> Option<Extracted> {
    if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
        return None;
    }
    let processed = request
        .range
        .pipeline()
        .process(timestamp, line, stream, metadata)?;
    let value = match processed.value {
        Some(value) => value,
        None => match request.function {
            RangeFunction::BytesOverTime | RangeFunction::BytesRate => processed.line.len() as f64,
            _ => 1.0,
        },
    };
    let labels = if processed.labels.get("__error__").is_some() {
        processed.labels
    } else {
        series_labels(&request.grouping, processed.labels)
    };
    Some(Extracted {
        labels,
        timestamp_unix_nanos: timestamp,
        line_hash: line_hash(line),
        value,
    })
}

fn series_labels(grouping: &SourceGrouping, labels: LabelSet) -> LabelSet {
    match grouping {
        SourceGrouping::Keep => labels,
        SourceGrouping::Nothing => LabelSet::default(),
        SourceGrouping::Group(grouping) => group_labels(&labels, Some(grouping)),
    }
}

/// Samples per stream (stream labels, extracted samples).
type StreamSamples = Vec<(LabelSet, Vec<Extracted>)>;

/// Inclusive time ranges of a chunk that another source of its stream also covers.
type Zones = [(i64, i64)];

fn in_zones(zones: &Zones, timestamp: i64) -> bool {
    zones
        .iter()
        .any(|&(start, end)| start <= timestamp && timestamp <= end)
}

/// Every sample of one chunk, entry by entry (only entries inside `zones` when
/// given): (samples, lines, line bytes).
fn decode_and_extract(
    request: &LeafRequest,
    meta: &ChunkMeta,
    bytes: &[u8],
    zones: Option<&Zones>,
) -> Result<(Vec<Extracted>, u64, u64), QueryError> {
    let failed = |error: crate::chunk::ChunkError| {
        QueryError::Storage(format!("chunk {}: {error}", meta.id))
    };
    let pipeline = request.range.pipeline();
    let mut out = Vec::new();
    let mut lines = 0u64;
    let mut line_bytes = 0u64;
    for block in read_blocks(bytes).map_err(failed)? {
        if !block.header.overlaps(
            request.after_unix_nanos.saturating_add(1),
            request.until_unix_nanos.saturating_add(1),
        ) {
            continue;
        }
        if let Some(zones) = zones
            && !zones
                .iter()
                .any(|&(start, end)| block.header.overlaps(start, end.saturating_add(1)))
        {
            continue;
        }
        let decoded = block.decode(true).map_err(failed)?;
        for (index, &timestamp) in decoded.timestamps_unix_nanos.iter().enumerate() {
            if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                continue;
            }
            if zones.is_some_and(|zones| !in_zones(zones, timestamp)) {
                continue;
            }
            let line = decoded.line(index).unwrap_or_default();
            lines += 1;
            line_bytes += line.len() as u64;
            // The leading line filters drop most entries of a filtered range before any
            // label work.
            if !pipeline.keeps_line(line) {
                continue;
            }
            out.extend(extract(
                request,
                &meta.labels,
                timestamp,
                line,
                decoded.metadata(index),
            ));
        }
    }
    Ok((out, lines, line_bytes))
}

/// What one chunk gave: samples entry by entry and weights at window edges.
struct ChunkSamples {
    extracted: Vec<Extracted>,
    counted: Vec<Point>,
}

/// Adds up the entries of a chunk's block index per window edge, except those inside
/// `zones` (they are the per-entry path's): `None` when the whole chunk needs the
/// per-entry path (an entry has structured metadata and labels are kept). Returns
/// (points at window edges, lines, line bytes), lines and bytes of every entry in span.
fn count_from_index(
    request: &LeafRequest,
    meta: &ChunkMeta,
    index: &[u8],
    zones: &Zones,
) -> Result<Option<(Vec<Point>, u64, u64)>, QueryError> {
    let failed = |error: crate::chunk::ChunkError| {
        QueryError::Storage(format!("chunk {}: {error}", meta.id))
    };
    let edges = &request.window_edges;
    let mut counts = vec![0u64; edges.len()];
    let mut sums = vec![0u64; edges.len()];
    let mut lines = 0u64;
    let mut line_bytes = 0u64;
    // `edge` is the index of the first edge >= the last timestamp seen; entries mostly
    // come in time order, so it rarely moves back.
    let mut edge = 0usize;
    for block in read_block_index(index).map_err(failed)? {
        if !block.header.overlaps(
            request.after_unix_nanos.saturating_add(1),
            request.until_unix_nanos.saturating_add(1),
        ) {
            continue;
        }
        let decoded = block.decode(false).map_err(failed)?;
        if decoded.has_metadata && !matches!(request.grouping, SourceGrouping::Nothing) {
            return Ok(None);
        }
        for (index, &timestamp) in decoded.timestamps_unix_nanos.iter().enumerate() {
            if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                continue;
            }
            let length = u64::from(decoded.line_lengths[index]);
            lines += 1;
            line_bytes += length;
            if decoded.repeats[index] || (!zones.is_empty() && in_zones(zones, timestamp)) {
                continue;
            }
            if edge >= edges.len()
                || edges[edge] < timestamp
                || (edge > 0 && edges[edge - 1] >= timestamp)
            {
                edge = edges.partition_point(|&end| end < timestamp);
            }
            // Outside every window: at or before the first start, after the last end.
            if edge == 0 || edge == edges.len() {
                continue;
            }
            counts[edge] += 1;
            sums[edge] += length;
        }
    }
    let bytes_function = matches!(
        request.function,
        RangeFunction::BytesOverTime | RangeFunction::BytesRate
    );
    let points = counts
        .iter()
        .zip(&sums)
        .zip(edges.iter())
        .filter(|((count, _), _)| **count > 0)
        .map(|((&count, &sum), &end)| {
            (
                end,
                if bytes_function {
                    sum as f64
                } else {
                    count as f64
                },
            )
        })
        .collect();
    Ok(Some((points, lines, line_bytes)))
}

/// Reads what a chunk needs and extracts or counts its samples on blocking threads:
/// (samples, lines, line bytes). With `zones` (`None`: every entry one by one), the
/// entries outside them are counted from the block index and those inside extracted
/// one by one.
async fn read_chunk(
    request: LeafRequest,
    meta: Arc<ChunkMeta>,
    chunk_store: ChunkStore,
    zones: Option<Vec<(i64, i64)>>,
) -> Result<(ChunkSamples, u64, u64), QueryError> {
    let storage =
        |error: crate::chunk_store::ChunkStoreError| QueryError::Storage(error.to_string());
    let joined = |error: tokio::task::JoinError| {
        QueryError::Storage(format!("chunk worker failed: {error}"))
    };
    if let Some(zones) = zones {
        // Enough for the block index of a 4 MiB chunk in one read most of the time.
        let want = meta
            .chunk_bytes
            .min(256 * 1024)
            .max(CHUNK_PREFIX_BYTES as u64);
        let mut prefix = chunk_store
            .read_range(&meta, 0..want)
            .await
            .map_err(storage)?;
        let needed = index_bytes(&prefix)
            .map_err(|error| QueryError::Storage(format!("chunk {}: {error}", meta.id)))?;
        if let Some(needed) = needed {
            if needed as u64 > prefix.len() as u64 {
                prefix = chunk_store
                    .read_range(&meta, 0..needed as u64)
                    .await
                    .map_err(storage)?;
            }
            let zones: Arc<Zones> = zones.into();
            let (request_for_task, meta_for_task, zones_for_task) =
                (request.clone(), meta.clone(), zones.clone());
            let counted = tokio::task::spawn_blocking(move || {
                count_from_index(&request_for_task, &meta_for_task, &prefix, &zones_for_task)
            })
            .await
            .map_err(joined)??;
            if let Some((counted, lines, line_bytes)) = counted {
                let mut samples = ChunkSamples {
                    extracted: Vec::new(),
                    counted,
                };
                if !zones.is_empty() {
                    let bytes = chunk_store.read(&meta).await.map_err(storage)?;
                    let (extracted, _, _) = tokio::task::spawn_blocking(move || {
                        decode_and_extract(&request, &meta, &bytes, Some(&zones))
                    })
                    .await
                    .map_err(joined)??;
                    samples.extracted = extracted;
                }
                return Ok((samples, lines, line_bytes));
            }
        }
    }
    let bytes = chunk_store.read(&meta).await.map_err(storage)?;
    let (extracted, lines, line_bytes) =
        tokio::task::spawn_blocking(move || decode_and_extract(&request, &meta, &bytes, None))
            .await
            .map_err(joined)??;
    Ok((
        ChunkSamples {
            extracted,
            counted: Vec::new(),
        },
        lines,
        line_bytes,
    ))
}

/// Reads and extracts every sample of `request` for `tenant`.
pub(crate) async fn fetch(
    store: &LogStore,
    tenant: &TenantId,
    request: &LeafRequest,
    budget: &mut Budget,
) -> Result<LeafSeries, QueryError> {
    let selects = |labels: &LabelSet| request.range.query.selects(labels);
    let overlaps = |meta: &ChunkMeta| {
        meta.max_time_unix_nanos > request.after_unix_nanos
            && meta.min_time_unix_nanos <= request.until_unix_nanos
    };
    let counting = counts_from_times(request.function, &request.range);
    let mut per_stream: StreamSamples = Vec::new();
    // The time range of each selected stream's head (all its entries).
    let mut head_ranges: HashMap<LabelSet, (i64, i64)> = HashMap::new();
    let chunks: Vec<Arc<ChunkMeta>> = {
        let state = store.read_state();
        for ((stream_tenant, labels), head) in &state.heads {
            if stream_tenant != tenant || head.entries.is_empty() || !selects(labels) {
                continue;
            }
            let mut samples = Vec::new();
            let mut bytes = 0u64;
            let mut lines = 0u64;
            let mut range = (i64::MAX, i64::MIN);
            for held in &head.entries {
                let timestamp = held.entry.timestamp_unix_nanos;
                range = (range.0.min(timestamp), range.1.max(timestamp));
                if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                    continue;
                }
                bytes += held.entry.line.len() as u64;
                lines += 1;
                samples.extend(extract(
                    request,
                    labels,
                    timestamp,
                    &held.entry.line,
                    &held.entry.structured_metadata,
                ));
            }
            budget.charge(bytes, lines)?;
            head_ranges.insert(labels.clone(), range);
            per_stream.push((labels.clone(), samples));
        }
        state
            .chunks
            .iter()
            .filter(|meta| {
                meta.tenant == tenant.as_str() && overlaps(meta) && selects(&meta.labels)
            })
            .cloned()
            .collect()
    };
    budget.stats.chunks_referenced += chunks.len() as u64;
    let zones = if counting {
        shared_zones(&chunks, &head_ranges)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; chunks.len()]
    };
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
    let mut decoded = futures::stream::iter(chunks.into_iter().zip(zones).map(|(meta, zones)| {
        let labels = meta.labels.clone();
        let read = read_chunk(request.clone(), meta, store.chunk_store.clone(), zones);
        async move {
            let (samples, lines, line_bytes) = read.await?;
            Ok::<_, QueryError>((labels, samples, line_bytes, lines))
        }
    }))
    .buffer_unordered(parallelism);
    let mut counted: Vec<(LabelSet, Vec<Point>)> = Vec::new();
    while let Some(result) = decoded.next().await {
        let (labels, samples, line_bytes, lines) = result?;
        budget.stats.chunks_downloaded += 1;
        budget.charge(line_bytes, lines)?;
        if !samples.counted.is_empty() {
            counted.push((
                series_labels(&request.grouping, labels.clone()),
                samples.counted,
            ));
        }
        per_stream.push((labels, samples.extracted));
    }
    Ok(into_series(per_stream, counted))
}

/// For each chunk, the time ranges (inclusive) it shares with another chunk of the
/// same stream or with the stream's head: only there can an entry have a duplicate in
/// another source, so only there are entries read one by one.
fn shared_zones(
    chunks: &[Arc<ChunkMeta>],
    head_ranges: &HashMap<LabelSet, (i64, i64)>,
) -> Vec<Vec<(i64, i64)>> {
    let mut by_stream: HashMap<&LabelSet, Vec<usize>> = HashMap::new();
    for (index, meta) in chunks.iter().enumerate() {
        by_stream.entry(&meta.labels).or_default().push(index);
    }
    let mut zones = vec![Vec::new(); chunks.len()];
    for (labels, indexes) in by_stream {
        // Sources of the stream: its chunks, then its head (no chunk index).
        let mut sources: Vec<((i64, i64), Option<usize>)> = indexes
            .iter()
            .map(|&index| {
                let meta = &chunks[index];
                (
                    (meta.min_time_unix_nanos, meta.max_time_unix_nanos),
                    Some(index),
                )
            })
            .collect();
        sources.extend(head_ranges.get(labels).map(|&range| (range, None)));
        sources.sort_by_key(|source| source.0);
        // Sorted by start, every source meeting source `first` later in the order
        // starts before `first` ends.
        for first in 0..sources.len() {
            let ((start, end), first_chunk) = sources[first];
            for &((other_start, other_end), other_chunk) in &sources[first + 1..] {
                if other_start > end {
                    break;
                }
                let shared = (start.max(other_start), end.min(other_end));
                if let Some(index) = first_chunk {
                    zones[index].push(shared);
                }
                if let Some(index) = other_chunk {
                    zones[index].push(shared);
                }
            }
        }
    }
    zones
}

/// Drops duplicate entries of a stream (same time and line: a WAL replay of entries
/// already in a chunk) and groups samples into series sorted by labels, points by
/// time; `counted` adds weighted points of series already grouped.
fn into_series(per_stream: StreamSamples, counted: Vec<(LabelSet, Vec<Point>)>) -> LeafSeries {
    let mut by_stream: HashMap<LabelSet, Vec<Extracted>> = HashMap::new();
    for (labels, samples) in per_stream {
        by_stream.entry(labels).or_default().extend(samples);
    }
    let mut series_index: HashMap<LabelSet, usize> = HashMap::new();
    let mut series: Vec<(LabelSet, Vec<Point>)> = Vec::new();
    let mut streams: Vec<(LabelSet, Vec<Extracted>)> = by_stream.into_iter().collect();
    streams.sort_by(|left, right| left.0.cmp(&right.0));
    for (_, mut samples) in streams {
        samples.sort_by_key(|sample| (sample.timestamp_unix_nanos, sample.line_hash));
        samples.dedup_by(|right, left| {
            left.timestamp_unix_nanos == right.timestamp_unix_nanos
                && left.line_hash == right.line_hash
        });
        for sample in samples {
            let index = match series_index.get(&sample.labels) {
                Some(&index) => index,
                None => {
                    series_index.insert(sample.labels.clone(), series.len());
                    series.push((sample.labels, Vec::new()));
                    series.len() - 1
                }
            };
            series[index]
                .1
                .push((sample.timestamp_unix_nanos, sample.value));
        }
    }
    for (labels, points) in counted {
        match series_index.get(&labels) {
            Some(&index) => series[index].1.extend(points),
            None => {
                series_index.insert(labels.clone(), series.len());
                series.push((labels, points));
            }
        }
    }
    series
        .into_iter()
        .map(|(labels, mut points)| {
            points.sort_by_key(|point| point.0);
            (Arc::new(labels), points)
        })
        .collect()
}
