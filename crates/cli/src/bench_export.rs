//! `weft bench export`: sends the corpus that `weft bench storage` wrote to another
//! tracing backend over OTLP gRPC, so both can answer the same queries over the same
//! spans.
//!
//! The corpus is not read back from weft's blocks: it is regenerated from the parameters
//! in the header of the id file `weft bench storage` wrote beside it (seed, spans,
//! block spans, start and end of the time range), through the same planning code
//! (`bench_storage::plan_blocks`), so every trace has the id, spans and start time it
//! has in weft. Within a block the traces go out in start-time order (generation order),
//! in requests of about `--spans-per-request` spans (whole traces), paced at `--rate`
//! spans per second with at most `--concurrency` requests in flight. A refused request
//! (gRPC `RESOURCE_EXHAUSTED` with a retry hint) is retried after the hint; any other
//! failure is retried a few times a second apart and then ends the export.
//!
//! At the end the export checks that it sent the corpus: every request acknowledged
//! with no span rejected, as many traces as the plan holds, the id file's sampled ids
//! regenerated with their start times, and a span total within one trace of `spans`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use tokio::sync::{Semaphore, mpsc};
use weft_bench::exporter::{ExportOutcome, Exporter};
use weft_bench::id_file::{IdFile, TraceIdSample};
use weft_bench::layout::CorpusLayout;
use weft_bench::pacing::Pacer;
use weft_bench::{GeneratorSettings, Protocol, TraceGenerator};
use weft_model::{Span, TenantId};

use crate::bench::thousands;
use crate::bench_storage::{BlockPlan, Settings, plan_blocks};

/// Encoded requests waiting between the generating thread and the sender.
const QUEUE_REQUESTS: usize = 16;
/// Longest wait a retry honours, whatever the server's hint.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Attempts per refused request before the export gives up.
const MAX_REFUSED_ATTEMPTS: u32 = 100;
/// Attempts per request that fails otherwise (connection lost, server error).
const MAX_FAILED_ATTEMPTS: u32 = 5;
/// Wait before retrying a failed (not refused) request.
const FAILED_RETRY_WAIT: Duration = Duration::from_secs(1);
/// Time between progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

pub fn command() -> Command {
    Command::new("export")
        .about("Regenerate the corpus `weft bench storage` wrote (from its id file's header) and send it over OTLP gRPC to another backend, with the same trace ids and start times")
        .arg(
            Arg::new("ids")
                .long("ids")
                .required(true)
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("The corpus's id file (DIR/bench-trace-ids.txt written by `weft bench storage`); its header gives the corpus parameters"),
        )
        .arg(Arg::new("otlp-grpc").long("otlp-grpc").required(true).value_name("URL").help("OTLP gRPC listener to send to, e.g. http://127.0.0.1:4317"))
        .arg(Arg::new("rate").long("rate").default_value("40000").value_parser(value_parser!(f64)).help("Target spans per second (paced: a sender that falls behind catches up); 0 sends as fast as the server acknowledges"))
        .arg(Arg::new("concurrency").long("concurrency").default_value("4").value_parser(value_parser!(usize)).help("Requests in flight at once, retries included"))
        .arg(Arg::new("spans-per-request").long("spans-per-request").default_value("1000").value_parser(value_parser!(usize)).help("Spans per request (whole traces, so approximate)"))
        .arg(Arg::new("tenant").long("tenant").help("Sent as X-Scope-OrgID [default: none]"))
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let ids_path = arguments
        .get_one::<PathBuf>("ids")
        .context("--ids is required")?;
    let endpoint = arguments
        .get_one::<String>("otlp-grpc")
        .context("--otlp-grpc is required")?
        .clone();
    let spans_per_second = *arguments.get_one::<f64>("rate").unwrap_or(&40_000.0);
    if !(spans_per_second.is_finite() && spans_per_second >= 0.0) {
        bail!("invalid --rate {spans_per_second}: expected spans per second, 0 for unpaced");
    }
    let concurrency = (*arguments.get_one::<usize>("concurrency").unwrap_or(&4)).max(1);
    let spans_per_request = (*arguments
        .get_one::<usize>("spans-per-request")
        .unwrap_or(&1_000))
    .max(1);
    let text = std::fs::read_to_string(ids_path)
        .with_context(|| format!("cannot read {}", ids_path.display()))?;
    let id_file =
        IdFile::parse(&text).with_context(|| format!("invalid id file {}", ids_path.display()))?;
    let settings = corpus_settings(&id_file)
        .with_context(|| format!("id file {} does not describe a corpus", ids_path.display()))?;
    let exporter = Exporter::connect(
        Protocol::OtlpGrpc,
        &endpoint,
        arguments.get_one::<String>("tenant").cloned(),
    )
    .await
    .with_context(|| format!("cannot connect to {endpoint}"))?;
    let layout = settings.layout;
    let rate_text = if spans_per_second > 0.0 {
        format!("{} spans/s", thousands(spans_per_second as u64))
    } else {
        String::from("unpaced")
    };
    eprintln!(
        "exporting {} spans (seed {}, {} blocks, {} .. {} unix ns) to {endpoint} at {rate_text}, \
         {concurrency} requests in flight, ~{spans_per_request} spans per request",
        thousands(layout.total_spans),
        settings.generator.seed,
        layout.block_count(),
        layout.start_unix_nanos,
        layout.end_unix_nanos,
    );

    let (queue, requests) = mpsc::channel::<Request>(QUEUE_REQUESTS);
    let first_sample = id_file.samples.first().copied();
    let producer = tokio::task::spawn_blocking(move || {
        produce_requests(&settings, first_sample, spans_per_request, |request| {
            queue.blocking_send(request).is_ok()
        })
    });
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let progress = tokio::spawn(report_progress(
        tally.clone(),
        started,
        layout.block_count(),
    ));
    let send_result = send_all(
        &exporter,
        requests,
        spans_per_second,
        concurrency,
        &tally,
        started,
    )
    .await;
    progress.abort();
    let elapsed = started.elapsed();
    let produced = producer.await.context("corpus regeneration panicked")??;
    send_result?;
    print_report(&tally, &produced, elapsed);
    verify(&tally, &produced, &id_file, layout)
}

