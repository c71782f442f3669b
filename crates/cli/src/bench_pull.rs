//! `weft bench pull`: N simulated scrape targets (weft-client rings on their own
//! loopback ports, fed by the corpus generator at a total rate) scraped by a fresh
//! `weft serve --scrape.config-file`, and with `--compare-push` the same spans pushed
//! over OTLP to another fresh server, rounds alternating; reports loss, CPU per span
//! and memory of the server and of this (simulator) process. See `weft_bench::pull`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use weft_bench::cpu::{CpuTime, process_cpu_time};
use weft_bench::exporter::Exporter;
use weft_bench::pull::{
    Dealing, FeedReport, TargetSet, TargetTotals, per_target_rate, run_pusher, spawn_feeder,
    spread_offsets,
};
use weft_bench::pull_config::{JOB_NAME, file_sd_json, metric_sum, scrape_config_yaml};
use weft_bench::soak::process_memory_bytes;
use weft_bench::stats::nearest_rank;
use weft_bench::{GeneratorSettings, Protocol};

use crate::bench::{StartedServer, mebibytes, thousands};

pub fn command() -> Command {
    Command::new("pull")
        .about("Simulate many pull targets (weft-client ring buffers on their own ports) fed at a total rate, have a fresh weft serve scrape them, and report loss, CPU per span and RSS of server and simulator; --compare-push also pushes the same spans over OTLP")
        .arg(Arg::new("targets").long("targets").default_value("1000").value_parser(value_parser!(usize)).help("Simulated targets, each with its own ring and listener"))
        .arg(Arg::new("rate").long("rate").default_value("100000").value_parser(value_parser!(f64)).help("Total spans per second over all targets (paced)"))
        .arg(Arg::new("duration").long("duration").default_value("60s").help("How long to generate spans per round"))
        .arg(Arg::new("interval").long("interval").default_value("1s").help("Scrape interval (push mode: export interval)"))
        .arg(Arg::new("ring-bytes").long("ring-bytes").default_value("1048576").value_parser(value_parser!(usize)).help("Ring buffer capacity per target, bytes (rings keep read spans until evicted, so the simulator holds up to targets x this)"))
        .arg(Arg::new("seed").long("seed").default_value("42").value_parser(value_parser!(u64)).help("Corpus seed"))
        .arg(Arg::new("deal").long("deal").default_value("services").help("What goes to the targets in turn: services (each trace's spans of one service to one target, as a service instance records them) or spans (single spans)"))
        .arg(Arg::new("compare-push").long("compare-push").action(ArgAction::SetTrue).help("After each pull round, push the same spans at the same rate over OTLP to a fresh server"))
        .arg(Arg::new("push-without-target-labels").long("push-without-target-labels").action(ArgAction::SetTrue).help("Push rounds send the spans as generated; by default each resource carries the labels the scraper would add (job, instance, bench), so both modes store the same data"))
        .arg(Arg::new("push-protocol").long("push-protocol").default_value("otlp-grpc").help("otlp-grpc or otlp-http"))
        .arg(Arg::new("rounds").long("rounds").default_value("1").value_parser(value_parser!(usize)).help("Rounds (with --compare-push each is pull then push); medians are reported"))
        .arg(Arg::new("drain-timeout").long("drain-timeout").default_value("60s").help("How long after generating the server may take to confirm every span"))
        .arg(Arg::new("warmup-timeout").long("warmup-timeout").default_value("60s").help("How long the server may take to scrape every target once before generating starts"))
        .arg(
            Arg::new("server-arg")
                .long("server-arg")
                .action(ArgAction::Append)
                .allow_hyphen_values(true)
                .help("Extra argument for the started servers, repeatable"),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pull,
    Push(Protocol),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Pull => String::from("pull"),
            Mode::Push(protocol) => format!("push {}", protocol.name()),
        }
    }
}

struct Settings {
    targets: usize,
    spans_per_second: f64,
    duration: Duration,
    interval: Duration,
    ring_capacity_bytes: usize,
    generator: GeneratorSettings,
    dealing: Dealing,
    drain_timeout: Duration,
    warmup_timeout: Duration,
    extra_server_arguments: Vec<String>,
    /// Push rounds add the scraper's target labels to every resource.
    push_target_labels: bool,
}

