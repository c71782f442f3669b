//! `weft bench logs`: generates a deterministic, realistic log corpus (nginx access, JSON
//! application, Kubernetes CRI and logfmt lines; see `weft_bench::logs`), optionally writes
//! it as plain text (`--write-raw`, the input of a `zstd -3` baseline) and pushes it as
//! snappy-compressed protobuf Loki push requests from N concurrent connections at full
//! speed to any Loki push URL (weft's `--loki.listen` or a real Loki). Reports MB/s of
//! accepted log-line bytes, requests, errors and, with `--server-pid`, the server's CPU
//! seconds (and so MB per CPU second) and peak RSS.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use weft_bench::cpu::process_cpu_time;
use weft_bench::logs::{LogCorpusSettings, PushSettings, encode_corpus, parse_bytes, push_corpus};
use weft_bench::soak::process_memory_bytes;

use crate::bench::{mebibytes, thousands};

pub fn command() -> Command {
    Command::new("logs")
        .about("Generate a realistic log corpus (nginx, JSON, CRI, logfmt) and push it as Loki snappy-protobuf push requests at full speed to a Loki push URL; reports MB/s of log lines, requests, errors, server CPU and peak RSS; --write-raw writes the same lines as text")
        .arg(Arg::new("url").long("url").help("Loki push URL, e.g. http://127.0.0.1:3100/loki/api/v1/push (weft --loki.listen or a real Loki); without it the corpus is only generated (and written with --write-raw)"))
        .arg(Arg::new("bytes").long("bytes").default_value("256MB").help("Log-line bytes to generate (suffixes KB, MB, GB, KiB, MiB, GiB)"))
        .arg(Arg::new("batch-bytes").long("batch-bytes").default_value("1MiB").help("Log-line bytes per push request (Promtail's default batch is 1 MiB)"))
        .arg(Arg::new("concurrency").long("concurrency").default_value("4").value_parser(value_parser!(usize)).help("Requests in flight at once (one connection each)"))
        .arg(Arg::new("seed").long("seed").default_value("42").value_parser(value_parser!(u64)).help("Corpus seed"))
        .arg(Arg::new("job").long("job").default_value("bench").help("The job label of every stream"))
        .arg(Arg::new("pods").long("pods").default_value("4").value_parser(value_parser!(usize)).help("Pods per format; streams = 4 formats x pods x 4 levels"))
        .arg(Arg::new("span").long("span").default_value("24h").help("Time the timestamps cover, ending at --end"))
        .arg(Arg::new("end").long("end").value_parser(value_parser!(i64)).help("End of the timestamps, Unix seconds (default: now, rounded down to the hour; pass the same value to compare servers on identical corpora)"))
        .arg(Arg::new("needle-one-in").long("needle-one-in").default_value("100000").value_parser(value_parser!(u64)).help("One line in this many contains the word \"needle\" (0: none)"))
        .arg(Arg::new("tenant").long("tenant").help("X-Scope-OrgID header to send"))
        .arg(Arg::new("timeout").long("timeout").default_value("120s").help("Per-request timeout"))
        .arg(Arg::new("write-raw").long("write-raw").help("Write every line of the corpus, newline-terminated, to this file (for `zstd -3 FILE`)"))
        .arg(Arg::new("server-pid").long("server-pid").value_parser(value_parser!(u32)).help("Pid of the server whose CPU seconds during the push and peak RSS to report"))
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let text = |name: &str| {
        arguments
            .get_one::<String>(name)
            .cloned()
            .unwrap_or_default()
    };
    let total_line_bytes = parse_bytes(&text("bytes")).context("invalid --bytes")?;
    let batch_line_bytes = parse_bytes(&text("batch-bytes")).context("invalid --batch-bytes")?;
    let span = humantime::parse_duration(&text("span")).context("invalid --span")?;
    let timeout = humantime::parse_duration(&text("timeout")).context("invalid --timeout")?;
    let end_seconds = match arguments.get_one::<i64>("end") {
        Some(end) => *end,
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_secs();
            i64::try_from(now - now % 3600).context("the clock is too far ahead")?
        }
    };
    let settings = LogCorpusSettings {
        seed: *arguments.get_one::<u64>("seed").unwrap_or(&42),
        job: text("job"),
        pods_per_format: *arguments.get_one::<usize>("pods").unwrap_or(&4),
        total_line_bytes,
        end_unix_nanos: end_seconds
            .checked_mul(1_000_000_000)
            .context("--end is out of range")?,
        span,
        needle_one_in: *arguments
            .get_one::<u64>("needle-one-in")
            .unwrap_or(&100_000),
    };
    let concurrency = *arguments.get_one::<usize>("concurrency").unwrap_or(&4);
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }

    let generating = Instant::now();
    let corpus = match arguments.get_one::<String>("write-raw") {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {path}"))?;
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            encode_corpus(settings, batch_line_bytes, Some(&mut writer))
                .with_context(|| format!("cannot write {path}"))?
        }
        None => encode_corpus(settings, batch_line_bytes, None)?,
    };
    println!(
        "corpus: seed {} end {end_seconds} span {}: {} lines, {:.1} MiB of lines ({} bytes), {} streams, {} requests of {:.1} MiB snappy protobuf (ratio {:.2}), generated in {:.1}s",
        arguments.get_one::<u64>("seed").unwrap_or(&42),
        humantime::format_duration(span),
        thousands(corpus.lines),
        mebibytes(corpus.line_bytes),
        corpus.line_bytes,
        corpus.streams,
        thousands(corpus.batches.len() as u64),
        mebibytes(corpus.body_bytes),
        corpus.line_bytes as f64 / corpus.body_bytes.max(1) as f64,
        generating.elapsed().as_secs_f64(),
    );
    // Concurrent requests arrive out of order; a stream's entries may be at most the
    // server's out-of-order window (Loki: max_chunk_age / 2, 1 h by default) behind its
    // newest entry, so warn when batches in flight together span more than half of that.
    let in_flight_span =
        span.as_secs_f64() * concurrency as f64 / corpus.batches.len().max(1) as f64;
    if concurrency > 1 && in_flight_span > 1800.0 {
        eprintln!(
            "warning: {concurrency} requests in flight cover {:.0} minutes of timestamps; servers may refuse entries as too far behind (use more --bytes, smaller --batch-bytes or a shorter --span)",
            in_flight_span / 60.0
        );
    }
    let Some(url) = arguments.get_one::<String>("url") else {
        return Ok(());
    };

    let pid = arguments.get_one::<u32>("server-pid").copied();
    let cpu_before = pid.and_then(process_cpu_time);
    if pid.is_some() && cpu_before.is_none() {
        bail!("cannot read /proc/<pid>/stat of --server-pid");
    }
    let push = PushSettings {
        url: url.clone(),
        tenant: arguments.get_one::<String>("tenant").cloned(),
        concurrency,
        timeout,
    };
    let client_before = process_cpu_time(std::process::id());
    let report = push_corpus(Arc::new(corpus.batches), &push).await?;
    let client_used = match (process_cpu_time(std::process::id()), client_before) {
        (Some(after), Some(before)) => Some(after.since(&before).total().as_secs_f64()),
        _ => None,
    };
    let cpu_used = match (pid.and_then(process_cpu_time), cpu_before) {
        (Some(after), Some(before)) => Some(after.since(&before)),
        _ => None,
    };
    let peak_rss = pid.and_then(|pid| process_memory_bytes(pid, "VmHWM"));

    let megabytes = report.accepted_line_bytes as f64 / 1e6;
    println!(
        "push: {url} concurrency {concurrency}: {:.1} MB/s of log lines ({:.1} MB in {:.2}s), {} lines, {} requests, {} accepted, {} errors",
        report.megabytes_per_second(),
        megabytes,
        report.elapsed.as_secs_f64(),
        thousands(report.accepted_lines),
        thousands(report.requests),
        thousands(report.accepted_requests),
        thousands(report.errors),
    );
    for sample in &report.error_samples {
        println!("  error: {sample}");
    }
    if let Some(seconds) = client_used {
        println!("client (this process): {seconds:.2} CPU s while pushing");
    }
    let cpu_seconds = cpu_used.map(|cpu| cpu.total().as_secs_f64());
    if let Some(cpu) = cpu_used {
        let seconds = cpu.total().as_secs_f64();
        println!(
            "server: {seconds:.2} CPU s (user {:.2}, system {:.2}), {:.1} MB per CPU second, {:.1} CPU ms per MB, peak RSS {}",
            cpu.user.as_secs_f64(),
            cpu.system.as_secs_f64(),
            if seconds > 0.0 {
                megabytes / seconds
            } else {
                0.0
            },
            if megabytes > 0.0 {
                seconds * 1000.0 / megabytes
            } else {
                0.0
            },
            peak_rss.map_or_else(
                || "unknown".to_string(),
                |bytes| format!("{:.0} MiB", mebibytes(bytes))
            ),
        );
    }
    let json = serde_json::json!({
        "url": url,
        "concurrency": concurrency,
        "line_bytes": corpus.line_bytes,
        "accepted_line_bytes": report.accepted_line_bytes,
        "accepted_lines": report.accepted_lines,
        "requests": report.requests,
        "errors": report.errors,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "mb_per_second": report.megabytes_per_second(),
        "server_cpu_seconds": cpu_seconds,
        "server_peak_rss_bytes": peak_rss,
        "client_cpu_seconds": client_used,
    });
    println!("json: {json}");
    if report.errors > 0 {
        bail!("{} of {} requests failed", report.errors, report.requests);
    }
    Ok(())
}