/// The storage bench's settings for the corpus an id file's header describes.
fn corpus_settings(id_file: &IdFile) -> anyhow::Result<Settings> {
    let seed: u64 = header_value(id_file, "seed")?;
    let total_spans: u64 = header_value(id_file, "spans")?;
    let block_spans: u64 = header_value(id_file, "block_spans")?;
    let start_unix_nanos: u64 = header_value(id_file, "start_unix_nanos")?;
    let end_unix_nanos: u64 = header_value(id_file, "end_unix_nanos")?;
    let tenant_text: String = header_value(id_file, "tenant")?;
    let tenant = TenantId::parse(&tenant_text)
        .with_context(|| format!("invalid corpus parameter tenant={tenant_text:?}"))?;
    if start_unix_nanos >= end_unix_nanos {
        bail!(
            "corpus parameter start_unix_nanos={start_unix_nanos} is not before end_unix_nanos={end_unix_nanos}"
        );
    }
    let layout = CorpusLayout::new(
        end_unix_nanos,
        Duration::from_nanos(end_unix_nanos - start_unix_nanos),
        total_spans,
        block_spans,
    )
    .context("invalid corpus layout")?;
    Ok(Settings {
        generator: GeneratorSettings {
            seed,
            ..GeneratorSettings::default()
        },
        layout,
        tenant,
        writers: 1,
    })
}

fn header_value<T: std::str::FromStr>(id_file: &IdFile, key: &str) -> anyhow::Result<T> {
    let text = id_file
        .metadata
        .get(key)
        .with_context(|| format!("the header has no corpus parameter {key}"))?;
    text.parse()
        .map_err(|_| anyhow::anyhow!("invalid corpus parameter {key}={text:?}"))
}

/// One encoded `ExportTraceServiceRequest`.
struct Request {
    body: Vec<u8>,
    span_count: u64,
    /// 0-based block (time slice) its traces belong to.
    block_index: u64,
}

/// What regenerating the corpus produced.
#[derive(Debug, Default)]
struct Produced {
    /// The sampled ids, as `weft bench storage` writes them to the id file.
    samples: Vec<TraceIdSample>,
    /// Traces in the plan.
    planned_traces: u64,
    /// Traces and spans regenerated and handed over as requests.
    traces: u64,
    spans: u64,
    /// True when `send` stopped the regeneration before the end.
    stopped: bool,
}

