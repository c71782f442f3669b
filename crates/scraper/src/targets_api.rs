//! Prometheus's `/api/v1/targets` for the scraper, plus weft's per-target fields.
//!
//! Shape: `{"status":"success","data":{"activeTargets":[...],"droppedTargets":[...]}}`.
//! An active target has Prometheus's fields `discoveredLabels`, `labels`,
//! `scrapePool`, `scrapeUrl`, `globalUrl`, `lastError`, `lastScrape` (RFC 3339 with
//! nanoseconds, UTC; `0001-01-01T00:00:00Z` before the first scrape, as Go's zero
//! time), `lastScrapeDuration` (seconds), `health` (`up`, `down`, `unknown`),
//! `scrapeInterval` and `scrapeTimeout` (Prometheus durations), and weft's
//! `spansPerSecond` and `droppedSpans` ([`crate::TargetStatus`]). A dropped target has
//! `discoveredLabels`. `globalUrl` equals `scrapeUrl` (Prometheus rewrites loopback
//! hosts to its own host name there; weft does not know its external name).
//!
//! Query parameters, as Prometheus: `state=active|dropped|any` (default any) and
//! `scrapePool=<job>`.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use weft_scrape_config::Labels;

use crate::Scraper;
use crate::pool::ActiveTargetView;

/// The whole answer.
#[derive(Clone, Debug, Serialize)]
pub struct TargetsResponse {
    /// Always `success`.
    pub status: &'static str,
    /// The targets.
    pub data: TargetsData,
}

/// Active and dropped targets.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    /// Targets being scraped.
    pub active_targets: Vec<ActiveTargetJson>,
    /// Targets relabeling dropped.
    pub dropped_targets: Vec<DroppedTargetJson>,
}

/// One active target.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTargetJson {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// Final labels without `__` ones.
    pub labels: BTreeMap<String, String>,
    /// The job.
    pub scrape_pool: String,
    /// The URL scraped (without the cursor and max_bytes parameters).
    pub scrape_url: String,
    /// Same as `scrape_url`.
    pub global_url: String,
    /// Why the last scrape failed; empty otherwise.
    pub last_error: String,
    /// When the last scrape started, RFC 3339.
    pub last_scrape: String,
    /// Seconds the last scrape took.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: &'static str,
    /// The scrape interval, e.g. `15s`.
    pub scrape_interval: String,
    /// The scrape timeout, e.g. `10s`.
    pub scrape_timeout: String,
    /// Spans per second stored by the last scrape.
    pub spans_per_second: f64,
    /// Spans the client evicted before this scraper read them.
    pub dropped_spans: u64,
}

/// One dropped target.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTargetJson {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
}

/// Which targets to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetState {
    /// Active and dropped.
    #[default]
    Any,
    /// Active only.
    Active,
    /// Dropped only.
    Dropped,
}

/// The answer for `scraper`'s current targets, optionally of one scrape pool.
pub fn targets_response(
    scraper: &Scraper,
    state: TargetState,
    scrape_pool: Option<&str>,
) -> TargetsResponse {
    let pool_matches = |pool: &str| scrape_pool.is_none_or(|wanted| wanted == pool);
    let active_targets = if state == TargetState::Dropped {
        Vec::new()
    } else {
        scraper
            .active_targets()
            .into_iter()
            .filter(|view| pool_matches(&view.scrape_pool))
            .map(active_target_json)
            .collect()
    };
    let dropped_targets = if state == TargetState::Active {
        Vec::new()
    } else {
        scraper
            .dropped_targets()
            .into_iter()
            .filter(|(pool, _)| pool_matches(pool))
            .map(|(_, labels)| DroppedTargetJson {
                discovered_labels: label_map(&labels),
            })
            .collect()
    };
    TargetsResponse {
        status: "success",
        data: TargetsData {
            active_targets,
            dropped_targets,
        },
    }
}

/// Axum handler for `GET /api/scrape/targets` (`state`, `scrapePool` query
/// parameters; an unknown `state` lists everything, as Prometheus does).
pub async fn targets_handler(
    State(scraper): State<Scraper>,
    Query(parameters): Query<HashMap<String, String>>,
) -> Json<TargetsResponse> {
    let state = match parameters
        .get("state")
        .map(|state| state.to_ascii_lowercase())
    {
        Some(state) if state == "active" => TargetState::Active,
        Some(state) if state == "dropped" => TargetState::Dropped,
        _ => TargetState::Any,
    };
    let scrape_pool = parameters.get("scrapePool").map(String::as_str);
    Json(targets_response(&scraper, state, scrape_pool))
}

fn label_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn active_target_json(view: ActiveTargetView) -> ActiveTargetJson {
    ActiveTargetJson {
        discovered_labels: label_map(&view.target.discovered_labels),
        labels: label_map(&view.target.public_labels()),
        scrape_pool: view.scrape_pool,
        global_url: view.scrape_url.clone(),
        scrape_url: view.scrape_url,
        last_error: view.status.last_error,
        last_scrape: view
            .status
            .last_scrape
            .map_or_else(|| String::from("0001-01-01T00:00:00Z"), rfc3339_nanos),
        last_scrape_duration: view.status.last_scrape_duration.as_secs_f64(),
        health: view.status.health.as_str(),
        scrape_interval: view.target.scrape_interval.to_string(),
        scrape_timeout: view.target.scrape_timeout.to_string(),
        spans_per_second: view.status.spans_per_second,
        dropped_spans: view.status.dropped_spans,
    }
}

/// Go's `time.RFC3339Nano` in UTC: fraction without trailing zeros, omitted when zero.
pub(crate) fn rfc3339_nanos(time: SystemTime) -> String {
    // humantime always prints nine fraction digits; Go trims trailing zeros.
    let text = humantime::format_rfc3339_nanos(time).to_string();
    let without_zone = text.strip_suffix('Z').unwrap_or(&text);
    let trimmed = match without_zone.split_once('.') {
        Some((seconds, fraction)) => match fraction.trim_end_matches('0') {
            "" => seconds.to_owned(),
            fraction => format!("{seconds}.{fraction}"),
        },
        None => without_zone.to_owned(),
    };
    format!("{trimmed}Z")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_print_as_go_rfc3339_nano() {
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let time = UNIX_EPOCH + Duration::new(1_484_665_664, 723_715_400);
        assert_eq!(rfc3339_nanos(time), "2017-01-17T15:07:44.7237154Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_nanos(leap_day), "2000-02-29T00:00:00Z");
        let end_of_year = UNIX_EPOCH + Duration::new(1_767_225_599, 1);
        assert_eq!(rfc3339_nanos(end_of_year), "2025-12-31T23:59:59.000000001Z");
    }
}
