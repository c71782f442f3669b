//! The logs store: per-stream heads in memory behind the WAL, cut into chunks in the
//! object store, and the in-memory chunk index.
//!
//! A push is validated and checked against the limits under the state lock, which also
//! moves each stream's newest-timestamp mark forward (so concurrent pushes see each
//! other's ordering); it is then written to the WAL (and fsynced per policy, fsyncs
//! shared by concurrent pushes) and only then applied to the heads. A flush pass cuts
//! heads into chunks by size, age and idleness (periodically, and at once when a push
//! takes a head to `chunk_target_bytes`); once a chunk is durable its entries
//! leave the head, and WAL segments that hold no head entry any more are deleted.
//!
//! Memory: heads hold at most about `max_head_bytes` of lines and structured metadata
//! (plus what pushes in flight add). A push that would pass it first cuts every head
//! into chunks; if that does not make room it is refused with [`PushFailure::HeadMemoryFull`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::ingest::Rejection;
use crate::limits::{
    DiscardReason, HEAD_BYTES, HEAD_MEMORY_FLUSHES_TOTAL, TenantRateLimiter, TokenBucket,
    rate_limited_message, record_discarded, stream_limit_message, stream_rate_limited_message,
};

use weft_model::TenantId;

use crate::chunk::{CHUNK_FORMAT_VERSION, ChunkMeta, Compression, decode_chunk, encode_chunk};
use crate::chunk_store::{ChunkStore, ChunkStoreError};
use crate::ingest::{Validated, validate};
use crate::push::PushedStream;
use crate::retention::{
    RETENTION_DELETED_CHUNKS_TOTAL, RETENTION_DELETED_LINE_BYTES_TOTAL, RetentionRules,
};
use crate::time::now_unix_nanos;
use crate::wal::{LogWal, encode_record, list_segments, read_segment};
use crate::{Entry, LabelSet, LogsConfig};

/// `YYYY-MM-DD` (UTC) of a Unix time in nanoseconds: the day index a chunk belongs to.
fn day_of(unix_nanos: i64) -> String {
    const DAY_NANOS: i64 = 86_400_000_000_000;
    let (year, month, day) = crate::time::civil_from_days(unix_nanos.div_euclid(DAY_NANOS));
    format!("{year:04}-{month:02}-{day:02}")
}

/// How long a cut for heads that reached their target size waits for others to fill.
const SIZE_CUT_GATHER: std::time::Duration = std::time::Duration::from_millis(50);

/// How old a chunk file without a meta must be before the store deletes it at start.
const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A stream's identity.
pub type StreamKey = (TenantId, LabelSet);

/// Why the store could not open or flush.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// WAL or filesystem failure.
    #[error("logs wal: {0}")]
    Wal(#[from] std::io::Error),
    /// Object store failure.
    #[error(transparent)]
    Chunks(#[from] ChunkStoreError),
    /// A chunk could not be encoded.
    #[error(transparent)]
    Encode(#[from] crate::chunk::ChunkError),
    /// A setting is invalid (the message names it).
    #[error("{0}")]
    Config(String),
}

/// An entry in a head with the WAL segment that holds it.
#[derive(Debug, Clone)]
pub(crate) struct HeadEntry {
    pub(crate) entry: Entry,
    segment: u64,
}

/// The unflushed entries of one stream, in arrival order.
#[derive(Debug)]
pub(crate) struct StreamHead {
    pub(crate) entries: Vec<HeadEntry>,
    line_bytes: usize,
    /// Bytes charged to the store's head memory for these entries.
    memory_bytes: u64,
    /// Counted in its tenant's active streams (has, or is about to get, entries).
    active: bool,
    /// The per-stream rate bucket, made on the first push.
    rate: Option<TokenBucket>,
    /// Newest timestamp ever accepted for the stream (heads and chunks).
    newest_unix_nanos: i64,
    first_append: Option<Instant>,
    last_append: Instant,
}

/// Heads and the chunk index, read by queries.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) heads: HashMap<StreamKey, StreamHead>,
    pub(crate) chunks: Vec<Arc<ChunkMeta>>,
    /// Ids of the chunks with a meta file of their own (not yet in a day index).
    loose: HashSet<String>,
    /// The (tenant, day) of every day index file.
    indexed_days: HashSet<(String, String)>,
    /// Active streams per tenant (heads with `active` set).
    active_streams: HashMap<TenantId, usize>,
}

/// The logs store. Share it behind an `Arc`.
#[derive(Debug)]
pub struct LogStore {
    pub(crate) config: LogsConfig,
    pub(crate) state: RwLock<State>,
    pub(crate) chunk_store: ChunkStore,
    wal: LogWal,
    /// Held (shared) by a push from its WAL append until its entries are in the heads,
    /// and (exclusively) by a flush while it decides which WAL segments to delete, so a
    /// segment is never deleted under entries not yet applied.
    apply_gate: tokio::sync::RwLock<()>,
    flush_lock: tokio::sync::Mutex<()>,
    next_chunk: AtomicU64,
    tenant_rate: TenantRateLimiter,
    /// Bytes charged by every head (see [`entry_memory_bytes`]).
    head_bytes: AtomicU64,
    /// Woken by a push that took a stream's head to `chunk_target_bytes`, so the head is
    /// cut now rather than at the next periodic check.
    cut_wanted: tokio::sync::Notify,
    retention: RetentionRules,
    /// Chunks retention took out of the index, with when: their files are deleted once
    /// queries that listed them before have timed out.
    retired: std::sync::Mutex<Vec<(Instant, Arc<ChunkMeta>)>>,
}

/// What one retention pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPass {
    /// Chunks taken out of the index (their meta files deleted).
    pub expired_chunks: usize,
    /// Chunk files of earlier passes deleted.
    pub deleted_chunk_files: usize,
}

