//! `weft bench query`: times trace lookups and searches against a running server that
//! holds a corpus written by `weft bench storage`.
//!
//! Lookups fetch `GET /api/traces/{id}` for ids drawn at random from the sampled-id file
//! (no time range, so the server has to find the trace among all blocks); every sampled
//! id was written, so a 404 is an error. Searches use the cases of
//! `weft_bench::search_cases` (a service, an attribute value and a minimum duration that
//! the corpus has) over one-hour windows at random positions inside the corpus's time
//! range, through the native `GET /api/search` and, with `--zipkin-url`, Zipkin's
//! `GET /api/v2/traces`.
//!
//! With `--traceql-runs N`, each query of `weft_bench::traceql_cases` runs N times
//! through Tempo's `GET /api/search?q=` over the last hour and over the last 24 hours of
//! the corpus (ending a minute after the newest sampled trace), the queries taking turns.
//! Tempo's API is the same on weft and on Tempo, so `--url` can point at either.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use weft_bench::id_file::IdFile;
use weft_bench::random::SplitMix64;
use weft_bench::search_cases::{SEARCH_CASES, SearchCase};
use weft_bench::stats::{LatencySummary, millis};
use weft_bench::traceql_cases::TRACEQL_CASES;

use crate::bench::thousands;

/// Width of a search window.
const WINDOW: Duration = Duration::from_secs(3_600);
/// `limit` of native searches (Tempo's default).
const NATIVE_LIMIT: usize = 20;
/// `limit` of Zipkin searches (Zipkin's default).
const ZIPKIN_LIMIT: usize = 10;

