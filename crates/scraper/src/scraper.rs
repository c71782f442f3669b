//! [`Scraper`]: every scrape pool of a configuration, reloadable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use weft_model::{SpanSink, TenantId};
use weft_scrape_config::offset::offset_seed;
use weft_scrape_config::{Config, ConfigError, Labels};

use crate::coalesce::{CoalescingLimits, CoalescingSink};
use crate::cursor_store::{CursorStore, CursorStoreError};
use crate::discovery::DiscoveryOptions;
use crate::http_client::HttpClient;
use crate::pool::{ActiveTargetView, PoolSettings, ScrapePool};

/// Body size limit when a job sets none (`body_size_limit: 0`): 16 MiB.
pub const DEFAULT_BODY_SIZE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// Settings of the scraper that are not in the Prometheus configuration.
#[derive(Clone, Debug)]
pub struct ScraperOptions {
    /// Directory of the cursor file (created if missing).
    pub cursor_directory: PathBuf,
    /// Tenant the scraped spans are stored under. Default: the single tenant.
    pub tenant: TenantId,
    /// This host's name, hashed with the external labels into the seed that spreads
    /// scrapes over the interval (as Prometheus's `setOffsetSeed`). Default: the
    /// `HOSTNAME` environment variable, or empty.
    pub hostname: String,
    /// Discovery settings (file poll interval, DNS name servers).
    pub discovery: DiscoveryOptions,
    /// Each wait between two scrapes of a target is drawn uniformly from
    /// `scrape_interval x (1 ± interval_jitter)` instead of being exactly the interval
    /// (the first scrape still waits Prometheus's offset). In `[0, 1)`; default 0.
    /// For testing that irregular pulls lose nothing, and for clients that must not be
    /// scraped in lockstep.
    pub interval_jitter: f64,
    /// How the batches of concurrent scrapes are gathered into one push into the sink
    /// ([`CoalescingSink`]). Default: [`CoalescingLimits::default`].
    pub coalescing: CoalescingLimits,
}

impl ScraperOptions {
    /// Defaults with cursors in `cursor_directory`.
    pub fn new(cursor_directory: impl Into<PathBuf>) -> Self {
        Self {
            cursor_directory: cursor_directory.into(),
            tenant: TenantId::single(),
            hostname: std::env::var("HOSTNAME").unwrap_or_default(),
            discovery: DiscoveryOptions::default(),
            interval_jitter: 0.0,
            coalescing: CoalescingLimits::default(),
        }
    }
}

/// Why the scraper could not start or refused a reload. On a refused reload the
/// running configuration is kept.
#[derive(Debug, thiserror::Error)]
pub enum ScraperError {
    /// The configuration file does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A job's HTTP client cannot be built (unreadable CA file, unsupported option).
    #[error("scrape_configs job {job:?}: {message}")]
    HttpClient {
        /// The job.
        job: String,
        /// What is wrong.
        message: String,
    },
    /// The cursor store cannot be opened.
    #[error(transparent)]
    CursorStore(#[from] CursorStoreError),
}

/// Scrapes every target of a configuration into a [`SpanSink`]. Cheap to clone (all
/// clones are the same scraper); safe to use from many tasks.
#[derive(Clone)]
pub struct Scraper {
    inner: Arc<ScraperInner>,
}

struct ScraperInner {
    options: ScraperOptions,
    sink: Arc<dyn SpanSink>,
    store: Arc<CursorStore>,
    pools: Mutex<BTreeMap<String, ScrapePool>>,
    /// Serialises reloads and shutdown (held across their awaits).
    reload_lock: tokio::sync::Mutex<Config>,
}

impl Scraper {
    /// Opens the cursor store and starts a scrape pool per job. Must be called within
    /// a Tokio runtime (it spawns tasks).
    pub async fn start(
        config: Config,
        sink: Arc<dyn SpanSink>,
        options: ScraperOptions,
    ) -> Result<Self, ScraperError> {
        let directory = options.cursor_directory.clone();
        let store = tokio::task::spawn_blocking(move || CursorStore::open(&directory))
            .await
            .map_err(|error| CursorStoreError::Io {
                path: options.cursor_directory.clone(),
                source: std::io::Error::other(error.to_string()),
            })??;
        let clients = build_clients(&config)?;
        let sink: Arc<dyn SpanSink> = Arc::new(CoalescingSink::start(sink, options.coalescing));
        let scraper = Self {
            inner: Arc::new(ScraperInner {
                options,
                sink,
                store: Arc::new(store),
                pools: Mutex::new(BTreeMap::new()),
                reload_lock: tokio::sync::Mutex::new(Config::default()),
            }),
        };
        scraper.apply(config, clients).await;
        Ok(scraper)
    }

