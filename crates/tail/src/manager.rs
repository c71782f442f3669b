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
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use weft_scrape_config::TargetGroup;

    use super::add_job_targets;
    use crate::config::{LogScrapeConfig, TailConfig};
    use crate::pipeline::Pipeline;
    use crate::tailer::TargetSpec;

    /// The first scrape config of `scrape_yaml` (one `scrape_configs` entry), validated.
    fn scrape_config(scrape_yaml: &str) -> LogScrapeConfig {
        let yaml = format!(
            "clients: [{{url: 'http://localhost:3100/loki/api/v1/push'}}]\nscrape_configs:\n{scrape_yaml}"
        );
        let mut config: TailConfig = serde_saphyr::from_str(&yaml).expect("config parses");
        config.validate().expect("config is valid");
        config.scrape_configs.remove(0)
    }

    fn group(labels: &[(&str, &str)], targets: &[&str]) -> TargetGroup {
        TargetGroup {
            targets: targets
                .iter()
                .map(|address| BTreeMap::from([(String::from("__address__"), address.to_string())]))
                .collect(),
            labels: labels
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            source: String::from("test:0"),
        }
    }

    fn desired(
        config: &LogScrapeConfig,
        groups: &[TargetGroup],
    ) -> BTreeMap<PathBuf, (String, TargetSpec)> {
        let pipeline =
            Pipeline::compile(&config.pipeline_stages, &config.job_name).expect("pipeline");
        let mut desired = BTreeMap::new();
        add_job_targets(&mut desired, config, &pipeline, groups);
        desired
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "line\n").expect("write");
    }

    /// Promtail's Kubernetes pod recipe: the path comes from the pod uid and container
    /// name, the stream labels from other `__meta_kubernetes_*` labels, and no `__meta`
    /// label reaches the stream.
    #[test]
    fn kubernetes_pod_meta_labels_build_the_path_and_the_stream_labels() {
        let root = tempfile::tempdir().expect("tempdir");
        let pods = root.path().join("pods");
        let api_log = pods.join("shop_api-7d9_uid-1/api/0.log");
        let sidecar_log = pods.join("shop_api-7d9_uid-1/sidecar/0.log");
        let other_pod_log = pods.join("shop_web-1_uid-2/web/0.log");
        for path in [&api_log, &sidecar_log, &other_pod_log] {
            touch(path);
        }
        let config = scrape_config(&format!(
            r#"
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{{role: pod, api_server: "https://127.0.0.1:6443"}}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]
        separator: /
        target_label: __path__
        replacement: {pods}/*$1/*.log
      - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
      - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
      - {{source_labels: [__meta_kubernetes_pod_container_name], target_label: container}}
"#,
            pods = pods.display()
        ));
        let pod = |container: &str| {
            group(
                &[
                    ("__meta_kubernetes_namespace", "shop"),
                    ("__meta_kubernetes_pod_name", "api-7d9"),
                    ("__meta_kubernetes_pod_uid", "uid-1"),
                    ("__meta_kubernetes_pod_container_name", container),
                ],
                &["10.0.0.7:8080"],
            )
        };
        let desired = desired(&config, &[pod("api"), pod("sidecar")]);
        assert_eq!(
            desired.keys().cloned().collect::<Vec<_>>(),
            vec![api_log.clone(), sidecar_log]
        );
        let (job, spec) = &desired[&api_log];
        assert_eq!(job, "kubernetes-pods");
        let expected: BTreeMap<String, String> = [
            ("container", "api"),
            ("namespace", "shop"),
            ("pod", "api-7d9"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(spec.labels, expected);
    }

    /// Groups of several providers are one union; a path two targets match goes to the
    /// first, `__path_exclude__` still applies, and a target without `__path__` after
    /// relabeling is skipped.
    #[test]
    fn groups_of_every_provider_are_tailed_with_their_discovered_labels() {
        let root = tempfile::tempdir().expect("tempdir");
        for name in ["a.log", "b.log", "skip.log"] {
            touch(&root.path().join(name));
        }
        let config = scrape_config(&format!(
            r#"
  - job_name: discovered
    http_sd_configs: [{{url: "http://127.0.0.1:1/targets"}}]
    dns_sd_configs: [{{names: [logs.example.org], type: A, port: 80}}]
    relabel_configs:
      - {{source_labels: [__meta_app], regex: "(.+)", target_label: __path__, replacement: "{root}/$1.log"}}
      - {{source_labels: [__meta_app], target_label: app}}
      - {{source_labels: [__meta_exclude], regex: "(.+)", target_label: __path_exclude__, replacement: "{root}/$1.log"}}
"#,
            root = root.path().display()
        ));
        let from_http = group(&[("__meta_app", "a"), ("team", "payments")], &["x:1"]);
        let from_dns = group(&[("__meta_app", "b")], &["10.0.0.1:80"]);
        let claims_a_again = group(&[("__meta_app", "a"), ("team", "other")], &["y:1"]);
        let excluded = group(
            &[("__meta_app", "skip"), ("__meta_exclude", "skip")],
            &["z:1"],
        );
        let without_path = group(&[("team", "no-path")], &["w:1"]);
        let desired = desired(
            &config,
            &[from_http, from_dns, claims_a_again, excluded, without_path],
        );
        let paths: Vec<PathBuf> = desired.keys().cloned().collect();
        assert_eq!(
            paths,
            vec![root.path().join("a.log"), root.path().join("b.log")]
        );
        let labels_of = |name: &str| desired[&root.path().join(name)].1.labels.clone();
        assert_eq!(
            labels_of("a.log").get("team").map(String::as_str),
            Some("payments")
        );
        assert_eq!(labels_of("a.log").get("app").map(String::as_str), Some("a"));
        assert_eq!(labels_of("b.log").get("app").map(String::as_str), Some("b"));
        assert!(
            labels_of("b.log")
                .keys()
                .all(|name| !name.starts_with("__"))
        );
    }

    /// A group without targets is one target with its labels, unless it has no labels
    /// either (a Kubernetes pod without an IP yet): then it is none, not an invalid
    /// target.
    #[test]
    fn a_group_without_targets_or_labels_is_no_target() {
        assert_eq!(super::targets_of(&group(&[], &[])).len(), 0);
        let only_labels = super::targets_of(&group(&[("__path__", "/x/*.log")], &[]));
        assert_eq!(only_labels.len(), 1);
        assert_eq!(only_labels[0].get("__path__"), "/x/*.log");
    }

    /// A target gone from discovery is gone from the desired paths (its follower is
    /// then stopped by the sync).
    #[test]
    fn a_group_gone_from_discovery_leaves_the_desired_paths() {
        let root = tempfile::tempdir().expect("tempdir");
        touch(&root.path().join("a.log"));
        touch(&root.path().join("b.log"));
        let config = scrape_config(&format!(
            r#"
  - job_name: discovered
    http_sd_configs: [{{url: "http://127.0.0.1:1/targets"}}]
    relabel_configs:
      - {{source_labels: [__meta_app], target_label: __path__, replacement: "{root}/$1.log"}}
"#,
            root = root.path().display()
        ));
        let a = group(&[("__meta_app", "a")], &["x:1"]);
        let b = group(&[("__meta_app", "b")], &["x:2"]);
        assert_eq!(desired(&config, &[a.clone(), b]).len(), 2);
        let after = desired(&config, &[a]);
        assert_eq!(
            after.keys().cloned().collect::<Vec<_>>(),
            vec![root.path().join("a.log")]
        );
    }
}
