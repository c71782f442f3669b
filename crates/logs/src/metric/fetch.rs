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
//! at window edges, not one point per entry. Where the time ranges of two sources of a
//! stream (chunks, head) meet, an entry may be a duplicate of another source's (same
//! time and line, after a WAL replay or a client's retry): there the entry's key (time,
//! line length) is looked up in the other sources' keys, and only entries whose key
//! another source also holds are read line by line and deduplicated. A v1 chunk and a
//! chunk with structured metadata when labels are kept take the per-entry path.

use std::collections::{HashMap, HashSet};
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

/// Inclusive time ranges of a source (chunk or head) that another source of its stream
/// also covers.
type Zones = [(i64, i64)];

fn in_zones(zones: &Zones, timestamp: i64) -> bool {
    zones
        .iter()
        .any(|&(start, end)| start <= timestamp && timestamp <= end)
}

/// An entry's time and line length. Two entries of a stream can only be duplicates
/// (same time and line) when their keys are equal, so only entries whose key another
/// source of the stream also holds are read line by line.
type EntryKey = (i64, u32);

/// Which entries of a chunk [`decode_and_extract`] extracts.
enum Select<'a> {
    /// Every entry; the keys of those inside the zones are returned too.
    Every(&'a Zones),
    /// Only the entries with one of these keys.
    Keys(&'a HashSet<EntryKey>),
}

/// What [`decode_and_extract`] read from one chunk.
struct ChunkEntries {
    extracted: Vec<Extracted>,
    /// Keys of the entries inside the zones (with [`Select::Every`]).
    keys: Vec<EntryKey>,
    lines: u64,
    line_bytes: u64,
}

/// The samples of the selected entries of one chunk, entry by entry.
fn decode_and_extract(
    request: &LeafRequest,
    meta: &ChunkMeta,
    bytes: &[u8],
    select: Select<'_>,
) -> Result<ChunkEntries, QueryError> {
    let failed = |error: crate::chunk::ChunkError| {
        QueryError::Storage(format!("chunk {}: {error}", meta.id))
    };
    let pipeline = request.range.pipeline();
    let mut read = ChunkEntries {
        extracted: Vec::new(),
        keys: Vec::new(),
        lines: 0,
        line_bytes: 0,
    };
    // With `Select::Keys`, only blocks holding one of the keys' times are decoded.
    let key_times: Vec<i64> = match &select {
        Select::Every(_) => Vec::new(),
        Select::Keys(keys) => {
            let mut times: Vec<i64> = keys.iter().map(|key| key.0).collect();
            times.sort_unstable();
            times
        }
    };
    for block in read_blocks(bytes).map_err(failed)? {
        if !block.header.overlaps(
            request.after_unix_nanos.saturating_add(1),
            request.until_unix_nanos.saturating_add(1),
        ) {
            continue;
        }
        if let Select::Keys(_) = select {
            let first = key_times.partition_point(|&time| time < block.header.min_time_unix_nanos);
            if key_times
                .get(first)
                .is_none_or(|&time| time > block.header.max_time_unix_nanos)
            {
                continue;
            }
        }
        let decoded = block.decode(true).map_err(failed)?;
        for (index, &timestamp) in decoded.timestamps_unix_nanos.iter().enumerate() {
            if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                continue;
            }
            let line = decoded.line(index).unwrap_or_default();
            let key = (timestamp, line.len() as u32);
            match select {
                Select::Every(zones) => {
                    if !zones.is_empty() && in_zones(zones, timestamp) {
                        read.keys.push(key);
                    }
                }
                Select::Keys(keys) => {
                    if !keys.contains(&key) {
                        continue;
                    }
                }
            }
            read.lines += 1;
            read.line_bytes += line.len() as u64;
            // The leading line filters drop most entries of a filtered range before any
            // label work.
            if !pipeline.keeps_line(line) {
                continue;
            }
            read.extracted.extend(extract(
                request,
                &meta.labels,
                timestamp,
                line,
                decoded.metadata(index),
            ));
        }
    }
    Ok(read)
}

/// Entries (or line bytes) added up per window edge of a request.
struct EdgeCounter {
    edges: Arc<[i64]>,
    counts: Vec<u64>,
    sums: Vec<u64>,
    /// The index of the first edge >= the last timestamp added; entries mostly come
    /// in time order, so it rarely moves back.
    edge: usize,
}

