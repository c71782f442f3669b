//! The soak test: the corpus sent at a fixed rate for a long time while the server's
//! memory is sampled, to show whether anything grows without bound.
//!
//! Traces are generated on the fly in their own thread (start times are the wall clock
//! when generated, ids are fresh 128-bit randoms) and handed over through a small bounded
//! queue, so the bench's own memory stays at a few requests. A [`Pacer`] spaces requests
//! at the target rate; at most `concurrency` are in flight, and a refused request
//! (429 / `RESOURCE_EXHAUSTED` with a retry hint) is retried after the server's hint,
//! holding its slot meanwhile, as an exporter with a bounded queue would. The server's
//! resident set (`VmRSS`) is sampled every `sample_interval`.
//!
//! With `giant_trace_spans`, one more trace of that many spans (one trace id) is sent in
//! requests of `giant_spans_per_request` spread evenly over the run, outside the pacing,
//! and its accepted and rejected spans are counted apart: a server may refuse spans over
//! its per-trace limit with partial success, which is back-pressure, not a failure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use weft_model::{Span, TraceId};

use crate::driver::{Protocol, encode};
use crate::exporter::{ExportOutcome, Exporter};
use crate::generator::{GeneratorSettings, TraceGenerator};
pub use crate::giant::GiantTrace;
use crate::pacing::Pacer;
pub use crate::rss::{RssSample, growth_mib_per_minute, process_memory_bytes};
use crate::stats::LatencySummary;

/// Longest wait a retry honours, whatever the server's hint.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Encoded requests waiting between the generating thread and the sender.
const QUEUE_REQUESTS: usize = 16;

/// What to send, where, how fast and for how long.
#[derive(Debug, Clone)]
pub struct SoakSettings {
    /// The protocol (not Jaeger UDP, which has no acknowledgement).
    pub protocol: Protocol,
    /// Base URL of the listener.
    pub endpoint: String,
    /// Sent as `X-Scope-OrgID` when set.
    pub tenant: Option<String>,
    /// Target rate in spans per second.
    pub spans_per_second: f64,
    /// How long to send; nothing is sent after it (requests still unanswered then may
    /// finish, and retry, within `drain_timeout`).
    pub duration: Duration,
    /// Spans per request (whole traces, so approximate).
    pub spans_per_request: usize,
    /// Requests in flight at once (retries included).
    pub concurrency: usize,
    /// Shape of the corpus.
    pub generator: GeneratorSettings,
    /// XORed into the high half of every trace id (the giant trace's too), so that runs
    /// with the same seed against one server never reuse an id; 0 keeps the seed's ids.
    pub trace_id_salt: u64,
    /// Spans of the one giant trace; 0 sends none.
    pub giant_trace_spans: u64,
    /// Spans per request of the giant trace.
    pub giant_spans_per_request: usize,
    /// Process whose `VmRSS` is sampled; `None` samples only the acknowledged count.
    pub server_pid: Option<u32>,
    /// Time between samples.
    pub sample_interval: Duration,
    /// Most attempts per request, the first included, before a refused request is given
    /// up (and its spans counted as lost).
    pub max_attempts: u32,
    /// How long after `duration` requests still in flight (or waiting to retry) may
    /// take before they are abandoned and counted as lost.
    pub drain_timeout: Duration,
}

/// Counts for a stream of requests (the paced corpus, or the giant trace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTally {
    /// Requests sent (first attempts).
    pub requests: u64,
    /// Spans in those requests.
    pub spans_sent: u64,
    /// Spans the server stored.
    pub spans_stored: u64,
    /// Spans the server rejected under partial success.
    pub spans_rejected: u64,
    /// Refusal answers (each refused attempt counts).
    pub refusals: u64,
    /// Requests abandoned after `max_attempts` refusals or at the drain timeout.
    pub requests_given_up: u64,
    /// Requests that failed otherwise.
    pub requests_failed: u64,
    /// Spans of given-up and failed requests.
    pub spans_lost: u64,
    /// The first failure message.
    pub first_error: Option<String>,
}

/// What a soak run measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The protocol driven.
    pub protocol: Protocol,
    /// From the first request until the last answer (or the drain timeout).
    pub elapsed: Duration,
    /// The configured sending time.
    pub duration: Duration,
    /// The paced corpus.
    pub corpus: StreamTally,
    /// The giant trace, when one was sent.
    pub giant: Option<StreamTally>,
    /// The giant trace's id, when one was sent.
    pub giant_trace_id: Option<TraceId>,
    /// Latency of the attempts that stored their spans.
    pub latency: LatencySummary,
    /// The latest any request went out relative to the schedule.
    pub max_lag: Duration,
    /// Spans the schedule called for by the end of `duration` that were never sent.
    pub spans_behind_at_end: u64,
    /// Time the sender spent waiting for the generating thread (a bench bottleneck,
    /// not the server's).
    pub generator_wait: Duration,
    /// The memory series.
    pub samples: Vec<RssSample>,
    /// The server's peak resident set (`VmHWM`) at the end, if readable.
    pub peak_rss_bytes: Option<u64>,
}

