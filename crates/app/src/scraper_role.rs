//! `weft scraper`: the scraper on its own, forwarding what it pulls over OTLP/gRPC to a
//! weft that stores it (`weft-forward`). Several of them can shard targets with
//! `hashmod`, or scrape the same targets for high availability: the storing weft keeps
//! one copy of each span (`weft_ingester`'s head drops copies at ingest).
//!
//! A target's cursor advances only after the receiving weft acknowledged the batch,
//! which it does after its WAL write, so a receiver that is down costs retries, not spans.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_model::SpanSink;

use crate::config::{ConfigError, ListenerConfig, LogSection};
use crate::lifecycle::{ShutdownSignals, bind, serve_http, until_stop_or_failure};
use crate::scrape::ScrapeSection;
use crate::settings::{self, Setting};
use crate::{config, observability};

/// Everything `weft scraper` reads: flags, `WEFT_*` variables and the YAML file, like
/// `weft serve`'s configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScraperConfig {
    /// `/api/scrape/targets`, `POST /-/reload`, `/metrics`, `/ready` (default
    /// `0.0.0.0:3210`).
    pub http: ListenerConfig,
    /// The Prometheus configuration to scrape (required) and the scrape settings.
    pub scrape: ScrapeSection,
    /// Where the cursors are kept when `scrape.cursor_directory` is empty:
    /// `<path>/scrape`.
    pub path: PathBuf,
    /// The weft (OTLP/gRPC) that stores the spans.
    pub forward: weft_forward::ForwardConfig,
    /// Process logs.
    pub log: LogSection,
}

impl Default for ScraperConfig {
    fn default() -> Self {
        ScraperConfig {
            http: ListenerConfig::on("0.0.0.0:3210"),
            scrape: ScrapeSection::default(),
            path: PathBuf::from("./weft-scraper"),
            forward: weft_forward::ForwardConfig::default(),
            log: LogSection::default(),
        }
    }
}

impl ScraperConfig {
    /// Every key as a flag and environment variable.
    pub fn settings() -> Vec<Setting> {
        let defaults = serde_json::to_value(ScraperConfig::default()).unwrap_or(Value::Null);
        settings::settings_of(&defaults)
    }

    /// Defaults, then the YAML file, then `overrides`; errors name the key.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(Setting, String)],
    ) -> Result<ScraperConfig, ConfigError> {
        config::load_tree(file, overrides)
    }
}

/// Runs the scraper until SIGTERM or Ctrl-C; a scrape in progress finishes its forward
/// and cursor write first.
pub async fn run_scraper(config: ScraperConfig) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install();
    observability::init_logging(&config.log)?;
    let metrics = observability::init_metrics()?;
    if config.scrape.config_file.is_empty() {
        anyhow::bail!("weft scraper needs --scrape.config-file: the targets to pull spans from");
    }
    let http = bind("http.listen", &config.http).await?;
    let forwarder = weft_forward::OtlpForwarder::new(&config.forward)
        .context("invalid forward configuration")?;
    let endpoint = forwarder.endpoint().to_owned();
    let sink: Arc<dyn SpanSink> = Arc::new(forwarder);
    let scraper = crate::scrape::start(&config.scrape, &config.path, sink)
        .await?
        .context("the scraper did not start")?;

    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut servers = JoinSet::new();
    if let Some(listener) = http {
        let router = weft_api::admin_router(metrics, Vec::new(), Arc::new(|| true)).merge(
            crate::scrape::router(Some(scraper.clone()), config.scrape.config_file.clone()),
        );
        servers.spawn(serve_http("http", listener, router, stop_receiver.clone()));
    }
    tokio::spawn(crate::scrape::reload_on_hangup(
        scraper.clone(),
        config.scrape.config_file.clone(),
        stop_receiver.clone(),
    ));
    tracing::info!(
        forward = %endpoint,
        config = %config.scrape.config_file,
        "weft scraper is ready"
    );
    let failure = until_stop_or_failure(&mut servers, &mut signals).await;
    scraper.shutdown().await;
    let _ = stop_sender.send(true);
    while servers.join_next().await.is_some() {}
    tracing::info!("weft scraper stopped");
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
