//! Cutting the head into blocks, writing them, deleting covered WAL segments, block-list
//! refreshes,
//! and the background task that drives all of it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use weft_model::{Span, TraceId};
use weft_storage::{
    BlockReader, BlockStore, BlockWriteOptions, StorageError, WalSegmentRange, block_order,
};

use crate::error::IngesterError;
use crate::head::Head;
use crate::ingester::{FlushingHead, Ingester, Released};
use crate::replay;
use crate::tail::{CarryBatch, Fate, TailPlan, TailState};

/// How often the background task checks the head's age and retries failed block writes.
const TICK: Duration = Duration::from_secs(1);
/// Spans handed to the block writer at a time while a head is written (the writer
/// buffers up to a row group itself).
const WRITE_BATCH_SPANS: usize = 8_192;

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
                tail_plan: OnceLock::new(),
                carried: Mutex::default(),
            }));
        }
        Ok(true)
    }

    /// Writes every flushing head (caller holds `flush_lock`).
    async fn write_pending(&self) -> Result<(), IngesterError> {
        let pending: Vec<Arc<FlushingHead>> = self.state().flushing.clone();
        let mut first_error = None;
        // Traces waiting for a tail-sampling decision may take half the head's budget.
        let mut carry_budget = self.config.max_head_bytes / 2;
        for flushing in pending {
            let options = BlockWriteOptions {
                indexed_attribute_keys: self.config.indexed_attribute_keys.clone(),
                catalog_limits: self.config.attribute_catalog,
                wal_segments: Some(flushing.wal_segments),
                ..BlockWriteOptions::default()
            };
            let store = self.catalog.store().clone();
            let written = match &self.tail {
                None => write_block(store, flushing.clone(), options, None).await,
                Some(tail) => {
                    let plan = flushing
                        .tail_plan
                        .get_or_init(|| {
                            Arc::new(tail.plan(
                                &flushing.tenant,
                                flushing.head.arrivals(),
                                Instant::now(),
                                &mut carry_budget,
                            ))
                        })
                        .clone();
                    self.write_sampled_block(store, &flushing, options, tail.clone(), plan)
                        .await
                }
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
                self.catalog.add(reader);
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

    /// Writes a cut head with tail sampling: kept traces go to the block, dropped ones
    /// nowhere, and waiting ones are carried into the current head while the block is
    /// written. A failed carry fails the write, so the WAL segments stay.
    async fn write_sampled_block(
        &self,
        store: Arc<dyn BlockStore>,
        flushing: &Arc<FlushingHead>,
        options: BlockWriteOptions,
        tail: Arc<TailState>,
        plan: Arc<TailPlan>,
    ) -> Result<Option<Arc<dyn BlockReader>>, IngesterError> {
        let (sender, mut receiver) = mpsc::channel::<CarryBatch>(2);
        let sampling = TailWrite {
            state: tail,
            plan,
            carry: sender,
        };
        let write = write_block(store, flushing.clone(), options, Some(sampling));
        let carry = async {
            let mut outcome = Ok(());
            while let Some(batch) = receiver.recv().await {
                if outcome.is_err() {
                    continue;
                }
                let trace_ids: Vec<TraceId> = batch.arrivals.keys().copied().collect();
                outcome = self.carry(&flushing.tenant, batch).await;
                if outcome.is_ok() {
                    flushing
                        .carried
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(trace_ids);
                }
            }
            outcome
        };
        let (written, carried) = tokio::join!(write, carry);
        carried?;
        written
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
            || head.first_insert().is_some_and(|first| {
                let age = first.elapsed();
                age >= self.config.max_block_duration
                    || self
                        .tail
                        .as_ref()
                        .is_some_and(|tail| age >= tail.settings.cut_age())
            })
    }

    fn has_pending_flush(&self) -> bool {
        !self.state().flushing.is_empty()
    }
}

/// Writes one flushing head as a block and opens it. The head is streamed to the block
/// writer trace by trace in block order, so memory beyond the head is a row group.
async fn write_block(
    store: Arc<dyn BlockStore>,
    flushing: Arc<FlushingHead>,
    options: BlockWriteOptions,
    sampling: Option<TailWrite>,
) -> Result<Option<Arc<dyn BlockReader>>, IngesterError> {
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let tenant = flushing.tenant.clone();
    let writer_store = store.clone();
    // Decoding the head and encoding row groups is CPU work: keep it off the async
    // workers, and drive the writer's I/O from that thread.
    let meta = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let mut writer = writer_store.writer(&flushing.tenant, &options).await?;
            let pushed = push_head(writer.as_mut(), &flushing, sampling).await;
            match pushed {
                Ok(()) => writer.finish().await,
                Err(error) => {
                    if let Err(abort_error) = writer.abort().await {
                        tracing::warn!(%abort_error, "cannot remove a partly written block");
                    }
                    Err(error)
                }
            }
        })
    })
    .await??;
    let Some(meta) = meta else {
        return Ok(None);
    };
    tracing::info!(
        %tenant,
        block_id = %meta.block_id,
        spans = meta.span_count,
        traces = meta.trace_count,
        bytes = meta.data_bytes + meta.traces_bytes + meta.bloom_bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "wrote a block"
    );
    Ok(Some(store.open_block(&tenant, meta.block_id).await?))
}

