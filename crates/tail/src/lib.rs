//! Log tailing for `weft agent`: files found by glob from targets of the span
//! scraper's service discovery (static, file, HTTP, DNS and Kubernetes, run by
//! weft-scraper's `Discovery`),
//! read as they grow and across rotations, run through Promtail's pipeline stages
//! and shipped to Loki push APIs (weft's `--loki.listen` or a real Loki), with each
//! file's position committed only after every client acknowledged its lines.
//!
//! - [`config`]: the `logs` section in Promtail's shape (`positions`, `clients`,
//!   `scrape_configs` with `static_configs`, `file_sd_configs`, `http_sd_configs`,
//!   `dns_sd_configs`, `kubernetes_sd_configs`, `relabel_configs` and
//!   `pipeline_stages`). Relabeling is weft-scrape-config's Prometheus
//!   implementation, as for the span scraper, and sees the discovered `__meta_*`
//!   labels.
//! - [`glob`]: `__path__` globs with `**`; compressed rotated files never match.
//! - [`lines`]: bytes to lines (`\n`, CRLF trimmed, UTF-8 repaired, long lines cut,
//!   partial last lines held).
//! - [`positions`]: positions keyed by device + inode + a fingerprint of the first
//!   KiB, so renames are followed and truncation, copies and inode reuse recognised;
//!   written atomically.
//! - [`pipeline`]: the stages (`cri`, `docker`, `json`, `logfmt`, `regex`,
//!   `multiline`, `timestamp`, `labels`, `structured_metadata`, `static_labels`,
//!   `labeldrop`, `labelallow`, `drop`, `limit`, `output`, `template`).
//! - [`record`] and [`client`]: batches as snappy protobuf `logproto.PushRequest`
//!   (weft-logs' message types), retries with backoff, byte-bounded buffers that
//!   stop the readers instead of dropping lines.
//! - [`TailService`] runs it all; [`metrics`] names what it exports.

pub mod client;
pub mod config;
pub mod glob;
pub mod lines;
mod manager;
pub mod metrics;
pub mod pipeline;
pub mod positions;
pub mod record;
mod tailer;

pub use config::{TailConfig, TailConfigError};
pub use manager::{PATH_EXCLUDE_LABEL, PATH_LABEL, TailError, TailService};
