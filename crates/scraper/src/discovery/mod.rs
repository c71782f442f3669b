//! Service discovery at run time: each mechanism of a scrape config becomes a
//! provider task that publishes its current target groups; the scrape pool watches the
//! union.
//!
//! * `static_configs`: published once.
//! * `file_sd_configs` ([`file`](mod@file)): files re-read every `refresh_interval` and whenever
//!   a matched file's size or modification time changes, or the set of files matching
//!   a pattern changes (checked every [`DiscoveryOptions::file_poll_interval`]).
//! * `http_sd_configs` ([`http`]): polled every `refresh_interval`.
//! * `dns_sd_configs` ([`dns`]): SRV, A, AAAA, MX and NS queries every
//!   `refresh_interval`.
//! * `kubernetes_sd_configs` ([`kubernetes`]): every role (`pod`, `service`,
//!   `endpoints`, `endpointslice`, `node`, `ingress`), listed then watched on the API
//!   server (`api_server`, `kubeconfig_file`, or in-cluster), with every
//!   `attach_metadata` setting (`node`, `namespace`, `deployment`, `job`, `cronjob`).
//!
//! A refresh that fails keeps the provider's previous groups, as in Prometheus.
//!
//! [`Discovery::start`] runs the providers of a [`DiscoveryConfig`]: a scrape pool's,
//! or the log tailer's of `weft agent`, which relabels the same groups into files to
//! tail.

pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_scrape_config::config::{DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig};
use weft_scrape_config::{ScrapeConfig, TargetGroup};

/// Settings of discovery that are not in the Prometheus configuration.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// How often file SD checks its files for changes (in addition to re-reading them
    /// every `refresh_interval`). Default 1s.
    pub file_poll_interval: Duration,
    /// Name servers DNS SD queries (UDP), or `None` for the system's
    /// (`/etc/resolv.conf`). Default `None`.
    pub dns_name_servers: Option<Vec<SocketAddr>>,
    /// Kubernetes SD limits, retry backoff and service account directory.
    pub kubernetes: kubernetes::KubernetesOptions,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            file_poll_interval: Duration::from_secs(1),
            dns_name_servers: None,
            kubernetes: kubernetes::KubernetesOptions::default(),
        }
    }
}

/// The service discovery sections of one job, all [`Discovery::start`] needs: a
/// scrape config's ([`DiscoveryConfig::of_scrape_config`]) or any other user's (the
/// log tailer of `weft agent` builds one from its own `scrape_configs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiscoveryConfig {
    /// Groups published once, as written.
    pub static_configs: Vec<TargetGroup>,
    /// Target group files.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// HTTP endpoints serving target groups.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// DNS names.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Kubernetes API servers and roles.
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
}

impl DiscoveryConfig {
    /// The discovery sections of a scrape config.
    pub fn of_scrape_config(config: &ScrapeConfig) -> Self {
        Self {
            static_configs: config.static_configs.clone(),
            file_sd_configs: config.file_sd_configs.clone(),
            http_sd_configs: config.http_sd_configs.clone(),
            dns_sd_configs: config.dns_sd_configs.clone(),
            kubernetes_sd_configs: config.kubernetes_sd_configs.clone(),
        }
    }
}

/// Publishes one provider's groups into the pool's slot for it.
#[derive(Clone)]
pub(crate) struct Publisher {
    index: usize,
    sender: watch::Sender<Vec<Vec<TargetGroup>>>,
}

impl Publisher {
    /// Replaces this provider's groups (not sent when unchanged).
    pub(crate) fn publish(&self, groups: Vec<TargetGroup>) {
        self.sender.send_if_modified(|all| {
            if all[self.index] == groups {
                return false;
            }
            all[self.index] = groups;
            true
        });
    }
}

/// The running providers of one job. Dropping it stops them.
pub struct Discovery {
    tasks: Vec<JoinHandle<()>>,
    /// Every provider's current groups, one slot per provider (static groups first,
    /// then file, HTTP, DNS and Kubernetes providers in configuration order).
    groups: watch::Receiver<Vec<Vec<TargetGroup>>>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        // Providers hold no state worth finishing: aborting is a clean stop.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Discovery {
    /// Starts one provider per entry of `config`; the static groups are published at
    /// once, the others when their first refresh succeeds. Must be called within a
    /// Tokio runtime.
    pub fn start(config: &DiscoveryConfig, options: &DiscoveryOptions) -> Discovery {
        start(config, options)
    }

    /// The union of every provider's current groups, in provider order (static
    /// groups first); a group may appear under two providers.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.groups.borrow().iter().flatten().cloned().collect()
    }

    /// A handle woken by every publication after this call (read the groups with
    /// [`Discovery::groups`]); once this `Discovery` is dropped its `changed` ends.
    pub fn watcher(&self) -> DiscoveryWatcher {
        let mut groups = self.groups.clone();
        groups.mark_unchanged();
        DiscoveryWatcher { groups }
    }

    /// The receiver of the per-provider slots, marking the current value seen.
    pub(crate) fn receiver(&mut self) -> &mut watch::Receiver<Vec<Vec<TargetGroup>>> {
        &mut self.groups
    }
}

/// Waits for publications of a [`Discovery`] (see [`Discovery::watcher`]).
#[derive(Clone)]
pub struct DiscoveryWatcher {
    groups: watch::Receiver<Vec<Vec<TargetGroup>>>,
}

impl DiscoveryWatcher {
    /// Waits until a provider publishes groups that differ from its previous ones
    /// (seen since the last call); `false` once no provider can publish any more
    /// (only static groups, every provider stopped, or the `Discovery` dropped).
    pub async fn changed(&mut self) -> bool {
        self.groups.changed().await.is_ok()
    }
}

/// Starts the providers of `config`. Must be called within a Tokio runtime.
pub(crate) fn start(config: &DiscoveryConfig, options: &DiscoveryOptions) -> Discovery {
    let provider_count = 1
        + config.file_sd_configs.len()
        + config.http_sd_configs.len()
        + config.dns_sd_configs.len()
        + config.kubernetes_sd_configs.len();
    let mut initial = vec![Vec::new(); provider_count];
    initial[0] = config.static_configs.clone();
    let (sender, groups) = watch::channel(initial);
    let mut tasks = Vec::new();
    let mut next_index = 1;
    let mut publisher = || {
        let publisher = Publisher {
            index: next_index,
            sender: sender.clone(),
        };
        next_index += 1;
        publisher
    };
    for file_sd in &config.file_sd_configs {
        tasks.push(tokio::spawn(file::run(
            file_sd.clone(),
            options.file_poll_interval,
            publisher(),
        )));
    }
    for http_sd in &config.http_sd_configs {
        tasks.push(tokio::spawn(http::run(http_sd.clone(), publisher())));
    }
    for dns_sd in &config.dns_sd_configs {
        tasks.push(tokio::spawn(dns::run(
            dns_sd.clone(),
            options.dns_name_servers.clone(),
            publisher(),
        )));
    }
    for kubernetes_sd in &config.kubernetes_sd_configs {
        tasks.push(tokio::spawn(kubernetes::run(
            kubernetes_sd.clone(),
            options.kubernetes.clone(),
            publisher(),
        )));
    }
    Discovery { tasks, groups }
}

fn count_refresh_failure(mechanism: &'static str) {
    metrics::counter!("weft_scrape_sd_refresh_failures_total", "mechanism" => mechanism)
        .increment(1);
}