/// Regenerates the corpus `settings` describes, block by block, and hands it to `send`
/// as encoded requests of at least `spans_per_request` spans (the last of each block may
/// be smaller), whole traces in start-time order; `send` answers false to stop. Errors
/// when a regenerated trace is not the planned one, or when the corpus's first trace is
/// not `first_sample` (the id file's first line), which means the parameters do not
/// describe the corpus the id file came from.
fn produce_requests(
    settings: &Settings,
    first_sample: Option<TraceIdSample>,
    spans_per_request: usize,
    mut send: impl FnMut(Request) -> bool,
) -> anyhow::Result<Produced> {
    let mut generator = TraceGenerator::new(settings.generator.clone());
    let mut produced = Produced::default();
    let mut failure = None;
    let mut batch: Vec<Span> = Vec::with_capacity(spans_per_request + 1_024);
    let (samples, planned_traces) = plan_blocks(settings, |mut plan| {
        let block_index = plan.block_index;
        let mut handed_over = true;
        let outcome = regenerate_block(&mut generator, &mut plan, |trace| {
            produced.traces += 1;
            produced.spans += trace.len() as u64;
            if produced.traces == 1
                && let Some(sample) = first_sample
                && (trace[0].trace_id, trace[0].start_unix_nanos)
                    != (sample.trace_id, sample.start_unix_nanos)
            {
                failure = Some(anyhow::anyhow!(
                    "the corpus's first trace is {} at {}, but the id file starts with {} at {}: \
                     its header does not describe the corpus its ids came from",
                    trace[0].trace_id,
                    trace[0].start_unix_nanos,
                    sample.trace_id,
                    sample.start_unix_nanos
                ));
                return false;
            }
            batch.extend(trace);
            if batch.len() >= spans_per_request {
                handed_over = send(encode_request(&batch, block_index));
                batch.clear();
            }
            handed_over
        });
        if let Err(error) = outcome {
            failure.get_or_insert(error);
            return false;
        }
        if failure.is_some() || !handed_over {
            return false;
        }
        if !batch.is_empty() {
            handed_over = send(encode_request(&batch, block_index));
            batch.clear();
        }
        handed_over
    });
    if let Some(error) = failure {
        return Err(error);
    }
    produced.samples = samples;
    produced.planned_traces = planned_traces;
    produced.stopped = produced.traces < planned_traces;
    Ok(produced)
}

/// Regenerates a block's planned traces at their planned start times, in start-time
/// order, and hands each to `visit` (which answers false to stop). Errors when the
/// generator gives another trace than the plan says.
fn regenerate_block(
    generator: &mut TraceGenerator,
    plan: &mut BlockPlan,
    mut visit: impl FnMut(Vec<Span>) -> bool,
) -> anyhow::Result<()> {
    plan.traces
        .sort_unstable_by_key(|(trace_id, _, start_unix_nanos)| (*start_unix_nanos, *trace_id));
    for (trace_id, position, start_unix_nanos) in &plan.traces {
        generator.seek(*position);
        let trace = generator.next_trace(*start_unix_nanos);
        if trace.first().map(|span| span.trace_id) != Some(*trace_id) {
            bail!(
                "regenerating trace {trace_id} of block {} gave another trace",
                plan.block_index
            );
        }
        if !visit(trace) {
            break;
        }
    }
    Ok(())
}

fn encode_request(spans: &[Span], block_index: u64) -> Request {
    Request {
        body: weft_codec::otlp::encode_proto(spans),
        span_count: spans.len() as u64,
        block_index,
    }
}

/// Counters shared by the sender, its requests and the progress lines.
#[derive(Default)]
struct Tally {
    requests_sent: AtomicU64,
    spans_sent: AtomicU64,
    spans_stored: AtomicU64,
    spans_rejected: AtomicU64,
    refusals: AtomicU64,
    failed_attempts: AtomicU64,
    /// Spans the pacing schedule called for that had not gone out, at the last request.
    spans_behind: AtomicU64,
    block_index: AtomicU64,
    failed: AtomicBool,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, message: String) {
        self.failed.store(true, Ordering::SeqCst);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(message);
    }
}

