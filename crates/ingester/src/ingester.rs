//! The ingester: WAL, head and blocks behind `SpanSink` and `TraceReader`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use weft_model::{PushError, TenantId, TraceId};
use weft_storage::{BlockReader, BlockStore, StorageError, WalSegmentRange};

use crate::catalog::Catalog;
use crate::config::IngesterConfig;
use crate::error::IngesterError;
use crate::head::{Head, InsertStats, TenantHead};
use crate::replay;
use crate::tail::{CarryBatch, TailPlan, TailSampling, TailState};
use crate::wal::{self, Wal, WalAppendError};

mod push;

/// How long a push waits for room in the WAL queue before it is refused as overloaded.
const WAL_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// The retry hint sent with overload refusals.
const RETRY_AFTER_SECONDS: u32 = 2;

/// A tenant's part of a cut head, queryable until its block is written.
#[derive(Debug)]
pub(crate) struct FlushingHead {
    pub tenant: TenantId,
    pub head: Arc<TenantHead>,
    pub wal_segments: WalSegmentRange,
    /// With tail sampling: which traces are carried or decided early.
    pub tail_plan: std::sync::OnceLock<Arc<TailPlan>>,
    /// Traces already carried into a newer head (a retried write skips them).
    pub carried: Mutex<foldhash::HashSet<TraceId>>,
}

/// What reads and cuts see, swapped atomically under one lock.
pub(crate) struct State {
    /// Receives new writes.
    pub head: Arc<Head>,
    /// Cut heads whose blocks are not written yet.
    pub flushing: Vec<Arc<FlushingHead>>,
}

/// The totals of a tenant head that is being freed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Released {
    pub spans: u64,
    pub traces: u64,
    pub bytes: u64,
}

impl Released {
    pub fn of(head: &TenantHead) -> Released {
        Released {
            spans: head.span_total(),
            traces: head.trace_total(),
            bytes: head.bytes(),
        }
    }
}

/// Spans, traces and bytes held in memory (current head plus flushing heads).
#[derive(Debug, Default)]
pub(crate) struct MemoryTotals {
    pub spans: AtomicU64,
    pub traces: AtomicU64,
    pub bytes: AtomicU64,
    /// Woken (every waiter) whenever memory is released.
    pub released: Notify,
}

impl MemoryTotals {
    pub fn add(&self, stats: InsertStats) {
        self.spans.fetch_add(stats.spans, Ordering::Relaxed);
        self.traces.fetch_add(stats.new_traces, Ordering::Relaxed);
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        self.publish();
    }

    pub fn remove(&self, released: Released) {
        self.spans.fetch_sub(released.spans, Ordering::Relaxed);
        self.traces.fetch_sub(released.traces, Ordering::Relaxed);
        self.bytes.fetch_sub(released.bytes, Ordering::Relaxed);
        self.publish();
        self.released.notify_waiters();
    }

    fn publish(&self) {
        metrics::gauge!("weft_head_spans").set(self.spans.load(Ordering::Relaxed) as f64);
        metrics::gauge!("weft_head_traces").set(self.traces.load(Ordering::Relaxed) as f64);
        metrics::gauge!("weft_head_bytes").set(self.bytes.load(Ordering::Relaxed) as f64);
    }
}

/// Stores pushed spans durably and serves them back.
///
/// Writes go to the WAL (group commit) and then into the in-memory head; the head is
/// cut into one block per tenant when it is big or old enough, and on shutdown. Reads
/// combine the head, heads being written, and blocks. Dropping an `Ingester` without
/// [`Ingester::shutdown`] is like a crash: nothing acknowledged is lost, the next
/// [`Ingester::open`] replays the WAL.
pub struct Ingester {
    pub(crate) config: IngesterConfig,
    pub(crate) wal_directory: PathBuf,
    /// The blocks reads use, refreshed from the store.
    pub(crate) catalog: Catalog,
    pub(crate) wal: Wal,
    pub(crate) state: RwLock<State>,
    /// Pushes hold it shared from before their WAL write until their head insert; a cut
    /// holds it exclusively to rotate the WAL and swap the head, so every record of a
    /// closed segment is in the head that is cut.
    pub(crate) gate: tokio::sync::RwLock<()>,
    /// Serialises cuts and block writes.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    pub(crate) accepting: AtomicBool,
    pub(crate) memory: MemoryTotals,
    pub(crate) cut_requested: Arc<Notify>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) background: Mutex<Option<JoinHandle<()>>>,
    /// Tail sampling, when on.
    pub(crate) tail: Option<Arc<TailState>>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("storage_path", &self.config.storage_path)
            .finish()
    }
}

