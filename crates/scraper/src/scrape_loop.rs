//! One target's scrape loop: wait the Prometheus offset, then scrape every
//! `scrape_interval` until stopped.
//!
//! A scrape: `GET` with the stored cursor, the whole request and body bounded by
//! `scrape_timeout` and the body by the body size limit; decode OTLP protobuf with the
//! target labels on its resources ([`crate::enrich`], each distinct resource decoded
//! and labelled once per loop); push to the [`SpanSink`]; only after it answers
//! `Ok`, count `Weft-Dropped` and advance and persist the cursor. Any failure marks the
//! target down with the reason and leaves the cursor where it was, so the same spans
//! are asked for again next time: nothing is lost, and nothing is stored twice unless
//! the sink stored a batch and then answered an error.
//!
//! The loop starts from the cursor stored for its pool and target hash, or else from
//! the most advanced one stored for its pool and target identity (public labels and
//! URL), so a reload changing only the interval or timeout does not re-read anything.
//!
//! When the client's `Weft-Instance` differs from the one the cursor belongs to, its
//! sequence numbers restarted: the answer is discarded and the target is scraped again
//! at once without a cursor (from the oldest span it holds).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::ACCEPT;
use tokio::sync::watch;
use weft_model::{SpanSink, TenantId};
use weft_scrape_config::labels::{INSTANCE_LABEL, JOB_LABEL};
use weft_scrape_config::offset::offset_from_now;
use weft_scrape_config::target::Target;

use crate::cursor_store::{CursorStore, StoredCursor};
use crate::enrich::LabelledResources;
use crate::http_client::{HttpClient, error_chain};
use crate::protocol::{ACCEPT_PROTOBUF, CURSOR_PARAMETER, MAX_BYTES_PARAMETER};
use crate::status::{TargetHealth, TargetStatus};

/// Everything one loop needs.
pub(crate) struct LoopContext {
    pub(crate) scrape_pool: String,
    pub(crate) target: Target,
    pub(crate) target_hash: u64,
    pub(crate) target_identity: u64,
    pub(crate) scrape_url: String,
    pub(crate) client: Arc<HttpClient>,
    pub(crate) body_size_limit_bytes: u64,
    pub(crate) sink: Arc<dyn SpanSink>,
    pub(crate) tenant: TenantId,
    pub(crate) store: Arc<CursorStore>,
    pub(crate) status: Arc<Mutex<TargetStatus>>,
    pub(crate) offset_seed: u64,
    /// [`crate::ScraperOptions::interval_jitter`].
    pub(crate) interval_jitter: f64,
}

/// The most body bytes reserved up front from a scrape answer's `Content-Length`.
const MAX_RESERVED_BODY_BYTES: u64 = 4 << 20;

/// A scrape answer, decoded.
type Fetched = weft_codec::pull::ScrapeResponse;

/// Waits `duration`; true when stopped meanwhile (or the stop sender is gone).
async fn stopped_during(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        _ = stop.changed() => true,
    }
}

/// Runs the loop until `stop` turns true. A scrape in progress is finished first, so
/// a stop never abandons spans between the sink's `Ok` and the cursor's persistence.
pub(crate) async fn run(context: LoopContext, mut stop: watch::Receiver<bool>) {
    let interval = context.target.scrape_interval.as_std();
    let first_wait = offset_from_now(interval, context.target_hash, context.offset_seed);
    if stopped_during(first_wait, &mut stop).await {
        return;
    }
    let mut cursor = context
        .store
        .get(&context.scrape_pool, context.target_hash)
        .or_else(|| {
            context
                .store
                .get_by_identity(&context.scrape_pool, context.target_identity)
        });
    let mut previous_start: Option<Instant> = None;
    let mut next_start = Instant::now();
    let mut jitter = IntervalJitter::new(context.interval_jitter, context.target_hash);
    let mut resources = LabelledResources::new(context.target.public_labels());
    loop {
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let result = scrape_and_store(&context, &mut cursor, &mut resources).await;
        let duration = started.elapsed();
        let since_previous = previous_start.map_or(interval, |previous| started - previous);
        previous_start = Some(started);
        record(&context, started_wall, duration, since_previous, result);
        let wait = jitter.next_wait(interval);
        next_start += wait;
        let now = Instant::now();
        while next_start <= now {
            next_start += wait;
        }
        if stopped_during(next_start - now, &mut stop).await {
            return;
        }
    }
}

/// Draws the waits between scrapes: `interval x (1 ± fraction)`, uniformly, from a
/// SplitMix64 sequence seeded by the target (so each target jitters differently).
struct IntervalJitter {
    fraction: f64,
    state: u64,
}

impl IntervalJitter {
    fn new(fraction: f64, seed: u64) -> Self {
        Self {
            fraction: fraction.clamp(0.0, 0.99),
            state: seed,
        }
    }