/// Sends every request from `requests`, paced at `spans_per_second` (0: unpaced) with at
/// most `concurrency` in flight, until the queue ends or a request fails for good.
async fn send_all(
    exporter: &Exporter,
    mut requests: mpsc::Receiver<Request>,
    spans_per_second: f64,
    concurrency: usize,
    tally: &Arc<Tally>,
    started: Instant,
) -> anyhow::Result<()> {
    let mut pacer = (spans_per_second > 0.0).then(|| Pacer::new(spans_per_second));
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut in_flight = tokio::task::JoinSet::new();
    while let Some(request) = requests.recv().await {
        if tally.failed.load(Ordering::SeqCst) {
            break;
        }
        if let Some(pacer) = pacer.as_mut() {
            let due = pacer.due(pacer.spans_scheduled() + request.span_count);
            tokio::time::sleep_until((started + due).into()).await;
        }
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .context("request slots closed")?;
        if let Some(pacer) = pacer.as_mut() {
            let due = pacer.reserve(request.span_count);
            pacer.record_send(due, started.elapsed());
            tally
                .spans_behind
                .store(pacer.spans_behind(started.elapsed()), Ordering::Relaxed);
        }
        tally.requests_sent.fetch_add(1, Ordering::Relaxed);
        tally
            .spans_sent
            .fetch_add(request.span_count, Ordering::Relaxed);
        tally
            .block_index
            .store(request.block_index, Ordering::Relaxed);
        let exporter = exporter.clone();
        let tally = tally.clone();
        in_flight.spawn(async move {
            send_one(&exporter, request, &tally).await;
            drop(slot);
        });
        while in_flight.try_join_next().is_some() {}
    }
    // Dropping the receiver stops the regeneration if the loop ended early.
    drop(requests);
    while in_flight.join_next().await.is_some() {}
    match tally
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    {
        Some(error) => bail!("the export stopped: {error}"),
        None => Ok(()),
    }
}

/// Sends one request until it is stored, retrying refusals after the server's hint and
/// other failures a second apart; marks the tally failed when it gives up.
async fn send_one(exporter: &Exporter, request: Request, tally: &Tally) {
    let (mut refused, mut failed) = (0u32, 0u32);
    let last_error = loop {
        // A copy per attempt (retries are rare) keeps this crate off a direct `bytes`
        // dependency.
        match exporter
            .export(request.body.clone().into(), request.span_count)
            .await
        {
            ExportOutcome::Stored { rejected_spans } => {
                let rejected_spans = rejected_spans.min(request.span_count);
                tally
                    .spans_stored
                    .fetch_add(request.span_count - rejected_spans, Ordering::Relaxed);
                tally
                    .spans_rejected
                    .fetch_add(rejected_spans, Ordering::Relaxed);
                return;
            }
            ExportOutcome::Refused { retry_after } => {
                tally.refusals.fetch_add(1, Ordering::Relaxed);
                refused += 1;
                if refused >= MAX_REFUSED_ATTEMPTS {
                    break format!("refused {refused} times");
                }
                tokio::time::sleep(retry_after.min(MAX_RETRY_WAIT)).await;
            }
            ExportOutcome::Failed { message } => {
                tally.failed_attempts.fetch_add(1, Ordering::Relaxed);
                failed += 1;
                if failed >= MAX_FAILED_ATTEMPTS {
                    break format!("failed {failed} times, last: {message}");
                }
                tokio::time::sleep(FAILED_RETRY_WAIT).await;
            }
        }
        if tally.failed.load(Ordering::SeqCst) {
            return;
        }
    };
    tally.fail(format!(
        "a request of {} spans was {last_error}",
        request.span_count
    ));
}

async fn report_progress(tally: Arc<Tally>, started: Instant, block_count: u64) {
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.tick().await;
    let (mut last_stored, mut last_time) = (0u64, Instant::now());
    loop {
        ticker.tick().await;
        let stored = tally.spans_stored.load(Ordering::Relaxed);
        let now = Instant::now();
        let recent = (stored - last_stored.min(stored)) as f64
            / now.duration_since(last_time).as_secs_f64().max(1e-9);
        (last_stored, last_time) = (stored, now);
        eprintln!(
            "  {:>6.0} s  block {} of {block_count}: {} spans stored, {} spans/s overall, {} spans/s last {} s, \
             {} refusals, {} failed attempts, {} spans behind schedule",
            started.elapsed().as_secs_f64(),
            tally.block_index.load(Ordering::Relaxed) + 1,
            thousands(stored),
            thousands((stored as f64 / started.elapsed().as_secs_f64().max(1e-9)) as u64),
            thousands(recent as u64),
            PROGRESS_INTERVAL.as_secs(),
            thousands(tally.refusals.load(Ordering::Relaxed)),
            thousands(tally.failed_attempts.load(Ordering::Relaxed)),
            thousands(tally.spans_behind.load(Ordering::Relaxed)),
        );
    }
}

