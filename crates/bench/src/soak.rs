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
use weft_model::{Span, SpanId, TraceId};

use crate::driver::{Protocol, encode};
use crate::exporter::{ExportOutcome, Exporter};
use crate::generator::{GeneratorSettings, TraceGenerator};
use crate::pacing::Pacer;
use crate::stats::{LatencySummary, least_squares_slope};

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
    /// How long to send; requests due after it are not sent.
    pub duration: Duration,
    /// Spans per request (whole traces, so approximate).
    pub spans_per_request: usize,
    /// Requests in flight at once (retries included).
    pub concurrency: usize,
    /// Shape of the corpus.
    pub generator: GeneratorSettings,
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

/// One memory sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssSample {
    /// Time since the start of sending.
    pub elapsed: Duration,
    /// The server's resident set in bytes; `None` without a pid or when unreadable.
    pub rss_bytes: Option<u64>,
    /// Spans the server had stored (acknowledged, minus partial rejections) by then.
    pub spans_acknowledged: u64,
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
    /// Latency of the attempts that stored their spans.
    pub latency: LatencySummary,
    /// The latest any request went out relative to the schedule.
    pub max_lag: Duration,
    /// Spans the schedule called for at the end that were never sent.
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
        self.samples.iter().filter_map(|sample| sample.rss_bytes).max()
    }

    /// Memory growth trend in MiB per minute: see [`growth_mib_per_minute`].
    pub fn growth_mib_per_minute(&self) -> Option<f64> {
        growth_mib_per_minute(&self.samples)
    }
}

/// Slope of a least-squares line through the second half of the samples that have an
/// RSS (by count, so warm-up is left out), in MiB per minute. `None` with fewer than
/// two such samples in the second half.
pub fn growth_mib_per_minute(samples: &[RssSample]) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|sample| {
            let rss = sample.rss_bytes?;
            Some((
                sample.elapsed.as_secs_f64() / 60.0,
                rss as f64 / (1024.0 * 1024.0),
            ))
        })
        .collect();
    least_squares_slope(&points[points.len() / 2..])
}

/// A Linux process's current (`VmRSS`) or peak (`VmHWM`) resident set in bytes, from
/// `/proc/<pid>/status`; `None` when the process or the field is gone.
pub fn process_memory_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field).map(|kib| kib * 1024)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|line| line.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Live progress for the caller: called with each sample as it is taken.
pub type SampleCallback = Box<dyn Fn(&RssSample) + Send + Sync>;

