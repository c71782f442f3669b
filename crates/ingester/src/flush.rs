//! Cutting the head into blocks, writing them, deleting covered WAL segments, retention,
//! and the background task that drives all of it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use weft_storage::local::now_unix_nanos;
use weft_storage::{
    BlockReader, BlockStore, BlockWriteOptions, LocalBlockStore, StorageError, WalSegmentRange,
};

use crate::error::IngesterError;
use crate::head::Head;
use crate::ingester::{FlushingHead, Ingester, Released};
use crate::replay;

/// How often the background task checks the head's age and retries failed block writes.
const TICK: Duration = Duration::from_secs(1);
/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

impl Ingester {
    /// Cuts the head now (if it has spans) and writes every pending head to blocks,
    /// one per tenant; then deletes the WAL segments the new blocks cover. Returns the
    /// first block-write error; failed heads stay queryable and are retried later.
    pub async fn cut_head(&self) -> Result<(), IngesterError> {
        let _flush = self.flush_lock.lock().await;
        self.swap_head().await?;
        self.write_pending().await
    }

    /// Rotates the WAL and moves the current head to the flushing list. Returns false
    /// when the head was empty (nothing is rotated then).
    async fn swap_head(&self) -> Result<bool, IngesterError> {
        let _gate = self.gate.write().await;
        if self.state().head.is_empty() {
            return Ok(false);
        }
        let rotation = self.wal.rotate().await?;
        let mut state = self.state_mut();
        let old = std::mem::replace(
            &mut state.head,
            Arc::new(Head::new(rotation.current_segment)),
        );
        let wal_segments = WalSegmentRange {
            first: old.first_wal_segment,
            last: rotation.closed_segment,
        };
        for (tenant, head) in old.tenants() {
            state.flushing.push(Arc::new(FlushingHead {
                tenant,
                head,
                wal_segments,
            }));
        }
        Ok(true)
    }