fn print_report(tally: &Tally, produced: &Produced, elapsed: Duration) {
    let stored = tally.spans_stored.load(Ordering::Relaxed);
    println!(
        "sent           {} spans in {} traces, {} requests",
        thousands(tally.spans_sent.load(Ordering::Relaxed)),
        thousands(produced.traces),
        thousands(tally.requests_sent.load(Ordering::Relaxed)),
    );
    println!(
        "acknowledged   {} spans stored, {} rejected; {} refusals retried, {} failed attempts retried",
        thousands(stored),
        thousands(tally.spans_rejected.load(Ordering::Relaxed)),
        thousands(tally.refusals.load(Ordering::Relaxed)),
        thousands(tally.failed_attempts.load(Ordering::Relaxed)),
    );
    println!(
        "rate           {} spans/s over {:.1} s",
        thousands((stored as f64 / elapsed.as_secs_f64().max(1e-9)) as u64),
        elapsed.as_secs_f64()
    );
}

/// Checks that what was acknowledged is the whole corpus the id file describes.
fn verify(
    tally: &Tally,
    produced: &Produced,
    id_file: &IdFile,
    layout: CorpusLayout,
) -> anyhow::Result<()> {
    if produced.stopped || produced.traces != produced.planned_traces {
        bail!(
            "only {} of the corpus's {} traces were regenerated",
            produced.traces,
            produced.planned_traces
        );
    }
    if produced.samples != id_file.samples {
        let first_difference = produced
            .samples
            .iter()
            .zip(&id_file.samples)
            .position(|(regenerated, listed)| regenerated != listed)
            .unwrap_or(produced.samples.len().min(id_file.samples.len()));
        bail!(
            "the regenerated corpus's sampled ids differ from the id file's ({} against {} samples, first difference at sample {first_difference})",
            produced.samples.len(),
            id_file.samples.len()
        );
    }
    let max_trace_spans = GeneratorSettings::default().max_spans_per_trace as u64;
    if !(layout.total_spans..layout.total_spans + max_trace_spans).contains(&produced.spans) {
        bail!(
            "regenerated {} spans, but a corpus of {} spans ends within one trace after it",
            produced.spans,
            layout.total_spans
        );
    }
    let stored = tally.spans_stored.load(Ordering::Relaxed);
    let rejected = tally.spans_rejected.load(Ordering::Relaxed);
    if stored != produced.spans || rejected != 0 {
        bail!(
            "{stored} of the corpus's {} spans were stored ({rejected} rejected)",
            produced.spans
        );
    }
    println!(
        "verified       all {} spans of the corpus's {} traces acknowledged; the id file's {} sampled ids regenerated with their start times",
        thousands(produced.spans),
        thousands(produced.traces),
        id_file.samples.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus of `spans` spans over the hour before 1_800_000_000 s, as an id file's
    /// header gives it.
    fn settings(spans: u64, block_spans: u64) -> Settings {
        let header = format!(
            "# block_spans={block_spans} end_unix_nanos=1800000000000000000 seed=42 \
             spans={spans} start_unix_nanos=1799996400000000000 tenant=single-tenant\n"
        );
        corpus_settings(&IdFile::parse(&header).expect("parses")).expect("valid")
    }

    /// The corpus written by hand from the layout: generate in order, fill block `i`
    /// until `cumulative_spans_after(i)`, start trace `j` of `n` at `spread(j, n)`.
    fn corpus_by_hand(settings: &Settings) -> Vec<Vec<Span>> {
        let layout = settings.layout;
        let mut counting = TraceGenerator::new(settings.generator.clone());
        let mut generator = TraceGenerator::new(settings.generator.clone());
        let mut corpus = Vec::new();
        let mut spans = 0u64;
        for block_index in 0..layout.block_count() {
            let mut count = 0u64;
            while spans < layout.cumulative_spans_after(block_index) {
                spans += counting.next_trace(0).len() as u64;
                count += 1;
            }
            let slice = layout.slice(block_index);
            for index in 0..count {
                corpus.push(generator.next_trace(slice.spread(index, count)));
            }
        }
        corpus
    }

    fn by_ids(mut spans: Vec<Span>) -> Vec<Span> {
        spans.sort_by_key(|span| (span.trace_id, span.span_id));
        spans
    }

    #[test]
    fn the_requests_hold_exactly_the_corpus_storage_writes() {
        let settings = settings(30_000, 10_000);
        let mut requests = Vec::new();
        let produced = produce_requests(&settings, None, 1_000, |request| {
            requests.push(request);
            true
        })
        .expect("regenerates");
        let expected = corpus_by_hand(&settings);
        assert_eq!(produced.traces, expected.len() as u64);
        assert_eq!(produced.planned_traces, produced.traces);
        assert!(!produced.stopped);

        // Request by request, the spans are the hand-made corpus's, in its order.
        let mut sent = Vec::new();
        for request in &requests {
            assert!(request.span_count >= 1);
            let decoded = weft_codec::otlp::decode_proto(&request.body).expect("valid request");
            assert_eq!(decoded.rejected_spans, 0);
            assert_eq!(decoded.batch.len() as u64, request.span_count);
            sent.extend(decoded.batch.spans);
        }
        let expected_spans: Vec<Span> = expected.iter().flatten().cloned().collect();
        assert_eq!(produced.spans, expected_spans.len() as u64);
        assert!(produced.spans >= 30_000);
        assert_eq!(by_ids(sent), by_ids(expected_spans));
        // Blocks go out in order, and requests are full except each block's last.
        assert!(requests.windows(2).all(|pair| {
            pair[0].block_index <= pair[1].block_index
                && (pair[0].span_count >= 1_000 || pair[0].block_index < pair[1].block_index)
        }));

        // The samples storage writes to the id file are traces sent, at their start.
        assert!(!produced.samples.is_empty());
        for sample in &produced.samples {
            assert!(
                expected.iter().any(|trace| {
                    trace[0].trace_id == sample.trace_id
                        && trace[0].start_unix_nanos == sample.start_unix_nanos
                }),
                "sample {} missing",
                sample.trace_id
            );
        }
    }

    #[test]
    fn a_header_for_another_corpus_is_refused_before_sending() {
        let settings = settings(30_000, 10_000);
        let wrong_first = TraceIdSample {
            trace_id: weft_model::TraceId::from_halves(1, 2),
            start_unix_nanos: settings.layout.start_unix_nanos,
        };
        let mut sent = 0;
        let error = produce_requests(&settings, Some(wrong_first), 1_000, |_| {
            sent += 1;
            true
        })
        .expect_err("another corpus");
        assert!(error.to_string().contains("does not describe"), "{error}");
        assert_eq!(sent, 0);

        // The right first sample passes, and a sender that stops ends the regeneration.
        let (samples, _) = plan_blocks(&settings, |_| true);
        let produced = produce_requests(&settings, samples.first().copied(), 1_000, |_| false)
            .expect("regenerates");
        assert!(produced.stopped);
    }

    #[test]
    fn the_id_file_header_gives_the_storage_settings() {
        let header =
            |line: &str| IdFile::parse(&format!("# weft bench storage\n{line}\n")).expect("parses");
        let file = header(
            "# block_spans=2000000 end_unix_nanos=1796441771783590334 hours=24 seed=42 \
             spans=50000000 start_unix_nanos=1796355371783590334 tenant=single-tenant",
        );
        let settings = corpus_settings(&file).expect("valid");
        assert_eq!(settings.generator.seed, 42);
        assert_eq!(settings.layout.start_unix_nanos, 1_796_355_371_783_590_334);
        assert_eq!(settings.layout.end_unix_nanos, 1_796_441_771_783_590_334);
        assert_eq!(settings.layout.block_count(), 25);
        assert_eq!(settings.tenant, TenantId::single());

        let missing = header("# block_spans=2 end_unix_nanos=9 seed=1 spans=5 tenant=t");
        let refusal = |file: &IdFile| match corpus_settings(file) {
            Ok(_) => panic!("accepted {file:?}"),
            Err(error) => format!("{error:#}"),
        };
        let error = refusal(&missing);
        assert!(error.contains("start_unix_nanos"), "{error}");
        let bad =
            header("# block_spans=2 end_unix_nanos=9 seed=x spans=5 start_unix_nanos=1 tenant=t");
        let error = refusal(&bad);
        assert!(error.contains("seed=\"x\""), "{error}");
        let backwards =
            header("# block_spans=2 end_unix_nanos=9 seed=1 spans=5 start_unix_nanos=9 tenant=t");
        let error = refusal(&backwards);
        assert!(error.contains("not before"), "{error}");
    }
}