    /// Loads `path` and applies it (see [`Scraper::reload`]); a file that does not
    /// load is refused and the running configuration kept. For `SIGHUP` and
    /// `POST /-/reload`.
    pub async fn reload_from_file(&self, path: &Path) -> Result<(), ScraperError> {
        let path = path.to_owned();
        let config = tokio::task::spawn_blocking(move || Config::load_file(&path))
            .await
            .map_err(|error| {
                ScraperError::Config(ConfigError::Invalid {
                    source_name: String::from("<reload>"),
                    line: None,
                    column: None,
                    message: error.to_string(),
                })
            })??;
        self.reload(config).await
    }

    /// Swaps in `config`: jobs whose scrape config (and offset seed) is unchanged keep
    /// running untouched; changed and removed jobs are stopped (scrapes in progress
    /// finish first) before changed and new ones start. Every target resumes from its
    /// cursor when its pool, public labels and scrape URL are unchanged (a changed
    /// interval or timeout included; see [`crate::cursor_store`]). Refused, with the
    /// running configuration kept, when a job's HTTP client cannot be built.
    pub async fn reload(&self, config: Config) -> Result<(), ScraperError> {
        let clients = build_clients(&config)?;
        self.apply(config, clients).await;
        Ok(())
    }

    /// Stops every pool, waiting for scrapes in progress to store their spans and
    /// cursors.
    pub async fn shutdown(&self) {
        let mut current = self.inner.reload_lock.lock().await;
        let pools = std::mem::take(&mut *self.lock_pools());
        for (_, pool) in pools {
            pool.stop().await;
        }
        *current = Config::default();
    }

    /// The configuration in force.
    pub async fn config(&self) -> Config {
        self.inner.reload_lock.lock().await.clone()
    }

    /// Every active target, by scrape pool name.
    pub fn active_targets(&self) -> Vec<ActiveTargetView> {
        self.lock_pools()
            .values()
            .flat_map(ScrapePool::active_targets)
            .collect()
    }

    /// Discovered labels of every target relabeling dropped, with their pool name.
    pub fn dropped_targets(&self) -> Vec<(String, Labels)> {
        self.lock_pools()
            .iter()
            .flat_map(|(name, pool)| {
                pool.dropped_targets()
                    .into_iter()
                    .map(move |labels| (name.clone(), labels))
            })
            .collect()
    }

    async fn apply(&self, config: Config, mut clients: BTreeMap<String, Arc<HttpClient>>) {
        let mut current = self.inner.reload_lock.lock().await;
        let seed = offset_seed(&self.inner.options.hostname, &config.global.external_labels);
        // Unchanged pools stay in the map (and in the targets API) throughout; changed
        // and removed ones leave it, and are stopped before their successors start:
        // two loops on one target would scrape it twice.
        let retired: Vec<ScrapePool> = {
            let mut pools = self.lock_pools();
            let changed: Vec<String> = pools
                .iter()
                .filter(|(name, pool)| {
                    config
                        .job(name)
                        .is_none_or(|job| pool.config() != job || pool.offset_seed() != seed)
                })
                .map(|(name, _)| name.clone())
                .collect();
            changed
                .iter()
                .filter_map(|name| pools.remove(name))
                .collect()
        };
        for pool in retired {
            pool.stop().await;
        }
        for job in &config.scrape_configs {
            if self.lock_pools().contains_key(&job.job_name) {
                continue;
            }
            let Some(client) = clients.remove(&job.job_name) else {
                continue;
            };
            let limit = match job.limits.body_size_limit.0 {
                0 => DEFAULT_BODY_SIZE_LIMIT_BYTES,
                limit => limit,
            };
            let settings = PoolSettings {
                config: Arc::new(job.clone()),
                client,
                sink: Arc::clone(&self.inner.sink),
                tenant: self.inner.options.tenant.clone(),
                store: Arc::clone(&self.inner.store),
                offset_seed: seed,
                body_size_limit_bytes: limit,
                interval_jitter: self.inner.options.interval_jitter,
            };
            let pool = ScrapePool::start(settings, &self.inner.options.discovery);
            self.lock_pools().insert(job.job_name.clone(), pool);
        }
        *current = config;
    }

    fn lock_pools(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ScrapePool>> {
        self.inner
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn build_clients(config: &Config) -> Result<BTreeMap<String, Arc<HttpClient>>, ScraperError> {
    config
        .scrape_configs
        .iter()
        .map(|job| {
            HttpClient::new(&job.http_client)
                .map(|client| (job.job_name.clone(), Arc::new(client)))
                .map_err(|message| ScraperError::HttpClient {
                    job: job.job_name.clone(),
                    message,
                })
        })
        .collect()
}
