//! `weft search` and `weft trace`: a first look at stored traces from a running server.

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
        .about("Print one trace as an indented waterfall")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(Arg::new("trace_id").required(true).help("Trace id in hex"))
}

/// Tempo's search response shape, which the native API serves.
#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    traces: Vec<TraceRow>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceRow {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(default)]
    root_service_name: String,
    #[serde(default)]
    root_trace_name: String,
    #[serde(default)]
    start_time_unix_nano: String,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(default)]
    span_count: Option<u64>,
}

/// A client with a request timeout that sends the tenant header when `--tenant` is set.
fn client(arguments: &ArgMatches) -> anyhow::Result<reqwest::Client> {
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

fn base_url(arguments: &ArgMatches) -> String {
    arguments
        .get_one::<String>("server")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

pub async fn search(arguments: &ArgMatches) -> anyhow::Result<()> {
    let lookback_text = arguments
        .get_one::<String>("lookback")
        .map(String::as_str)
        .unwrap_or("1h");
    let lookback = humantime::parse_duration(lookback_text)
        .with_context(|| format!("invalid --lookback {lookback_text:?}"))?;
    let end_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let start_seconds = end_seconds.saturating_sub(lookback.as_secs());
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
    println!(
        "{:<32}  {:<23}  {:>10}  {:>5}  ROOT",
        "TRACE ID", "START (UTC)", "DURATION", "SPANS"
    );
    for row in parsed.traces {
        let start = row
            .start_time_unix_nano
            .parse::<u64>()
            .map(waterfall::format_timestamp)
            .unwrap_or_default();
        let duration = row
            .duration_ms
            .map(|ms| waterfall::format_duration((ms * 1e6) as u64))
            .unwrap_or_else(|| String::from("-"));
        let spans = row.span_count.map(|n| n.to_string()).unwrap_or_default();
        println!(
            "{:<32}  {:<23}  {:>10}  {:>5}  {}: {}",
            row.trace_id, start, duration, spans, row.root_service_name, row.root_trace_name
        );
    }
    Ok(())
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
        .header("Accept", "application/json")
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
    let decoded = weft_codec::otlp::decode_json(&body)
        .with_context(|| format!("unexpected answer from {url}"))?;
    print!("{}", waterfall::render(&decoded.batch.spans));
    Ok(())
}