/// What a push stored and rejected.
#[derive(Debug, Default)]
pub struct PushSummary {
    /// Entries written.
    pub accepted_entries: usize,
    /// Rejected streams and entries with Loki's messages (already counted in the
    /// discard counters).
    pub rejections: Vec<Rejection>,
}

impl PushSummary {
    /// True when a rejection is a rate or stream limit (Loki answers those 429).
    pub fn rate_limited(&self) -> bool {
        self.rejections
            .iter()
            .any(|rejection| rejection.reason.is_rate_limit())
    }
}

/// Why nothing of a push was stored.
#[derive(Debug, thiserror::Error)]
pub enum PushFailure {
    /// The tenant is over its ingestion rate (429); Loki's message.
    #[error("{0}")]
    RateLimited(String),
    /// The heads are full and cutting them into chunks did not make room (503, retry).
    #[error("{0}")]
    HeadMemoryFull(String),
    /// The WAL write failed (500); the push was not acknowledged.
    #[error("cannot write the logs wal: {0}")]
    Wal(#[from] std::io::Error),
}

/// Bytes an entry is charged against `max_head_bytes`: its line, its structured
/// metadata and a fixed overhead for the bookkeeping around them.
pub fn entry_memory_bytes(entry: &Entry) -> u64 {
    const ENTRY_OVERHEAD_BYTES: usize = 64;
    let metadata: usize = entry
        .structured_metadata
        .iter()
        .map(|(name, value)| name.len() + value.len() + 48)
        .sum();
    (entry.line.len() + metadata + ENTRY_OVERHEAD_BYTES) as u64
}

impl StreamHead {
    fn new(newest_unix_nanos: i64) -> Self {
        StreamHead {
            entries: Vec::new(),
            line_bytes: 0,
            memory_bytes: 0,
            active: false,
            rate: None,
            newest_unix_nanos,
            first_append: None,
            last_append: Instant::now(),
        }
    }

    fn push(&mut self, entry: Entry, segment: u64) {
        self.newest_unix_nanos = self.newest_unix_nanos.max(entry.timestamp_unix_nanos);
        self.line_bytes += entry.line.len();
        self.memory_bytes += entry_memory_bytes(&entry);
        self.first_append.get_or_insert_with(Instant::now);
        self.last_append = Instant::now();
        self.entries.push(HeadEntry { entry, segment });
    }
}

impl State {
    /// Puts `entries` into the stream's head; returns the bytes charged to head memory
    /// and the head's line bytes after them.
    fn apply(
        &mut self,
        tenant: &TenantId,
        labels: &LabelSet,
        entries: Vec<Entry>,
        segment: u64,
    ) -> (u64, usize) {
        let head = self
            .heads
            .entry((tenant.clone(), labels.clone()))
            .or_insert_with(|| StreamHead::new(i64::MIN));
        let before = head.memory_bytes;
        for entry in entries {
            head.push(entry, segment);
        }
        let charged = head.memory_bytes - before;
        let newly_active = !head.active;
        head.active = true;
        let line_bytes = head.line_bytes;
        if newly_active {
            *self.active_streams.entry(tenant.clone()).or_default() += 1;
        }
        (charged, line_bytes)
    }

