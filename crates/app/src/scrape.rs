//! The scraper role in `weft serve`: pull collection from targets found through
//! Prometheus `scrape_configs` (`--scrape.config-file`), reloaded on SIGHUP and on
//! `POST /-/reload`, with `GET /api/scrape/targets` in Prometheus's shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use weft_model::SpanSink;
use weft_scraper::coalesce::CoalescingLimits;
use weft_scraper::{Scraper, ScraperOptions};

/// The `scrape` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeSection {
    /// A Prometheus configuration file whose `scrape_configs` name the targets to pull
    /// spans from (`docs/pull-protocol.md`); empty: no scraping.
    pub config_file: String,
    /// Where scrape cursors are kept; empty: `<storage.path>/scrape`.
    pub cursor_directory: String,
    /// Spreads each wait between two scrapes of a target uniformly over
    /// `scrape_interval x (1 ± interval_jitter)`, in `[0, 1)`; 0 (the default) scrapes
    /// at exactly the interval, as Prometheus does.
    pub interval_jitter: f64,
    /// Longest a scraped batch waits for the batches of other scrapes to be stored with
    /// it in one push (one write-ahead log record, one head insert); default 5ms. Every
    /// scrape still waits for its own batch to be durable before its cursor advances.
    #[serde(with = "humantime_serde")]
    pub coalesce_max_delay: Duration,
    /// A combined push takes no further batch once it holds this many spans; default
    /// 10000. 1 stores every scrape's batch alone.
    pub coalesce_max_spans: usize,
    /// Combined pushes in progress at once; default 2.
    pub coalesce_max_pushes: usize,
}

impl Default for ScrapeSection {
    fn default() -> Self {
        let coalescing = CoalescingLimits::default();
        Self {
            config_file: String::new(),
            cursor_directory: String::new(),
            interval_jitter: 0.0,
            coalesce_max_delay: coalescing.max_delay,
            coalesce_max_spans: coalescing.max_spans_per_push,
            coalesce_max_pushes: coalescing.max_concurrent_pushes,
        }
    }
}

/// Starts the scraper when a config file is given; its spans go to `sink`.
pub(crate) async fn start(
    section: &ScrapeSection,
    storage_path: &Path,
    sink: Arc<dyn SpanSink>,
) -> anyhow::Result<Option<Scraper>> {
    if section.config_file.is_empty() {
        return Ok(None);
    }
    if !(0.0..1.0).contains(&section.interval_jitter) {
        anyhow::bail!(
            "invalid scrape.interval_jitter {}: must be at least 0 and below 1",
            section.interval_jitter
        );
    }
    if section.coalesce_max_pushes == 0 {
        anyhow::bail!("invalid scrape.coalesce_max_pushes 0: must be at least 1");
    }
    let file = PathBuf::from(&section.config_file);
    let config = weft_scrape_config::Config::load_file(&file)
        .with_context(|| format!("invalid --scrape.config-file {}", file.display()))?;
    let cursors = if section.cursor_directory.is_empty() {
        storage_path.join("scrape")
    } else {
        PathBuf::from(&section.cursor_directory)
    };
    let mut options = ScraperOptions::new(cursors);
    options.interval_jitter = section.interval_jitter;
    options.coalescing = CoalescingLimits {
        max_delay: section.coalesce_max_delay,
        max_spans_per_push: section.coalesce_max_spans,
        max_concurrent_pushes: section.coalesce_max_pushes,
    };
    let scraper = Scraper::start(config, sink, options)
        .await
        .with_context(|| format!("cannot start scraping from {}", file.display()))?;
    tracing::info!(file = %file.display(), "scraping spans");
    Ok(Some(scraper))
}

/// `GET /api/scrape/targets` and `POST /-/reload` (answered 200, or 500 with the reason
/// when the file is refused and the running configuration kept). Without a scraper the
/// targets are empty and a reload says there is nothing to reload.
pub(crate) fn router(scraper: Option<Scraper>, file: String) -> axum::Router {
    let reload_scraper = scraper.clone();
    let targets = get(move |query: Query<HashMap<String, String>>| {
        let scraper = scraper.clone();
        async move {
            match scraper {
                Some(scraper) => weft_scraper::targets_api::targets_handler(State(scraper), query)
                    .await
                    .into_response(),
                None => Json(serde_json::json!({
                    "status": "success",
                    "data": {"activeTargets": [], "droppedTargets": []},
                }))
                .into_response(),
            }
        }
    });
    axum::Router::new()
        .route("/api/scrape/targets", targets)
        .route(
            "/-/reload",
            post(move || {
                let scraper = reload_scraper.clone();
                let file = file.clone();
                async move { reload(scraper.as_ref(), &file).await }
            }),
        )
}

async fn reload(scraper: Option<&Scraper>, file: &str) -> (StatusCode, String) {
    let Some(scraper) = scraper else {
        return (
            StatusCode::OK,
            String::from("no --scrape.config-file: nothing to reload\n"),
        );
    };
    match scraper.reload_from_file(Path::new(file)).await {
        Ok(()) => {
            tracing::info!(file, "reloaded the scrape configuration");
            (StatusCode::OK, String::from("reloaded\n"))
        }
        Err(error) => {
            tracing::error!(%error, file, "keeping the running scrape configuration");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {error}\n"),
            )
        }
    }
}

/// Reloads on every SIGHUP until `stop`.
pub(crate) async fn reload_on_hangup(
    scraper: Scraper,
    file: String,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
        return;
    };
    loop {
        tokio::select! {
            _ = hangups.recv() => {
                let _ = reload(Some(&scraper), &file).await;
            }
            _ = stop.changed() => return,
        }
    }
}
