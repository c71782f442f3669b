//! What the scraper knows about each target, for the targets API.

use std::time::{Duration, SystemTime};

/// Prometheus's target health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetHealth {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape stored its spans and persisted the cursor.
    Up,
    /// The last scrape failed; see [`TargetStatus::last_error`].
    Down,
}

impl TargetHealth {
    /// `"unknown"`, `"up"` or `"down"`, as in Prometheus's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// The outcome of a target's scrapes so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetStatus {
    /// Health after the last scrape.
    pub health: TargetHealth,
    /// Why the last scrape failed; empty when it did not.
    pub last_error: String,
    /// When the last scrape started; `None` before the first.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took, fetch, decode, store and cursor write included.
    pub last_scrape_duration: Duration,
    /// Spans stored by the last scrape divided by the time since the scrape before it
    /// (the scrape interval for the first); 0 after a failed scrape.
    pub spans_per_second: f64,
    /// Sum of `Weft-Dropped` over this loop's successful scrapes: spans the client
    /// evicted before this scraper read them (since this loop started; the counter
    /// `weft_scrape_spans_dropped_by_client_total` keeps the process-wide total).
    pub dropped_spans: u64,
}