impl Ingester {
    /// Opens the ingester over `store` (blocks) and `config.storage_path/wal` (the WAL):
    /// lists and opens the blocks, replays the WAL into the head, cuts the replayed head
    /// to blocks (so the next start is fast and the replayed segments are deleted),
    /// starts the WAL writer and the background task that cuts by size and age and
    /// refreshes the block list. Must run inside a multi-threaded Tokio runtime.
    pub async fn open(
        config: IngesterConfig,
        store: Arc<dyn BlockStore>,
    ) -> Result<Arc<Ingester>, IngesterError> {
        Ingester::open_sampled(config, store, None).await
    }

    /// [`Ingester::open`] with tail sampling: each trace is kept or dropped as a whole
    /// when the head is cut (see [`TailSampling`] and the `tail` module docs).
    pub async fn open_sampled(
        config: IngesterConfig,
        store: Arc<dyn BlockStore>,
        tail: Option<TailSampling>,
    ) -> Result<Arc<Ingester>, IngesterError> {
        config.validate()?;
        let wal_directory = config.storage_path.join("wal");
        let indexed_keys = config.indexed_attribute_keys.clone();
        let catalog_limits = config.attribute_catalog;
        let replay_directory = wal_directory.clone();
        let catalog = Catalog::new(store);
        catalog.refresh().await?;
        let coverage = catalog.wal_coverage();
        let replayed = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&replay_directory)
                .map_err(StorageError::io("create directory", &replay_directory))?;
            replay::replay(&replay_directory, &coverage, &indexed_keys, catalog_limits)
        })
        .await??;

        let wal = Wal::start(
            wal_directory.clone(),
            replayed.next_segment,
            config.wal_fsync_policy,
            config.wal_fsync_interval,
        )
        .await?;
        let (stop, stop_receiver) = watch::channel(false);
        let replayed_empty = replayed.head.is_empty();
        let ingester = Arc::new(Ingester {
            config,
            wal_directory,
            catalog,
            wal,
            state: RwLock::new(State {
                head: Arc::new(replayed.head),
                flushing: Vec::new(),
            }),
            gate: tokio::sync::RwLock::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            accepting: AtomicBool::new(true),
            memory: MemoryTotals::default(),
            cut_requested: Arc::new(Notify::new()),
            stop,
            background: Mutex::new(None),
            tail: tail.map(|settings| Arc::new(TailState::new(settings))),
        });
        ingester.memory.add(replayed.stats);
        ingester.publish_block_gauges();

        if replayed_empty {
            if let (Some(&first), Some(&last)) =
                (replayed.segments.first(), replayed.segments.last())
            {
                // Every record was empty, damaged or already in a block.
                let directory = ingester.wal_directory.clone();
                tokio::task::spawn_blocking(move || {
                    replay::delete_segments(&directory, WalSegmentRange { first, last })
                })
                .await??;
            }
        } else if let Err(error) = ingester.cut_head().await {
            // The replayed spans stay in the head and the WAL; the background task retries.
            tracing::error!(%error, "cannot write the replayed head to blocks");
        }

        let task = tokio::spawn(crate::flush::background(
            Arc::downgrade(&ingester),
            ingester.cut_requested.clone(),
            stop_receiver,
        ));
        *ingester
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(ingester)
    }

    /// [`Ingester::open`] with blocks on the local disk under
    /// `config.storage_path/blocks` (the default backend) and default cache sizes.
    pub async fn open_local(config: IngesterConfig) -> Result<Arc<Ingester>, IngesterError> {
        let blocks = config.storage_path.join("blocks");
        let store =
            weft_storage::ObjectBlockStore::local(&blocks, weft_storage::CacheConfig::default())?;
        Ingester::open(config, Arc::new(store)).await
    }

    /// True between a successful [`Ingester::open`] and the start of
    /// [`Ingester::shutdown`].
    pub fn is_ready(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Stops accepting pushes (they fail with `PushError::Unavailable`), waits for pushes
    /// in flight, cuts the head to blocks, and fsyncs and closes the WAL. Reads keep
    /// working. If the blocks cannot be written the error is returned and the spans stay
    /// in the WAL for the next start. Calling it again is harmless.
    pub async fn shutdown(&self) -> Result<(), IngesterError> {
        self.accepting.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        let background = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = background {
            let _ = task.await;
        }
        let result = self.cut_head().await;
        self.wal.stop().await;
        result
    }

    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads the block list from the store (blocks written or deleted elsewhere,
    /// such as by the compactor), then updates the block gauges.
    pub async fn refresh_blocks(&self) -> Result<(), IngesterError> {
        let report = self.catalog.refresh().await?;
        if report.opened > 0 || report.dropped > 0 {
            tracing::debug!(
                opened = report.opened,
                dropped = report.dropped,
                "refreshed the block list"
            );
        }
        self.publish_block_gauges();
        Ok(())
    }

    pub(crate) fn publish_block_gauges(&self) {
        let blocks = self.catalog.all_blocks();
        let (count, bytes) = blocks.iter().fold((0u64, 0u64), |(count, bytes), reader| {
            let meta = reader.meta();
            (
                count + 1,
                bytes + meta.data_bytes + meta.traces_bytes + meta.bloom_bytes,
            )
        });
        metrics::gauge!("weft_blocks").set(count as f64);
        metrics::gauge!("weft_blocks_bytes").set(bytes as f64);
    }
}

impl Ingester {
    /// Returns once the head and the heads being written hold at most
    /// `max_unflushed_bytes`, waiting up to `max_memory_wait` for cuts to free memory
    /// (and asking for a cut); after that the push is refused with a retry hint. Runs
    /// before the push takes the gate, so a cut is never held up by waiting pushes.
    async fn wait_for_memory(&self) -> Result<(), PushError> {
        let limit = self.config.max_unflushed_bytes;
        if self.memory.bytes.load(Ordering::Relaxed) <= limit {
            return Ok(());
        }
        metrics::counter!("weft_ingester_memory_waits_total").increment(1);
        let deadline = tokio::time::Instant::now() + self.config.max_memory_wait;
        loop {
            // Registered before the check, so a release between the two is not missed.
            let released = self.memory.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.memory.bytes.load(Ordering::Relaxed) <= limit {
                return Ok(());
            }
            if !self.accepting.load(Ordering::SeqCst) {
                return Err(PushError::Unavailable(String::from(
                    "the ingester is shutting down",
                )));
            }
            self.cut_requested.notify_one();
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                metrics::counter!("weft_ingester_refused_pushes_total", "reason" => "memory")
                    .increment(1);
                return Err(overloaded(format!(
                    "the ingester has held more than {limit} bytes of spans not yet written to \
                     blocks for {:?}; retry later",
                    self.config.max_memory_wait
                )));
            }
        }
    }
}

