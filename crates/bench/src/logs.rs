//! `weft bench logs`: a deterministic corpus of realistic log lines and a pusher that sends
//! it as Loki push requests (snappy-compressed protobuf) at full speed to any Loki push URL.
//!
//! The corpus mixes four formats, one per `format` stream label, each written by several
//! pods at four levels (the `level` stream label):
//! - `nginx`: the combined access log format plus request time and upstream time;
//! - `json`: application logs with nested objects (`http`, `user`, `order`), W3C trace and
//!   span ids;
//! - `cri`: Kubernetes container runtime lines (`<RFC 3339 nanos> stdout F <message>`)
//!   around klog-style controller messages;
//! - `logfmt`: Go service logs with `time=`, `level=`, `msg=` and a trace id.
//!
//! Timestamps cover `[end - span, end)` in order of generation (spread by bytes written), so
//! every stream is in time order and a corpus of any size spans the same interval.
//! One line in [`LogCorpusSettings::needle_one_in`] carries the word [`NEEDLE`], which a
//! search benchmark (`|= "needle"`) finds. The same seed and settings give the same lines
//! on every machine.
//!
//! Batches are encoded before the clock starts with weft-tail's
//! [`encode_push_request`], the encoder the agent ships with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weft_logs::time::civil_from_days;
use weft_tail::record::{Record, encode_push_request};

use crate::random::SplitMix64;

/// The word one line in [`LogCorpusSettings::needle_one_in`] contains.
pub const NEEDLE: &str = "needle";

/// The log formats of the corpus, each in its own streams (`format` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogFormat {
    /// nginx combined access log with timings.
    Nginx,
    /// JSON application log with nested fields and trace ids.
    Json,
    /// Kubernetes CRI container log lines.
    Cri,
    /// logfmt service log.
    Logfmt,
}

impl LogFormat {
    /// Every format, in the order streams are numbered.
    pub const ALL: [LogFormat; 4] = [
        LogFormat::Nginx,
        LogFormat::Json,
        LogFormat::Cri,
        LogFormat::Logfmt,
    ];

    /// The `format` label value.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Json => "json",
            LogFormat::Cri => "cri",
            LogFormat::Logfmt => "logfmt",
        }
    }

    fn container(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Json => "checkout",
            LogFormat::Cri => "controller",
            LogFormat::Logfmt => "api",
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            LogFormat::Nginx => "ingress",
            LogFormat::Json => "shop",
            LogFormat::Cri => "kube-system",
            LogFormat::Logfmt => "shop",
        }
    }
}

/// The `level` label values, in the order of [`Level::index`].
pub const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCorpusSettings {
    /// Seed of every random choice.
    pub seed: u64,
    /// The `job` label of every stream.
    pub job: String,
    /// Pods (streams per level) per format.
    pub pods_per_format: usize,
    /// Line bytes to generate (the last line may go past it).
    pub total_line_bytes: u64,
    /// Timestamps end here (Unix nanoseconds, exclusive).
    pub end_unix_nanos: i64,
    /// Timestamps cover this much time before `end_unix_nanos`.
    pub span: Duration,
    /// One line in this many contains [`NEEDLE`] (0: none).
    pub needle_one_in: u64,
}

impl Default for LogCorpusSettings {
    fn default() -> Self {
        LogCorpusSettings {
            seed: 42,
            job: "bench".to_string(),
            pods_per_format: 4,
            total_line_bytes: 64 << 20,
            end_unix_nanos: 1_796_515_200_000_000_000, // 2026-12-06T00:00:00Z
            span: Duration::from_secs(24 * 3600),
            needle_one_in: 100_000,
        }
    }
}

/// Generates the corpus line by line; an iterator of [`Record`]s.
#[derive(Debug)]
pub struct LogGenerator {
    settings: LogCorpusSettings,
    random: SplitMix64,
    /// Stream labels by `(format index * pods + pod) * 4 + level`.
    streams: Vec<Arc<BTreeMap<String, String>>>,
    pod_names: Vec<String>,
    bytes_written: u64,
    lines_written: u64,
    line: String,
}