pub fn command() -> Command {
    Command::new("query")
        .about("Time trace-by-id lookups and searches against a server holding a `weft bench storage` corpus")
        .arg(Arg::new("url").long("url").default_value("http://127.0.0.1:3200").help("Base URL of the server's HTTP API (--http.listen)"))
        .arg(
            Arg::new("ids")
                .long("ids")
                .required(true)
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("The sampled trace ids written by `weft bench storage` (DIR/bench-trace-ids.txt)"),
        )
        .arg(Arg::new("lookups").long("lookups").default_value("2000").value_parser(value_parser!(usize)).help("Trace-by-id lookups of random sampled ids"))
        .arg(Arg::new("searches").long("searches").default_value("50").value_parser(value_parser!(usize)).help("Searches per API, cycling through the search cases"))
        .arg(Arg::new("concurrency").long("concurrency").default_value("1").value_parser(value_parser!(usize)).help("Requests in flight at once"))
        .arg(Arg::new("zipkin-url").long("zipkin-url").help("Also search through Zipkin's API at this base URL (--zipkin.listen, e.g. http://127.0.0.1:9411)"))
        .arg(Arg::new("traceql-runs").long("traceql-runs").default_value("0").value_parser(value_parser!(usize)).help("Runs of each TraceQL query over the last hour and over the last 24 hours of the corpus (GET /api/search?q=, limit 20)"))
        .arg(Arg::new("seed").long("seed").default_value("1").value_parser(value_parser!(u64)).help("Seed of the random id and window choice"))
        .arg(crate::tenant_arg().help("Tenant to read (sent as X-Scope-OrgID) [default: the tenant recorded in the id file]"))
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let base = arguments
        .get_one::<String>("url")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| String::from("http://127.0.0.1:3200"));
    let ids_path = arguments
        .get_one::<PathBuf>("ids")
        .context("--ids is required")?;
    let text = std::fs::read_to_string(ids_path)
        .with_context(|| format!("cannot read {}", ids_path.display()))?;
    let id_file =
        IdFile::parse(&text).with_context(|| format!("invalid id file {}", ids_path.display()))?;
    let Some((first_start, last_start)) = id_file.start_range() else {
        bail!("{} has no trace ids", ids_path.display());
    };
    let tenant = arguments
        .get_one::<String>("tenant")
        .cloned()
        .or_else(|| id_file.metadata.get("tenant").cloned());
    let lookups = *arguments.get_one::<usize>("lookups").unwrap_or(&2_000);
    let searches = *arguments.get_one::<usize>("searches").unwrap_or(&50);
    let concurrency = (*arguments.get_one::<usize>("concurrency").unwrap_or(&1)).max(1);
    let seed = *arguments.get_one::<u64>("seed").unwrap_or(&1);
    let traceql_runs = *arguments.get_one::<usize>("traceql-runs").unwrap_or(&0);
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the http client")?,
        tenant,
    };

    println!(
        "{} sampled ids, corpus starts {} .. {} unix s, tenant {}, concurrency {concurrency}",
        thousands(id_file.samples.len() as u64),
        first_start / 1_000_000_000,
        last_start / 1_000_000_000,
        client.tenant.as_deref().unwrap_or("(none sent)")
    );
    let samples = Arc::new(id_file.samples);
    if lookups > 0 {
        let lookup_results = run_jobs(lookups, concurrency, seed, {
            let client = client.clone();
            let base = base.clone();
            let samples = samples.clone();
            move |random: &mut SplitMix64| {
                let sample = samples[random.below(samples.len() as u64) as usize];
                let client = client.clone();
                let url = format!("{base}/api/traces/{}", sample.trace_id);
                async move { client.lookup(&url).await }
            }
        })
        .await;
        print_lookups(&lookup_results);
    }

    if traceql_runs > 0 {
        // The corpus ends with its newest trace; sampled ids are ~30 s apart.
        let end_seconds = last_start / 1_000_000_000 + 60;
        for (title, hours) in [("last hour", 1u64), ("last 24 hours", 24)] {
            let start_seconds = end_seconds - hours * 3_600;
            let results = run_traceql(
                &client,
                &format!("{base}/api/search"),
                (start_seconds, end_seconds),
                traceql_runs,
                concurrency,
            )
            .await;
            print_traceql(title, &results);
        }
    }

    let windows = search_windows(searches, first_start, last_start, seed);
    let native = run_searches(&client, &windows, concurrency, |case, window_start| {
        let start_seconds = window_start / 1_000_000_000;
        let end_seconds = start_seconds + WINDOW.as_secs() - 1;
        (
            format!("{base}/api/search"),
            case.native_query(start_seconds, end_seconds, NATIVE_LIMIT),
        )
    })
    .await;
    print_searches(
        &format!("native GET /api/search (limit {NATIVE_LIMIT}, minDuration on the trace)"),
        &native,
    );
    if let Some(zipkin) = arguments.get_one::<String>("zipkin-url") {
        let zipkin = zipkin.trim_end_matches('/').to_owned();
        let results = run_searches(&client, &windows, concurrency, |case, window_start| {
            let end_millis = window_start / 1_000_000 + WINDOW.as_millis() as u64;
            (
                format!("{zipkin}/api/v2/traces"),
                case.zipkin_query(end_millis, WINDOW.as_millis() as u64, ZIPKIN_LIMIT),
            )
        })
        .await;
        print_searches(
            &format!(
                "zipkin GET /api/v2/traces (limit {ZIPKIN_LIMIT}, minDuration on a span of the service)"
            ),
            &results,
        );
    }
    Ok(())
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    tenant: Option<String>,
}

/// One timed request: its latency and what it found, or why it failed.
type Timed<T> = (Duration, Result<T, String>);

/// What a search found: traces returned, and traces inspected when the answer says.
type SearchFound = (u64, Option<u64>);

/// A TraceQL search's case index, its timed outcome, and whether it said partial.
type TraceqlResult = (usize, Timed<(SearchFound, bool)>);

/// A search's case index and its timed outcome.
type SearchResult = (usize, Timed<SearchFound>);