impl SoakReport {
    /// Stored spans of the paced corpus per second of `elapsed`.
    pub fn stored_spans_per_second(&self) -> f64 {
        self.corpus.spans_stored as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Sent spans of the paced corpus per second of the configured duration.
    pub fn sent_spans_per_second(&self) -> f64 {
        self.corpus.spans_sent as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// The largest sampled resident set.
    pub fn max_sampled_rss_bytes(&self) -> Option<u64> {
        self.samples
            .iter()
            .filter_map(|sample| sample.rss_bytes)
            .max()
    }

    /// Memory growth trend in MiB per minute: see [`growth_mib_per_minute`].
    pub fn growth_mib_per_minute(&self) -> Option<f64> {
        growth_mib_per_minute(&self.samples)
    }
}

/// Live progress for the caller: called with each sample as it is taken.
pub type SampleCallback = Box<dyn Fn(&RssSample) + Send + Sync>;

#[derive(Default)]
struct Shared {
    corpus: Mutex<StreamTally>,
    giant: Mutex<StreamTally>,
    latencies: Mutex<Vec<Duration>>,
    spans_acknowledged: AtomicU64,
    /// Spans of corpus requests sent and not yet answered for good.
    spans_in_flight: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the soak per `settings`; `on_sample` sees every memory sample as it is taken.
pub async fn run(
    settings: &SoakSettings,
    on_sample: Option<SampleCallback>,
) -> anyhow::Result<SoakReport> {
    let exporter = Exporter::connect(
        settings.protocol,
        &settings.endpoint,
        settings.tenant.clone(),
    )
    .await?;
    let shared = Arc::new(Shared::default());
    let (queue, mut requests) = mpsc::channel::<(Bytes, u64)>(QUEUE_REQUESTS);
    let generating = spawn_generator(settings, queue)?;

    let started = Instant::now();
    let hard_deadline = started + settings.duration + settings.drain_timeout;
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_memory(
        settings.server_pid,
        settings.sample_interval,
        started,
        shared.clone(),
        stop_sampling.clone(),
        on_sample,
    ));
    let giant = (settings.giant_trace_spans > 0).then(|| {
        tokio::spawn(send_giant_trace(
            settings.clone(),
            exporter.clone(),
            shared.clone(),
            started,
            hard_deadline,
        ))
    });

    let mut pacer = Pacer::new(settings.spans_per_second);
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut in_flight = tokio::task::JoinSet::new();
    let mut generator_wait = Duration::ZERO;
    let end_of_sending = started + settings.duration;
    loop {
        let waiting = Instant::now();
        let Ok(Some((body, span_count))) =
            tokio::time::timeout_at(end_of_sending.into(), requests.recv()).await
        else {
            break;
        };
        generator_wait += waiting.elapsed();
        let due = pacer.due(pacer.spans_scheduled() + span_count);
        if due > settings.duration {
            break;
        }
        tokio::time::sleep_until((started + due).into()).await;
        // Nothing goes out after the sending time, however far behind the sender is:
        // what the schedule called for and was not sent is reported as the lag.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.context("request slots closed")?,
            () = tokio::time::sleep_until(end_of_sending.into()) => break,
        };
        if Instant::now() >= end_of_sending {
            break;
        }
        pacer.reserve(span_count);
        pacer.record_send(due, started.elapsed());
        {
            let mut corpus = lock(&shared.corpus);
            corpus.requests += 1;
            corpus.spans_sent += span_count;
        }
        shared
            .spans_in_flight
            .fetch_add(span_count, Ordering::Relaxed);
        let exporter = exporter.clone();
        let shared = shared.clone();
        let max_attempts = settings.max_attempts;
        in_flight.spawn(async move {
            let outcome =
                send_with_retries(&exporter, body, span_count, max_attempts, hard_deadline).await;
            record(&shared, Stream::Corpus, span_count, outcome);
            shared
                .spans_in_flight
                .fetch_sub(span_count, Ordering::Relaxed);
            drop(slot);
        });
        while in_flight.try_join_next().is_some() {}
    }
    // `reserve` runs only for requests sent, so this is what was due and never went out.
    let spans_behind_at_end = pacer.spans_behind(settings.duration);
    drop(requests);
    let remaining = hard_deadline.saturating_duration_since(Instant::now());
    let abandoned = tokio::time::timeout(remaining, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await
    .is_err();
    if abandoned {
        let left = in_flight.len() as u64;
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
        let mut corpus = lock(&shared.corpus);
        corpus.requests_given_up += left;
        corpus.spans_lost += shared.spans_in_flight.swap(0, Ordering::Relaxed);
        corpus.first_error.get_or_insert_with(|| {
            format!("{left} requests still unanswered at the drain timeout")
        });
    }
    let giant = match giant {
        Some(task) => Some(task.await.context("the giant trace sender panicked")?),
        None => None,
    };
    let elapsed = started.elapsed();
    stop_sampling.store(true, Ordering::SeqCst);
    let samples = sampler.await.context("the memory sampler panicked")?;
    let _ = generating.join();

    let corpus = lock(&shared.corpus).clone();
    let mut latencies = std::mem::take(&mut *lock(&shared.latencies));
    Ok(SoakReport {
        protocol: settings.protocol,
        elapsed,
        duration: settings.duration,
        corpus,
        giant_trace_id: giant.map(|()| {
            GiantTrace::new(
                &settings.generator,
                settings.trace_id_salt,
                settings.giant_trace_spans,
            )
            .trace_id()
        }),
        giant: giant.map(|()| lock(&shared.giant).clone()),
        latency: LatencySummary::from_latencies(&mut latencies),
        max_lag: pacer.max_lag(),
        spans_behind_at_end,
        generator_wait,
        samples,
        peak_rss_bytes: settings
            .server_pid
            .and_then(|pid| process_memory_bytes(pid, "VmHWM")),
    })
}

/// How one request ended, after retries.
enum Final {
    Stored {
        rejected_spans: u64,
        latency: Duration,
    },
    GivenUp,
    Failed(String),
}

struct Sent {
    refusals: u64,
    end: Final,
}

async fn send_with_retries(
    exporter: &Exporter,
    body: Bytes,
    span_count: u64,
    max_attempts: u32,
    hard_deadline: Instant,
) -> Sent {
    let mut refusals = 0;
    for attempt in 1..=max_attempts.max(1) {
        let sent = Instant::now();
        match exporter.export(body.clone(), span_count).await {
            ExportOutcome::Stored { rejected_spans } => {
                return Sent {
                    refusals,
                    end: Final::Stored {
                        rejected_spans: rejected_spans.min(span_count),
                        latency: sent.elapsed(),
                    },
                };
            }
            ExportOutcome::Refused { retry_after } => {
                refusals += 1;
                let wait = retry_after.min(MAX_RETRY_WAIT);
                if attempt == max_attempts.max(1) || Instant::now() + wait > hard_deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            ExportOutcome::Failed { message } => {
                return Sent {
                    refusals,
                    end: Final::Failed(message),
                };
            }
        }
    }
    Sent {
        refusals,
        end: Final::GivenUp,
    }
}

/// Which tally an answer goes to. Only the corpus counts towards the acknowledged
/// series and the latencies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Corpus,
    Giant,
}

fn record(shared: &Shared, stream: Stream, span_count: u64, sent: Sent) {
    let mut tally = match stream {
        Stream::Corpus => lock(&shared.corpus),
        Stream::Giant => lock(&shared.giant),
    };
    tally.refusals += sent.refusals;
    match sent.end {
        Final::Stored {
            rejected_spans,
            latency,
        } => {
            let stored = span_count - rejected_spans;
            tally.spans_stored += stored;
            tally.spans_rejected += rejected_spans;
            if stream == Stream::Corpus {
                shared
                    .spans_acknowledged
                    .fetch_add(stored, Ordering::Relaxed);
                lock(&shared.latencies).push(latency);
            }
        }
        Final::GivenUp => {
            tally.requests_given_up += 1;
            tally.spans_lost += span_count;
        }
        Final::Failed(message) => {
            tally.requests_failed += 1;
            tally.spans_lost += span_count;
            tally.first_error.get_or_insert(message);
        }
    }
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

/// Generates and encodes requests until the queue's receiver is gone.
fn spawn_generator(
    settings: &SoakSettings,
    queue: mpsc::Sender<(Bytes, u64)>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let protocol = settings.protocol;
    let spans_per_request = settings.spans_per_request.max(1);
    let generator_settings = settings.generator.clone();
    let salt = settings.trace_id_salt;
    std::thread::Builder::new()
        .name(String::from("soak-generator"))
        .spawn(move || {
            let mut generator = TraceGenerator::new(generator_settings);
            let mut pending: Vec<Span> = Vec::with_capacity(spans_per_request + 512);
            loop {
                while pending.len() < spans_per_request {
                    let start = pending.len();
                    pending.extend(generator.next_trace(unix_nanos_now()));
                    salt_trace_ids(&mut pending[start..], salt);
                }
                for request in encode(protocol, &pending) {
                    if queue.blocking_send(request).is_err() {
                        return;
                    }
                }
                pending.clear();
            }
        })
        .context("cannot start the generating thread")
}

/// XORs `salt` into the high half of the spans' trace ids (one trace's spans keep one
/// id; distinct ids stay distinct).
fn salt_trace_ids(spans: &mut [Span], salt: u64) {
    if salt == 0 {
        return;
    }
    for span in spans {
        let id = span.trace_id;
        let salted = TraceId::from_halves(id.high_u64() ^ salt, id.low_u64());
        // An all-zero id is invalid; keep the unsalted one in that 2^-128 case.
        if salted != TraceId::default() {
            span.trace_id = salted;
        }
    }
}

/// Samples the server's memory every `interval` until `stop`, then once more.
async fn sample_memory(
    pid: Option<u32>,
    interval: Duration,
    started: Instant,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    on_sample: Option<SampleCallback>,
) -> Vec<RssSample> {
    let interval = interval.max(Duration::from_millis(100));
    let mut samples = Vec::new();
    let take = |samples: &mut Vec<RssSample>| {
        let sample = RssSample {
            elapsed: started.elapsed(),
            rss_bytes: pid.and_then(|pid| process_memory_bytes(pid, "VmRSS")),
            spans_acknowledged: shared.spans_acknowledged.load(Ordering::Relaxed),
        };
        if let Some(callback) = &on_sample {
            callback(&sample);
        }
        samples.push(sample);
    };
    let mut next = started + interval;
    loop {
        // Poll the stop flag often so the final sample is taken promptly.
        while Instant::now() < next {
            if stop.load(Ordering::SeqCst) {
                // A last sample at the end, unless one was just taken.
                let last = samples
                    .last()
                    .map_or(Duration::ZERO, |sample: &RssSample| sample.elapsed);
                if samples.is_empty() || started.elapsed().saturating_sub(last) >= interval / 4 {
                    take(&mut samples);
                }
                return samples;
            }
            let nap = next
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            tokio::time::sleep(nap).await;
        }
        take(&mut samples);
        next += interval;
    }
}

async fn send_giant_trace(
    settings: SoakSettings,
    exporter: Exporter,
    shared: Arc<Shared>,
    started: Instant,
    hard_deadline: Instant,
) {
    let per_request = settings.giant_spans_per_request.max(1);
    let chunks = settings
        .giant_trace_spans
        .div_ceil(per_request as u64)
        .max(1);
    let mut giant = GiantTrace::new(
        &settings.generator,
        settings.trace_id_salt,
        settings.giant_trace_spans,
    );
    for chunk_index in 0..chunks {
        let due = settings
            .duration
            .mul_f64(chunk_index as f64 / chunks as f64);
        tokio::time::sleep_until((started + due).into()).await;
        if Instant::now() > hard_deadline {
            break;
        }
        let spans = giant.next_chunk(per_request, unix_nanos_now());
        if spans.is_empty() {
            break;
        }
        let span_count = spans.len() as u64;
        let requests = encode(settings.protocol, &spans);
        for (body, _) in requests {
            {
                let mut tally = lock(&shared.giant);
                tally.requests += 1;
                tally.spans_sent += span_count;
            }
            let sent = send_with_retries(
                &exporter,
                body,
                span_count,
                settings.max_attempts,
                hard_deadline,
            )
            .await;
            record(&shared, Stream::Giant, span_count, sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn salting_changes_every_trace_id_and_keeps_traces_together() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let original: Vec<Span> = (0..5).flat_map(|_| generator.next_trace(0)).collect();
        let mut salted = original.clone();
        salt_trace_ids(&mut salted, 0x1234);
        for (before, after) in original.iter().zip(&salted) {
            assert_ne!(before.trace_id, after.trace_id);
            assert_eq!(before.trace_id.low_u64(), after.trace_id.low_u64());
        }
        let distinct = |spans: &[Span]| {
            spans
                .iter()
                .map(|s| s.trace_id)
                .collect::<HashSet<_>>()
                .len()
        };
        assert_eq!(distinct(&original), distinct(&salted));
        let mut unsalted = original.clone();
        salt_trace_ids(&mut unsalted, 0);
        assert_eq!(unsalted, original);
    }
}