    /// Clears `active` of the head of `key` once it holds no entry.
    fn deactivate_if_empty(&mut self, key: &StreamKey) {
        let Some(head) = self.heads.get_mut(key) else {
            return;
        };
        if head.active && head.entries.is_empty() {
            head.active = false;
            if let Some(count) = self.active_streams.get_mut(&key.0) {
                *count = count.saturating_sub(1);
            }
        }
    }
}

impl LogStore {
    /// Opens the store: loads the chunk index, replays the WAL into the heads and starts
    /// a new WAL segment after the replayed ones.
    pub async fn open(
        config: LogsConfig,
        chunk_store: ChunkStore,
    ) -> Result<Arc<Self>, StoreError> {
        let retention = config.retention_rules().map_err(StoreError::Config)?;
        let loaded = chunk_store.load().await?;
        let orphans = chunk_store
            .delete_orphan_chunks(ORPHAN_MIN_AGE, &loaded)
            .await?;
        if orphans > 0 {
            tracing::info!(
                orphans,
                "deleted chunk files no index lists (a crash while writing, or retention)"
            );
        }
        let mut state = State {
            loose: loaded.loose,
            indexed_days: loaded.days,
            ..State::default()
        };
        for meta in loaded.chunks {
            let Ok(tenant) = TenantId::parse(&meta.tenant) else {
                continue;
            };
            let head = state
                .heads
                .entry((tenant, meta.labels.clone()))
                .or_insert_with(|| StreamHead::new(i64::MIN));
            head.newest_unix_nanos = head.newest_unix_nanos.max(meta.max_time_unix_nanos);
            state.chunks.push(Arc::new(meta));
        }
        let directory = config.wal_directory();
        std::fs::create_dir_all(&directory)?;
        let mut next_segment = 0;
        let mut records = Vec::new();
        for (sequence, path) in list_segments(&directory)? {
            let contents = read_segment(&path)?;
            if let Some((offset, reason)) = &contents.damage {
                tracing::warn!(path = %path.display(), offset, reason, "logs wal segment damaged; replayed what came before");
            }
            records.extend(
                contents
                    .records
                    .into_iter()
                    .map(|record| (sequence, record)),
            );
            next_segment = sequence + 1;
        }
        let already_in_chunks =
            entries_already_in_chunks(&state.chunks, &chunk_store, &records).await;
        let mut replayed_entries = 0usize;
        let mut skipped_entries = 0usize;
        let mut head_bytes = 0u64;
        for (sequence, mut record) in records {
            if let Some(written) =
                already_in_chunks.get(&(record.tenant.clone(), record.labels.clone()))
            {
                let before = record.entries.len();
                record.entries.retain(|entry| {
                    !written
                        .get(&entry.timestamp_unix_nanos)
                        .is_some_and(|lines| lines.contains(&entry.line))
                });
                skipped_entries += before - record.entries.len();
            }
            if record.entries.is_empty() {
                continue;
            }
            replayed_entries += record.entries.len();
            head_bytes += state
                .apply(&record.tenant, &record.labels, record.entries, sequence)
                .0;
        }
        tracing::info!(
            chunks = state.chunks.len(),
            replayed_entries,
            skipped_entries,
            "logs store opened"
        );
        let wal = LogWal::open(
            directory,
            next_segment,
            config.wal_fsync_policy,
            config.wal_segment_bytes,
        )?;
        let tenant_rate =
            TenantRateLimiter::new(config.ingestion_rate_mb, config.ingestion_burst_size_mb);
        Ok(Arc::new(LogStore {
            config,
            state: RwLock::new(state),
            chunk_store,
            wal,
            apply_gate: tokio::sync::RwLock::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            next_chunk: AtomicU64::new(0),
            tenant_rate,
            head_bytes: AtomicU64::new(head_bytes),
            cut_wanted: tokio::sync::Notify::new(),
            retention,
            retired: std::sync::Mutex::new(Vec::new()),
        }))
    }

    pub(crate) fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes of lines and structured metadata (with overhead) held in heads now.
    pub fn head_memory_bytes(&self) -> u64 {
        self.head_bytes.load(Ordering::Relaxed)
    }

