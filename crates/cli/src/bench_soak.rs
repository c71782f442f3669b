//! `weft bench soak`: the corpus at a fixed rate for a long time, with the server's
//! memory sampled every few seconds (see `weft_bench::soak`). By default it starts its
//! own `weft serve` like `weft bench` does; `--endpoint` drives a running server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use weft_bench::soak::{RssSample, SoakReport, SoakSettings, StreamTally};
use weft_bench::stats::millis;
use weft_bench::{GeneratorSettings, Protocol};

use crate::bench::{StartedServer, directory_bytes, mebibytes, thousands};

pub fn command() -> Command {
    Command::new("soak")
        .about("Send the corpus at a fixed rate for a long time; sample the server's RSS and report the growth trend, refusals and the giant-trace outcome")
        .arg(Arg::new("rate").long("rate").default_value("100000").value_parser(value_parser!(f64)).help("Target spans per second (paced: a sender that falls behind catches up; nothing is sent after --duration)"))
        .arg(Arg::new("duration").long("duration").default_value("10m").help("How long to send"))
        .arg(Arg::new("protocol").long("protocol").default_value("otlp-grpc").help("otlp-grpc, otlp-http, zipkin-json or zipkin-thrift"))
        .arg(Arg::new("spans-per-request").long("spans-per-request").default_value("1000").value_parser(value_parser!(usize)).help("Spans per request (whole traces, so approximate)"))
        .arg(Arg::new("concurrency").long("concurrency").default_value("8").value_parser(value_parser!(usize)).help("Requests in flight at once, retries included"))
        .arg(Arg::new("giant-trace-spans").long("giant-trace-spans").default_value("0").value_parser(value_parser!(u64)).help("Also send one trace of this many spans, spread over the run"))
        .arg(Arg::new("giant-spans-per-request").long("giant-spans-per-request").default_value("1000").value_parser(value_parser!(usize)).help("Spans of the giant trace per request"))
        .arg(Arg::new("seed").long("seed").default_value("42").value_parser(value_parser!(u64)).help("Corpus seed (shapes; trace ids are also salted per run so they never repeat)"))
        .arg(Arg::new("max-spans-per-trace").long("max-spans-per-trace").default_value("500").value_parser(value_parser!(usize)).help("Most spans in one trace (the corpus averages ~18; 2 gives many small traces, as a tail-sampling memory test wants)"))
        .arg(Arg::new("sample-interval").long("sample-interval").default_value("5s").help("Time between RSS samples"))
        .arg(Arg::new("max-attempts").long("max-attempts").default_value("10").value_parser(value_parser!(u32)).help("Attempts per refused request (retried after the server's hint) before its spans count as lost"))
        .arg(Arg::new("drain-timeout").long("drain-timeout").default_value("60s").help("How long requests still in flight at the end may take"))
        .arg(Arg::new("tenant").long("tenant").help("Sent as X-Scope-OrgID"))
        .arg(Arg::new("endpoint").long("endpoint").help("Drive this running server's listener (base URL) instead of starting one"))
        .arg(Arg::new("server-pid").long("server-pid").value_parser(value_parser!(u32)).help("With --endpoint: pid whose RSS to sample"))
        .arg(Arg::new("metrics-url").long("metrics-url").help("With --endpoint: the server's /metrics URL, for the weft_compactor_* counters"))
        .arg(Arg::new("storage-path").long("storage-path").value_parser(value_parser!(PathBuf)).help("With --endpoint: the server's storage directory, whose size is reported"))
        .arg(
            Arg::new("server-arg")
                .long("server-arg")
                .action(ArgAction::Append)
                .allow_hyphen_values(true)
                .help("Extra argument for the started server, repeatable (e.g. --server-arg=--compactor.interval=10s)"),
        )
}