impl LogGenerator {
    /// A generator at the start of the corpus.
    pub fn new(settings: LogCorpusSettings) -> Self {
        let pods = settings.pods_per_format.max(1);
        let mut random = SplitMix64::new(settings.seed);
        let mut streams = Vec::new();
        let mut pod_names = Vec::new();
        for format in LogFormat::ALL {
            for _ in 0..pods {
                let pod = format!(
                    "{}-{:08x}-{}",
                    format.container(),
                    random.next_u64() as u32,
                    short_id(&mut random)
                );
                for level in LEVELS {
                    let labels: BTreeMap<String, String> = [
                        ("job", settings.job.as_str()),
                        ("format", format.name()),
                        ("namespace", format.namespace()),
                        ("container", format.container()),
                        ("pod", pod.as_str()),
                        ("level", level),
                    ]
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect();
                    streams.push(Arc::new(labels));
                }
                pod_names.push(pod);
            }
        }
        LogGenerator {
            settings: LogCorpusSettings {
                pods_per_format: pods,
                ..settings
            },
            random,
            streams,
            pod_names,
            bytes_written: 0,
            lines_written: 0,
            line: String::with_capacity(1024),
        }
    }

    /// Line bytes generated so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Lines generated so far.
    pub fn lines_written(&self) -> u64 {
        self.lines_written
    }

    /// Streams in the corpus (some may get no line in a tiny corpus).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    fn timestamp(&self) -> i64 {
        let span = i64::try_from(self.settings.span.as_nanos()).unwrap_or(i64::MAX);
        let total = self.settings.total_line_bytes.max(1);
        let done = self.bytes_written.min(total);
        let offset = (span as i128 * done as i128 / total as i128) as i64;
        self.settings
            .end_unix_nanos
            .saturating_sub(span)
            .saturating_add(offset)
    }

    fn next_record(&mut self) -> Record {
        let timestamp = self.timestamp();
        let format = LogFormat::ALL[self.random.below(4) as usize];
        let pods = self.settings.pods_per_format;
        let pod = self.random.below(pods as u64) as usize;
        let needle =
            self.settings.needle_one_in > 0 && self.random.below(self.settings.needle_one_in) == 0;
        self.line.clear();
        let format_index = LogFormat::ALL
            .iter()
            .position(|candidate| *candidate == format)
            .unwrap_or(0);
        let mut random = std::mem::replace(&mut self.random, SplitMix64::new(0));
        let level = match format {
            LogFormat::Nginx => write_nginx(&mut self.line, &mut random, timestamp, needle),
            LogFormat::Json => write_json(&mut self.line, &mut random, timestamp, needle),
            LogFormat::Cri => write_cri(
                &mut self.line,
                &mut random,
                timestamp,
                &self.pod_names[format_index * pods + pod],
                needle,
            ),
            LogFormat::Logfmt => write_logfmt(&mut self.line, &mut random, timestamp, needle),
        };
        self.random = random;
        let stream = (format_index * pods + pod) * LEVELS.len() + level;
        self.bytes_written += self.line.len() as u64;
        self.lines_written += 1;
        Record {
            labels: Arc::clone(&self.streams[stream]),
            timestamp_unix_nanos: timestamp,
            line: self.line.clone(),
            structured_metadata: Vec::new(),
        }
    }
}

impl Iterator for LogGenerator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.bytes_written >= self.settings.total_line_bytes {
            return None;
        }
        Some(self.next_record())
    }
}

/// One pre-encoded push request.
#[derive(Debug, Clone)]
pub struct PushBatch {
    /// The snappy-compressed protobuf body.
    pub body: Vec<u8>,
    /// Entries in it.
    pub lines: u64,
    /// Bytes of log lines in it (what ingest MB/s counts).
    pub line_bytes: u64,
}