/// Resident set statistics of one process over a round.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    median_bytes: Option<u64>,
    max_sampled_bytes: Option<u64>,
}

struct RoundReport {
    mode: Mode,
    feed: FeedReport,
    totals: TargetTotals,
    /// Spans the server says it stored: scraped minus rejected, or accepted by the
    /// receiver.
    server_stored: u64,
    /// Spans the server says it rejected or found invalid.
    server_rejected: u64,
    /// Spans the server says the clients evicted before it read them (pull only).
    server_dropped_by_client: u64,
    /// Pushes into the ingester that waited for memory, and that were refused for it
    /// (`weft_ingester_memory_waits_total`, `weft_ingester_refused_pushes_total`).
    ingester_memory_waits: u64,
    ingester_refused_pushes: u64,
    unacknowledged_at_end: u64,
    /// From the start of generating until the server confirmed the last span.
    window: Duration,
    server_cpu: CpuTime,
    bench_cpu: CpuTime,
    server_memory: Memory,
    server_peak_bytes: Option<u64>,
    bench_memory: Memory,
}

impl RoundReport {
    fn loss(&self) -> i64 {
        self.feed.spans_generated as i64 - self.server_stored as i64
    }

    fn server_micros_per_span(&self) -> f64 {
        self.server_cpu.total().as_secs_f64() * 1e6 / self.feed.spans_generated.max(1) as f64
    }

    fn bench_micros_per_span(&self) -> f64 {
        self.bench_cpu.total().as_secs_f64() * 1e6 / self.feed.spans_generated.max(1) as f64
    }
}

fn duration_arg(arguments: &ArgMatches, name: &str) -> anyhow::Result<Duration> {
    let text = arguments
        .get_one::<String>(name)
        .context("argument with a default")?;
    humantime::parse_duration(text).with_context(|| format!("invalid --{name} {text:?}"))
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let settings = Settings {
        targets: (*arguments.get_one::<usize>("targets").unwrap_or(&1000)).max(1),
        spans_per_second: *arguments.get_one::<f64>("rate").unwrap_or(&100_000.0),
        duration: duration_arg(arguments, "duration")?,
        interval: duration_arg(arguments, "interval")?,
        ring_capacity_bytes: *arguments
            .get_one::<usize>("ring-bytes")
            .unwrap_or(&1_048_576),
        generator: GeneratorSettings {
            seed: *arguments.get_one::<u64>("seed").unwrap_or(&42),
            ..GeneratorSettings::default()
        },
        dealing: match arguments.get_one::<String>("deal").map(String::as_str) {
            Some("services") | None => Dealing::ServiceGroups,
            Some("spans") => Dealing::Spans,
            Some(other) => bail!("invalid --deal {other:?}: expected services or spans"),
        },
        drain_timeout: duration_arg(arguments, "drain-timeout")?,
        warmup_timeout: duration_arg(arguments, "warmup-timeout")?,
        extra_server_arguments: arguments
            .get_many::<String>("server-arg")
            .map(|values| values.cloned().collect())
            .unwrap_or_default(),
        push_target_labels: !arguments.get_flag("push-without-target-labels"),
    };
    if settings.push_target_labels
        && settings.dealing == Dealing::Spans
        && arguments.get_flag("compare-push")
    {
        bail!(
            "--deal spans gives one group's spans to many targets, so push rounds cannot label them per target: add --push-without-target-labels"
        );
    }
    if !(settings.spans_per_second.is_finite() && settings.spans_per_second >= 1.0) {
        bail!(
            "invalid --rate {}: expected at least 1 span per second",
            settings.spans_per_second
        );
    }
    let push_protocol_text = arguments
        .get_one::<String>("push-protocol")
        .context("argument with a default")?;
    let push_protocol = match Protocol::parse(push_protocol_text) {
        Some(protocol @ (Protocol::OtlpGrpc | Protocol::OtlpHttp)) => protocol,
        _ => {
            bail!("invalid --push-protocol {push_protocol_text:?}: expected otlp-grpc or otlp-http")
        }
    };
    // Each target holds a listener and a scraper connection: two descriptors apiece.
    raise_open_file_limit(settings.targets as u64 * 2 + 256)?;
    let mut modes = vec![Mode::Pull];
    if arguments.get_flag("compare-push") {
        modes.push(Mode::Push(push_protocol));
    }
    let rounds = (*arguments.get_one::<usize>("rounds").unwrap_or(&1)).max(1);
    println!(
        "pull bench: {} targets x {:.0} spans/s = {} spans/s for {:?} per round, interval {:?}, ring {} KiB per target; {} round(s) of {}",
        thousands(settings.targets as u64),
        per_target_rate(settings.spans_per_second, settings.targets),
        thousands(settings.spans_per_second as u64),
        settings.duration,
        settings.interval,
        settings.ring_capacity_bytes / 1024,
        rounds,
        modes
            .iter()
            .map(|mode| mode.name())
            .collect::<Vec<_>>()
            .join(", then ")
    );
    let mut reports = Vec::new();
    for round in 1..=rounds {
        for &mode in &modes {
            println!("round {round}: {}", mode.name());
            let report = run_round(mode, &settings, round).await?;
            print_round(&report);
            reports.push(report);
        }
    }
    print_summary(&reports);
    Ok(())
}