    /// Writes every flushing head (caller holds `flush_lock`).
    async fn write_pending(&self) -> Result<(), IngesterError> {
        let pending: Vec<Arc<FlushingHead>> = self.state().flushing.clone();
        let mut first_error = None;
        for flushing in pending {
            let store = self.store.clone();
            let options = BlockWriteOptions {
                indexed_attribute_keys: self.config.indexed_attribute_keys.clone(),
                wal_segments: Some(flushing.wal_segments),
                ..BlockWriteOptions::default()
            };
            let job = flushing.clone();
            let written =
                tokio::task::spawn_blocking(move || write_block(&store, &job, &options)).await;
            let written = match written {
                Ok(result) => result.map_err(IngesterError::from),
                Err(join_error) => Err(IngesterError::from(join_error)),
            };
            match written {
                Ok(reader) => self.finish_flush(flushing, reader).await,
                Err(error) => {
                    metrics::counter!("weft_block_write_failures_total").increment(1);
                    tracing::error!(tenant = %flushing.tenant, %error, "cannot write a block; will retry");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Publishes a written block in place of its flushing head, frees the head, then
    /// deletes the WAL segments once no other tenant of the same cut is still waiting
    /// for its block.
    async fn finish_flush(
        &self,
        flushing: Arc<FlushingHead>,
        reader: Option<Arc<dyn BlockReader>>,
    ) {
        let range_done = {
            let mut state = self.state_mut();
            state
                .flushing
                .retain(|other| !Arc::ptr_eq(other, &flushing));
            if let Some(reader) = reader {
                state
                    .blocks
                    .entry(flushing.tenant.clone())
                    .or_default()
                    .push(reader);
            }
            !state
                .flushing
                .iter()
                .any(|other| other.wal_segments == flushing.wal_segments)
        };
        metrics::counter!("weft_blocks_cut_total").increment(1);
        self.publish_block_gauges();
        let range = flushing.wal_segments;
        let released = Released::of(&flushing.head);
        // Freeing hundreds of thousands of spans takes a while; keep it off the async
        // workers. The memory counts drop once it is done (unless a reader still holds
        // the head, which then frees it when the read ends).
        let _ = tokio::task::spawn_blocking(move || drop(flushing)).await;
        self.memory.remove(released);
        if range_done {
            let directory = self.wal_directory.clone();
            let deleted =
                tokio::task::spawn_blocking(move || replay::delete_segments(&directory, range))
                    .await;
            match deleted {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot delete wal segments already in blocks")
                }
                Err(error) => tracing::warn!(%error, "wal segment deletion failed"),
            }
        }
    }

    /// Deletes blocks whose newest span ended more than `retention` ago. Returns how
    /// many were deleted. Blocks disappear from reads before their files are removed.
    pub async fn enforce_retention(&self) -> Result<usize, IngesterError> {
        let now = now_unix_nanos();
        let retention = self.config.retention;
        let expired: Vec<Arc<dyn BlockReader>> = {
            let mut state = self.state_mut();
            let mut expired = Vec::new();
            for readers in state.blocks.values_mut() {
                readers.retain(|reader| {
                    let past = reader.meta().is_past_retention(now, retention);
                    if past {
                        expired.push(reader.clone());
                    }
                    !past
                });
            }
            state.blocks.retain(|_, readers| !readers.is_empty());
            expired
        };
        if expired.is_empty() {
            return Ok(0);
        }
        self.publish_block_gauges();
        let store = self.store.clone();
        let count = expired.len();
        tokio::task::spawn_blocking(move || {
            for reader in expired {
                let meta = reader.meta();
                store.delete_block(&meta.tenant, meta.block_id)?;
                tracing::info!(tenant = %meta.tenant, block_id = %meta.block_id, "deleted a block past retention");
            }
            Ok::<_, StorageError>(())
        })
        .await??;
        metrics::counter!("weft_blocks_deleted_total", "reason" => "retention")
            .increment(count as u64);
        Ok(count)
    }

    /// True when the head is big enough or old enough, or when memory is over the
    /// refusal limit (then every byte moved to a block lets pushes in again sooner).
    fn should_cut(&self) -> bool {
        let state = self.state();
        let head = &state.head;
        if head.is_empty() {
            return false;
        }
        head.bytes() > self.config.max_head_bytes
            || self.memory.bytes.load(Ordering::Relaxed) > self.config.max_unflushed_bytes
            || head
                .first_insert()
                .is_some_and(|first| first.elapsed() >= self.config.max_block_duration)
    }

    fn has_pending_flush(&self) -> bool {
        !self.state().flushing.is_empty()
    }
}

/// Writes one flushing head as a block and opens it.
fn write_block(
    store: &LocalBlockStore,
    flushing: &FlushingHead,
    options: &BlockWriteOptions,
) -> Result<Option<Arc<dyn BlockReader>>, StorageError> {
    let started = Instant::now();
    let meta = flushing
        .head
        .with_stored_block(|block| store.write_stored_block(&flushing.tenant, block, options))??;
    let Some(meta) = meta else {
        return Ok(None);
    };
    tracing::info!(
        tenant = %flushing.tenant,
        block_id = %meta.block_id,
        spans = meta.span_count,
        traces = meta.trace_count,
        bytes = meta.data_bytes + meta.index_bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "wrote a block"
    );
    Ok(Some(store.open_block(&flushing.tenant, meta.block_id)?))
}

/// Cuts by size (woken by pushes) and age, retries failed block writes, and applies
/// retention, until `stop` turns true or the ingester is dropped.
pub(crate) async fn background(
    ingester: Weak<Ingester>,
    cut_requested: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_retention = Instant::now();
    loop {
        tokio::select! {
            _ = cut_requested.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
        let Some(ingester) = ingester.upgrade() else {
            return;
        };
        let cut_due = ingester.should_cut() || ingester.has_pending_flush();
        if cut_due && let Err(error) = ingester.cut_head().await {
            tracing::warn!(%error, "cutting the head failed; will retry");
        }
        if Instant::now() >= next_retention {
            next_retention = Instant::now() + RETENTION_INTERVAL;
            if let Err(error) = ingester.enforce_retention().await {
                tracing::warn!(%error, "retention failed; will retry");
            }
        }
    }
}