fn duration_arg(arguments: &ArgMatches, name: &str, default: &str) -> anyhow::Result<Duration> {
    let text = arguments
        .get_one::<String>(name)
        .map(String::as_str)
        .unwrap_or(default);
    humantime::parse_duration(text).with_context(|| format!("invalid --{name} {text:?}"))
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let protocol_text = arguments
        .get_one::<String>("protocol")
        .map(String::as_str)
        .unwrap_or("otlp-grpc");
    let protocol = Protocol::parse(protocol_text)
        .with_context(|| format!("unknown --protocol {protocol_text:?}"))?;
    if protocol == Protocol::JaegerUdp {
        bail!(
            "--protocol jaeger-udp has no acknowledgement to pace or count; use otlp-grpc, otlp-http, zipkin-json or zipkin-thrift"
        );
    }
    let rate = *arguments.get_one::<f64>("rate").unwrap_or(&100_000.0);
    if !(rate.is_finite() && rate >= 1.0) {
        bail!("invalid --rate {rate}: expected at least 1 span per second");
    }
    let extra_server_arguments: Vec<String> = arguments
        .get_many::<String>("server-arg")
        .map(|values| values.cloned().collect())
        .unwrap_or_default();

    let mut server = None;
    let (endpoint, server_pid, metrics_url, storage_path) =
        match arguments.get_one::<String>("endpoint") {
            Some(endpoint) => (
                endpoint.clone(),
                arguments.get_one::<u32>("server-pid").copied(),
                arguments.get_one::<String>("metrics-url").cloned(),
                arguments.get_one::<PathBuf>("storage-path").cloned(),
            ),
            None => {
                let started = StartedServer::start(&extra_server_arguments).await?;
                let details = (
                    started.endpoint(protocol),
                    Some(started.pid()),
                    Some(started.metrics_url()),
                    Some(started.storage().to_path_buf()),
                );
                server = Some(started);
                details
            }
        };
    let settings = SoakSettings {
        protocol,
        endpoint,
        tenant: arguments.get_one::<String>("tenant").cloned(),
        spans_per_second: rate,
        duration: duration_arg(arguments, "duration", "10m")?,
        spans_per_request: (*arguments
            .get_one::<usize>("spans-per-request")
            .unwrap_or(&1_000))
        .max(1),
        concurrency: (*arguments.get_one::<usize>("concurrency").unwrap_or(&8)).max(1),
        generator: GeneratorSettings {
            seed: *arguments.get_one::<u64>("seed").unwrap_or(&42),
            max_spans_per_trace: (*arguments
                .get_one::<usize>("max-spans-per-trace")
                .unwrap_or(&500))
            .max(1),
            ..GeneratorSettings::default()
        },
        // A fresh salt per run: repeated runs against one server never reuse a trace id.
        trace_id_salt: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(1)
            | 1,
        giant_trace_spans: *arguments.get_one::<u64>("giant-trace-spans").unwrap_or(&0),
        giant_spans_per_request: (*arguments
            .get_one::<usize>("giant-spans-per-request")
            .unwrap_or(&1_000))
        .max(1),
        server_pid,
        sample_interval: duration_arg(arguments, "sample-interval", "5s")?,
        max_attempts: (*arguments.get_one::<u32>("max-attempts").unwrap_or(&10)).max(1),
        drain_timeout: duration_arg(arguments, "drain-timeout", "60s")?,
    };

    println!(
        "soak: {} at {} spans/s for {:?}, ~{} spans/request, {} in flight{}",
        protocol.name(),
        thousands(rate as u64),
        settings.duration,
        settings.spans_per_request,
        settings.concurrency,
        match settings.server_pid {
            Some(pid) => format!(", sampling pid {pid} every {:?}", settings.sample_interval),
            None => String::from(", no server pid: RSS not sampled"),
        }
    );
    println!("  {:>8} {:>10} {:>16}", "time", "RSS", "spans acked");
    let report = weft_bench::soak::run(&settings, Some(Box::new(print_sample))).await?;
    let storage_at_end = storage_path.as_deref().map(directory_bytes);
    let compactor = match &metrics_url {
        Some(url) => compactor_counters(url).await,
        None => Err(String::from("no --metrics-url")),
    };
    let mut storage_after_stop = None;
    if let Some(server) = server.as_mut() {
        server.stop().await?;
        storage_after_stop = Some(directory_bytes(server.storage()));
        server.remove_storage();
    }
    print_report(&report, storage_at_end, storage_after_stop, &compactor);
    Ok(())
}

fn print_sample(sample: &RssSample) {
    let rss = sample
        .rss_bytes
        .map(|bytes| format!("{:.0} MiB", mebibytes(bytes)))
        .unwrap_or_else(|| String::from("-"));
    println!(
        "  {:>7.0}s {:>10} {:>16}",
        sample.elapsed.as_secs_f64(),
        rss,
        thousands(sample.spans_acknowledged)
    );
}

/// The `weft_compactor_*` sample lines of the server's `/metrics`, histogram buckets
/// left out (their `_sum` and `_count` stay).
async fn compactor_counters(url: &str) -> Result<Vec<String>, String> {
    let text = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?
        .text()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    Ok(compactor_lines(&text))
}

fn compactor_lines(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("weft_compactor_")
                && !line
                    .split(['{', ' '])
                    .next()
                    .is_some_and(|name| name.ends_with("_bucket"))
        })
        .map(str::to_owned)
        .collect()
}