impl EdgeCounter {
    fn new(edges: Arc<[i64]>) -> Self {
        EdgeCounter {
            counts: vec![0; edges.len()],
            sums: vec![0; edges.len()],
            edges,
            edge: 0,
        }
    }

    fn add(&mut self, timestamp: i64, length: u64) {
        let edges = &self.edges;
        let mut edge = self.edge;
        if edge >= edges.len()
            || edges[edge] < timestamp
            || (edge > 0 && edges[edge - 1] >= timestamp)
        {
            edge = edges.partition_point(|&end| end < timestamp);
            self.edge = edge;
        }
        // Outside every window: at or before the first start, after the last end.
        if edge == 0 || edge == edges.len() {
            return;
        }
        self.counts[edge] += 1;
        self.sums[edge] += length;
    }

    /// Points at window edges: entries, or line bytes for the bytes functions.
    fn into_points(self, function: RangeFunction) -> Vec<Point> {
        let bytes_function = matches!(
            function,
            RangeFunction::BytesOverTime | RangeFunction::BytesRate
        );
        self.counts
            .iter()
            .zip(&self.sums)
            .zip(self.edges.iter())
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
            .collect()
    }
}

/// What the block index of one chunk gave.
struct IndexCount {
    /// Every entry in span outside the zones.
    counter: EdgeCounter,
    /// Keys of the entries in span inside the zones (not counted yet).
    zone_keys: Vec<EntryKey>,
    /// Lines and line bytes of every entry in span.
    lines: u64,
    line_bytes: u64,
}

/// Adds up the entries of a chunk's block index per window edge, except those inside
/// `zones`, whose keys are returned: `None` when the whole chunk needs the per-entry
/// path (an entry has structured metadata and labels are kept).
fn count_from_index(
    request: &LeafRequest,
    meta: &ChunkMeta,
    index: &[u8],
    zones: &Zones,
) -> Result<Option<IndexCount>, QueryError> {
    let failed = |error: crate::chunk::ChunkError| {
        QueryError::Storage(format!("chunk {}: {error}", meta.id))
    };
    let mut count = IndexCount {
        counter: EdgeCounter::new(request.window_edges.clone()),
        zone_keys: Vec::new(),
        lines: 0,
        line_bytes: 0,
    };
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
            let length = decoded.line_lengths[index];
            count.lines += 1;
            count.line_bytes += u64::from(length);
            if decoded.repeats[index] {
                continue;
            }
            if !zones.is_empty() && in_zones(zones, timestamp) {
                count.zone_keys.push((timestamp, length));
                continue;
            }
            count.counter.add(timestamp, u64::from(length));
        }
    }
    Ok(Some(count))
}

/// What the first read of a chunk gave.
enum ChunkRead {
    /// Counted from the block index.
    Counted(IndexCount),
    /// Read entry by entry.
    Extracted(ChunkEntries),
}

fn storage_error(error: crate::chunk_store::ChunkStoreError) -> QueryError {
    QueryError::Storage(error.to_string())
}

fn worker_failed(error: tokio::task::JoinError) -> QueryError {
    QueryError::Storage(format!("chunk worker failed: {error}"))
}