fn overloaded(message: String) -> PushError {
    PushError::Overloaded {
        message,
        retry_after_seconds: RETRY_AFTER_SECONDS,
    }
}

impl Ingester {
    /// Puts spans of traces still waiting for a tail-sampling decision into the current
    /// head, through the WAL like a push, keeping their arrival times. Called while a
    /// cut head is written (under `flush_lock`), before its WAL segments are deleted.
    pub(crate) async fn carry(
        &self,
        tenant: &TenantId,
        batch: CarryBatch,
    ) -> Result<(), IngesterError> {
        if batch.spans.is_empty() {
            return Ok(());
        }
        let record = Arc::new(wal::encode_record(tenant, &batch.spans)?);
        let _gate = self.gate.read().await;
        loop {
            match self.wal.append(record.clone(), WAL_QUEUE_TIMEOUT).await {
                Ok(_segment) => break,
                Err(WalAppendError::QueueFull) => continue,
                Err(WalAppendError::Stopped) => {
                    return Err(IngesterError::Wal(String::from(
                        "the WAL writer has stopped",
                    )));
                }
                Err(WalAppendError::Failed(message)) => return Err(IngesterError::Wal(message)),
            }
        }
        let head = self.state().head.clone();
        let stats = head
            .insert_arrived(
                tenant,
                &batch.spans,
                record,
                &self.config.indexed_attribute_keys,
                self.config.attribute_catalog,
                Some(&batch.arrivals),
            )
            .map_err(|error| {
                IngesterError::Wal(format!("the head refused carried spans: {error}"))
            })?;
        self.memory.add(stats);
        metrics::counter!("weft_tail_sampling_carried_spans_total")
            .increment(batch.spans.len() as u64);
        Ok(())
    }
}

