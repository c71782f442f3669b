//! Samples of one log range: every entry of the selected streams in the time span the
//! query needs, run through the range's pipeline, grouped into series.
//!
//! Chunks are decoded and their entries run through the pipeline on blocking threads,
//! up to one chunk per core at a time; heads are read under the store's lock. The line
//! bytes looked at are charged against `logs.max_query_bytes_scanned` and the deadline
//! is checked as each stream head and each chunk is done.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use weft_model::TenantId;

use crate::chunk::{ChunkMeta, decode_chunk};
use crate::logql::{Grouping, LogRange, RangeFunction};
use crate::query::{QueryError, QueryStats};
use crate::{Entry, LabelSet, LogStore};

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
fn extract(request: &LeafRequest, stream: &LabelSet, entry: &Entry) -> Option<Extracted> {
    let timestamp = entry.timestamp_unix_nanos;
    if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
        return None;
    }
    let processed = request.range.pipeline().process(
        timestamp,
        &entry.line,
        stream,
        &entry.structured_metadata,
    )?;
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
        match &request.grouping {
            SourceGrouping::Keep => processed.labels,
            SourceGrouping::Nothing => LabelSet::default(),
            SourceGrouping::Group(grouping) => group_labels(&processed.labels, Some(grouping)),
        }
    };
    Some(Extracted {
        labels,
        timestamp_unix_nanos: timestamp,
        line_hash: line_hash(&entry.line),
        value,
    })
}

/// Samples per stream (stream labels, extracted samples).
type StreamSamples = Vec<(LabelSet, Vec<Extracted>)>;

fn decode_and_extract(
    request: &LeafRequest,
    meta: &ChunkMeta,
    bytes: &[u8],
) -> Result<(Vec<Extracted>, u64, u64), QueryError> {
    let mut out = Vec::new();
    let mut lines = 0u64;
    let mut line_bytes = 0u64;
    decode_chunk(
        bytes,
        request.after_unix_nanos.saturating_add(1),
        request.until_unix_nanos.saturating_add(1),
        |_, entries| {
            for entry in &entries {
                let timestamp = entry.timestamp_unix_nanos;
                if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                    continue;
                }
                lines += 1;
                line_bytes += entry.line.len() as u64;
                out.extend(extract(request, &meta.labels, entry));
            }
            true
        },
    )
    .map_err(|error| QueryError::Storage(format!("chunk {}: {error}", meta.id)))?;
    Ok((out, lines, line_bytes))
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
    let mut per_stream: StreamSamples = Vec::new();
    let chunks: Vec<Arc<ChunkMeta>> = {
        let state = store.read_state();
        for ((stream_tenant, labels), head) in &state.heads {
            if stream_tenant != tenant || head.entries.is_empty() || !selects(labels) {
                continue;
            }
            let mut samples = Vec::new();
            let mut bytes = 0u64;
            let mut lines = 0u64;
            for held in &head.entries {
                let timestamp = held.entry.timestamp_unix_nanos;
                if timestamp <= request.after_unix_nanos || timestamp > request.until_unix_nanos {
                    continue;
                }
                bytes += held.entry.line.len() as u64;
                lines += 1;
                samples.extend(extract(request, labels, &held.entry));
            }
            budget.charge(bytes, lines)?;
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
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
    let mut decoded = futures::stream::iter(chunks.into_iter().map(|meta| {
        let request = request.clone();
        let chunk_store = store.chunk_store.clone();
        async move {
            let bytes = chunk_store
                .read(&meta)
                .await
                .map_err(|error| QueryError::Storage(error.to_string()))?;
            let labels = meta.labels.clone();
            let (samples, lines, line_bytes) =
                tokio::task::spawn_blocking(move || decode_and_extract(&request, &meta, &bytes))
                    .await
                    .map_err(|error| {
                        QueryError::Storage(format!("chunk worker failed: {error}"))
                    })??;
            Ok::<_, QueryError>((labels, samples, line_bytes, lines))
        }
    }))
    .buffer_unordered(parallelism);
    while let Some(result) = decoded.next().await {
        let (labels, samples, line_bytes, lines) = result?;
        budget.stats.chunks_downloaded += 1;
        budget.charge(line_bytes, lines)?;
        per_stream.push((labels, samples));
    }
    Ok(into_series(per_stream))
}

/// Drops duplicate entries of a stream (same time and line: a WAL replay of entries
/// already in a chunk) and groups samples into series sorted by labels, points by
/// time.
fn into_series(per_stream: StreamSamples) -> LeafSeries {
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
    series
        .into_iter()
        .map(|(labels, mut points)| {
            points.sort_by_key(|point| point.0);
            (Arc::new(labels), points)
        })
        .collect()
}
