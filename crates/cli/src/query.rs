//! `weft query '<TraceQL>'` and `weft tags`: TraceQL search and tag names from a running
//! server, through its Tempo API.

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use serde_json::Value;

use crate::inspect::{
    SearchResponse, base_url, client, lookback, print_trace_header, print_trace_row,
};
use crate::waterfall;
use crate::{server_arg, tenant_arg};

pub fn query_command() -> Command {
    Command::new("query")
        .about(
            "Search traces with TraceQL: matching traces, newest first, with their matched spans",
        )
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("traceql").required(true).help(
                "A TraceQL query, e.g. '{ resource.service.name = \"api\" && status = error }'",
            ),
        )
        .arg(
            Arg::new("limit")
                .long("limit")
                .default_value("20")
                .value_parser(value_parser!(u32).range(1..))
                .help("Most traces to list"),
        )
        .arg(
            Arg::new("spss")
                .long("spss")
                .default_value("3")
                .value_parser(value_parser!(u32))
                .help("Matched spans shown per span set"),
        )
        .arg(
            Arg::new("lookback")
                .long("lookback")
                .default_value("1h")
                .help("How far back to look, e.g. 15m, 1h, 7d"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the server's JSON answer instead of a table"),
        )
}

pub fn tags_command() -> Command {
    Command::new("tags")
        .about("List attribute names by scope (resource, span, intrinsic, event, link, instrumentation)")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("scope")
                .long("scope")
                .value_parser([
                    "resource",
                    "span",
                    "intrinsic",
                    "event",
                    "link",
                    "instrumentation",
                ])
                .help("Only this scope"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the server's JSON answer instead of a list"),
        )
}

/// `GET url?query` and the body of a 2xx answer; other statuses become the error,
/// carrying the server's message.
pub(crate) async fn get_text(
    arguments: &ArgMatches,
    url: &str,
    query: &[(&str, String)],
) -> anyhow::Result<String> {
    let response = client(arguments)?
        .get(url)
        .query(query)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text().await.context("cannot read the response")?;
    if !status.is_success() {
        bail!("{url} answered {status}: {}", body.trim());
    }
    Ok(body)
}

pub async fn query(arguments: &ArgMatches) -> anyhow::Result<()> {
    let traceql = arguments
        .get_one::<String>("traceql")
        .context("a TraceQL query is required")?;
    let (lookback_text, lookback_seconds, now) = lookback(arguments)?;
    let end_seconds = now + 1;
    let start_seconds = end_seconds.saturating_sub(lookback_seconds.max(1));
    let limit = arguments.get_one::<u32>("limit").copied().unwrap_or(20);
    let spss = arguments.get_one::<u32>("spss").copied().unwrap_or(3);
    let url = format!("{}/api/search", base_url(arguments));
    let query = [
        ("q", traceql.clone()),
        ("limit", limit.to_string()),
        ("spss", spss.to_string()),
        ("start", start_seconds.to_string()),
        ("end", end_seconds.to_string()),
    ];
    let body = get_text(arguments, &url, &query).await?;
    if arguments.get_flag("json") {
        println!("{}", body.trim_end());
        return Ok(());
    }
    let parsed: SearchResponse =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    if parsed.traces.is_empty() {
        println!("no matching traces in the last {lookback_text}");
    } else {
        print_trace_header();
    }
    for row in &parsed.traces {
        print_trace_row(row);
        for set in &row.span_sets {
            if !set.attributes.is_empty() {
                println!(
                    "    span set {} ({} matched)",
                    attributes_text(&set.attributes),
                    set.matched
                );
            }
            for span in &set.spans {
                let duration = span
                    .duration_nanos
                    .parse::<u64>()
                    .map(waterfall::format_duration)
                    .unwrap_or_default();
                println!(
                    "    {:<16}  {:>10}  {}  {}",
                    span.span_id,
                    duration,
                    span.name,
                    attributes_text(&span.attributes)
                );
            }
            let shown = set.spans.len() as u64;
            if set.matched > shown {
                println!(
                    "    ... {} more matched spans (--spss)",
                    set.matched - shown
                );
            }
        }
    }
    if let Some(reason) = &parsed.partial_reason {
        println!("{reason}");
    }
    Ok(())
}

/// `key=value` pairs of OTLP/JSON key-values, space-separated.
fn attributes_text(attributes: &[Value]) -> String {
    attributes
        .iter()
        .map(|pair| {
            let key = pair["key"].as_str().unwrap_or_default();
            let value = pair["value"]
                .as_object()
                .and_then(|value| value.values().next())
                .map(|value| match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn tags(arguments: &ArgMatches) -> anyhow::Result<()> {
    let url = format!("{}/api/v2/search/tags", base_url(arguments));
    let mut query = Vec::new();
    if let Some(scope) = arguments.get_one::<String>("scope") {
        query.push(("scope", scope.clone()));
    }
    let body = get_text(arguments, &url, &query).await?;
    if arguments.get_flag("json") {
        println!("{}", body.trim_end());
        return Ok(());
    }
    let parsed: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    for scope in parsed["scopes"].as_array().into_iter().flatten() {
        println!("{}:", scope["name"].as_str().unwrap_or_default());
        for tag in scope["tags"].as_array().into_iter().flatten() {
            println!("  {}", tag.as_str().unwrap_or_default());
        }
    }
    Ok(())
}
