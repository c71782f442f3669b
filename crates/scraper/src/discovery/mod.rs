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
//!   server (`api_server`, or in-cluster). `kubeconfig_file` and most of
//!   `attach_metadata` are refused at load ([`kubernetes::check_supported`]).
//!
//! A refresh that fails keeps the provider's previous groups, as in Prometheus.

pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
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

/// The running providers of one scrape config. Dropping it stops them.
pub(crate) struct Discovery {
    tasks: Vec<JoinHandle<()>>,
    /// Every provider's current groups, one slot per provider.
    pub(crate) groups: watch::Receiver<Vec<Vec<TargetGroup>>>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        // Providers hold no state worth finishing: aborting is a clean stop.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the providers of `config`. Must be called within a Tokio runtime.
pub(crate) fn start(config: &ScrapeConfig, options: &DiscoveryOptions) -> Discovery {
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