/// Query-string pairs, to be URL-encoded.
type Query = Vec<(&'static str, String)>;

impl Client {
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.tenant {
            Some(tenant) => request.header("X-Scope-OrgID", tenant),
            None => request,
        }
    }

    /// Fetches a trace; the found value is the answer's size in bytes.
    async fn lookup(&self, url: &str) -> Timed<u64> {
        let started = Instant::now();
        let result = async {
            let response = self
                .get(url)
                .send()
                .await
                .map_err(|error| format!("{error}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|error| format!("{error}"))?;
            match status.as_u16() {
                200 => Ok(body.len() as u64),
                404 => Err(String::from("404: a sampled trace was not found")),
                other => Err(format!(
                    "{other}: {}",
                    String::from_utf8_lossy(&body).trim()
                )),
            }
        }
        .await;
        (started.elapsed(), result)
    }

    /// Runs a search; the found value is (traces returned, traces inspected if said).
    async fn search(&self, url: &str, query: &[(&str, String)]) -> Timed<SearchFound> {
        self.search_with(url, query, search_counts).await
    }

    /// Runs a TraceQL search; also says whether the answer was partial.
    async fn traceql(&self, url: &str, query: &[(&str, String)]) -> Timed<(SearchFound, bool)> {
        self.search_with(url, query, |body| {
            let partial = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|value| value.get("partial").and_then(|partial| partial.as_bool()))
                .unwrap_or(false);
            Ok((search_counts(body)?, partial))
        })
        .await
    }

    /// Sends a search and reads a successful answer with `read`.
    async fn search_with<T>(
        &self,
        url: &str,
        query: &[(&str, String)],
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Timed<T> {
        let started = Instant::now();
        let result = async {
            let response = self
                .get(url)
                .query(query)
                .send()
                .await
                .map_err(|error| format!("{error}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|error| format!("{error}"))?;
            if !status.is_success() {
                return Err(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body).trim()
                ));
            }
            read(&body)
        }
        .await;
        (started.elapsed(), result)
    }
}

/// Traces in a search answer: a native `{"traces":[...],"metrics":{"inspectedTraces":N}}`
/// or a Zipkin `[[span...], ...]`.
fn search_counts(body: &[u8]) -> Result<SearchFound, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("answer is not JSON: {error}"))?;
    if let Some(traces) = value.as_array() {
        return Ok((traces.len() as u64, None));
    }
    let traces = value
        .get("traces")
        .and_then(|traces| traces.as_array())
        .ok_or_else(|| String::from("answer has no traces array"))?;
    let inspected = value
        .get("metrics")
        .and_then(|metrics| metrics.get("inspectedTraces"))
        .and_then(|inspected| inspected.as_u64());
    Ok((traces.len() as u64, inspected))
}