    /// Validates and stores `streams` for `tenant`. Returns once the accepted entries
    /// are in the WAL (fsynced under the `always` policy); an `Err` means nothing of
    /// this push was acknowledged. Refused entries are counted in the discard counters.
    pub async fn push(
        &self,
        tenant: &TenantId,
        streams: Vec<PushedStream>,
    ) -> Result<PushSummary, PushFailure> {
        let incoming_bytes: u64 = streams
            .iter()
            .flat_map(|stream| &stream.entries)
            .map(entry_memory_bytes)
            .sum();
        self.make_head_room(tenant, &streams, incoming_bytes)
            .await?;
        let (accepted, rejections) = self.admit(tenant, streams)?;
        for rejection in &rejections {
            record_discarded(rejection.reason, tenant, rejection.entries, rejection.bytes);
        }
        let mut records = Vec::new();
        let mut accepted_entries = 0;
        for stream in &accepted {
            accepted_entries += stream.entries.len();
            records.extend(encode_record(tenant, &stream.labels, &stream.entries));
        }
        if !records.is_empty() {
            let _applying = self.apply_gate.read().await;
            let segment = self.wal.append(records).await?;
            let mut state = self.write_state();
            let mut charged = 0;
            let mut head_full = false;
            for stream in accepted {
                let (bytes, line_bytes) =
                    state.apply(tenant, &stream.labels, stream.entries, segment);
                charged += bytes;
                head_full |= line_bytes >= self.config.chunk_target_bytes;
            }
            drop(state);
            let held = self.head_bytes.fetch_add(charged, Ordering::Relaxed) + charged;
            metrics::gauge!(HEAD_BYTES).set(held as f64);
            if head_full {
                self.cut_wanted.notify_one();
            }
        }
        Ok(PushSummary {
            accepted_entries,
            rejections,
        })
    }

    /// Makes room for `incoming_bytes` in the heads: when they would pass
    /// `max_head_bytes`, every head is cut into chunks first; if that fails or does not
    /// make room, the push is refused.
    async fn make_head_room(
        &self,
        tenant: &TenantId,
        streams: &[PushedStream],
        incoming_bytes: u64,
    ) -> Result<(), PushFailure> {
        let limit = self.config.max_head_bytes;
        if self.head_memory_bytes().saturating_add(incoming_bytes) <= limit {
            return Ok(());
        }
        metrics::counter!(HEAD_MEMORY_FLUSHES_TOTAL).increment(1);
        tracing::info!(
            head_bytes = self.head_memory_bytes(),
            limit,
            "logs heads are at logs.max_head_bytes; cutting every head into chunks"
        );
        if let Err(error) = self.flush(true).await {
            tracing::warn!(%error, "cutting heads to make room failed");
        }
        let held = self.head_memory_bytes();
        if held.saturating_add(incoming_bytes) <= limit {
            return Ok(());
        }
        let entries: usize = streams.iter().map(|stream| stream.entries.len()).sum();
        let bytes: usize = streams
            .iter()
            .flat_map(|stream| &stream.entries)
            .map(|entry| entry.line.len())
            .sum();
        record_discarded(DiscardReason::HeadMemoryFull, tenant, entries, bytes);
        Err(PushFailure::HeadMemoryFull(format!(
            "logs heads hold {held} bytes and this push needs {incoming_bytes} more, over logs.max_head_bytes ({limit} bytes); heads are being written to chunks, retry later"
        )))
    }