/// Blocks of a tenant and heads that may hold its spans, taken consistently.
pub(crate) struct Snapshot {
    pub heads: Vec<Arc<TenantHead>>,
    pub blocks: Vec<Arc<dyn BlockReader>>,
}

impl Ingester {
    pub(crate) fn snapshot(&self, tenant: &TenantId) -> Snapshot {
        let state = self.state();
        let mut heads: Vec<Arc<TenantHead>> = state.head.tenant(tenant).into_iter().collect();
        heads.extend(
            state
                .flushing
                .iter()
                .filter(|flushing| &flushing.tenant == tenant)
                .map(|flushing| flushing.head.clone()),
        );
        drop(state);
        let blocks = self.catalog.blocks(tenant);
        Snapshot { heads, blocks }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::{SpanBatch, SpanId, SpanSink};

    use super::*;
    use crate::test_support::{TempDir, span_batch};

    fn batch(trace: u64) -> SpanBatch {
        span_batch(trace, 1, 10)
    }

    /// An ingester whose memory limit any push exceeds, so the next push needs a cut.
    async fn open_with_one_byte_limit(
        directory: &TempDir,
        max_memory_wait: Duration,
    ) -> Arc<Ingester> {
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            max_head_bytes: 1,
            max_unflushed_bytes: 1,
            max_memory_wait,
            ..IngesterConfig::default()
        };
        Ingester::open_local(config).await.expect("opens")
    }