/// A corpus encoded as push requests.
#[derive(Debug, Clone, Default)]
pub struct EncodedCorpus {
    /// The requests, in corpus order.
    pub batches: Vec<PushBatch>,
    /// Lines in all batches.
    pub lines: u64,
    /// Line bytes in all batches.
    pub line_bytes: u64,
    /// Bytes of all bodies.
    pub body_bytes: u64,
    /// Streams that got at least one line.
    pub streams: usize,
}

/// Generates the corpus of `settings` into push requests of about `batch_line_bytes` of
/// lines each and, with `raw`, writes every line followed by `\n` to it in the same order.
pub fn encode_corpus(
    settings: LogCorpusSettings,
    batch_line_bytes: u64,
    mut raw: Option<&mut dyn Write>,
) -> std::io::Result<EncodedCorpus> {
    let mut generator = LogGenerator::new(settings);
    let mut corpus = EncodedCorpus::default();
    let mut pending: Vec<Record> = Vec::new();
    let mut pending_bytes = 0u64;
    let mut seen = std::collections::HashSet::new();
    for record in generator.by_ref() {
        if let Some(raw) = raw.as_mut() {
            raw.write_all(record.line.as_bytes())?;
            raw.write_all(b"\n")?;
        }
        seen.insert(Arc::as_ptr(&record.labels) as usize);
        pending_bytes += record.line.len() as u64;
        pending.push(record);
        if pending_bytes >= batch_line_bytes.max(1) {
            flush_batch(&mut pending, &mut pending_bytes, &mut corpus);
        }
    }
    flush_batch(&mut pending, &mut pending_bytes, &mut corpus);
    if let Some(raw) = raw.as_mut() {
        raw.flush()?;
    }
    corpus.streams = seen.len();
    Ok(corpus)
}

/// Encodes `pending` as one push request into `corpus` and empties it.
fn flush_batch(pending: &mut Vec<Record>, pending_bytes: &mut u64, corpus: &mut EncodedCorpus) {
    if pending.is_empty() {
        return;
    }
    let body = encode_push_request(pending.iter(), &BTreeMap::new());
    corpus.body_bytes += body.len() as u64;
    corpus.lines += pending.len() as u64;
    corpus.line_bytes += *pending_bytes;
    corpus.batches.push(PushBatch {
        body,
        lines: pending.len() as u64,
        line_bytes: *pending_bytes,
    });
    pending.clear();
    *pending_bytes = 0;
}

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// The push URL, e.g. `http://127.0.0.1:3100/loki/api/v1/push`.
    pub url: String,
    /// `X-Scope-OrgID` to send, if any.
    pub tenant: Option<String>,
    /// Requests in flight at once (one connection each).
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What a push run did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with a 2xx status.
    pub accepted_requests: u64,
    /// Requests that failed (non-2xx status or transport error).
    pub errors: u64,
    /// Lines in accepted requests.
    pub accepted_lines: u64,
    /// Line bytes in accepted requests.
    pub accepted_line_bytes: u64,
    /// The first few distinct error descriptions.
    pub error_samples: Vec<String>,
}

impl PushReport {
    /// Accepted line bytes per second of wall time, in MB (10^6 bytes).
    pub fn megabytes_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        self.accepted_line_bytes as f64 / 1e6 / seconds
    }
}

