//! Targets and their tailers: each scrape config's service discovery runs as the span
//! scraper's does (weft-scraper's [`Discovery`]: static, file, HTTP, DNS and
//! Kubernetes providers). Every `target_config.sync_period`, and whenever a provider
//! publishes a change, the union of the discovered groups is relabeled, `__path__`
//! globs expanded, a follower started for each new path and stopped for each path
//! gone, and rotated files holding unread lines of a known position (after a restart,
//! or a copytruncate) are drained.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use weft_scrape_config::{Labels, TargetGroup, relabel};
use weft_scraper::{Discovery, DiscoveryOptions};

use crate::client::Clients;
use crate::config::{LogScrapeConfig, TailConfig, TailConfigError};
use crate::glob;
use crate::metrics::{POSITIONS_WRITE_ERRORS_TOTAL, TARGETS_INVALID_TOTAL};
use crate::pipeline::Pipeline;
use crate::positions::{Positions, PositionsError};
use crate::tailer::{self, TailerContext, TargetSpec};

/// The label holding a target's glob.
pub const PATH_LABEL: &str = "__path__";
/// The label holding a glob of files not to tail.
pub const PATH_EXCLUDE_LABEL: &str = "__path_exclude__";

/// Why tailing cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The `logs` section is not valid.
    #[error(transparent)]
    Config(#[from] TailConfigError),
    /// The positions file cannot be read.
    #[error(transparent)]
    Positions(#[from] PositionsError),
    /// The HTTP client cannot be built.
    #[error("cannot build the push client: {0}")]
    Client(#[from] reqwest::Error),
}

struct Job {
    config: LogScrapeConfig,
    pipeline: Pipeline,
    /// The job's providers; dropped (stopped) with the job.
    discovery: Discovery,
}

struct Running {
    job: String,
    labels: BTreeMap<String, String>,
    stop: watch::Sender<bool>,
}

/// Log tailing for `weft agent`: started by [`TailService::start`], stopped by
/// [`TailService::shutdown`].
pub struct TailService {
    stop: watch::Sender<bool>,
    manager: tokio::task::JoinHandle<()>,
}

impl TailService {
    /// Validates `config`, loads the positions file and starts tailing; `None` when
    /// the config has no scrape configs.
    pub async fn start(mut config: TailConfig) -> Result<Option<TailService>, TailError> {
        config.validate()?;
        if !config.is_enabled() {
            return Ok(None);
        }
        let positions = Arc::new(Positions::load(
            Path::new(&config.positions.filename),
            config.clients.len(),
        )?);
        let (clients, shipper) = Clients::start(&config.clients, positions.clone())?;
        let discovery_options = DiscoveryOptions {
            file_poll_interval: config.target_config.sync_period,
            ..DiscoveryOptions::default()
        };
        let mut jobs = Vec::new();
        for scrape in &config.scrape_configs {
            let pipeline =
                Pipeline::compile(&scrape.pipeline_stages, &scrape.job_name).map_err(|error| {
                    TailConfigError {
                        key: format!("scrape_configs.{}.pipeline_stages", scrape.job_name),
                        message: error.to_string(),
                    }
                })?;
            jobs.push(Job {
                config: scrape.clone(),
                pipeline,
                discovery: Discovery::start(&scrape.discovery_config(), &discovery_options),
            });
        }
        let context = TailerContext {
            positions: positions.clone(),
            shipper,
            max_line_size: usize::try_from(config.max_line_size).unwrap_or(usize::MAX),
            partial_line_timeout: config.partial_line_timeout,
            rotated_file_idle: config.rotated_file_idle,
            min_poll: config.file_watch_config.min_poll_frequency,
            max_poll: config.file_watch_config.max_poll_frequency,
        };
        let (stop, stop_receiver) = watch::channel(false);
        tracing::info!(
            jobs = jobs.len(),
            clients = config.clients.len(),
            positions = %config.positions.filename,
            "tailing log files"
        );
        let manager = tokio::spawn(run(
            jobs,
            context,
            clients,
            config.target_config.sync_period,
            config.positions.sync_period,
            stop_receiver,
        ));
        Ok(Some(TailService { stop, manager }))
    }

    /// Stops reading, ships what is queued for up to a few seconds, writes the
    /// positions file.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.manager.await;
    }
}

async fn run(
    jobs: Vec<Job>,
    context: TailerContext,
    clients: Clients,
    sync_period: Duration,
    positions_sync_period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut running: BTreeMap<PathBuf, Running> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    let (drain_stop, drain_stop_receiver) = watch::channel(false);
    let mut last_persist = tokio::time::Instant::now();
    // A permit is stored while a sync runs, so a burst of publications costs one sync.
    let discovery_changed = Arc::new(Notify::new());
    let mut discovery_watchers = JoinSet::new();
    for job in &jobs {
        let mut watcher = job.discovery.watcher();
        let discovery_changed = Arc::clone(&discovery_changed);
        discovery_watchers.spawn(async move {
            while watcher.changed().await {
                discovery_changed.notify_one();
            }
        });
    }
    loop {
        let desired = desired_targets(&jobs);
        running.retain(|path, target| {
            let keep = desired
                .get(path)
                .is_some_and(|(job, spec)| *job == target.job && spec.labels == target.labels);
            if !keep {
                let _ = target.stop.send(true);
            }
            keep
        });
        for (path, (job, spec)) in &desired {
            if running.contains_key(path) {
                continue;
            }
            let (target_stop, target_stop_receiver) = watch::channel(false);
            tasks.spawn(tailer::follow(
                path.clone(),
                spec.clone(),
                context.clone(),
                target_stop_receiver,
            ));
            running.insert(
                path.clone(),
                Running {
                    job: job.clone(),
                    labels: spec.labels.clone(),
                    stop: target_stop,
                },
            );
        }
        let owned = |path: &Path| desired.contains_key(path);
        for located in context.positions.locate_orphans(&owned) {
            let Some((_, spec)) = desired.get(&located.label_path) else {
                context.positions.release(located.id);
                continue;
            };
            tracing::info!(
                path = %located.label_path.display(),
                found_at = %located.found_at.display(),
                "unread lines of a rotated file"
            );
            tasks.spawn(tailer::drain(
                located.file,
                located.id,
                located.offset,
                located.label_path,
                spec.clone(),
                context.clone(),
                drain_stop_receiver.clone(),
            ));
        }
        while tasks.try_join_next().is_some() {}
        if last_persist.elapsed() >= positions_sync_period {
            persist(&context.positions).await;
            last_persist = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = tokio::time::sleep(sync_period) => {}
            _ = discovery_changed.notified() => {}
            _ = stop.changed() => break,
        }
    }
    discovery_watchers.abort_all();
    drop(jobs);
    for target in running.values() {
        let _ = target.stop.send(true);
    }
    let _ = drain_stop.send(true);
    // Tailers waiting for buffer room give up at once.
    let grace = Duration::from_secs(5);
    let positions = context.positions.clone();
    drop(context);
    let tailers_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, tailers_done).await.is_err() {
        clients.close_budgets();
        while tasks.join_next().await.is_some() {}
    }
    clients.shutdown(grace).await;
    persist(&positions).await;
}