/// Reads what a chunk needs on blocking threads. When `counting`, the entries outside
/// `zones` are counted from the block index; else (or when the chunk needs it) every
/// entry is extracted one by one, with the keys of those inside `zones`.
async fn read_chunk(
    request: LeafRequest,
    meta: Arc<ChunkMeta>,
    chunk_store: ChunkStore,
    zones: Vec<(i64, i64)>,
    counting: bool,
) -> Result<ChunkRead, QueryError> {
    let zones: Arc<Zones> = zones.into();
    if counting {
        // Enough for the block index of a 4 MiB chunk in one read most of the time.
        let want = meta
            .chunk_bytes
            .min(256 * 1024)
            .max(CHUNK_PREFIX_BYTES as u64);
        let mut prefix = chunk_store
            .read_range(&meta, 0..want)
            .await
            .map_err(storage_error)?;
        let needed = index_bytes(&prefix)
            .map_err(|error| QueryError::Storage(format!("chunk {}: {error}", meta.id)))?;
        if let Some(needed) = needed {
            if needed as u64 > prefix.len() as u64 {
                prefix = chunk_store
                    .read_range(&meta, 0..needed as u64)
                    .await
                    .map_err(storage_error)?;
            }
            let (request_for_task, meta_for_task, zones_for_task) =
                (request.clone(), meta.clone(), zones.clone());
            let counted = tokio::task::spawn_blocking(move || {
                count_from_index(&request_for_task, &meta_for_task, &prefix, &zones_for_task)
            })
            .await
            .map_err(worker_failed)??;
            if let Some(counted) = counted {
                return Ok(ChunkRead::Counted(counted));
            }
        }
    }
    let bytes = chunk_store.read(&meta).await.map_err(storage_error)?;
    let read = tokio::task::spawn_blocking(move || {
        decode_and_extract(&request, &meta, &bytes, Select::Every(&zones))
    })
    .await
    .map_err(worker_failed)??;
    Ok(ChunkRead::Extracted(read))
}

/// Extracts the entries of a chunk with one of `keys`.
async fn read_chunk_keys(
    request: LeafRequest,
    meta: Arc<ChunkMeta>,
    chunk_store: ChunkStore,
    keys: HashSet<EntryKey>,
) -> Result<Vec<Extracted>, QueryError> {
    let bytes = chunk_store.read(&meta).await.map_err(storage_error)?;
    let read = tokio::task::spawn_blocking(move || {
        decode_and_extract(&request, &meta, &bytes, Select::Keys(&keys))
    })
    .await
    .map_err(worker_failed)??;
    Ok(read.extracted)
}

/// Which sources of a stream hold an entry key.
enum Holders {
    One(usize),
    Several,
}

/// Entry keys of the shared zones of one stream's sources.
type StreamKeys = HashMap<EntryKey, Holders>;