    #[tokio::test]
    async fn copies_of_stored_spans_are_acknowledged_without_being_written_again() {
        let directory = TempDir::new("copies");
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            ..IngesterConfig::default()
        };
        let ingester = Ingester::open_local(config).await.expect("opens");
        let tenant = TenantId::single();
        let first = ingester.push(&tenant, batch(1)).await.expect("stored");
        assert_eq!(first.accepted_spans, 10);
        let head = ingester.state().head.clone();
        let bytes = head.bytes();
        let again = ingester
            .push(&tenant, batch(1))
            .await
            .expect("acknowledged");
        assert_eq!((again.accepted_spans, again.rejected_spans), (10, 0));
        assert_eq!(head.bytes(), bytes, "nothing written for a batch of copies");
        // Half copies, half new spans of the same trace.
        let mut mixed = batch(1).spans;
        for span in &mut mixed[5..] {
            span.span_id = SpanId::from_u64(u64::from_be_bytes(span.span_id.0) + 100);
        }
        let mixed = ingester
            .push(&tenant, SpanBatch::from(mixed))
            .await
            .expect("stored");
        assert_eq!(mixed.accepted_spans, 10);
        let tenant_head = head.tenant(&tenant).expect("tenant");
        assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 15);
        ingester.shutdown().await.expect("shuts down");
    }

    #[tokio::test]
    async fn pushes_are_refused_not_buffered_when_cutting_cannot_keep_up() {
        let directory = TempDir::new("overload");
        let ingester = open_with_one_byte_limit(&directory, Duration::from_millis(300)).await;
        let tenant = TenantId::single();
        // Holding the flush lock stands in for a block write that takes forever.
        let stalled = ingester.flush_lock.lock().await;
        ingester
            .push(&tenant, batch(1))
            .await
            .expect("under the limit");
        let asked = std::time::Instant::now();
        let refused = ingester.push(&tenant, batch(2)).await;
        assert!(
            matches!(refused, Err(PushError::Overloaded { retry_after_seconds, .. }) if retry_after_seconds > 0),
            "{refused:?}"
        );
        assert!(
            asked.elapsed() >= Duration::from_millis(300),
            "refused only after waiting max_memory_wait for memory"
        );
        drop(stalled);
        ingester.cut_head().await.expect("cuts");
        ingester
            .push(&tenant, batch(2))
            .await
            .expect("accepted again after the cut");
        ingester.shutdown().await.expect("shuts down");
    }

    #[tokio::test]
    async fn a_push_over_the_memory_limit_waits_for_the_cut_instead_of_failing() {
        let directory = TempDir::new("overload-wait");
        let ingester = open_with_one_byte_limit(&directory, Duration::from_secs(5)).await;
        let tenant = TenantId::single();
        let stalled = ingester.flush_lock.lock().await;
        ingester
            .push(&tenant, batch(1))
            .await
            .expect("under the limit");
        let waiting = {
            let ingester = ingester.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move { ingester.push(&tenant, batch(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "the push waits while memory is short"
        );
        // The block write finishes: the background cut frees the memory.
        drop(stalled);
        let outcome = tokio::time::timeout(Duration::from_secs(4), waiting)
            .await
            .expect("answered once memory was freed")
            .expect("joins")
            .expect("accepted, not refused");
        assert_eq!(outcome.accepted_spans, 10);
        ingester.shutdown().await.expect("shuts down");
    }

    #[tokio::test]
    async fn a_refusing_ingester_recovers_by_itself_once_blocks_can_be_written() {
        let directory = TempDir::new("overload-recovery");
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            max_head_bytes: 64 * 1024,
            max_unflushed_bytes: 64 * 1024,
            max_memory_wait: Duration::from_millis(50),
            ..IngesterConfig::default()
        };
        let ingester = Ingester::open_local(config).await.expect("opens");
        let tenant = TenantId::single();
        let stalled = ingester.flush_lock.lock().await;
        let mut accepted = 0u64;
        let refused = loop {
            match ingester.push(&tenant, batch(accepted + 1)).await {
                Ok(_) => accepted += 1,
                Err(error) => break error,
            }
            assert!(accepted < 10_000, "never refused");
        };
        assert!(
            matches!(refused, PushError::Overloaded { .. }),
            "{refused:?}"
        );
        assert!(ingester.memory.bytes.load(Ordering::Relaxed) > 64 * 1024);
        drop(stalled);
        // No explicit cut: the refusal asked the background task for one.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match ingester.push(&tenant, batch(1_000_000)).await {
                Ok(_) => break,
                Err(PushError::Overloaded { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("still refused after 10 s: {error}"),
            }
        }
        ingester.shutdown().await.expect("shuts down");
    }

    #[tokio::test]
    async fn memory_counts_return_to_zero_when_every_head_is_in_blocks() {
        // A count that drifts upwards would end in refusing every push for good.
        let directory = TempDir::new("memory-drift");
        let config = IngesterConfig {
            storage_path: directory.path().to_owned(),
            ..IngesterConfig::default()
        };
        let ingester = Ingester::open_local(config).await.expect("opens");
        let tenants = [
            TenantId::single(),
            TenantId::parse("team-a").expect("tenant"),
        ];
        for round in 0..3u64 {
            for (index, tenant) in tenants.iter().enumerate() {
                for trace in 0..20 {
                    ingester
                        .push(tenant, batch(round * 1000 + index as u64 * 100 + trace % 7))
                        .await
                        .expect("accepted");
                }
            }
            assert!(ingester.memory.bytes.load(Ordering::Relaxed) > 0);
            ingester.cut_head().await.expect("cuts");
            assert_eq!(ingester.memory.bytes.load(Ordering::Relaxed), 0);
            assert_eq!(ingester.memory.spans.load(Ordering::Relaxed), 0);
            assert_eq!(ingester.memory.traces.load(Ordering::Relaxed), 0);
        }
        ingester.shutdown().await.expect("shuts down");
    }
}