/// What a block writer needs for tail sampling.
struct TailWrite {
    state: Arc<TailState>,
    plan: Arc<TailPlan>,
    carry: mpsc::Sender<CarryBatch>,
}

async fn push_head(
    writer: &mut dyn weft_storage::BlockWriter,
    flushing: &FlushingHead,
    sampling: Option<TailWrite>,
) -> Result<(), StorageError> {
    let mut batch: Vec<Span> = Vec::with_capacity(WRITE_BATCH_SPANS);
    let mut carry = CarryBatch {
        spans: Vec::new(),
        arrivals: Default::default(),
    };
    for trace_id in flushing.head.sorted_trace_ids() {
        let mut spans = flushing.head.trace(trace_id)?;
        if let Some(sampling) = &sampling {
            match sampling
                .state
                .fate(&flushing.tenant, &spans, &sampling.plan)
            {
                Fate::Keep => {}
                Fate::Drop => continue,
                Fate::Carry => {
                    let done = flushing
                        .carried
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(&trace_id);
                    if !done && let Some(arrival) = sampling.plan.carry.get(&trace_id) {
                        carry.arrivals.insert(trace_id, *arrival);
                        carry.spans.append(&mut spans);
                        if carry.spans.len() >= WRITE_BATCH_SPANS {
                            send_carry(&sampling.carry, &mut carry).await?;
                        }
                    }
                    continue;
                }
            }
        }
        spans.sort_by(block_order);
        batch.append(&mut spans);
        if batch.len() >= WRITE_BATCH_SPANS {
            writer.push(&batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        writer.push(&batch).await?;
    }
    if let Some(sampling) = &sampling {
        send_carry(&sampling.carry, &mut carry).await?;
    }
    Ok(())
}

/// Hands the collected spans to the carrying task.
async fn send_carry(
    sender: &mpsc::Sender<CarryBatch>,
    carry: &mut CarryBatch,
) -> Result<(), StorageError> {
    if carry.spans.is_empty() {
        return Ok(());
    }
    let batch = std::mem::replace(
        carry,
        CarryBatch {
            spans: Vec::new(),
            arrivals: Default::default(),
        },
    );
    sender
        .send(batch)
        .await
        .map_err(|_| StorageError::corrupt("tail sampling", "the carrying task stopped"))
}

/// Cuts by size (woken by pushes) and age, retries failed block writes, and refreshes
/// the block catalog from the store, until `stop` turns true or the ingester is dropped.
pub(crate) async fn background(
    ingester: Weak<Ingester>,
    cut_requested: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_refresh = Instant::now();
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
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + ingester.config.block_list_poll_interval;
            if let Err(error) = ingester.refresh_blocks().await {
                tracing::warn!(%error, "refreshing the block list failed; will retry");
            }
        }
    }
}
