//! One target's scrape loop: wait the Prometheus offset, then scrape every
//! `scrape_interval` until stopped.
//!
//! A scrape: `GET` with the stored cursor, the whole request and body bounded by
//! `scrape_timeout` and the body by the body size limit; decode OTLP protobuf; add the
//! target labels ([`crate::enrich`]); push to the [`SpanSink`]; only after it answers
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

use reqwest::header::{ACCEPT, HeaderMap};
use tokio::sync::watch;
use weft_model::{SpanSink, TenantId};
use weft_scrape_config::labels::{INSTANCE_LABEL, JOB_LABEL};
use weft_scrape_config::offset::offset_from_now;
use weft_scrape_config::target::Target;

use crate::cursor_store::{CursorStore, StoredCursor};
use crate::enrich::add_target_labels;
use crate::http_client::HttpClient;
use crate::protocol::{
    ACCEPT_PROTOBUF, CURSOR_FIRST_HEADER, CURSOR_NEXT_HEADER, CURSOR_PARAMETER, DROPPED_HEADER,
    DROPPED_TOTAL_HEADER, INSTANCE_HEADER, MAX_BYTES_PARAMETER,
};
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
}

/// The parts of a scrape answer the loop uses.
struct Fetched {
    client_instance: String,
    next_cursor: u64,
    dropped_spans: u64,
    body: Vec<u8>,
}

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
    loop {
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let result = scrape_and_store(&context, &mut cursor).await;
        let duration = started.elapsed();
        let since_previous = previous_start.map_or(interval, |previous| started - previous);
        previous_start = Some(started);
        record(&context, started_wall, duration, since_previous, result);
        next_start += interval;
        let now = Instant::now();
        while next_start <= now {
            next_start += interval;
        }
        if stopped_during(next_start - now, &mut stop).await {
            return;
        }
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
) -> Result<Stored, String> {
    let timeout = context.target.scrape_timeout.as_std();
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = |_| format!("scrape timed out after {}", context.target.scrape_timeout);
    let mut fetched = tokio::time::timeout_at(
        deadline,
        fetch(context, cursor.as_ref().map(|cursor| cursor.next_cursor)),
    )
    .await
    .map_err(timed_out)??;
    if let Some(expected) = cursor.as_ref()
        && expected.client_instance != fetched.client_instance
    {
        tracing::info!(
            url = %context.scrape_url,
            previous = %expected.client_instance,
            current = %fetched.client_instance,
            "client buffer restarted; scraping it from its oldest span"
        );
        *cursor = None;
        fetched = tokio::time::timeout_at(deadline, fetch(context, None))
            .await
            .map_err(timed_out)??;
    }
    let decoded = weft_codec::otlp::decode_proto(&fetched.body)
        .map_err(|error| format!("cannot decode the OTLP body: {error}"))?;
    let labels = context.target.public_labels();
    let job = labels.get(JOB_LABEL).to_owned();
    let instance = labels.get(INSTANCE_LABEL).to_owned();
    if decoded.rejected_spans > 0 {
        metrics::counter!("weft_scrape_spans_invalid_total", "job" => job.clone(), "instance" => instance.clone())
            .increment(decoded.rejected_spans);
    }
    let mut batch = decoded.batch;
    let spans = batch.len() as u64;
    if !batch.is_empty() {
        add_target_labels(&mut batch, &labels);
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
    if fetched.dropped_spans > 0 {
        metrics::counter!("weft_scrape_spans_dropped_by_client_total", "job" => job, "instance" => instance)
            .increment(fetched.dropped_spans);
    }
    let advanced = StoredCursor {
        target_identity: context.target_identity,
        client_instance: fetched.client_instance,
        next_cursor: fetched.next_cursor,
    };
    *cursor = Some(advanced.clone());
    let store = Arc::clone(&context.store);
    let scrape_pool = context.scrape_pool.clone();
    let target_hash = context.target_hash;
    tokio::task::spawn_blocking(move || store.set(&scrape_pool, target_hash, advanced))
        .await
        .map_err(|error| format!("persisting the cursor failed: {error}"))?
        .map_err(|error| format!("spans stored but the cursor was not persisted: {error}"))?;
    Ok(Stored {
        spans,
        dropped_spans: fetched.dropped_spans,
    })
}

async fn fetch(context: &LoopContext, cursor: Option<u64>) -> Result<Fetched, String> {
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
    let headers = response.headers();
    let client_instance = headers
        .get(INSTANCE_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("missing or empty {INSTANCE_HEADER} header"))?
        .to_owned();
    let next_cursor = header_u64(headers, CURSOR_NEXT_HEADER)?
        .ok_or_else(|| format!("missing {CURSOR_NEXT_HEADER} header"))?;
    // Informational headers: checked when present.
    header_u64(headers, CURSOR_FIRST_HEADER)?;
    header_u64(headers, DROPPED_TOTAL_HEADER)?;
    let dropped_spans = header_u64(headers, DROPPED_HEADER)?.unwrap_or(0);
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(body_too_large(limit));
    }
    let mut body = Vec::new();
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
    Ok(Fetched {
        client_instance,
        next_cursor,
        dropped_spans,
        body,
    })
}

fn body_too_large(limit: u64) -> String {
    format!("body size limit exceeded: the answer is larger than {limit} bytes")
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, String> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| format!("{name} header {value:?} is not an unsigned integer"))
}

/// The error and its sources, `a: b: c` (reqwest's top-level message alone hides
/// whether the connection was refused or TLS failed).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
