//! A scrape pool: one job's discovery, its targets and their scrape loops.
//!
//! Whenever a provider publishes, every discovered group goes through
//! [`targets_from_group`]; targets are identified by their hash
//! ([`Target::hash`]: final labels and scrape URL), duplicates scraped once. New
//! targets get a loop, vanished ones have theirs stopped (after the scrape in
//! progress), unchanged ones keep theirs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_model::{SpanSink, TenantId};
use weft_scrape_config::target::{Target, TargetOutcome, targets_from_group};
use weft_scrape_config::{Labels, ScrapeConfig, TargetGroup};

use crate::cursor_store::{CursorStore, target_identity};
use crate::discovery::{self, Discovery, DiscoveryConfig, DiscoveryOptions};
use crate::http_client::HttpClient;
use crate::scrape_loop::{self, LoopContext};
use crate::status::TargetStatus;

/// What a pool shares with its loops.
pub(crate) struct PoolSettings {
    pub(crate) config: Arc<ScrapeConfig>,
    pub(crate) client: Arc<HttpClient>,
    pub(crate) sink: Arc<dyn SpanSink>,
    pub(crate) tenant: TenantId,
    pub(crate) store: Arc<CursorStore>,
    pub(crate) offset_seed: u64,
    pub(crate) body_size_limit_bytes: u64,
    pub(crate) interval_jitter: f64,
}

struct RunningTarget {
    target: Target,
    scrape_url: String,
    status: Arc<Mutex<TargetStatus>>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

#[derive(Default)]
struct PoolState {
    running: BTreeMap<u64, RunningTarget>,
    /// Loops told to stop that may still be finishing a scrape, by target hash: a
    /// target that comes back waits for its old loop, so it is never scraped twice.
    stopping: BTreeMap<u64, JoinHandle<()>>,
    dropped: Vec<Labels>,
}

/// One active target as the targets API shows it.
#[derive(Clone, Debug)]
pub struct ActiveTargetView {
    /// The job name.
    pub scrape_pool: String,
    /// The target after relabeling.
    pub target: Target,
    /// Where it is scraped.
    pub scrape_url: String,
    /// Its scrapes so far.
    pub status: TargetStatus,
}

pub(crate) struct ScrapePool {
    settings: Arc<PoolSettings>,
    state: Arc<Mutex<PoolState>>,
    sync_task: JoinHandle<()>,
}

impl ScrapePool {
    /// Starts discovery and the sync task. Must be called within a Tokio runtime.
    pub(crate) fn start(settings: PoolSettings, discovery_options: &DiscoveryOptions) -> Self {
        let settings = Arc::new(settings);
        let state = Arc::new(Mutex::new(PoolState::default()));
        let discovery = discovery::start(
            &DiscoveryConfig::of_scrape_config(&settings.config),
            discovery_options,
        );
        let sync_task = tokio::spawn(sync_loop(
            Arc::clone(&settings),
            Arc::clone(&state),
            discovery,
        ));
        Self {
            settings,
            state,
            sync_task,
        }
    }

    pub(crate) fn config(&self) -> &ScrapeConfig {
        &self.settings.config
    }

    pub(crate) fn offset_seed(&self) -> u64 {
        self.settings.offset_seed
    }

    /// Stops discovery and every loop, waiting for scrapes in progress to finish.
    pub(crate) async fn stop(self) {
        self.sync_task.abort();
        let (running, stopping) = {
            let mut state = lock(&self.state);
            (
                std::mem::take(&mut state.running),
                std::mem::take(&mut state.stopping),
            )
        };
        for target in running.values() {
            let _ = target.stop.send(true);
        }
        for (_, target) in running {
            let _ = target.handle.await;
        }
        for (_, handle) in stopping {
            let _ = handle.await;
        }
    }

    pub(crate) fn active_targets(&self) -> Vec<ActiveTargetView> {
        let state = lock(&self.state);
        state
            .running
            .values()
            .map(|running| ActiveTargetView {
                scrape_pool: self.settings.config.job_name.clone(),
                target: running.target.clone(),
                scrape_url: running.scrape_url.clone(),
                status: running
                    .status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
            })
            .collect()
    }

    pub(crate) fn dropped_targets(&self) -> Vec<Labels> {
        lock(&self.state).dropped.clone()
    }
}

fn lock(state: &Mutex<PoolState>) -> std::sync::MutexGuard<'_, PoolState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn sync_loop(
    settings: Arc<PoolSettings>,
    state: Arc<Mutex<PoolState>>,
    mut discovery: Discovery,
) {
    loop {
        let groups = discovery.receiver().borrow_and_update().clone();
        sync(&settings, &state, &groups);
        if discovery.receiver().changed().await.is_err() {
            // Only static targets (or every provider gave up): nothing will change, but
            // `discovery` must live until the pool stops.
            std::future::pending::<()>().await;
        }
    }
}

fn sync(settings: &Arc<PoolSettings>, state: &Mutex<PoolState>, groups: &[Vec<TargetGroup>]) {
    let config = &settings.config;
    let mut active = BTreeMap::new();
    let mut dropped = Vec::new();
    for group in groups.iter().flatten() {
        let (outcomes, failures) = targets_from_group(config, group);
        for failure in failures {
            tracing::warn!(job = %config.job_name, %failure, "target cannot be scraped");
        }
        for outcome in outcomes {
            match outcome {
                TargetOutcome::Active(target) => {
                    active.entry(target.hash(config)).or_insert(target);
                }
                TargetOutcome::Dropped { discovered_labels } => dropped.push(discovered_labels),
            }
        }
    }
    let keep_dropped = config.limits.keep_dropped_targets;
    if keep_dropped > 0 {
        dropped.truncate(usize::try_from(keep_dropped).unwrap_or(usize::MAX));
    }
    let mut state = lock(state);
    state.dropped = dropped;
    state.stopping.retain(|_, handle| !handle.is_finished());
    let vanished: Vec<u64> = state
        .running
        .keys()
        .filter(|hash| !active.contains_key(hash))
        .copied()
        .collect();
    for hash in vanished {
        if let Some(running) = state.running.remove(&hash) {
            let _ = running.stop.send(true);
            state.stopping.insert(hash, running.handle);
        }
    }
    for (hash, target) in active {
        if state.running.contains_key(&hash) {
            continue;
        }
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let scrape_url = target.scrape_url(config);
        let (stop, stop_receiver) = watch::channel(false);
        let context = LoopContext {
            scrape_pool: config.job_name.clone(),
            target: target.clone(),
            target_hash: hash,
            target_identity: target_identity(&target.public_labels(), &scrape_url),
            scrape_url: scrape_url.clone(),
            client: Arc::clone(&settings.client),
            body_size_limit_bytes: settings.body_size_limit_bytes,
            sink: Arc::clone(&settings.sink),
            tenant: settings.tenant.clone(),
            store: Arc::clone(&settings.store),
            status: Arc::clone(&status),
            offset_seed: settings.offset_seed,
            interval_jitter: settings.interval_jitter,
        };
        let previous_loop = state.stopping.remove(&hash);
        let handle = tokio::spawn(async move {
            if let Some(previous_loop) = previous_loop {
                let _ = previous_loop.await;
            }
            scrape_loop::run(context, stop_receiver).await;
        });
        state.running.insert(
            hash,
            RunningTarget {
                target,
                scrape_url,
                status,
                stop,
                handle,
            },
        );
    }
}