async fn persist(positions: &Positions) {
    if let Err(error) = positions.persist().await {
        metrics::counter!(POSITIONS_WRITE_ERRORS_TOTAL).increment(1);
        tracing::error!(%error, "cannot write the positions file");
    }
}

/// Every path to follow, with its job and spec; a path claimed by two targets goes
/// to the first.
fn desired_targets(jobs: &[Job]) -> BTreeMap<PathBuf, (String, TargetSpec)> {
    let mut desired = BTreeMap::new();
    for job in jobs {
        let groups = job.discovery.groups();
        add_job_targets(&mut desired, &job.config, &job.pipeline, &groups);
    }
    desired
}

/// Adds the paths of one job's discovered `groups` (relabeled, `__path__` expanded,
/// `__path_exclude__` left out) to `desired`, keeping paths already there.
fn add_job_targets(
    desired: &mut BTreeMap<PathBuf, (String, TargetSpec)>,
    config: &LogScrapeConfig,
    pipeline: &Pipeline,
    groups: &[TargetGroup],
) {
    for group in groups {
        for target_labels in targets_of(group) {
            let Some(labels) = relabel(&target_labels, &config.relabel_configs) else {
                continue;
            };
            let pattern = labels.get(PATH_LABEL);
            if pattern.is_empty() {
                metrics::counter!(TARGETS_INVALID_TOTAL, "job" => config.job_name.clone())
                    .increment(1);
                continue;
            }
            let exclude = labels.get(PATH_EXCLUDE_LABEL).to_owned();
            let public: BTreeMap<String, String> = labels
                .without_reserved()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            for path in glob::expand(pattern) {
                if !exclude.is_empty() && glob::path_matches(&exclude, &path) {
                    continue;
                }
                desired.entry(path).or_insert_with(|| {
                    (
                        config.job_name.clone(),
                        TargetSpec {
                            labels: public.clone(),
                            pipeline: pipeline.clone(),
                        },
                    )
                });
            }
        }
    }
}

/// Each target's labels: the group's, then the target's own. A group without
/// targets stands for one target with the group's labels; one without labels either
/// (what discovery publishes for, e.g., a Kubernetes pod without an IP yet) for none.
fn targets_of(group: &TargetGroup) -> Vec<Labels> {
    if group.targets.is_empty() && group.labels.is_empty() {
        return Vec::new();
    }
    let base: Labels = group
        .labels
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if group.targets.is_empty() {
        return vec![base];
    }
    group
        .targets
        .iter()
        .map(|target| {
            let mut labels = base.clone();
            for (name, value) in target {
                labels.set(name.clone(), value.clone());
            }
            labels
        })
        .collect()
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