/// What the scraper adds to the resources of target `index` (`job`, `instance` and the
/// file SD group's `bench` label), with made-up loopback addresses of the same shape:
/// push rounds send them so that both modes store the same attributes.
fn push_target_labels(targets: usize) -> weft_bench::pull::TargetResourceLabels {
    (0..targets)
        .map(|index| {
            vec![
                (String::from("job"), String::from(JOB_NAME)),
                (
                    String::from("instance"),
                    format!("127.0.0.1:{}", 20_000 + index),
                ),
                (String::from("bench"), String::from("pull")),
            ]
        })
        .collect()
}

/// Raises the soft open-file limit to at least `wanted` (up to the hard limit); the
/// started servers inherit it.
fn raise_open_file_limit(wanted: u64) -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return Ok(());
    }
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    if maximum < wanted {
        bail!(
            "{wanted} open files are needed but the hard limit is {maximum}; lower --targets or raise the limit"
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        },
    )
    .context("cannot raise the open-file limit")
}

async fn run_round(mode: Mode, settings: &Settings, round: usize) -> anyhow::Result<RoundReport> {
    let targets = TargetSet::new(settings.targets, settings.ring_capacity_bytes);
    let (stop, stop_receiver) = tokio::sync::watch::channel(false);
    let work_directory =
        std::env::temp_dir().join(format!("weft-bench-pull-{}-{round}", std::process::id()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut server = match mode {
        Mode::Pull => {
            let (addresses, serving) = targets.serve(stop_receiver.clone()).await?;
            tasks = serving;
            std::fs::create_dir_all(&work_directory)
                .with_context(|| format!("cannot create {}", work_directory.display()))?;
            let targets_file = work_directory.join("targets.json");
            let config_file = work_directory.join("prometheus.yml");
            write(&targets_file, &file_sd_json(&addresses))?;
            write(
                &config_file,
                &scrape_config_yaml(&targets_file, settings.interval),
            )?;
            let mut server_arguments = vec![
                String::from("--scrape.config-file"),
                config_file.display().to_string(),
            ];
            server_arguments.extend(settings.extra_server_arguments.iter().cloned());
            let server = StartedServer::start(&server_arguments).await?;
            wait_for_first_scrapes(&targets, settings.warmup_timeout).await?;
            server
        }
        Mode::Push(protocol) => {
            let server = StartedServer::start(&settings.extra_server_arguments).await?;
            let endpoint = server.endpoint(protocol);
            let offsets =
                spread_offsets(settings.targets, settings.interval, settings.generator.seed);
            for (target, offset) in targets.targets().iter().zip(offsets) {
                // Each simulated application has its own exporter and so its own
                // connection, as the scraper has one per target: a fleet does not share
                // one HTTP/2 connection.
                let exporter = Exporter::connect(protocol, &endpoint, None).await?;
                tasks.spawn(run_pusher(
                    Arc::clone(target),
                    exporter,
                    settings.interval,
                    offset,
                    stop_receiver.clone(),
                ));
            }
            server
        }
    };

    let server_pid = server.pid();
    let own_pid = std::process::id();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_memory(
        server_pid,
        own_pid,
        targets.clone(),
        Arc::clone(&stop_sampling),
    ));
    let server_cpu_before =
        process_cpu_time(server_pid).context("cannot read the server's CPU time")?;
    let bench_cpu_before = process_cpu_time(own_pid).context("cannot read own CPU time")?;
    let started = Instant::now();
    let resource_labels = match mode {
        Mode::Push(_) if settings.push_target_labels => Some(push_target_labels(settings.targets)),
        _ => None,
    };
    let feeder = spawn_feeder(
        &targets,
        settings.generator.clone(),
        settings.spans_per_second,
        settings.duration,
        settings.dealing,
        resource_labels,
    )?;
    let feed = tokio::task::spawn_blocking(move || feeder.join())
        .await
        .context("the feeder could not be joined")?
        .map_err(|_| anyhow::anyhow!("the feeding thread panicked"))?;
    let drain_deadline = Instant::now() + settings.drain_timeout;
    while targets.unacknowledged_spans() > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = started.elapsed();
    let server_cpu = process_cpu_time(server_pid)
        .context("cannot read the server's CPU time")?
        .since(&server_cpu_before);
    let bench_cpu = process_cpu_time(own_pid)
        .context("cannot read own CPU time")?
        .since(&bench_cpu_before);
    stop_sampling.store(true, Ordering::SeqCst);
    let (server_samples, bench_samples) = sampler.await.context("the memory sampler panicked")?;
    let server_peak_bytes = process_memory_bytes(server_pid, "VmHWM");
    let metrics = reqwest::Client::new()
        .get(server.metrics_url())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .context("cannot read the server's /metrics")?
        .text()
        .await
        .context("cannot read the server's /metrics")?;
    let (server_stored, server_rejected, server_dropped_by_client) = match mode {
        Mode::Pull => {
            let rejected = metric_sum(&metrics, "weft_scrape_spans_rejected_total");
            (
                metric_sum(&metrics, "weft_scrape_spans_total") - rejected,
                rejected + metric_sum(&metrics, "weft_scrape_spans_invalid_total"),
                metric_sum(&metrics, "weft_scrape_spans_dropped_by_client_total"),
            )
        }
        Mode::Push(_) => (
            metric_sum(&metrics, "weft_receiver_spans_received_total"),
            metric_sum(&metrics, "weft_receiver_spans_rejected_total"),
            0.0,
        ),
    };
    let ingester_memory_waits = metric_sum(&metrics, "weft_ingester_memory_waits_total") as u64;
    let ingester_refused_pushes = metric_sum(&metrics, "weft_ingester_refused_pushes_total") as u64;
    let totals = targets.totals();
    let unacknowledged_at_end = targets.unacknowledged_spans();
    let _ = stop.send(true);
    server.stop().await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    server.remove_storage();
    let _ = std::fs::remove_dir_all(&work_directory);
    Ok(RoundReport {
        mode,
        feed,
        totals,
        server_stored: server_stored as u64,
        server_rejected: server_rejected as u64,
        server_dropped_by_client: server_dropped_by_client as u64,
        ingester_memory_waits,
        ingester_refused_pushes,
        unacknowledged_at_end,
        window,
        server_cpu,
        bench_cpu,
        server_memory: memory(server_samples),
        server_peak_bytes,
        bench_memory: memory(bench_samples),
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

async fn wait_for_first_scrapes(targets: &TargetSet, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let contacted = targets.totals().targets_contacted;
        if contacted == targets.targets().len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the server scraped only {contacted} of {} targets within {timeout:?}",
                targets.targets().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Samples both processes' `VmRSS` every second until `stop`, printing progress every
/// five samples.
async fn sample_memory(
    server_pid: u32,
    own_pid: u32,
    targets: TargetSet,
    stop: Arc<AtomicBool>,
) -> (Vec<u64>, Vec<u64>) {
    let started = Instant::now();
    let (mut server_samples, mut bench_samples) = (Vec::new(), Vec::new());
    let mut next = started + Duration::from_secs(1);
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() < next {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        next += Duration::from_secs(1);
        let server = process_memory_bytes(server_pid, "VmRSS");
        let bench = process_memory_bytes(own_pid, "VmRSS");
        server_samples.extend(server);
        bench_samples.extend(bench);
        if bench_samples.len() % 5 == 0 {
            let totals = targets.totals();
            println!(
                "  {:>4.0}s  generated {:>12}  confirmed {:>12}  server RSS {:>6.0} MiB  simulator RSS {:>6.0} MiB",
                started.elapsed().as_secs_f64(),
                thousands(totals.spans_buffered),
                thousands(totals.spans_acknowledged),
                mebibytes(server.unwrap_or(0)),
                mebibytes(bench.unwrap_or(0)),
            );
        }
    }
    (server_samples, bench_samples)
}

fn memory(mut samples: Vec<u64>) -> Memory {
    samples.sort_unstable();
    Memory {
        median_bytes: nearest_rank(&samples, 0.5),
        max_sampled_bytes: samples.last().copied(),
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes
        .map(|bytes| format!("{:.0} MiB", mebibytes(bytes)))
        .unwrap_or_else(|| String::from("-"))
}

fn print_round(report: &RoundReport) {
    let feed = &report.feed;
    let totals = &report.totals;
    println!(
        "  generated    {} spans in {} traces = {} spans/s over {:.1} s (max {:.2} s behind schedule, {} spans due never generated)",
        thousands(feed.spans_generated),
        thousands(feed.traces_generated),
        thousands((feed.spans_generated as f64 / feed.elapsed.as_secs_f64().max(1e-9)) as u64),
        feed.elapsed.as_secs_f64(),
        feed.max_lag.as_secs_f64(),
        thousands(feed.spans_behind_at_end)
    );
    println!(
        "  loss         {} = generated {} - stored by the server {} ({}) when the drain ended {}",
        report.loss(),
        thousands(feed.spans_generated),
        thousands(report.server_stored),
        match report.mode {
            Mode::Pull => "sum of weft_scrape_spans_total - weft_scrape_spans_rejected_total",
            Mode::Push(_) => "sum of weft_receiver_spans_received_total",
        },
        if report.unacknowledged_at_end == 0 {
            String::from("(every span confirmed)")
        } else {
            String::from("(at the drain timeout)")
        }
    );
    println!(
        "  confirmed    clients: {} confirmed stored ({}), {} evicted unread, {} unconfirmed at the end, {} refused by rings; server: {} rejected or invalid, {} reported evicted by clients",
        thousands(
            totals
                .spans_acknowledged
                .saturating_sub(totals.spans_lost_to_eviction)
        ),
        match report.mode {
            Mode::Pull => "cursors the scraper sent",
            Mode::Push(_) => "acknowledged exports",
        },
        thousands(totals.spans_lost_to_eviction),
        thousands(report.unacknowledged_at_end),
        thousands(totals.spans_refused),
        thousands(report.server_rejected),
        thousands(report.server_dropped_by_client)
    );
    println!(
        "  requests     {} answered ({} pushes failed or refused); {} of the rings' spans evicted after being read; ingester: {} pushes waited for memory, {} refused",
        thousands(totals.requests),
        thousands(totals.failed_requests),
        thousands(totals.spans_evicted),
        thousands(report.ingester_memory_waits),
        thousands(report.ingester_refused_pushes)
    );
    println!(
        "  server       CPU {:.1} s (user {:.1} + sys {:.1}) over {:.1} s = {:.0}% of a core, {:.2} us/span; RSS median {} max sampled {} peak (VmHWM) {}",
        report.server_cpu.total().as_secs_f64(),
        report.server_cpu.user.as_secs_f64(),
        report.server_cpu.system.as_secs_f64(),
        report.window.as_secs_f64(),
        report.server_cpu.total().as_secs_f64() * 100.0 / report.window.as_secs_f64().max(1e-9),
        report.server_micros_per_span(),
        mib(report.server_memory.median_bytes),
        mib(report.server_memory.max_sampled_bytes),
        mib(report.server_peak_bytes)
    );
    println!(
        "  simulator    CPU {:.1} s (user {:.1} + sys {:.1}) = {:.0}% of a core, {:.2} us/span; RSS median {} max sampled {}",
        report.bench_cpu.total().as_secs_f64(),
        report.bench_cpu.user.as_secs_f64(),
        report.bench_cpu.system.as_secs_f64(),
        report.bench_cpu.total().as_secs_f64() * 100.0 / report.window.as_secs_f64().max(1e-9),
        report.bench_micros_per_span(),
        mib(report.bench_memory.median_bytes),
        mib(report.bench_memory.max_sampled_bytes)
    );
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    nearest_rank(&values, 0.5)
}

fn print_summary(reports: &[RoundReport]) {
    let modes: Vec<Mode> = {
        let mut modes: Vec<Mode> = reports.iter().map(|report| report.mode).collect();
        modes.dedup();
        modes.sort_by_key(|mode| mode.name());
        modes.dedup();
        modes
    };
    println!("summary (medians over rounds; lower median for an even count)");
    println!(
        "  {:<15} {:>6} {:>12} {:>6} {:>14} {:>14} {:>12} {:>14}",
        "mode",
        "rounds",
        "spans/s",
        "loss",
        "server us/span",
        "server RSS med",
        "sim us/span",
        "sim RSS med"
    );
    let mut micros = Vec::new();
    for mode in modes {
        let rounds: Vec<&RoundReport> = reports
            .iter()
            .filter(|report| report.mode == mode)
            .collect();
        let server_micros = median(rounds.iter().map(|r| r.server_micros_per_span()).collect());
        micros.push((mode, server_micros));
        println!(
            "  {:<15} {:>6} {:>12} {:>6} {:>14.2} {:>14} {:>12.2} {:>14}",
            mode.name(),
            rounds.len(),
            thousands(
                median(
                    rounds
                        .iter()
                        .map(|r| r.feed.spans_generated as f64
                            / r.feed.elapsed.as_secs_f64().max(1e-9))
                        .collect()
                )
                .unwrap_or(0.0) as u64
            ),
            rounds.iter().map(|r| r.loss()).max().unwrap_or(0),
            server_micros.unwrap_or(f64::NAN),
            mib(median(
                rounds
                    .iter()
                    .filter_map(|r| r.server_memory.median_bytes.map(|b| b as f64))
                    .collect()
            )
            .map(|b| b as u64)),
            median(rounds.iter().map(|r| r.bench_micros_per_span()).collect()).unwrap_or(f64::NAN),
            mib(median(
                rounds
                    .iter()
                    .filter_map(|r| r.bench_memory.median_bytes.map(|b| b as f64))
                    .collect()
            )
            .map(|b| b as u64)),
        );
    }
    let pull = micros
        .iter()
        .find(|(mode, _)| *mode == Mode::Pull)
        .and_then(|(_, m)| *m);
    let push = micros
        .iter()
        .find(|(mode, _)| *mode != Mode::Pull)
        .and_then(|(_, m)| *m);
    if let (Some(pull), Some(push)) = (pull, push) {
        println!(
            "  server CPU per span, pull / push = {:.2} / {:.2} = {:.2}x",
            pull,
            push,
            pull / push.max(1e-9)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_lower_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(1.0));
        assert_eq!(median(Vec::new()), None);
        let memory = memory(vec![30, 10, 20]);
        assert_eq!(memory.median_bytes, Some(20));
        assert_eq!(memory.max_sampled_bytes, Some(30));
    }
}
