//! `weft search` and `weft trace`: a first look at stored traces from a running server.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use serde::Deserialize;

use crate::waterfall;
use crate::{server_arg, tenant_arg};

pub fn search_command() -> Command {
    Command::new("search")
        .about("List recent traces, newest first")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("service")
                .long("service")
                .help("Only traces with a span of this service"),
        )
        .arg(
            Arg::new("limit")
                .long("limit")
                .default_value("20")
                .value_parser(value_parser!(u32))
                .help("Most traces to list"),
        )
        .arg(
            Arg::new("lookback")
                .long("lookback")
                .default_value("1h")
                .help("How far back to look, e.g. 15m, 1h, 7d"),
        )
}

pub fn trace_command() -> Command {
    Command::new("trace")
        .about("Print one trace as an indented waterfall, the critical path marked with *")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(Arg::new("trace_id").required(true).help("Trace id in hex"))
        .arg(
            Arg::new("no_critical_path")
                .long("no-critical-path")
                .action(clap::ArgAction::SetTrue)
                .help("Do not mark the critical path (marked with * by default)"),
        )
}

/// Tempo's search response shape, which the native API serves.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResponse {
    #[serde(default)]
    pub(crate) traces: Vec<TraceRow>,
    #[serde(default, rename = "partialReason")]
    pub(crate) partial_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TraceRow {
    #[serde(rename = "traceID")]
    pub(crate) trace_id: String,
    #[serde(default)]
    pub(crate) root_service_name: String,
    #[serde(default)]
    pub(crate) root_trace_name: String,
    #[serde(default)]
    pub(crate) start_time_unix_nano: String,
    #[serde(default)]
    pub(crate) duration_ms: Option<f64>,
    #[serde(default)]
    pub(crate) service_stats: BTreeMap<String, ServiceStats>,
    #[serde(default)]
    pub(crate) span_sets: Vec<SpanSetRow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceStats {
    #[serde(default)]
    pub(crate) span_count: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SpanSetRow {
    #[serde(default)]
    pub(crate) spans: Vec<SpanRow>,
    #[serde(default)]
    pub(crate) matched: u64,
    #[serde(default)]
    pub(crate) attributes: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpanRow {
    #[serde(rename = "spanID")]
    pub(crate) span_id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) duration_nanos: String,
    #[serde(default)]
    pub(crate) attributes: Vec<serde_json::Value>,
}

/// A client with a request timeout that sends the tenant header when `--tenant` is set.
pub(crate) fn client(arguments: &ArgMatches) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(tenant) = arguments.get_one::<String>("tenant") {
        let value = reqwest::header::HeaderValue::from_str(tenant)
            .with_context(|| format!("invalid --tenant {tenant:?}"))?;
        headers.insert("X-Scope-OrgID", value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

pub(crate) fn base_url(arguments: &ArgMatches) -> String {
    arguments
        .get_one::<String>("server")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// `--lookback` as given, in seconds, and the current unix second.
pub(crate) fn lookback(arguments: &ArgMatches) -> anyhow::Result<(&str, u64, u64)> {
    let text = arguments
        .get_one::<String>("lookback")
        .map(String::as_str)
        .unwrap_or("1h");
    let lookback =
        humantime::parse_duration(text).with_context(|| format!("invalid --lookback {text:?}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    Ok((text, lookback.as_secs(), now))
}

pub async fn search(arguments: &ArgMatches) -> anyhow::Result<()> {
    let (lookback_text, lookback_seconds, end_seconds) = lookback(arguments)?;
    let start_seconds = end_seconds.saturating_sub(lookback_seconds);
    let limit = arguments.get_one::<u32>("limit").copied().unwrap_or(20);
    let mut query = vec![
        ("limit", limit.to_string()),
        ("start", start_seconds.to_string()),
        ("end", (end_seconds + 1).to_string()),
    ];
    if let Some(service) = arguments.get_one::<String>("service") {
        query.push(("service", service.clone()));
    }
    let url = format!("{}/api/search", base_url(arguments));
    let response = client(arguments)?
        .get(&url)
        .query(&query)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text().await.context("cannot read the response")?;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    let parsed: SearchResponse =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    if parsed.traces.is_empty() {
        println!("no traces in the last {lookback_text}");
        return Ok(());
    }
    print_trace_header();
    for row in &parsed.traces {
        print_trace_row(row);
    }
    if let Some(reason) = &parsed.partial_reason {
        println!("{reason}");
    }
    Ok(())
}

pub(crate) fn print_trace_header() {
    println!(
        "{:<32}  {:<23}  {:>10}  {:>5}  ROOT",
        "TRACE ID", "START (UTC)", "DURATION", "SPANS"
    );
}

pub(crate) fn print_trace_row(row: &TraceRow) {
    let start = row
        .start_time_unix_nano
        .parse::<u64>()
        .map(waterfall::format_timestamp)
        .unwrap_or_default();
    let duration = waterfall::format_duration((row.duration_ms.unwrap_or(0.0) * 1e6) as u64);
    let spans: u64 = row
        .service_stats
        .values()
        .map(|stats| stats.span_count)
        .sum();
    println!(
        "{:<32}  {:<23}  {:>10}  {:>5}  {}: {}",
        row.trace_id, start, duration, spans, row.root_service_name, row.root_trace_name
    );
}

pub async fn trace(arguments: &ArgMatches) -> anyhow::Result<()> {
    let trace_id_text = arguments
        .get_one::<String>("trace_id")
        .context("a trace id is required")?;
    let trace_id = weft_model::TraceId::from_hex(trace_id_text)
        .with_context(|| format!("invalid trace id {trace_id_text:?}"))?;
    let url = format!("{}/api/traces/{}", base_url(arguments), trace_id.to_hex());
    let response = client(arguments)?
        .get(&url)
        .header("Accept", "application/protobuf")
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.bytes().await.context("cannot read the response")?;
    if status == reqwest::StatusCode::NOT_FOUND {
        bail!("trace {trace_id} not found");
    }
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    // Tempo's `tempopb.Trace` is wire-identical to an OTLP export request.
    let decoded = weft_codec::otlp::decode_proto(&body)
        .with_context(|| format!("unexpected answer from {url}"))?;
    let spans = &decoded.batch.spans;
    let marks = critical_path_marks(spans, arguments.get_flag("no_critical_path"));
    print!("{}", waterfall::render(spans, &marks.0));
    if let Some(legend) = marks.1 {
        println!("{legend}");
    }
    Ok(())
}

/// The spans on the trace's critical path (computed here with `weft_analytics`, on the
/// spans as fetched) and a legend line; none when `off` or when the trace has no path
/// (no timed root). Colour only when stdout is a terminal and `NO_COLOR` is unset.
fn critical_path_marks(
    spans: &[weft_model::Span],
    off: bool,
) -> (waterfall::CriticalPathMarks, Option<String>) {
    use std::io::IsTerminal;
    if off || spans.is_empty() {
        return Default::default();
    }
    let options = weft_analytics::TreeOptions::default();
    let limits = weft_analytics::Limits::default();
    let Ok(path) = weft_analytics::critical_path(spans, &options, &limits) else {
        return Default::default();
    };
    let span_ids = path
        .spans
        .iter()
        .filter_map(|on_path| weft_model::SpanId::from_hex(&on_path.span_id).ok())
        .collect();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut legend = format!(
        "{} on the critical path ({} spans, {}",
        waterfall::CRITICAL_MARKER,
        path.spans.len(),
        waterfall::format_duration(path.total_nanos)
    );
    if let Some(top) = path.spans.first() {
        // Not the span's name: each span name stays on exactly one line of the output.
        legend.push_str(&format!(
            "; the largest share is one span's {} = {:.0}%",
            waterfall::format_duration(top.self_time_on_path_nanos),
            top.fraction_of_total * 100.0
        ));
    }
    if path.clock_skew.corrected_span_count > 0 {
        legend.push_str(&format!(
            "; clock skew corrected for {} spans",
            path.clock_skew.corrected_span_count
        ));
    }
    legend.push(')');
    (
        waterfall::CriticalPathMarks { span_ids, colour },
        Some(legend),
    )
}