    /// Validation and the limits, under the state lock: Loki's checks, then the tenant
    /// rate over what passed (all or nothing), then per stream the active stream limit
    /// and the stream rate (per entry). Moves the newest-timestamp mark of every stream
    /// that keeps entries and marks new streams active, so pushes that run next see them.
    fn admit(
        &self,
        tenant: &TenantId,
        streams: Vec<PushedStream>,
    ) -> Result<(Vec<crate::ingest::AcceptedStream>, Vec<Rejection>), PushFailure> {
        let now = Instant::now();
        let mut guard = self.write_state();
        let state: &mut State = &mut guard;
        let Validated {
            accepted,
            mut rejections,
        } = validate(&self.config, streams, now_unix_nanos(), |labels| {
            state
                .heads
                .get(&(tenant.clone(), labels.clone()))
                .map(|head| head.newest_unix_nanos)
                .filter(|&newest| newest != i64::MIN)
        });
        let (lines, bytes) = accepted.iter().flat_map(|stream| &stream.entries).fold(
            (0usize, 0usize),
            |(lines, bytes), entry| {
                let metadata: usize = entry
                    .structured_metadata
                    .iter()
                    .map(|(name, value)| name.len() + value.len())
                    .sum();
                (lines + 1, bytes + entry.line.len() + metadata)
            },
        );
        if lines > 0 && !self.tenant_rate.allow(tenant, bytes, now) {
            drop(guard);
            for rejection in &rejections {
                record_discarded(rejection.reason, tenant, rejection.entries, rejection.bytes);
            }
            let line_bytes = accepted
                .iter()
                .flat_map(|stream| &stream.entries)
                .map(|entry| entry.line.len())
                .sum();
            record_discarded(DiscardReason::RateLimited, tenant, lines, line_bytes);
            return Err(PushFailure::RateLimited(rate_limited_message(
                tenant,
                self.tenant_rate.limit_bytes_per_second(),
                lines,
                bytes,
            )));
        }
        let stream_rate = self.config.per_stream_rate_limit_bytes as f64;
        let stream_burst = self.config.per_stream_rate_limit_burst_bytes as f64;
        let max_streams = self.config.max_streams_per_user;
        let mut admitted = Vec::with_capacity(accepted.len());
        for mut stream in accepted {
            let key = (tenant.clone(), stream.labels.clone());
            let is_active = state.heads.get(&key).is_some_and(|head| head.active);
            let active_count = state.active_streams.get(tenant).copied().unwrap_or(0);
            if !is_active && max_streams > 0 && active_count >= max_streams {
                let entries = stream.entries.len();
                let bytes = stream.entries.iter().map(|entry| entry.line.len()).sum();
                rejections.push(Rejection {
                    reason: DiscardReason::StreamLimit,
                    message: stream_limit_message(&stream.labels.to_string(), tenant),
                    entries,
                    bytes,
                });
                continue;
            }
            let head = state
                .heads
                .entry(key)
                .or_insert_with(|| StreamHead::new(i64::MIN));
            if stream_rate > 0.0 {
                let bucket = head
                    .rate
                    .get_or_insert_with(|| TokenBucket::full(stream_burst, now));
                let mut limited_entries = 0;
                let mut limited_bytes = 0;
                stream.entries.retain(|entry| {
                    let fits =
                        bucket.try_take(entry.line.len() as f64, stream_rate, stream_burst, now);
                    if !fits {
                        limited_entries += 1;
                        limited_bytes += entry.line.len();
                    }
                    fits
                });
                if limited_entries > 0 {
                    rejections.push(Rejection {
                        reason: DiscardReason::PerStreamRateLimit,
                        message: stream_rate_limited_message(
                            self.config.per_stream_rate_limit_bytes,
                            &stream.labels.to_string(),
                            limited_bytes as u64,
                        ),
                        entries: limited_entries,
                        bytes: limited_bytes,
                    });
                }
            }
            let Some(newest) = stream
                .entries
                .iter()
                .map(|entry| entry.timestamp_unix_nanos)
                .max()
            else {
                continue;
            };
            head.newest_unix_nanos = head.newest_unix_nanos.max(newest);
            if !head.active {
                head.active = true;
                *state.active_streams.entry(tenant.clone()).or_default() += 1;
            }
            admitted.push(stream);
        }
        Ok((admitted, rejections))
    }

    /// Fsyncs the WAL (the `interval` policy's task calls this).
    pub async fn sync_wal(&self) -> std::io::Result<()> {
        self.wal.sync().await
    }

    /// Cuts heads into chunks: those over the size target, older than the chunk age or
    /// idle longer than the idle period, or every non-empty head when `everything`.
    /// Then deletes WAL segments no head entry needs. Returns the chunks written.
    pub async fn flush(&self, everything: bool) -> Result<usize, StoreError> {
        self.cut(everything, true).await
    }

