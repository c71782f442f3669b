//! `weft bench`: drives a weft server with the synthetic corpus and reports throughput,
//! acknowledgement latency and the server's peak memory.
//!
//! By default it starts a fresh `weft serve` (this same executable) per protocol on free
//! loopback ports with a temporary storage directory, so every number comes from a
//! cold server with the WAL on and nothing else in it. `--endpoint` drives a server that
//! is already running instead (then peak RSS is read only if `--server-pid` is given).
//!
//! Subcommands measure storage: `weft bench storage` writes a corpus of blocks
//! (`bench_storage`), `weft bench query` times lookups and searches against a server
//! reading them (`bench_query`), `weft bench soak` sends at a fixed rate for a long
//! time while sampling the server's memory (`bench_soak`), and `weft bench export` sends
//! the storage corpus to another backend over OTLP gRPC (`bench_export`), and `weft bench
//! pull` has a started server scrape many simulated targets and compares it with OTLP
//! push of the same spans (`bench_pull`), and `weft bench logs` pushes a realistic log
//! corpus to a Loki push URL (`bench_logs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use weft_bench::{GeneratorSettings, LoadReport, LoadSettings, Protocol};

pub fn command() -> Command {
    Command::new("bench")
        .about("Load a weft server with a realistic synthetic corpus and report spans/s, ack latency and peak RSS; subcommands storage, query and soak measure storage, export sends the storage corpus elsewhere")
        .args_conflicts_with_subcommands(true)
        .subcommand(crate::bench_storage::command())
        .subcommand(crate::bench_query::command())
        .subcommand(crate::bench_soak::command())
        .subcommand(crate::bench_export::command())
        .subcommand(crate::bench_pull::command())
        .subcommand(crate::bench_logs::command())
        .arg(
            Arg::new("protocol")
                .long("protocol")
                .default_value("all")
                .help("otlp-grpc, otlp-http, zipkin-json, zipkin-thrift, jaeger-udp or all"),
        )
        .arg(Arg::new("duration").long("duration").default_value("20s").help("Longest sending time per protocol"))
        .arg(
            Arg::new("concurrency")
                .long("concurrency")
                .default_value("8")
                .value_parser(value_parser!(usize))
                .help("Requests in flight at once"),
        )
        .arg(
            Arg::new("spans-per-request")
                .long("spans-per-request")
                .default_value("1000")
                .value_parser(value_parser!(usize))
                .help("Spans per request (whole traces, so approximate)"),
        )
        .arg(
            Arg::new("max-spans")
                .long("max-spans")
                .default_value("4000000")
                .value_parser(value_parser!(usize))
                .help("Spans to pre-generate per protocol; the run ends when all are sent"),
        )
        .arg(Arg::new("seed").long("seed").default_value("42").value_parser(value_parser!(u64)).help("Corpus seed"))
        .arg(Arg::new("endpoint").long("endpoint").help("Drive this running server's listener instead of starting one (base URL; udp://host:port for jaeger-udp)"))
        .arg(Arg::new("metrics-url").long("metrics-url").help("With --endpoint: the server's /metrics URL, which jaeger-udp reads to count what arrived"))
        .arg(Arg::new("server-pid").long("server-pid").value_parser(value_parser!(u32)).help("With --endpoint: pid whose peak RSS to report"))
        .arg(
            Arg::new("server-arg")
                .long("server-arg")
                .action(ArgAction::Append)
                .allow_hyphen_values(true)
                .help("Extra argument for the started server, repeatable (e.g. --server-arg=--wal.fsync=interval)"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    match arguments.subcommand() {
        Some(("storage", arguments)) => return crate::bench_storage::run(arguments).await,
        Some(("query", arguments)) => return crate::bench_query::run(arguments).await,
        Some(("soak", arguments)) => return crate::bench_soak::run(arguments).await,
        Some(("export", arguments)) => return crate::bench_export::run(arguments).await,
        Some(("pull", arguments)) => return crate::bench_pull::run(arguments).await,
        Some(("logs", arguments)) => return crate::bench_logs::run(arguments).await,
        _ => {}
    }
    let protocol_text = arguments
        .get_one::<String>("protocol")
        .map(String::as_str)
        .unwrap_or("all");
    let protocols: Vec<Protocol> = if protocol_text == "all" {
        Protocol::ALL.to_vec()
    } else {
        vec![
            Protocol::parse(protocol_text)
                .with_context(|| format!("unknown --protocol {protocol_text:?}"))?,
        ]
    };
    let duration_text = arguments
        .get_one::<String>("duration")
        .map(String::as_str)
        .unwrap_or("20s");
    let duration = humantime::parse_duration(duration_text)
        .with_context(|| format!("invalid --duration {duration_text:?}"))?;
    let extra_server_arguments: Vec<String> = arguments
        .get_many::<String>("server-arg")
        .map(|values| values.cloned().collect())
        .unwrap_or_default();

    println!(
        "{:<13} {:>12} {:>9} {:>7} {:>10} {:>10} {:>12} {:>10}",
        "protocol", "spans/s", "requests", "failed", "ack p50", "ack p99", "server RSS", "MB/s in"
    );
    for protocol in protocols {
        let (endpoint, metrics_url, mut server) = match arguments.get_one::<String>("endpoint") {
            Some(endpoint) => (
                endpoint.clone(),
                arguments.get_one::<String>("metrics-url").cloned(),
                None,
            ),
            None => {
                let server = StartedServer::start(&extra_server_arguments).await?;
                (
                    server.endpoint(protocol),
                    Some(server.metrics_url()),
                    Some(server),
                )
            }
        };
        let settings = LoadSettings {
            protocol,
            endpoint,
            metrics_url,
            spans_per_request: *arguments
                .get_one::<usize>("spans-per-request")
                .unwrap_or(&1000),
            concurrency: *arguments.get_one::<usize>("concurrency").unwrap_or(&8),
            duration,
            max_spans: *arguments
                .get_one::<usize>("max-spans")
                .unwrap_or(&4_000_000),
            generator: GeneratorSettings {
                seed: *arguments.get_one::<u64>("seed").unwrap_or(&42),
                ..GeneratorSettings::default()
            },
        };
        let now_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("clock before 1970")?
            .as_nanos() as u64;
        let requests = tokio::task::spawn_blocking(move || {
            let requests = weft_bench::driver::prepare_requests(
                &settings,
                now_nanos.saturating_sub(600_000_000_000),
            );
            (settings, requests)
        });
        let (settings, requests) = requests.await.context("corpus generation failed")?;
        let report = weft_bench::driver::run(&settings, requests).await?;
        let peak_rss = match (&server, arguments.get_one::<u32>("server-pid")) {
            (Some(server), _) => peak_rss_bytes(server.child.id()),
            (None, Some(pid)) => peak_rss_bytes(*pid),
            (None, None) => None,
        };
        print_report(&report, peak_rss);
        if let Some(server) = server.as_mut() {
            server.stop().await?;
            server.remove_storage();
        }
    }
    Ok(())
}

fn print_report(report: &LoadReport, peak_rss: Option<u64>) {
    let rss = peak_rss
        .map(|bytes| format!("{} MiB", bytes / (1024 * 1024)))
        .unwrap_or_else(|| String::from("-"));
    let latency = |value: Duration| match report.udp {
        // UDP has no acknowledgement to time.
        Some(_) => String::from("-"),
        None => format!("{:.1}ms", value.as_secs_f64() * 1e3),
    };
    println!(
        "{:<13} {:>12.0} {:>9} {:>7} {:>10} {:>10} {:>12} {:>10.1}",
        report.protocol.name(),
        report.spans_per_second(),
        report.requests_ok,
        report.requests_failed,
        latency(report.latency_p50),
        latency(report.latency_p99),
        rss,
        report.bytes_acknowledged as f64 / report.elapsed.as_secs_f64().max(1e-9) / 1e6,
    );
    if let Some(udp) = &report.udp {
        let lost_percent = udp.spans_lost() as f64 * 100.0 / (udp.spans_sent.max(1) as f64);
        println!(
            "  udp: sent {} spans in {} datagrams; server stored {}; lost {} ({lost_percent:.1}%): \
             kernel dropped {} datagrams, server queue dropped {} spans, {} malformed datagrams",
            udp.spans_sent,
            udp.datagrams_sent,
            udp.spans_received,
            udp.spans_lost(),
            udp.kernel_dropped_datagrams,
            udp.queue_dropped_spans,
            udp.malformed_datagrams,
        );
    }
    if let Some(error) = &report.first_error {
        println!("  first failure: {error}");
    }
}

/// Peak resident set size (VmHWM) of a Linux process.
fn peak_rss_bytes(pid: u32) -> Option<u64> {
    weft_bench::soak::process_memory_bytes(pid, "VmHWM")
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes as MiB.
pub(crate) fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Total size of the regular files under `path` (recursively, symlinks not followed);
/// 0 when it does not exist. Unreadable entries are skipped.
pub(crate) fn directory_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        if metadata.is_dir() {
            total += directory_bytes(&entry.path());
        } else if metadata.is_file() {
            total += metadata.len();
        }
    }
    total
}

/// A `weft serve` child on free loopback ports with its own temporary storage.
pub(crate) struct StartedServer {
    child: Child,
    storage: PathBuf,
    http_port: u16,
    zipkin_port: u16,
    otlp_grpc_port: u16,
    otlp_http_port: u16,
    jaeger_compact_port: u16,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn free_udp_port() -> anyhow::Result<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").context("cannot find a free udp port")?;
    Ok(socket.local_addr()?.port())
}

impl StartedServer {
    /// Starts `weft serve` (this executable) with `extra_arguments` after the listener
    /// and storage flags, and waits until it is ready.
    pub(crate) async fn start(extra_arguments: &[String]) -> anyhow::Result<StartedServer> {
        let executable = std::env::current_exe().context("cannot find the weft executable")?;
        let storage = std::env::temp_dir().join(format!(
            "weft-bench-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let (http_port, zipkin_port, otlp_grpc_port, otlp_http_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let (jaeger_http_port, jaeger_grpc_port) = (free_port()?, free_port()?);
        let (jaeger_compact_port, jaeger_binary_port) = (free_udp_port()?, free_udp_port()?);
        let child = std::process::Command::new(executable)
            .arg("serve")
            .arg(format!("--http.listen=127.0.0.1:{http_port}"))
            .arg(format!("--zipkin.listen=127.0.0.1:{zipkin_port}"))
            .arg(format!("--otlp.grpc.listen=127.0.0.1:{otlp_grpc_port}"))
            .arg(format!("--otlp.http.listen=127.0.0.1:{otlp_http_port}"))
            .arg(format!("--jaeger.http.listen=127.0.0.1:{jaeger_http_port}"))
            .arg(format!("--jaeger.grpc.listen=127.0.0.1:{jaeger_grpc_port}"))
            .arg(format!(
                "--jaeger.compact.listen=127.0.0.1:{jaeger_compact_port}"
            ))
            .arg(format!(
                "--jaeger.binary.listen=127.0.0.1:{jaeger_binary_port}"
            ))
            .arg(format!("--storage.path={}", storage.display()))
            .arg("--log.level=warn")
            .args(extra_arguments)
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start weft serve")?;
        let server = StartedServer {
            child,
            storage,
            http_port,
            zipkin_port,
            otlp_grpc_port,
            otlp_http_port,
            jaeger_compact_port,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary storage directory.
    pub(crate) fn storage(&self) -> &Path {
        &self.storage
    }

    /// Base URL of the listener for `protocol`.
    pub(crate) fn endpoint(&self, protocol: Protocol) -> String {
        let port = match protocol {
            Protocol::OtlpGrpc => self.otlp_grpc_port,
            Protocol::OtlpHttp => self.otlp_http_port,
            Protocol::ZipkinJson | Protocol::ZipkinThrift => self.zipkin_port,
            Protocol::JaegerUdp => return format!("udp://127.0.0.1:{}", self.jaeger_compact_port),
        };
        format!("http://127.0.0.1:{port}")
    }

    /// The server's `/metrics` URL.
    pub(crate) fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.http_port)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/ready", self.http_port);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the started server was not ready within 30 s ({url})")
    }

    /// Sends SIGTERM and waits up to 60 s for a clean exit (the head is flushed to
    /// blocks). The storage directory is kept until [`StartedServer::remove_storage`].
    pub(crate) async fn stop(&mut self) -> anyhow::Result<()> {
        let pid =
            rustix::process::Pid::from_raw(self.child.id() as i32).context("invalid child pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("cannot signal the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    eprintln!("warning: the benchmarked server exited with {status}");
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("the benchmarked server did not stop within 60 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Deletes the temporary storage directory.
    pub(crate) fn remove_storage(&self) {
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

impl Drop for StartedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.remove_storage();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(50_000_000), "50,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn directory_bytes_sums_nested_files() {
        let root = std::env::temp_dir().join(format!("weft-bench-dir-{}", std::process::id()));
        let nested = root.join("a/b");
        std::fs::create_dir_all(&nested).expect("create");
        std::fs::write(root.join("one"), [0u8; 10]).expect("write");
        std::fs::write(nested.join("two"), [0u8; 32]).expect("write");
        assert_eq!(directory_bytes(&root), 42);
        assert_eq!(directory_bytes(&root.join("missing")), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