/// Sends every batch once, `concurrency` at a time, as fast as the server answers; no
/// retries (a refused or failed request counts as an error and its bytes as not accepted).
pub async fn push_corpus(
    batches: Arc<Vec<PushBatch>>,
    settings: &PushSettings,
) -> anyhow::Result<PushReport> {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .pool_max_idle_per_host(settings.concurrency.max(1))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let accepted_requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted_lines = Arc::new(AtomicU64::new(0));
    let accepted_line_bytes = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..settings.concurrency.max(1) {
        let client = client.clone();
        let url = settings.url.clone();
        let tenant = settings.tenant.clone();
        let batches = Arc::clone(&batches);
        let next = Arc::clone(&next);
        let accepted_requests = Arc::clone(&accepted_requests);
        let errors = Arc::clone(&errors);
        let accepted_lines = Arc::clone(&accepted_lines);
        let accepted_line_bytes = Arc::clone(&accepted_line_bytes);
        let samples = Arc::clone(&samples);
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(batch) = batches.get(index) else {
                    break;
                };
                let mut request = client
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .body(batch.body.clone());
                if let Some(tenant) = &tenant {
                    request = request.header("X-Scope-OrgID", tenant);
                }
                let failure = match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        accepted_requests.fetch_add(1, Ordering::Relaxed);
                        accepted_lines.fetch_add(batch.lines, Ordering::Relaxed);
                        accepted_line_bytes.fetch_add(batch.line_bytes, Ordering::Relaxed);
                        // Drain the (empty) body so the connection is reused.
                        let _ = response.bytes().await;
                        None
                    }
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        Some(format!("{status}: {}", text.trim()))
                    }
                    Err(error) => Some(format!("transport: {error}")),
                };
                if let Some(failure) = failure {
                    errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut samples) = samples.lock()
                        && samples.len() < 5
                        && !samples.contains(&failure)
                    {
                        samples.push(failure);
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    let error_samples = samples
        .lock()
        .map(|samples| samples.clone())
        .unwrap_or_default();
    let accepted = accepted_requests.load(Ordering::Relaxed);
    let failed = errors.load(Ordering::Relaxed);
    Ok(PushReport {
        elapsed,
        requests: accepted + failed,
        accepted_requests: accepted,
        errors: failed,
        accepted_lines: accepted_lines.load(Ordering::Relaxed),
        accepted_line_bytes: accepted_line_bytes.load(Ordering::Relaxed),
        error_samples,
    })
}

/// Parses a byte size: `256MB`, `1MiB`, `3GB`, `4096`: decimal (KB, MB, GB) or binary (KiB, MiB, GiB) units.
pub fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|character: char| !character.is_ascii_digit() && character != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("{text:?} does not start with a number"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("unknown unit {other:?} in {text:?} (use B, KB, MB, GB, KiB, MiB or GiB)"),
    };
    let bytes = number * multiplier;
    if !(1.0..1e15).contains(&bytes) {
        bail!("{text:?} is out of range (1 byte to 1 PB)");
    }
    Ok(bytes as u64)
}

// ---- line writers ------------------------------------------------------------------

const PATHS: [&str; 12] = [
    "/",
    "/api/v1/products",
    "/api/v1/products/{id}",
    "/api/v1/cart",
    "/api/v1/cart/items",
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/users/{id}",
    "/static/js/app.{hash}.js",
    "/static/css/main.{hash}.css",
    "/healthz",
    "/api/v1/search",
];

const USER_AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "kube-probe/1.31",
    "Go-http-client/1.1",
];

const SEARCH_WORDS: [&str; 10] = [
    "shoes",
    "jacket",
    "coffee",
    "headphones",
    "lamp",
    "backpack",
    "socks",
    "watch",
    "kettle",
    "desk",
];

