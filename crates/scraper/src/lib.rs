//! The server side of weft's pull collection: discover targets, scrape the span
//! buffers of instrumented processes with a cursor, store the spans through a
//! [`weft_model::SpanSink`], and report targets as Prometheus does.
//!
//! The configuration is a Prometheus file's `scrape_configs` (parsed, relabeled and
//! turned into targets by `weft-scrape-config`, with Prometheus's exact semantics).
//!
//! * [`Scraper`]: [`Scraper::start`] a configuration with a sink and
//!   [`ScraperOptions`]; [`Scraper::reload`] / [`Scraper::reload_from_file`] swap the
//!   configuration (a bad one is refused and the running one kept);
//!   [`Scraper::shutdown`] stops after scrapes in progress.
//! * [`discovery`]: static, file, HTTP, DNS and Kubernetes (every role; list and
//!   watch, Prometheus's `__meta_kubernetes_*` labels)
//!   service discovery at run time; [`Discovery`] runs it for any
//!   [`DiscoveryConfig`], not only a scrape pool's (`weft agent`'s log tailer uses it).
//! * [`protocol`]: the scrape protocol's query parameters and headers.
//! * `scrape_loop` (internal): per-target loop — first scrape at Prometheus's offset,
//!   then every `scrape_interval`, bounded by `scrape_timeout` and the body size
//!   limit; the cursor advances only after the sink accepted the spans.
//! * [`coalesce`]: the batches of concurrent scrapes stored through one
//!   [`weft_model::SpanSink::push_batches`] call, each scrape answered for its own.
//! * [`enrich`]: target labels as resource attributes, `service.name` from `job`.
//! * [`cursor_store`]: cursors in one JSON file, written atomically.
//! * [`targets_api`]: Prometheus's `/api/v1/targets` shape plus `spansPerSecond` and
//!   `droppedSpans`, and an axum handler for it.
//!
//! Metrics (`metrics` crate), each labelled `job` and `instance`:
//! `weft_scrape_spans_total` (spans stored), `weft_scrape_spans_dropped_by_client_total`
//! (`Weft-Dropped`: spans the client evicted unread), `weft_scrape_spans_invalid_total`
//! (spans with bad ids skipped by the decoder), `weft_scrape_spans_rejected_total`
//! (spans the sink refused by a per-span limit); and
//! `weft_scrape_sd_refresh_failures_total{mechanism}`.
//!
//! Wiring, for the app:
//!
//! ```no_run
//! # async fn wire(sink: std::sync::Arc<dyn weft_model::SpanSink>) -> Result<(), Box<dyn std::error::Error>> {
//! use weft_scraper::{Scraper, ScraperOptions};
//! let path = std::path::Path::new("scrape.yml");
//! let config = weft_scrape_config::Config::load_file(path)?;
//! let scraper = Scraper::start(config, sink, ScraperOptions::new("/var/lib/weft/scrape")).await?;
//! let router: axum::Router = axum::Router::new()
//!     .route("/api/scrape/targets", axum::routing::get(weft_scraper::targets_api::targets_handler))
//!     .with_state(scraper.clone());
//! // On SIGHUP or POST /-/reload:
//! scraper.reload_from_file(path).await?;
//! # drop(router);
//! scraper.shutdown().await;
//! # Ok(()) }
//! ```

pub mod coalesce;
pub mod cursor_store;
pub mod discovery;
pub mod enrich;
mod http_client;
mod pool;
pub mod protocol;
mod scrape_loop;
mod scraper;
mod status;
pub mod targets_api;

pub use discovery::{Discovery, DiscoveryConfig, DiscoveryOptions, DiscoveryWatcher};
pub use pool::ActiveTargetView;
pub use scraper::{DEFAULT_BODY_SIZE_LIMIT_BYTES, Scraper, ScraperError, ScraperOptions};
pub use status::{TargetHealth, TargetStatus};