    fn next_wait(&mut self, interval: Duration) -> Duration {
        if self.fraction == 0.0 {
            return interval;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        // 53 random bits as a fraction in [0, 1), then into [-1, 1).
        let unit = (mixed >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + self.fraction * (2.0 * unit - 1.0);
        interval.mul_f64(factor).max(Duration::from_millis(1))
    }
}

struct Stored {
    spans: u64,
    dropped_spans: u64,
}

fn record(
    context: &LoopContext,
    started: SystemTime,
    duration: Duration,
    since_previous: Duration,
    result: Result<Stored, String>,
) {
    let mut status = context
        .status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    status.last_scrape = Some(started);
    status.last_scrape_duration = duration;
    match result {
        Ok(stored) => {
            status.health = TargetHealth::Up;
            status.last_error.clear();
            status.dropped_spans += stored.dropped_spans;
            status.spans_per_second = stored.spans as f64 / since_previous.as_secs_f64().max(1e-9);
        }
        Err(error) => {
            tracing::debug!(scrape_pool = %context.scrape_pool, url = %context.scrape_url, %error, "scrape failed");
            status.health = TargetHealth::Down;
            status.last_error = error;
            status.spans_per_second = 0.0;
        }
    }
}

async fn scrape_and_store(
    context: &LoopContext,
    cursor: &mut Option<StoredCursor>,
    resources: &mut LabelledResources,
) -> Result<Stored, String> {
    let timeout = context.target.scrape_timeout.as_std();
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = |_| format!("scrape timed out after {}", context.target.scrape_timeout);
    let mut fetched = tokio::time::timeout_at(
        deadline,
        fetch(
            context,
            cursor.as_ref().map(|cursor| cursor.next_cursor),
            resources,
        ),
    )
    .await
    .map_err(timed_out)??;
    if let Some(expected) = cursor.as_ref()
        && expected.client_instance != fetched.head.client_instance
    {
        tracing::info!(
            url = %context.scrape_url,
            previous = %expected.client_instance,
            current = %fetched.head.client_instance,
            "client buffer restarted; scraping it from its oldest span"
        );
        *cursor = None;
        fetched = tokio::time::timeout_at(deadline, fetch(context, None, resources))
            .await
            .map_err(timed_out)??;
    }
    let Fetched {
        head,
        spans: decoded,
    } = fetched;
    let labels = resources.labels();
    let job = labels.get(JOB_LABEL).to_owned();
    let instance = labels.get(INSTANCE_LABEL).to_owned();
    if decoded.rejected_spans > 0 {
        metrics::counter!("weft_scrape_spans_invalid_total", "job" => job.clone(), "instance" => instance.clone())
            .increment(decoded.rejected_spans);
    }
    let batch = decoded.batch;
    let spans = batch.len() as u64;
    if !batch.is_empty() {
        let outcome = context
            .sink
            .push(&context.tenant, batch)
            .await
            .map_err(|error| format!("storing the scraped spans failed: {error}"))?;
        if outcome.rejected_spans > 0 {
            metrics::counter!("weft_scrape_spans_rejected_total", "job" => job.clone(), "instance" => instance.clone())
                .increment(outcome.rejected_spans);
        }
    }
    metrics::counter!("weft_scrape_spans_total", "job" => job.clone(), "instance" => instance.clone())
        .increment(spans);
    if head.dropped_spans > 0 {
        metrics::counter!("weft_scrape_spans_dropped_by_client_total", "job" => job, "instance" => instance)
            .increment(head.dropped_spans);
    }
    let advanced = StoredCursor {
        target_identity: context.target_identity,
        client_instance: head.client_instance,
        next_cursor: head.next_cursor,
    };
    *cursor = Some(advanced.clone());
    context
        .store
        .set(&context.scrape_pool, context.target_hash, advanced)
        .await
        .map_err(|error| format!("spans stored but the cursor was not persisted: {error}"))?;
    Ok(Stored {
        spans,
        dropped_spans: head.dropped_spans,
    })
}

async fn fetch(
    context: &LoopContext,
    cursor: Option<u64>,
    resources: &mut LabelledResources,
) -> Result<Fetched, String> {
    let limit = context.body_size_limit_bytes;
    let mut query = Vec::with_capacity(2);
    if let Some(cursor) = cursor {
        query.push((CURSOR_PARAMETER, cursor));
    }
    query.push((MAX_BYTES_PARAMETER, limit));
    let mut response = context
        .client
        .get(&context.scrape_url)?
        .header(ACCEPT, ACCEPT_PROTOBUF)
        .query(&query)
        .send()
        .await
        .map_err(|error| format!("scrape request failed: {}", error_chain(&error)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit) {
        return Err(body_too_large(limit));
    }
    // Sized once from Content-Length (at most `limit`, checked above), so an answer is
    // not copied again at every doubling; but a header alone reserves no more than
    // `MAX_RESERVED_BODY_BYTES`, beyond which the buffer grows as bytes arrive.
    let reserved = announced.map_or(0, |length| length.min(MAX_RESERVED_BODY_BYTES));
    let mut body = Vec::with_capacity(reserved as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("reading the body failed: {}", error_chain(&error)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let headers = response.headers();
    weft_codec::pull::decode_response_resolving(
        |name| headers.get(name).map(|value| value.as_bytes()),
        Bytes::from(body),
        &mut |encoded| resources.resolve(encoded),
    )
    .map_err(|error| error.to_string())
}

fn body_too_large(limit: u64) -> String {
    format!("body size limit exceeded: the answer is larger than {limit} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_waits_stay_within_the_fraction_and_spread_over_it() {
        let interval = Duration::from_secs(2);
        let mut jitter = IntervalJitter::new(0.5, 42);
        let waits: Vec<Duration> = (0..10_000).map(|_| jitter.next_wait(interval)).collect();
        let shortest = waits.iter().min().expect("10,000 waits");
        let longest = waits.iter().max().expect("10,000 waits");
        assert!(*shortest >= Duration::from_secs(1), "{shortest:?}");
        assert!(*longest < Duration::from_secs(3), "{longest:?}");
        assert!(*shortest < Duration::from_millis(1_050), "{shortest:?}");
        assert!(*longest > Duration::from_millis(2_950), "{longest:?}");
        let mean = waits.iter().sum::<Duration>() / waits.len() as u32;
        assert!(
            mean.abs_diff(interval) < Duration::from_millis(40),
            "{mean:?}"
        );
    }

    #[test]
    fn no_jitter_waits_the_interval() {
        let mut jitter = IntervalJitter::new(0.0, 7);
        assert_eq!(
            jitter.next_wait(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