fn short_id(random: &mut SplitMix64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[random.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn pick<'a>(random: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    items[random.below(items.len() as u64) as usize]
}

/// Index into [`LEVELS`]: debug 10 %, info 80 %, warn 7 %, error 3 %.
fn random_level(random: &mut SplitMix64) -> usize {
    match random.below(100) {
        0..=9 => 0,
        10..=89 => 1,
        90..=96 => 2,
        _ => 3,
    }
}

fn write_path(line: &mut String, random: &mut SplitMix64) {
    let template = pick(random, &PATHS);
    if let Some((before, after)) = template.split_once("{id}") {
        let _ = write!(line, "{before}{}{after}", 1000 + random.below(90_000));
    } else if let Some((before, after)) = template.split_once("{hash}") {
        let _ = write!(
            line,
            "{before}{:08x}{after}",
            random.below(16) * 0x1111_1111
        );
    } else {
        line.push_str(template);
    }
    if template == "/api/v1/search" {
        let _ = write!(
            line,
            "?q={}&page={}",
            pick(random, &SEARCH_WORDS),
            1 + random.below(5)
        );
    }
}

fn write_hex(line: &mut String, random: &mut SplitMix64, bytes: usize) {
    for _ in 0..bytes / 8 {
        let _ = write!(line, "{:016x}", random.next_u64());
    }
}

fn write_nginx(line: &mut String, random: &mut SplitMix64, timestamp: i64, needle: bool) -> usize {
    let status = match random.below(1000) {
        0..=779 => 200,
        780..=829 => 304,
        830..=869 => 301,
        870..=939 => 404,
        940..=969 => 400,
        970..=984 => 499,
        985..=994 => 500,
        _ => 503,
    };
    let level = match status {
        500.. => 3,
        400.. => 2,
        _ => 1,
    };
    let method = match random.below(10) {
        0..=6 => "GET",
        7..=8 => "POST",
        _ => "PUT",
    };
    let _ = write!(
        line,
        "10.{}.{}.{} - - [",
        random.below(4),
        random.below(256),
        1 + random.below(254)
    );
    write_nginx_time(line, timestamp);
    let _ = write!(line, "] \"{method} ");
    write_path(line, random);
    let bytes = if status == 304 {
        0
    } else {
        random.log_normal(4000.0, 1.5) as u64
    };
    let request_time = random.log_normal(0.02, 1.0);
    let _ = write!(
        line,
        " HTTP/1.1\" {status} {bytes} \"{}\" \"{}\" {request_time:.3} {:.3}",
        if random.chance(0.6) {
            "https://shop.example.com/"
        } else {
            "-"
        },
        pick(random, &USER_AGENTS),
        request_time * 0.9,
    );
    if needle {
        let _ = write!(line, " \"{NEEDLE}\"");
    }
    level
}

const JSON_EVENTS: [(&str, &str); 8] = [
    ("checkout.cart", "cart updated"),
    ("checkout.order", "order placed"),
    ("checkout.payment", "payment authorized"),
    ("checkout.payment", "payment declined by issuer"),
    ("checkout.inventory", "stock reserved"),
    ("checkout.http", "request completed"),
    ("checkout.db", "slow query"),
    ("checkout.cache", "cache miss, loading from database"),
];

fn write_json(line: &mut String, random: &mut SplitMix64, timestamp: i64, needle: bool) -> usize {
    let level = random_level(random);
    let (logger, message) = JSON_EVENTS[random.below(JSON_EVENTS.len() as u64) as usize];
    line.push_str("{\"ts\":\"");
    write_rfc3339(line, timestamp, 6);
    let _ = write!(
        line,
        "\",\"level\":\"{}\",\"logger\":\"{logger}\",\"msg\":\"{message}",
        LEVELS[level]
    );
    if needle {
        let _ = write!(line, " {NEEDLE}");
    }
    line.push_str("\",\"trace_id\":\"");
    write_hex(line, random, 16);
    line.push_str("\",\"span_id\":\"");
    write_hex(line, random, 8);
    let method = if random.chance(0.7) { "GET" } else { "POST" };
    let status = if level == 3 {
        500
    } else if level == 2 {
        409
    } else {
        200
    };
    let _ = write!(line, "\",\"http\":{{\"method\":\"{method}\",\"path\":\"",);
    write_path(line, random);
    let _ = write!(
        line,
        "\",\"status\":{status},\"duration_ms\":{:.2}}},\"user\":{{\"id\":\"u-{}\",\"tier\":\"{}\",\"country\":\"{}\"}}",
        random.log_normal(12.0, 1.2),
        random.below(200_000),
        pick(random, &["free", "silver", "gold"]),
        pick(random, &["DE", "US", "FR", "GB", "JP", "BR", "IN"]),
    );
    if random.chance(0.5) {
        let _ = write!(
            line,
            ",\"order\":{{\"id\":\"ord-{:010}\",\"items\":{},\"total\":{:.2},\"currency\":\"EUR\"}}",
            random.below(10_000_000_000),
            1 + random.below(8),
            random.log_normal(60.0, 0.8),
        );
    }
    if level == 3 {
        let _ = write!(
            line,
            ",\"error\":{{\"kind\":\"{}\",\"stack\":\"at checkout.Service.Place (service.go:{})\\n\\tat checkout.Handler.ServeHTTP (handler.go:{})\"}}",
            pick(
                random,
                &["TimeoutError", "ConnectionReset", "ConstraintViolation"]
            ),
            100 + random.below(400),
            20 + random.below(200),
        );
    }
    line.push('}');
    level
}

const CONTROLLER_MESSAGES: [&str; 8] = [
    "\"Reconciling\" controller=\"deployment\"",
    "\"Successfully synced\" key=\"shop/checkout\"",
    "\"Updated endpoint slices\" service=\"shop/api\" endpoints=3",
    "\"Pod is not ready yet\" pod=\"shop/api-7d9f\" reason=\"ContainersNotReady\"",
    "\"Lease renewed\" lease=\"kube-system/kube-controller-manager\"",
    "\"Error syncing\" err=\"Operation cannot be fulfilled on replicasets.apps: the object has been modified\"",
    "\"Starting workers\" count=5",
    "\"Watch close\" resource=\"*v1.Pod\" total=431",
];

fn write_cri(
    line: &mut String,
    random: &mut SplitMix64,
    timestamp: i64,
    pod: &str,
    needle: bool,
) -> usize {
    let level = random_level(random);
    write_rfc3339(line, timestamp, 9);
    let stream = if level >= 2 { "stderr" } else { "stdout" };
    let severity = ['I', 'I', 'W', 'E'][level];
    let (month, day, clock) = klog_time(timestamp);
    let _ = write!(
        line,
        " {stream} F {severity}{month:02}{day:02} {clock}       1 {}.go:{}] {} pod=\"{pod}\"",
        pick(
            random,
            &[
                "controller",
                "reconciler",
                "endpointslice",
                "leaderelection"
            ]
        ),
        50 + random.below(900),
        CONTROLLER_MESSAGES[random.below(CONTROLLER_MESSAGES.len() as u64) as usize],
    );
    if needle {
        let _ = write!(line, " note=\"{NEEDLE}\"");
    }
    level
}

fn write_logfmt(line: &mut String, random: &mut SplitMix64, timestamp: i64, needle: bool) -> usize {
    let level = random_level(random);
    line.push_str("time=");
    write_rfc3339(line, timestamp, 3);
    let message = match level {
        3 => "request failed",
        2 => "slow request",
        0 => "cache lookup",
        _ => "request completed",
    };
    let method = if random.chance(0.8) { "GET" } else { "POST" };
    let _ = write!(
        line,
        " level={} msg=\"{message}\" method={method} path=",
        LEVELS[level]
    );
    write_path(line, random);
    let status = match level {
        3 => 502,
        2 => 200,
        _ => {
            if random.chance(0.05) {
                404
            } else {
                200
            }
        }
    };
    let _ = write!(
        line,
        " status={status} duration={:.1}ms bytes={} user=u-{} trace_id=",
        random.log_normal(8.0, 1.0),
        random.log_normal(1500.0, 1.0) as u64,
        random.below(200_000),
    );
    write_hex(line, random, 16);
    if level == 3 {
        let _ = write!(
            line,
            " err=\"dial tcp 10.0.{}.{}:5432: connect: connection refused\"",
            random.below(4),
            random.below(256)
        );
    }
    if needle {
        let _ = write!(line, " tag={NEEDLE}");
    }
    level
}

// ---- time formatting ---------------------------------------------------------------

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
}

