//! The logs store: per-stream heads in memory behind the WAL, cut into chunks in the
//! object store, and the in-memory chunk index.
//!
//! A push is validated, written to the WAL (and fsynced per policy) and only then
//! applied to the heads; pushes are serialised so the ordering check and the apply see
//! the same state. A flush pass cuts heads into chunks by size, age and idleness; once
//! a chunk is durable its entries leave the head, and WAL segments that hold no head
//! entry any more are deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use weft_model::TenantId;

use crate::chunk::{CHUNK_FORMAT_VERSION, ChunkMeta, Compression, encode_chunk};
use crate::chunk_store::{ChunkStore, ChunkStoreError};
use crate::ingest::{Validated, validate};
use crate::push::PushedStream;
use crate::time::now_unix_nanos;
use crate::wal::{LogWal, encode_record, list_segments, read_segment};
use crate::{Entry, LabelSet, LogsConfig};

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
}

/// The logs store. Share it behind an `Arc`.
#[derive(Debug)]
pub struct LogStore {
    pub(crate) config: LogsConfig,
    pub(crate) state: RwLock<State>,
    pub(crate) chunk_store: ChunkStore,
    wal: LogWal,
    push_lock: tokio::sync::Mutex<()>,
    flush_lock: tokio::sync::Mutex<()>,
    next_chunk: AtomicU64,
}

/// What a push stored and rejected.
#[derive(Debug, Default)]
pub struct PushSummary {
    /// Entries written.
    pub accepted_entries: usize,
    /// Loki-style messages for rejected streams and entries.
    pub rejections: Vec<String>,
}

impl StreamHead {
    fn new(newest_unix_nanos: i64) -> Self {
        StreamHead {
            entries: Vec::new(),
            line_bytes: 0,
            newest_unix_nanos,
            first_append: None,
            last_append: Instant::now(),
        }
    }

    fn push(&mut self, entry: Entry, segment: u64) {
        self.newest_unix_nanos = self.newest_unix_nanos.max(entry.timestamp_unix_nanos);
        self.line_bytes += entry.line.len();
        self.first_append.get_or_insert_with(Instant::now);
        self.last_append = Instant::now();
        self.entries.push(HeadEntry { entry, segment });
    }
}

impl State {
    fn apply(&mut self, tenant: &TenantId, labels: &LabelSet, entries: Vec<Entry>, segment: u64) {
        let head = self
            .heads
            .entry((tenant.clone(), labels.clone()))
            .or_insert_with(|| StreamHead::new(i64::MIN));
        for entry in entries {
            head.push(entry, segment);
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
        let mut state = State::default();
        for meta in chunk_store.load_index().await? {
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
        let mut replayed_entries = 0usize;
        for (sequence, path) in list_segments(&directory)? {
            let contents = read_segment(&path)?;
            if let Some((offset, reason)) = &contents.damage {
                tracing::warn!(path = %path.display(), offset, reason, "logs wal segment damaged; replayed what came before");
            }
            for record in contents.records {
                replayed_entries += record.entries.len();
                state.apply(&record.tenant, &record.labels, record.entries, sequence);
            }
            next_segment = sequence + 1;
        }
        tracing::info!(
            chunks = state.chunks.len(),
            replayed_entries,
            "logs store opened"
        );
        let wal = LogWal::open(
            directory,
            next_segment,
            config.wal_fsync_policy,
            config.wal_segment_bytes,
        )?;
        Ok(Arc::new(LogStore {
            config,
            state: RwLock::new(state),
            chunk_store,
            wal,
            push_lock: tokio::sync::Mutex::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            next_chunk: AtomicU64::new(0),
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

    /// Validates and stores `streams` for `tenant`. Returns once the accepted entries
    /// are in the WAL; an `Err` means nothing of this push was acknowledged.
    pub async fn push(
        &self,
        tenant: &TenantId,
        streams: Vec<PushedStream>,
    ) -> Result<PushSummary, std::io::Error> {
        let _serialised = self.push_lock.lock().await;
        let Validated {
            accepted,
            rejections,
        } = {
            let state = self.read_state();
            validate(&self.config, streams, now_unix_nanos(), |labels| {
                state
                    .heads
                    .get(&(tenant.clone(), labels.clone()))
                    .map(|head| head.newest_unix_nanos)
                    .filter(|&newest| newest != i64::MIN)
            })
        };
        let mut records = Vec::new();
        let mut accepted_entries = 0;
        for stream in &accepted {
            accepted_entries += stream.entries.len();
            records.extend(encode_record(tenant, &stream.labels, &stream.entries));
        }
        if !records.is_empty() {
            let segment = self.wal.append(records).await?;
            let mut state = self.write_state();
            for stream in accepted {
                state.apply(tenant, &stream.labels, stream.entries, segment);
            }
        }
        Ok(PushSummary {
            accepted_entries,
            rejections,
        })
    }

    /// Fsyncs the WAL (the `interval` policy's task calls this).
    pub async fn sync_wal(&self) -> std::io::Result<()> {
        self.wal.sync().await
    }

    /// Cuts heads into chunks: those over the size target, older than the chunk age or
    /// idle longer than the idle period, or every non-empty head when `everything`.
    /// Then deletes WAL segments no head entry needs. Returns the chunks written.
    pub async fn flush(&self, everything: bool) -> Result<usize, StoreError> {
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
        let closed_segment = self.wal.rotate().await?;
        let mut written = 0;
        for (key, mut entries) in due {
            let taken = entries.len();
            entries.sort_by_key(|entry| entry.timestamp_unix_nanos);
            let meta = self.write_chunk(&key, &entries).await?;
            let mut state = self.write_state();
            if let Some(head) = state.heads.get_mut(&key) {
                let removed_bytes: usize = head
                    .entries
                    .drain(..taken)
                    .map(|held| held.entry.line.len())
                    .sum();
                head.line_bytes -= removed_bytes;
                head.first_append = (!head.entries.is_empty()).then(Instant::now);
            }
            state.chunks.push(Arc::new(meta));
            written += 1;
        }
        let oldest_needed = {
            let state = self.read_state();
            state
                .heads
                .values()
                .filter_map(|head| head.entries.first().map(|held| held.segment))
                .min()
                .unwrap_or(closed_segment + 1)
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

    /// Runs flush passes every `flush_check_period` (and WAL fsyncs under the
    /// `interval` policy) until `stop` turns true, then flushes every head.
    pub async fn run_maintenance(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut flush_tick = tokio::time::interval(self.config.flush_check_period);
        let mut sync_tick = tokio::time::interval(self.config.wal_fsync_interval);
        loop {
            tokio::select! {
                _ = flush_tick.tick() => {
                    if let Err(error) = self.flush(false).await {
                        tracing::warn!(%error, "logs flush failed; entries stay in the head and the wal");
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