#[derive(Default)]
struct Shared {
    corpus: Mutex<StreamTally>,
    giant: Mutex<StreamTally>,
    latencies: Mutex<Vec<Duration>>,
    spans_acknowledged: AtomicU64,
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
    loop {
        let waiting = Instant::now();
        let Some((body, span_count)) = requests.recv().await else {
            break;
        };
        generator_wait += waiting.elapsed();
        if pacer.due(pacer.spans_scheduled() + span_count) > settings.duration {
            break;
        }
        let due = pacer.reserve(span_count);
        tokio::time::sleep_until((started + due).into()).await;
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .context("request slots closed")?;
        pacer.record_send(due, started.elapsed());
        {
            let mut corpus = lock(&shared.corpus);
            corpus.requests += 1;
            corpus.spans_sent += span_count;
        }
        let exporter = exporter.clone();
        let shared = shared.clone();
        let max_attempts = settings.max_attempts;
        in_flight.spawn(async move {
            let outcome =
                send_with_retries(&exporter, body, span_count, max_attempts, hard_deadline).await;
            record(&shared, Stream::Corpus, span_count, outcome);
            drop(slot);
        });
        while in_flight.try_join_next().is_some() {}
    }
    let spans_behind_at_end = pacer.spans_behind(settings.duration.min(started.elapsed()));
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
        let mut corpus = lock(&shared.corpus);
        corpus.requests_given_up += left;
        corpus
            .first_error
            .get_or_insert_with(|| format!("{left} requests still unanswered at the drain timeout"));
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
    std::thread::Builder::new()
        .name(String::from("soak-generator"))
        .spawn(move || {
            let mut generator = TraceGenerator::new(generator_settings);
            let mut pending: Vec<Span> = Vec::with_capacity(spans_per_request + 512);
            loop {
                while pending.len() < spans_per_request {
                    pending.extend(generator.next_trace(unix_nanos_now()));
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
                take(&mut samples);
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

/// The spans of one giant trace, built from corpus traces re-parented under one root.
pub struct GiantTrace {
    generator: TraceGenerator,
    trace_id: TraceId,
    root_span_id: Option<SpanId>,
    spans_made: u64,
    total_spans: u64,
}

impl GiantTrace {
    /// A trace of `total_spans` spans whose id is derived from `settings.seed` (and
    /// differs from every id the corpus generator draws with overwhelming probability).
    pub fn new(settings: &GeneratorSettings, total_spans: u64) -> GiantTrace {
        let generator = TraceGenerator::new(GeneratorSettings {
            seed: settings.seed ^ 0x6769_616e_7400_0000,
            ..settings.clone()
        });
        GiantTrace {
            generator,
            trace_id: TraceId::from_halves(0x6769_616e_7474_7263, settings.seed | 1),
            root_span_id: None,
            spans_made: 0,
            total_spans,
        }
    }

    /// The giant trace's id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The next `spans` spans (fewer at the end; empty when all were made), starting at
    /// `start_unix_nanos`. The first span made is the trace's only root; every other
    /// root of a corpus trace becomes its child, and parents always come before their
    /// children, so truncating the last chunk leaves no orphan.
    pub fn next_chunk(&mut self, spans: usize, start_unix_nanos: u64) -> Vec<Span> {
        let wanted = (spans as u64).min(self.total_spans - self.spans_made) as usize;
        let mut chunk = Vec::with_capacity(wanted + 64);
        while chunk.len() < wanted {
            for mut span in self.generator.next_trace(start_unix_nanos) {
                span.trace_id = self.trace_id;
                if span.parent_span_id.is_none() {
                    match self.root_span_id {
                        None => self.root_span_id = Some(span.span_id),
                        Some(root) => span.parent_span_id = Some(root),
                    }
                }
                chunk.push(span);
            }
        }
        chunk.truncate(wanted);
        self.spans_made += wanted as u64;
        chunk
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
    let chunks = settings.giant_trace_spans.div_ceil(per_request as u64).max(1);
    let mut giant = GiantTrace::new(&settings.generator, settings.giant_trace_spans);
    for chunk_index in 0..chunks {
        let due = settings.duration.mul_f64(chunk_index as f64 / chunks as f64);
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

    fn sample(seconds: u64, rss_mib: u64) -> RssSample {
        RssSample {
            elapsed: Duration::from_secs(seconds),
            rss_bytes: Some(rss_mib * 1024 * 1024),
            spans_acknowledged: 0,
        }
    }

    #[test]
    fn growth_is_fitted_over_the_second_half_only() {
        // Warm-up from 100 to 400 MiB, then +2 MiB per 30 s = 4 MiB/min.
        let mut samples = vec![sample(0, 100), sample(30, 250), sample(60, 400)];
        samples.extend((0..6).map(|i| sample(90 + 30 * i, 400 + 2 * i)));
        let growth = growth_mib_per_minute(&samples).expect("enough samples");
        assert!((growth - 4.0).abs() < 1e-6, "{growth}");
        assert_eq!(growth_mib_per_minute(&samples[..2]), None);
        let no_rss = RssSample {
            rss_bytes: None,
            ..sample(5, 0)
        };
        assert_eq!(growth_mib_per_minute(&[no_rss; 10]), None);
    }

    #[test]
    fn proc_status_fields_are_read_in_kib() {
        let status = "Name:\tweft\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("VmRSSX: 5 kB", "VmRSS"), None);
        let own = process_memory_bytes(std::process::id(), "VmRSS").expect("linux");
        assert!(own > 0);
    }

    #[test]
    fn the_giant_trace_has_exactly_its_spans_one_root_and_no_orphans() {
        let mut giant = GiantTrace::new(&GeneratorSettings::default(), 2_500);
        let mut spans = Vec::new();
        for _ in 0..4 {
            let chunk = giant.next_chunk(1_000, 1_000_000);
            assert!(chunk.len() <= 1_000);
            spans.extend(chunk);
        }
        assert_eq!(spans.len(), 2_500);
        assert!(giant.next_chunk(1_000, 0).is_empty());
        assert!(spans.iter().all(|span| span.trace_id == giant.trace_id()));
        let ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
        assert_eq!(ids.len(), spans.len(), "span ids are unique");
        assert_eq!(
            spans.iter().filter(|span| span.parent_span_id.is_none()).count(),
            1
        );
        assert!(
            spans
                .iter()
                .filter_map(|span| span.parent_span_id)
                .all(|parent| ids.contains(&parent))
        );
    }
}