    /// A flush pass. With `rotate`, the WAL moves to a new segment first, so the
    /// segment holding the cut entries can be deleted at once; cuts for heads that reached
    /// their target size skip that (they come often under load, and a segment per cut
    /// would pile up files) and leave the segment to be deleted after its size rotation.
    async fn cut(&self, everything: bool, rotate: bool) -> Result<usize, StoreError> {
        let _single = self.flush_lock.lock().await;
        let due: Vec<(StreamKey, Vec<Entry>)> = {
            let state = self.read_state();
            state
                .heads
                .iter()
                .filter(|(_, head)| !head.entries.is_empty())
                .filter(|(_, head)| {
                    everything
                        || head.line_bytes >= self.config.chunk_target_bytes
                        || head.last_append.elapsed() >= self.config.chunk_idle_period
                        || head
                            .first_append
                            .is_some_and(|first| first.elapsed() >= self.config.max_chunk_age)
                })
                .map(|(key, head)| {
                    let entries = head.entries.iter().map(|held| held.entry.clone()).collect();
                    (key.clone(), entries)
                })
                .collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        // Entries pushed from here on go to a new segment, which the cut cannot empty.
        let closed_segment = if rotate {
            Some(self.wal.rotate().await?)
        } else {
            None
        };
        let mut written = 0;
        for (key, mut entries) in due {
            let taken = entries.len();
            entries.sort_by_key(|entry| entry.timestamp_unix_nanos);
            let meta = self.write_chunk(&key, &entries).await?;
            let mut state = self.write_state();
            if let Some(head) = state.heads.get_mut(&key) {
                let mut removed_line_bytes = 0;
                let mut removed_memory_bytes = 0;
                for held in head.entries.drain(..taken) {
                    removed_line_bytes += held.entry.line.len();
                    removed_memory_bytes += entry_memory_bytes(&held.entry);
                }
                head.line_bytes -= removed_line_bytes;
                head.memory_bytes -= removed_memory_bytes;
                head.first_append = (!head.entries.is_empty()).then(Instant::now);
                let held = self
                    .head_bytes
                    .fetch_sub(removed_memory_bytes, Ordering::Relaxed)
                    - removed_memory_bytes;
                metrics::gauge!(HEAD_BYTES).set(held as f64);
            }
            state.deactivate_if_empty(&key);
            state.loose.insert(meta.id.clone());
            state.chunks.push(Arc::new(meta));
            written += 1;
        }
        // No push is between its WAL append and its apply while this decides.
        let _no_push_applying = self.apply_gate.write().await;
        let oldest_needed = {
            let state = self.read_state();
            state
                .heads
                .values()
                .filter_map(|head| head.entries.first().map(|held| held.segment))
                .min()
                // With no head entry left, every segment but the current one can go.
                .unwrap_or(closed_segment.map_or(u64::MAX, |closed| closed + 1))
        };
        let deleted = self.wal.delete_before(oldest_needed)?;
        tracing::debug!(written, deleted_segments = deleted, "logs flush");
        Ok(written)
    }

    async fn write_chunk(
        &self,
        key: &StreamKey,
        entries: &[Entry],
    ) -> Result<ChunkMeta, StoreError> {
        let block_bytes = self.config.chunk_block_bytes;
        let owned = entries.to_vec();
        let bytes = tokio::task::spawn_blocking(move || {
            encode_chunk(&owned, block_bytes, Compression::Zstd)
        })
        .await
        .map_err(std::io::Error::other)??;
        let sequence = self.next_chunk.fetch_add(1, Ordering::Relaxed);
        let first = entries
            .first()
            .map_or(0, |entry| entry.timestamp_unix_nanos);
        let last = entries.last().map_or(0, |entry| entry.timestamp_unix_nanos);
        let meta = ChunkMeta {
            format_version: CHUNK_FORMAT_VERSION,
            // Time of the first entry, then wall clock and a counter: unique per process
            // and across restarts.
            id: format!(
                "{:016x}-{:016x}-{sequence:04x}",
                first as u64,
                now_unix_nanos() as u64
            ),
            tenant: key.0.as_str().to_owned(),
            labels: key.1.clone(),
            min_time_unix_nanos: first,
            max_time_unix_nanos: last,
            entries: entries.len() as u64,
            line_bytes: entries.iter().map(|entry| entry.line.len() as u64).sum(),
            chunk_bytes: bytes.len() as u64,
            compression: Compression::Zstd,
        };
        self.chunk_store.write(&meta, bytes).await?;
        Ok(meta)
    }

    /// Deletes chunks past their retention (see [`crate::retention`]): takes them out of
    /// the index and deletes their meta files, and deletes the chunk files of chunks
    /// taken out by earlier passes at least `query_timeout` ago.
    pub async fn apply_retention(&self, now_unix_nanos: i64) -> Result<RetentionPass, StoreError> {
        let mut pass = RetentionPass::default();
        let due: Vec<Arc<ChunkMeta>> = {
            let mut retired = self
                .retired
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let grace = self.config.query_timeout;
            let (due, waiting) = std::mem::take(&mut *retired)
                .into_iter()
                .partition(|(when, _)| when.elapsed() >= grace);
            *retired = waiting;
            due.into_iter().map(|(_, meta)| meta).collect()
        };
        for (index, meta) in due.iter().enumerate() {
            if let Err(error) = self.chunk_store.delete_chunk(meta).await {
                // Try again on the next pass (or as an orphan at the next start).
                let mut retired = self
                    .retired
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                retired.extend(
                    due[index..]
                        .iter()
                        .map(|meta| (Instant::now(), meta.clone())),
                );
                return Err(error.into());
            }
            pass.deleted_chunk_files += 1;
        }
        let expired: Vec<Arc<ChunkMeta>> = {
            let mut state = self.write_state();
            let (expired, kept) =
                std::mem::take(&mut state.chunks)
                    .into_iter()
                    .partition(|meta: &Arc<ChunkMeta>| {
                        self.retention.expired(
                            &meta.tenant,
                            &meta.labels,
                            meta.max_time_unix_nanos,
                            now_unix_nanos,
                        )
                    });
            state.chunks = kept;
            expired
        };
        let mut failure = None;
        let mut days_to_rewrite: BTreeMap<(String, String), Vec<Arc<ChunkMeta>>> = BTreeMap::new();
        for meta in expired {
            if failure.is_none() {
                let (loose, day) = {
                    let state = self.read_state();
                    let day = (meta.tenant.clone(), day_of(meta.min_time_unix_nanos));
                    let indexed = state.indexed_days.contains(&day);
                    (state.loose.contains(&meta.id), indexed.then_some(day))
                };
                let deleted = if loose {
                    self.chunk_store.delete_meta(&meta).await
                } else {
                    Ok(())
                };
                match deleted {
                    Ok(()) => {
                        self.write_state().loose.remove(&meta.id);
                        match day {
                            // Out of the index once its day index is rewritten.
                            Some(day) => days_to_rewrite.entry(day).or_default().push(meta),
                            None => self.retire(meta, &mut pass),
                        }
                        continue;
                    }
                    Err(error) => failure = Some(error),
                }
            }
            // Not deleted: back into the index, for the next pass.
            self.write_state().chunks.push(meta);
        }
        for ((tenant, day), expired) in days_to_rewrite {
            match self.rewrite_day_index(&tenant, &day).await {
                Ok(()) => {
                    for meta in expired {
                        self.retire(meta, &mut pass);
                    }
                }
                Err(error) => {
                    self.write_state().chunks.extend(expired);
                    failure.get_or_insert(error);
                }
            }
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
        Ok(pass)
    }

    /// Counts a chunk retention took out of the index and queues its file for deletion.
    fn retire(&self, meta: Arc<ChunkMeta>, pass: &mut RetentionPass) {
        metrics::counter!(RETENTION_DELETED_CHUNKS_TOTAL, "tenant" => meta.tenant.clone())
            .increment(1);
        metrics::counter!(RETENTION_DELETED_LINE_BYTES_TOTAL, "tenant" => meta.tenant.clone())
            .increment(meta.line_bytes);
        pass.expired_chunks += 1;
        self.retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((Instant::now(), meta));
    }

    /// Writes the day index of `tenant`'s `day` from the chunks in the index now (every
    /// chunk whose first entry is on that day), or deletes it when none is left.
    async fn rewrite_day_index(&self, tenant: &str, day: &str) -> Result<(), ChunkStoreError> {
        let members: Vec<ChunkMeta> = self
            .read_state()
            .chunks
            .iter()
            .filter(|meta| meta.tenant == tenant && day_of(meta.min_time_unix_nanos) == day)
            .map(|meta| ChunkMeta::clone(meta))
            .collect();
        let key = (tenant.to_owned(), day.to_owned());
        if members.is_empty() {
            self.chunk_store.delete_day_index(tenant, day).await?;
            self.write_state().indexed_days.remove(&key);
        } else {
            self.chunk_store
                .write_day_index(tenant, day, members)
                .await?;
            self.write_state().indexed_days.insert(key);
        }
        Ok(())
    }

    /// Index compaction: the chunks with a meta file of their own whose first entry is
    /// on a day before today (UTC) go into their tenant's day index, then their meta
    /// files are deleted; a restart then reads one file per tenant and day instead of
    /// one per chunk. Chunks that arrive later for a compacted day are folded in by a
    /// later pass. Returns how many meta files were folded.
    pub async fn compact_index(&self, now_unix_nanos: i64) -> Result<usize, StoreError> {
        let today = day_of(now_unix_nanos);
        let groups: BTreeMap<(String, String), Vec<Arc<ChunkMeta>>> = {
            let state = self.read_state();
            let mut groups: BTreeMap<(String, String), Vec<Arc<ChunkMeta>>> = BTreeMap::new();
            for meta in &state.chunks {
                let day = day_of(meta.min_time_unix_nanos);
                if state.loose.contains(&meta.id) && day < today {
                    groups
                        .entry((meta.tenant.clone(), day))
                        .or_default()
                        .push(meta.clone());
                }
            }
            groups
        };
        let mut folded = 0;
        for ((tenant, day), loose) in groups {
            self.rewrite_day_index(&tenant, &day).await?;
            for meta in loose {
                self.chunk_store.delete_meta(&meta).await?;
                self.write_state().loose.remove(&meta.id);
                folded += 1;
            }
        }
        Ok(folded)
    }

    /// Runs flush passes every `flush_check_period` (and WAL fsyncs under the
    /// `interval` policy) until `stop` turns true, then flushes every head.
    pub async fn run_maintenance(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut flush_tick = tokio::time::interval(self.config.flush_check_period);
        let mut sync_tick = tokio::time::interval(self.config.wal_fsync_interval);
        let mut retention_tick = tokio::time::interval(self.config.retention_check_period);
        loop {
            tokio::select! {
                _ = flush_tick.tick() => {
                    if let Err(error) = self.flush(false).await {
                        tracing::warn!(%error, "logs flush failed; entries stay in the head and the wal");
                    }
                }
                _ = self.cut_wanted.notified() => {
                    // Gather the heads that fill at about the same time into one pass.
                    tokio::time::sleep(SIZE_CUT_GATHER).await;
                    if let Err(error) = self.cut(false, false).await {
                        tracing::warn!(%error, "cutting full logs heads failed; entries stay in the head and the wal");
                    }
                }
                _ = retention_tick.tick() => {
                    match self.apply_retention(now_unix_nanos()).await {
                        Ok(pass) if pass != RetentionPass::default() => {
                            tracing::info!(expired_chunks = pass.expired_chunks, deleted_chunk_files = pass.deleted_chunk_files, "logs retention");
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "logs retention pass failed; it is tried again at the next one"),
                    }
                    match self.compact_index(now_unix_nanos()).await {
                        Ok(0) => {}
                        Ok(folded) => tracing::info!(folded, "logs chunk metas folded into day indexes"),
                        Err(error) => tracing::warn!(%error, "logs index compaction failed; it is tried again at the next pass"),
                    }
                }
                _ = sync_tick.tick() => {
                    if let Err(error) = self.sync_wal().await {
                        tracing::warn!(%error, "logs wal fsync failed");
                    }
                }
                changed = stop.changed() => {
                    let stopping = changed.is_err() || *stop.borrow();
                    if stopping {
                        break;
                    }
                }
            }
        }
        if let Err(error) = self.flush(true).await {
            tracing::warn!(%error, "logs flush at shutdown failed; the wal keeps the entries");
        }
    }
}

/// Times of the replayed entries of one stream: oldest, newest, and each.
struct ReplayedTimes {
    oldest: i64,
    newest: i64,
    times: std::collections::HashSet<i64>,
}

/// The entries (time, line) of the WAL records `records` that a chunk already holds: a
/// crash after a cut but before the WAL segment was deleted leaves them in both, and
/// replaying them would store them twice. Reads only the chunks of replayed streams
/// that overlap the replayed times, and keeps only chunk entries at a replayed entry's
/// time, so what it holds is at most about the size of the records themselves. A chunk
/// that cannot be read only costs the check (queries drop duplicates too).
async fn entries_already_in_chunks(
    chunks: &[Arc<ChunkMeta>],
    chunk_store: &ChunkStore,
    records: &[(u64, crate::wal::WalRecord)],
) -> HashMap<StreamKey, HashMap<i64, Vec<String>>> {
    let mut replayed: HashMap<StreamKey, ReplayedTimes> = HashMap::new();
    for (_, record) in records {
        let stream = replayed
            .entry((record.tenant.clone(), record.labels.clone()))
            .or_insert_with(|| ReplayedTimes {
                oldest: i64::MAX,
                newest: i64::MIN,
                times: std::collections::HashSet::new(),
            });
        for entry in &record.entries {
            stream.oldest = stream.oldest.min(entry.timestamp_unix_nanos);
            stream.newest = stream.newest.max(entry.timestamp_unix_nanos);
            stream.times.insert(entry.timestamp_unix_nanos);
        }
    }
    let mut written: HashMap<StreamKey, HashMap<i64, Vec<String>>> = HashMap::new();
    for meta in chunks {
        let Ok(tenant) = TenantId::parse(&meta.tenant) else {
            continue;
        };
        let key = (tenant, meta.labels.clone());
        let Some(stream) = replayed.get(&key) else {
            continue;
        };
        let (oldest, newest) = (stream.oldest, stream.newest);
        if meta.max_time_unix_nanos < oldest || meta.min_time_unix_nanos > newest {
            continue;
        }
        let bytes = match chunk_store.read(meta).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, chunk = %meta.id, "cannot read a chunk to check the wal replay against it");
                continue;
            }
        };
        let found = written.entry(key).or_default();
        let decoded = decode_chunk(&bytes, oldest, newest.saturating_add(1), |_, entries| {
            for entry in entries {
                if stream.times.contains(&entry.timestamp_unix_nanos) {
                    found
                        .entry(entry.timestamp_unix_nanos)
                        .or_default()
                        .push(entry.line);
                }
            }
            true
        });
        if let Err(error) = decoded {
            tracing::warn!(%error, chunk = %meta.id, "cannot decode a chunk to check the wal replay against it");
        }
    }
    written
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