fn add_keys(keys: &mut StreamKeys, source: usize, added: &[EntryKey]) {
    for &key in added {
        keys.entry(key)
            .and_modify(|holders| {
                if let Holders::One(holder) = holders
                    && *holder != source
                {
                    *holders = Holders::Several;
                }
            })
            .or_insert(Holders::One(source));
    }
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
    // Each selected stream's head: labels, time range of all its entries, and (when
    // counting) the keys of its entries in span.
    let mut heads: Vec<(LabelSet, (i64, i64), Vec<EntryKey>)> = Vec::new();
    let chunks: Vec<Arc<ChunkMeta>> = {
        let state = store.read_state();
        for ((stream_tenant, labels), head) in &state.heads {
            if stream_tenant != tenant || head.entries.is_empty() || !selects(labels) {
                continue;
            }
            let mut samples = Vec::new();
            let mut keys = Vec::new();
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
                if counting {
                    keys.push((timestamp, held.entry.line.len() as u32));
                }
                samples.extend(extract(
                    request,
                    labels,
                    timestamp,
                    &held.entry.line,
                    &held.entry.structured_metadata,
                ));
            }
            budget.charge(bytes, lines)?;
            heads.push((labels.clone(), range, keys));
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
    // Sources: the chunks, then the heads.
    let sources: Vec<(&LabelSet, (i64, i64))> = chunks
        .iter()
        .map(|meta| {
            (
                &meta.labels,
                (meta.min_time_unix_nanos, meta.max_time_unix_nanos),
            )
        })
        .chain(heads.iter().map(|(labels, range, _)| (labels, *range)))
        .collect();
    // Only counting needs them: other ranges extract every entry.
    let mut zones = if counting {
        shared_zones(&sources)
    } else {
        vec![Vec::new(); sources.len()]
    };
    let head_zones = zones.split_off(chunks.len());
    let mut keys: HashMap<LabelSet, StreamKeys> = HashMap::new();
    for (offset, ((labels, _, head_keys), zones)) in heads.iter().zip(&head_zones).enumerate() {
        if zones.is_empty() {
            continue;
        }
        let inside: Vec<EntryKey> = head_keys
            .iter()
            .copied()
            .filter(|key| in_zones(zones, key.0))
            .collect();
        add_keys(
            keys.entry(labels.clone()).or_default(),
            chunks.len() + offset,
            &inside,
        );
    }
    drop(heads);
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
    let reads: Vec<_> = chunks
        .iter()
        .zip(zones)
        .enumerate()
        .map(|(index, (meta, zones))| {
            let read = read_chunk(
                request.clone(),
                meta.clone(),
                store.chunk_store.clone(),
                zones,
                counting,
            );
            async move { Ok::<_, QueryError>((index, read.await?)) }
        })
        .collect();
    let mut decoded = futures::stream::iter(reads).buffer_unordered(parallelism);
    let mut counts: Vec<(usize, IndexCount)> = Vec::new();
    while let Some(result) = decoded.next().await {
        let (index, read) = result?;
        budget.stats.chunks_downloaded += 1;
        let labels = &chunks[index].labels;
        match read {
            ChunkRead::Counted(count) => {
                budget.charge(count.line_bytes, count.lines)?;
                if !count.zone_keys.is_empty() {
                    add_keys(
                        keys.entry(labels.clone()).or_default(),
                        index,
                        &count.zone_keys,
                    );
                }
                counts.push((index, count));
            }
            ChunkRead::Extracted(read) => {
                budget.charge(read.line_bytes, read.lines)?;
                if !read.keys.is_empty() {
                    add_keys(keys.entry(labels.clone()).or_default(), index, &read.keys);
                }
                per_stream.push((labels.clone(), read.extracted));
            }
        }
    }
    drop(decoded);
    // A zone entry whose key no other source holds is counted; the others are read
    // line by line and deduplicated with the rest of their stream's samples.
    let mut counted: Vec<(LabelSet, Vec<Point>)> = Vec::new();
    let mut by_keys: Vec<(usize, HashSet<EntryKey>)> = Vec::new();
    for (index, mut count) in counts {
        let labels = &chunks[index].labels;
        let mut shared = HashSet::new();
        let stream_keys = keys.get(labels);
        for key in count.zone_keys.drain(..) {
            match stream_keys.and_then(|stream_keys| stream_keys.get(&key)) {
                Some(Holders::Several) => {
                    shared.insert(key);
                }
                _ => count.counter.add(key.0, u64::from(key.1)),
            }
        }
        if !shared.is_empty() {
            by_keys.push((index, shared));
        }
        let points = count.counter.into_points(request.function);
        if !points.is_empty() {
            counted.push((series_labels(&request.grouping, labels.clone()), points));
        }
    }
    drop(keys);
    budget.check_deadline()?;
    let reads: Vec<_> = by_keys
        .into_iter()
        .map(|(index, shared)| {
            let meta = chunks[index].clone();
            let read = read_chunk_keys(
                request.clone(),
                meta.clone(),
                store.chunk_store.clone(),
                shared,
            );
            async move { Ok::<_, QueryError>((meta, read.await?)) }
        })
        .collect();
    let mut extracted = futures::stream::iter(reads).buffer_unordered(parallelism);
    while let Some(result) = extracted.next().await {
        let (meta, samples) = result?;
        per_stream.push((meta.labels.clone(), samples));
    }
    drop(extracted);
    budget.check_deadline()?;
    Ok(into_series(per_stream, counted))
}

/// For each source (chunk or head), the time ranges (inclusive) it shares with another
/// source of the same stream: only there can an entry have a duplicate in another
/// source.
fn shared_zones(sources: &[(&LabelSet, (i64, i64))]) -> Vec<Vec<(i64, i64)>> {
    let mut by_stream: HashMap<&LabelSet, Vec<usize>> = HashMap::new();
    for (index, (labels, _)) in sources.iter().enumerate() {
        by_stream.entry(labels).or_default().push(index);
    }
    let mut zones = vec![Vec::new(); sources.len()];
    for (_, mut indexes) in by_stream {
        indexes.sort_by_key(|&index| sources[index].1);
        // Sorted by start, every source meeting source `first` later in the order
        // starts before `first` ends.
        for (position, &first) in indexes.iter().enumerate() {
            let (start, end) = sources[first].1;
            for &other in &indexes[position + 1..] {
                let (other_start, other_end) = sources[other].1;
                if other_start > end {
                    break;
                }
                let shared = (start.max(other_start), end.min(other_end));
                zones[first].push(shared);
                zones[other].push(shared);
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