fn tally_line(tally: &StreamTally) -> String {
    format!(
        "{} requests: {} stored, {} rejected (partial success), {} refusals (retried after the server's hint), {} given up, {} failed, {} spans lost",
        thousands(tally.requests),
        thousands(tally.spans_stored),
        thousands(tally.spans_rejected),
        thousands(tally.refusals),
        tally.requests_given_up,
        tally.requests_failed,
        thousands(tally.spans_lost)
    )
}

fn print_report(
    report: &SoakReport,
    storage_at_end: Option<u64>,
    storage_after_stop: Option<u64>,
    compactor: &Result<Vec<String>, String>,
) {
    let corpus = &report.corpus;
    println!(
        "sent           {} spans = {} spans/s over {:.0} s; stored {} = {} spans/s over {:.1} s (until the last answer)",
        thousands(corpus.spans_sent),
        thousands(report.sent_spans_per_second() as u64),
        report.duration.as_secs_f64(),
        thousands(corpus.spans_stored),
        thousands(report.stored_spans_per_second() as u64),
        report.elapsed.as_secs_f64()
    );
    println!(
        "pacing         at most {:.2} s behind schedule; {} spans due by the end never sent; {:.1} s waiting for the generator",
        report.max_lag.as_secs_f64(),
        thousands(report.spans_behind_at_end),
        report.generator_wait.as_secs_f64()
    );
    println!("answers        {}", tally_line(corpus));
    println!(
        "ack latency    p50 {} p90 {} p99 {} max {} ({} stored requests)",
        millis(report.latency.p50),
        millis(report.latency.p90),
        millis(report.latency.p99),
        millis(report.latency.max),
        thousands(report.latency.count as u64)
    );
    let mib = |bytes: Option<u64>| {
        bytes
            .map(|bytes| format!("{:.0} MiB", mebibytes(bytes)))
            .unwrap_or_else(|| String::from("-"))
    };
    let samples_with_rss = report
        .samples
        .iter()
        .filter(|s| s.rss_bytes.is_some())
        .count();
    println!(
        "memory         peak {} (VmHWM), max sampled {}; growth trend {} over the second half ({} of {} samples)",
        mib(report.peak_rss_bytes),
        mib(report.max_sampled_rss_bytes()),
        report
            .growth_mib_per_minute()
            .map(|slope| format!("{slope:+.2} MiB/min"))
            .unwrap_or_else(|| String::from("- (too few samples)")),
        samples_with_rss - samples_with_rss / 2,
        samples_with_rss
    );
    if let Some(giant) = &report.giant {
        println!(
            "giant trace    {} spans of trace {} sent in {}",
            thousands(giant.spans_sent),
            report
                .giant_trace_id
                .map(|id| id.to_hex())
                .unwrap_or_default(),
            tally_line(giant)
        );
        if let Some(error) = &giant.first_error {
            println!("  giant trace first failure: {error}");
        }
    }
    match (storage_at_end, storage_after_stop) {
        (Some(at_end), Some(after)) => println!(
            "storage        {:.1} MiB on disk at the end of sending, {:.1} MiB after shutdown (head flushed to blocks, WAL segments removed)",
            mebibytes(at_end),
            mebibytes(after)
        ),
        (Some(at_end), None) => println!(
            "storage        {:.1} MiB on disk at the end",
            mebibytes(at_end)
        ),
        _ => println!("storage        - (pass --storage-path with --endpoint)"),
    }
    match compactor {
        Ok(lines) if lines.is_empty() => {
            println!("compactor      no weft_compactor_* metrics in /metrics")
        }
        Ok(lines) => {
            println!("compactor");
            for line in lines {
                println!("  {line}");
            }
        }
        Err(error) => println!("compactor      - ({error})"),
    }
    if let Some(error) = &corpus.first_error {
        println!("first failure  {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_compactor_samples_are_kept() {
        let metrics = "# HELP weft_compactor_runs_total Passes.\n# TYPE weft_compactor_runs_total counter\nweft_compactor_runs_total 3\nweft_blocks 4\nweft_compactor_blocks_merged_total{tenant=\"a\"} 8\nweft_compactor_run_seconds_bucket{le=\"1\"} 2\nweft_compactor_run_seconds_count 2\n";
        assert_eq!(
            compactor_lines(metrics),
            [
                "weft_compactor_runs_total 3",
                "weft_compactor_blocks_merged_total{tenant=\"a\"} 8",
                "weft_compactor_run_seconds_count 2"
            ]
        );
    }
}
