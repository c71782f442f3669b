//! The compactor: passes over all tenants, one at a time, and the loop that runs them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use weft_model::TenantId;
use weft_storage::{BlockId, BlockMeta, BlockStore};

use crate::config::CompactorConfig;
use crate::error::CompactorError;
use crate::metrics;

/// A callback run after a pass that changed blocks (see [`Compactor::spawn_with`]).
pub type AfterPass =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static>;

/// What one pass did, summed over tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Tenants looked at.
    pub tenants: usize,
    /// Merges committed (one block written each).
    pub jobs: usize,
    /// Input blocks of committed merges.
    pub blocks_compacted: usize,
    /// Spans written to merged blocks.
    pub spans_written: u64,
    /// Exact duplicate spans dropped while merging.
    pub spans_deduplicated: u64,
    /// Span data bytes of the merged blocks.
    pub bytes_written: u64,
    /// Inputs of earlier merges deleted by this pass (left over by a crash or a failed
    /// delete).
    pub superseded_deleted: usize,
    /// Blocks deleted because their newest span was ingested longer ago than the
    /// tenant's retention.
    pub retention_deleted: usize,
    /// Incomplete blocks deleted (older than the orphan grace, or inputs of a merge).
    pub orphans_deleted: usize,
    /// Steps that failed (logged and counted in `weft_compactor_failures_total`); the
    /// pass went on without them and the next pass retries.
    pub failures: usize,
}

/// What a pass remembers of a tenant's complete blocks (blocks are immutable).
#[derive(Debug, Default)]
pub(crate) struct TenantBlocks {
    /// Metas read so far.
    pub(crate) metas: HashMap<BlockId, Arc<BlockMeta>>,
    /// Blocks of another format version (say, left by an older build): no reader of
    /// this build uses them, so they neither hide other blocks nor take part.
    pub(crate) foreign: HashSet<BlockId>,
}

/// Per tenant, its [`TenantBlocks`].
pub(crate) type MetaCache = HashMap<TenantId, TenantBlocks>;

/// What a pass does besides cleanup and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PassKind {
    /// Cleanup, retention and merges.
    Full,
    /// Cleanup and retention only.
    CleanupOnly,
}

/// Merges blocks, removes duplicate spans, applies retention and removes incomplete
/// blocks, for every tenant of one block store.
///
/// Safe to share (`Arc`); passes never overlap (a second caller waits for the first).
/// Crash safety: a merged block's `meta.json` is its commit point. Before it exists
/// nothing visible changed; after it, the inputs are superseded (hidden by
/// [`crate::visible_blocks`], deleted by this pass or the next). Several compactors on
/// one store are not coordinated: run one per store.
#[derive(Debug)]
pub struct Compactor {
    pub(crate) store: Arc<dyn BlockStore>,
    pub(crate) config: CompactorConfig,
    pub(crate) tenant_retention: BTreeMap<TenantId, Duration>,
    pub(crate) pass: Mutex<MetaCache>,
    pub(crate) stop: AtomicBool,
}