fn civil(unix_nanos: i64) -> Civil {
    let seconds = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
        nanos,
    }
}

/// `2026-12-06T05:13:24.123456Z` with `digits` fraction digits (0-9).
fn write_rfc3339(line: &mut String, unix_nanos: i64, digits: u32) {
    let time = civil(unix_nanos);
    let _ = write!(
        line,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year, time.month, time.day, time.hour, time.minute, time.second
    );
    let digits = digits.min(9);
    if digits > 0 {
        let fraction = time.nanos / 10i64.pow(9 - digits);
        let _ = write!(line, ".{fraction:0width$}", width = digits as usize);
    }
    line.push('Z');
}

/// nginx's `$time_local` in UTC: `06/Dec/2026:05:13:24 +0000`.
fn write_nginx_time(line: &mut String, unix_nanos: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let time = civil(unix_nanos);
    let _ = write!(
        line,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        time.day,
        MONTHS[(time.month as usize).saturating_sub(1).min(11)],
        time.year,
        time.hour,
        time.minute,
        time.second
    );
}

/// klog's month, day and `hh:mm:ss.uuuuuu`.
fn klog_time(unix_nanos: i64) -> (u32, u32, String) {
    let time = civil(unix_nanos);
    (
        time.month,
        time.day,
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            time.hour,
            time.minute,
            time.second,
            time.nanos / 1000
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_logs::push::decode_protobuf;

    fn small(seed: u64) -> LogCorpusSettings {
        LogCorpusSettings {
            seed,
            total_line_bytes: 200_000,
            needle_one_in: 50,
            ..LogCorpusSettings::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus_and_another_seed_another() {
        let first: Vec<Record> = LogGenerator::new(small(7)).collect();
        let again: Vec<Record> = LogGenerator::new(small(7)).collect();
        let other: Vec<Record> = LogGenerator::new(small(8)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        let bytes: u64 = first.iter().map(|record| record.line.len() as u64).sum();
        assert!((200_000..201_000 + 4096).contains(&bytes), "{bytes}");
    }

    #[test]
    fn every_format_and_level_appears_with_realistic_lines_in_time_order() {
        let settings = small(3);
        let start = settings.end_unix_nanos - settings.span.as_nanos() as i64;
        let records: Vec<Record> = LogGenerator::new(settings.clone()).collect();
        let mut formats = std::collections::BTreeSet::new();
        let mut levels = std::collections::BTreeSet::new();
        let mut needles = 0;
        let mut previous = i64::MIN;
        for record in &records {
            assert!(record.timestamp_unix_nanos >= previous);
            assert!(record.timestamp_unix_nanos >= start);
            assert!(record.timestamp_unix_nanos < settings.end_unix_nanos);
            previous = record.timestamp_unix_nanos;
            assert_eq!(record.labels["job"], "bench");
            let format = record.labels["format"].as_str();
            formats.insert(format.to_string());
            levels.insert(record.labels["level"].clone());
            needles += usize::from(record.line.contains(NEEDLE));
            match format {
                "json" => {
                    let value: serde_json::Value =
                        serde_json::from_str(&record.line).expect("valid JSON");
                    assert_eq!(value["level"], record.labels["level"].as_str());
                    assert_eq!(value["trace_id"].as_str().map(str::len), Some(32));
                    assert!(value["http"]["status"].is_u64());
                }
                "nginx" => assert!(record.line.contains(" HTTP/1.1\" "), "{}", record.line),
                "cri" => {
                    assert!(
                        record.line.contains(" stdout F ") || record.line.contains(" stderr F "),
                        "{}",
                        record.line
                    );
                    let pod = format!("pod=\"{}\"", record.labels["pod"]);
                    assert!(record.line.contains(&pod), "{}", record.line);
                }
                "logfmt" => {
                    let level = format!(" level={} ", record.labels["level"]);
                    assert!(record.line.starts_with("time=2026-12-0"), "{}", record.line);
                    assert!(record.line.contains(&level), "{}", record.line);
                }
                other => panic!("unexpected format {other}"),
            }
        }
        assert_eq!(formats.len(), 4);
        assert_eq!(levels.len(), 4);
        // One in 50 carries the needle.
        assert!(
            needles > records.len() / 100 && needles < records.len() / 25,
            "{needles} of {}",
            records.len()
        );
    }

    #[test]
    fn batches_decode_as_loki_push_requests_with_every_line_and_the_raw_text_matches() {
        let settings = small(11);
        let records: Vec<Record> = LogGenerator::new(settings.clone()).collect();
        let mut raw = Vec::new();
        let corpus = encode_corpus(settings, 16_384, Some(&mut raw)).expect("in memory");
        assert!(corpus.batches.len() > 5);
        assert_eq!(corpus.lines, records.len() as u64);
        let expected_raw: String = records
            .iter()
            .map(|record| format!("{}\n", record.line))
            .collect();
        assert_eq!(String::from_utf8(raw).expect("utf-8"), expected_raw);
        let mut decoded = Vec::new();
        let mut line_bytes = 0;
        for batch in &corpus.batches {
            // decode_protobuf takes the body as sent: snappy block format around the protobuf.
            let streams =
                decode_protobuf(&batch.body, 10 << 20).expect("snappy logproto.PushRequest");
            let mut batch_bytes = 0;
            for stream in streams {
                let weft_logs::push::PushedLabels::Text(labels) = stream.labels else {
                    panic!("protobuf streams carry label text");
                };
                for entry in stream.entries {
                    batch_bytes += entry.line.len() as u64;
                    decoded.push((labels.clone(), entry.timestamp_unix_nanos, entry.line));
                }
            }
            assert_eq!(batch_bytes, batch.line_bytes);
            line_bytes += batch_bytes;
        }
        assert_eq!(line_bytes, corpus.line_bytes);
        assert_eq!(decoded.len(), records.len());
        // Streams are grouped inside a batch, so compare as sorted sets.
        let mut expected: Vec<_> = records
            .iter()
            .map(|record| {
                let labels = weft_tail::record::label_text(&record.labels, &BTreeMap::new());
                (labels, record.timestamp_unix_nanos, record.line.clone())
            })
            .collect();
        let mut decoded_text: Vec<_> = decoded.into_iter().collect();
        expected.sort();
        decoded_text.sort();
        assert_eq!(decoded_text, expected);
    }

    #[test]
    fn timestamps_format_as_rfc3339_and_nginx_time() {
        // 2026-12-06T05:13:24.123456789Z
        let nanos = 1_796_534_004_123_456_789;
        let mut text = String::new();
        write_rfc3339(&mut text, nanos, 9);
        assert_eq!(text, "2026-12-06T05:13:24.123456789Z");
        text.clear();
        write_rfc3339(&mut text, nanos, 3);
        assert_eq!(text, "2026-12-06T05:13:24.123Z");
        text.clear();
        write_nginx_time(&mut text, nanos);
        assert_eq!(text, "06/Dec/2026:05:13:24 +0000");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn byte_sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_bytes("4096").expect("plain"), 4096);
        assert_eq!(parse_bytes("256MB").expect("mb"), 256_000_000);
        assert_eq!(parse_bytes("1MiB").expect("mib"), 1 << 20);
        assert_eq!(parse_bytes("1.5GB").expect("fraction"), 1_500_000_000);
        assert_eq!(parse_bytes("2 GiB").expect("space"), 2 << 30);
        assert!(parse_bytes("MB").is_err());
        assert!(parse_bytes("12XB").is_err());
        assert!(parse_bytes("0").is_err());
    }
}