/// Runs `count` jobs from `concurrency` workers; `job` builds each request with the
/// worker's own random generator. Results come back in no set order.
async fn run_jobs<T, F, Fut>(count: usize, concurrency: usize, seed: u64, job: F) -> Vec<Timed<T>>
where
    T: Send + 'static,
    F: Fn(&mut SplitMix64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Timed<T>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let next = next.clone();
        let job = job.clone();
        workers.spawn(async move {
            let mut random = SplitMix64::new(seed.wrapping_add(worker as u64 * 0x9e37_79b9));
            let mut results = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                results.push(job(&mut random).await);
            }
            results
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(worker) = workers.join_next().await {
        results.extend(worker.unwrap_or_default());
    }
    results
}

/// `count` searches: case `i % cases` over a one-hour window starting at a random
/// nanosecond in `[first_start, last_start - 1 h]` (at `first_start` when the corpus
/// spans less than an hour).
fn search_windows(count: usize, first_start: u64, last_start: u64, seed: u64) -> Vec<(usize, u64)> {
    let mut random = SplitMix64::new(seed ^ 0x5ea7_c4e5);
    let window_nanos = WINDOW.as_nanos() as u64;
    let room = last_start
        .saturating_sub(first_start)
        .saturating_sub(window_nanos);
    (0..count)
        .map(|index| {
            let offset = if room == 0 { 0 } else { random.below(room + 1) };
            (index % SEARCH_CASES.len(), first_start + offset)
        })
        .collect()
}

/// Runs the searches of `windows`; `request` gives the URL and query of a case and a
/// window start (unix nanos). Results are per case index.
async fn run_searches(
    client: &Client,
    windows: &[(usize, u64)],
    concurrency: usize,
    request: impl Fn(&SearchCase, u64) -> (String, Query),
) -> Vec<SearchResult> {
    let requests: Arc<Vec<(usize, String, Query)>> = Arc::new(
        windows
            .iter()
            .map(|&(case, start)| {
                let (url, query) = request(&SEARCH_CASES[case], start);
                (case, url, query)
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            while let Some((case, url, query)) = requests.get(next.fetch_add(1, Ordering::Relaxed))
            {
                results.push((*case, client.search(url, query).await));
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(worker) = workers.join_next().await {
        results.extend(worker.unwrap_or_default());
    }
    results
}

/// Runs every TraceQL case `runs` times over `[start, end]` (unix seconds), the cases
/// taking turns so that the machine's noise spreads over all of them.
async fn run_traceql(
    client: &Client,
    url: &str,
    (start_seconds, end_seconds): (u64, u64),
    runs: usize,
    concurrency: usize,
) -> Vec<TraceqlResult> {
    let requests: Arc<Vec<(usize, Query)>> = Arc::new(
        (0..runs)
            .flat_map(|_| TRACEQL_CASES.iter().enumerate())
            .map(|(index, case)| {
                let query = vec![
                    ("q", case.query.to_owned()),
                    ("start", start_seconds.to_string()),
                    ("end", end_seconds.to_string()),
                    ("limit", NATIVE_LIMIT.to_string()),
                ];
                (index, query)
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        let url = url.to_owned();
        workers.spawn(async move {
            let mut results = Vec::new();
            while let Some((case, query)) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                results.push((*case, client.traceql(&url, query).await));
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(worker) = workers.join_next().await {
        results.extend(worker.unwrap_or_default());
    }
    results
}

fn print_traceql(title: &str, results: &[TraceqlResult]) {
    println!("TraceQL GET /api/search?q= (limit {NATIVE_LIMIT}), {title}");
    println!(
        "  {:<34} {:>5} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8}",
        "query", "runs", "p50", "p99", "max", "traces", "inspected", "partial"
    );
    let mut first_error = None;
    for (case_index, case) in TRACEQL_CASES.iter().enumerate() {
        let runs: Vec<&Timed<(SearchFound, bool)>> = results
            .iter()
            .filter(|(index, _)| *index == case_index)
            .map(|(_, timed)| timed)
            .collect();
        let found: Vec<(SearchFound, bool)> = runs
            .iter()
            .filter_map(|(_, result)| result.as_ref().ok().copied())
            .collect();
        let errors = runs.len() - found.len();
        if first_error.is_none() {
            first_error = runs.iter().find_map(|(_, result)| {
                result
                    .as_ref()
                    .err()
                    .map(|error| format!("{}: {error}", case.label))
            });
        }
        let mut latencies: Vec<Duration> = runs.iter().map(|(latency, _)| *latency).collect();
        let summary = LatencySummary::from_latencies(&mut latencies);
        let returned: u64 = found.iter().map(|((traces, _), _)| traces).sum();
        let inspected: Vec<u64> = found
            .iter()
            .filter_map(|((_, inspected), _)| *inspected)
            .collect();
        let partial = found.iter().filter(|(_, partial)| *partial).count();
        println!(
            "  {:<34} {:>5} {:>8} {:>8} {:>8} {:>7.1} {:>9} {:>8}{}",
            case.label,
            runs.len(),
            millis(summary.p50),
            millis(summary.p99),
            millis(summary.max),
            returned as f64 / found.len().max(1) as f64,
            if inspected.is_empty() {
                String::from("-")
            } else {
                format!(
                    "{:.0}",
                    inspected.iter().sum::<u64>() as f64 / inspected.len() as f64
                )
            },
            partial,
            if errors > 0 {
                format!("  ({errors} errors)")
            } else {
                String::new()
            }
        );
    }
    for case in TRACEQL_CASES.iter() {
        println!("    {}: {}", case.label, case.query);
    }
    if let Some(error) = first_error {
        println!("  first error: {error}");
    }
}

fn latency_line(latencies: &mut [Duration]) -> String {
    let summary = LatencySummary::from_latencies(latencies);
    format!(
        "p50 {} p90 {} p99 {} max {}",
        millis(summary.p50),
        millis(summary.p90),
        millis(summary.p99),
        millis(summary.max)
    )
}

fn print_lookups(results: &[Timed<u64>]) {
    let mut latencies: Vec<Duration> = results
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(latency, _)| *latency)
        .collect();
    let errors: Vec<&String> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().err())
        .collect();
    let not_found = errors
        .iter()
        .filter(|error| error.starts_with("404"))
        .count();
    let bytes: u64 = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .sum();
    println!(
        "trace by id    {} lookups, {} ok, {} errors ({} not found); {}; mean answer {:.1} KiB",
        thousands(results.len() as u64),
        thousands(latencies.len() as u64),
        errors.len(),
        not_found,
        latency_line(&mut latencies),
        bytes as f64 / latencies.len().max(1) as f64 / 1024.0
    );
    if let Some(first) = errors.first() {
        println!("  first error: {first}");
    }
}

fn print_searches(title: &str, results: &[SearchResult]) {
    println!("search: {title}");
    println!(
        "  {:<48} {:>5} {:>8} {:>8} {:>8} {:>12} {:>9} {:>6}",
        "case", "runs", "p50", "p99", "max", "mean traces", "inspected", "empty"
    );
    let mut all_latencies = Vec::new();
    let mut first_error = None;
    for (case_index, case) in SEARCH_CASES.iter().enumerate() {
        let runs: Vec<&Timed<SearchFound>> = results
            .iter()
            .filter(|(index, _)| *index == case_index)
            .map(|(_, timed)| timed)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let found: Vec<SearchFound> = runs
            .iter()
            .filter_map(|(_, result)| result.as_ref().ok().copied())
            .collect();
        let errors = runs.len() - found.len();
        if first_error.is_none() {
            first_error = runs
                .iter()
                .find_map(|(_, result)| result.as_ref().err().cloned());
        }
        let mut latencies: Vec<Duration> = runs.iter().map(|(latency, _)| *latency).collect();
        all_latencies.extend(latencies.iter().copied());
        let summary = LatencySummary::from_latencies(&mut latencies);
        let returned: u64 = found.iter().map(|(traces, _)| traces).sum();
        let inspected: Vec<u64> = found
            .iter()
            .filter_map(|(_, inspected)| *inspected)
            .collect();
        let empty = found.iter().filter(|(traces, _)| *traces == 0).count();
        println!(
            "  {:<48} {:>5} {:>8} {:>8} {:>8} {:>12.1} {:>9} {:>6}{}",
            case.label(),
            runs.len(),
            millis(summary.p50),
            millis(summary.p99),
            millis(summary.max),
            returned as f64 / found.len().max(1) as f64,
            if inspected.is_empty() {
                String::from("-")
            } else {
                format!(
                    "{:.0}",
                    inspected.iter().sum::<u64>() as f64 / inspected.len() as f64
                )
            },
            empty,
            if errors > 0 {
                format!("  ({errors} errors)")
            } else {
                String::new()
            }
        );
        if !found.is_empty() && empty == found.len() {
            println!(
                "    warning: no window found anything for {}: the corpus has such traces, so the server missed them",
                case.label()
            );
        }
    }
    println!(
        "  {:<48} {:>5} {}",
        "all",
        all_latencies.len(),
        latency_line(&mut all_latencies)
    );
    if let Some(error) = first_error {
        println!("  first error: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_the_corpus_and_cycle_through_the_cases() {
        let hour = WINDOW.as_nanos() as u64;
        let first = 1_700_000_000_000_000_000;
        let last = first + 24 * hour;
        let windows = search_windows(50, first, last, 7);
        assert_eq!(windows.len(), 50);
        for (index, (case, start)) in windows.iter().enumerate() {
            assert_eq!(*case, index % SEARCH_CASES.len());
            assert!(*start >= first && *start + hour <= last);
        }
        assert!(
            windows.iter().any(|(_, start)| *start != windows[0].1),
            "random positions"
        );
        let short = search_windows(3, first, first + 60, 7);
        assert!(short.iter().all(|(_, start)| *start == first));
    }

    #[test]
    fn search_answers_of_both_apis_are_counted() {
        assert_eq!(
            search_counts(br#"{"traces":[{},{}],"metrics":{"inspectedTraces":40}}"#),
            Ok((2, Some(40)))
        );
        assert_eq!(search_counts(br#"[[{}],[{}],[{}]]"#), Ok((3, None)));
        assert_eq!(search_counts(br#"{"traces":[]}"#), Ok((0, None)));
        assert!(search_counts(b"not json").is_err());
        assert!(search_counts(br#"{"x":1}"#).is_err());
    }
}