impl Compactor {
    /// A compactor over `store`. Fails when `config` does not validate
    /// ([`CompactorConfig::validate`]; the message names the key).
    pub fn new(
        store: Arc<dyn BlockStore>,
        config: CompactorConfig,
    ) -> Result<Self, CompactorError> {
        let tenant_retention = config.validate()?;
        Ok(Compactor {
            store,
            config,
            tenant_retention,
            pass: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// The retention that applies to `tenant`: its override, else the default.
    pub fn retention_for(&self, tenant: &TenantId) -> Duration {
        self.tenant_retention
            .get(tenant)
            .copied()
            .unwrap_or(self.config.retention)
    }

    /// One pass over all tenants at the current time: delete incomplete blocks older
    /// than `orphan_grace` and superseded inputs, apply retention, then plan and run
    /// merges. A failing step of one tenant is logged, counted in the report and
    /// skipped. Errors: the tenant listing failed, or [`CompactorError::Stopped`] after
    /// [`Compactor::stop`].
    pub async fn run_once(&self) -> Result<CompactionReport, CompactorError> {
        self.run_once_at(now_unix_nanos()).await
    }

    /// [`Compactor::run_once`] with an explicit clock (nanoseconds since the Unix epoch)
    /// for every age decision: retention, orphan grace and window settling.
    pub async fn run_once_at(
        &self,
        now_unix_nanos: u64,
    ) -> Result<CompactionReport, CompactorError> {
        self.pass(now_unix_nanos, self.config.orphan_grace, PassKind::Full)
            .await
    }

    /// Cleanup and retention without merging, with a chosen orphan grace: for startup,
    /// before the processes that write blocks start (then `Duration::ZERO` removes every
    /// incomplete block at once). Errors as for [`Compactor::run_once`].
    pub async fn cleanup(
        &self,
        orphan_grace: Duration,
    ) -> Result<CompactionReport, CompactorError> {
        self.pass(now_unix_nanos(), orphan_grace, PassKind::CleanupOnly)
            .await
    }

    /// Asks the compactor to stop: the merge in progress is abandoned at its next batch
    /// (its partial output removed), and this and later passes return
    /// [`CompactorError::Stopped`]. Nothing committed is affected.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(crate) fn check_stop(&self) -> Result<(), CompactorError> {
        if self.stop.load(Ordering::Relaxed) {
            Err(CompactorError::Stopped)
        } else {
            Ok(())
        }
    }

    async fn pass(
        &self,
        now_unix_nanos: u64,
        orphan_grace: Duration,
        kind: PassKind,
    ) -> Result<CompactionReport, CompactorError> {
        let mut cache = self.pass.lock().await;
        self.check_stop()?;
        let started = Instant::now();
        let result = self
            .pass_locked(&mut cache, now_unix_nanos, orphan_grace, kind)
            .await;
        metrics::run_finished(started.elapsed());
        match &result {
            Ok(report) => {
                tracing::debug!(?report, elapsed = ?started.elapsed(), "compaction pass done")
            }
            Err(CompactorError::Stopped) => {
                tracing::info!("compaction pass abandoned for shutdown; nothing committed changed")
            }
            Err(error) => tracing::warn!(%error, "compaction pass failed"),
        }
        result
    }

    async fn pass_locked(
        &self,
        cache: &mut MetaCache,
        now_unix_nanos: u64,
        orphan_grace: Duration,
        kind: PassKind,
    ) -> Result<CompactionReport, CompactorError> {
        let tenants = self
            .store
            .tenants()
            .await
            .inspect_err(|_| metrics::failure("list"))?;
        cache.retain(|tenant, _| tenants.contains(tenant));
        let mut report = CompactionReport::default();
        for tenant in tenants {
            self.check_stop()?;
            report.tenants += 1;
            let blocks = cache.entry(tenant.clone()).or_default();
            let outcome = self
                .tenant_pass(
                    &tenant,
                    blocks,
                    now_unix_nanos,
                    orphan_grace,
                    kind,
                    &mut report,
                )
                .await;
            match outcome {
                Ok(()) => {}
                Err(CompactorError::Stopped) => return Err(CompactorError::Stopped),
                Err(error) => {
                    report.failures += 1;
                    metrics::failure("tenant");
                    tracing::warn!(%tenant, %error, "compaction of a tenant failed; will retry");
                }
            }
        }
        Ok(report)
    }

    /// Runs a pass every `interval` (the first at once) on Tokio's blocking pool, so the
    /// merge's encoding and decoding do not hold up async workers, until `shutdown`
    /// turns true or its sender is dropped. Shutdown abandons a merge in progress at its
    /// next batch. Returns at once when the compactor is disabled. Must be called inside
    /// a Tokio runtime.
    pub fn spawn(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        self.spawn_with(shutdown, None)
    }

    /// [`Compactor::spawn`], calling `after_pass` after every pass that changed blocks
    /// (for instance to make readers in this process re-read the block list at once).
    pub fn spawn_with(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
        after_pass: Option<AfterPass>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            if !self.config.enabled {
                tracing::info!("compactor disabled");
                return;
            }
            let mut ticker = tokio::time::interval(self.config.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = shutdown_requested(&mut shutdown) => break,
                    _ = ticker.tick() => {}
                }
                let compactor = Arc::clone(&self);
                let runtime = tokio::runtime::Handle::current();
                let mut pass =
                    tokio::task::spawn_blocking(move || runtime.block_on(compactor.run_once()));
                let outcome = tokio::select! {
                    outcome = &mut pass => outcome,
                    () = shutdown_requested(&mut shutdown) => {
                        self.stop();
                        pass.await
                    }
                };
                match outcome {
                    Ok(Ok(report)) => {
                        let changed = report.jobs > 0
                            || report.superseded_deleted > 0
                            || report.retention_deleted > 0;
                        if changed && let Some(after_pass) = &after_pass {
                            after_pass().await;
                        }
                    }
                    Ok(Err(CompactorError::Stopped)) => break,
                    // Already logged by the pass.
                    Ok(Err(_)) => {}
                    Err(error) => tracing::error!(%error, "compaction pass panicked"),
                }
            }
            self.stop();
            tracing::info!("compactor stopped");
        })
    }
}

/// Returns once `shutdown` is true or its sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

/// Nanoseconds since the Unix epoch (0 before it, saturating far after).
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
