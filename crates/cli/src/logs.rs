//! `weft logs '<LogQL>'`: log lines from a running server's `/api/logs`, oldest last (or
//! first with `--forward`), each with the trace it belongs to when one is found and
//! whether that trace is stored; `weft logs --trace <id>`: the log entries of one trace
//! from `/api/traces/{id}/logs` (its window widened by `--slack`).

use std::fmt::Write as _;

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use serde_json::Value;

use crate::inspect::{base_url, lookback};
use crate::query::get_text;
use crate::{server_arg, tenant_arg};

pub fn command() -> Command {
    Command::new("logs")
        .about("Log lines for a LogQL log query, with the traces they belong to; or the logs of one trace (--trace)")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("logql")
                .help("LogQL log query, e.g. '{service_name=\"checkout\"} |= \"error\"'")
                .required_unless_present("trace")
                .conflicts_with("trace"),
        )
        .arg(
            Arg::new("trace")
                .long("trace")
                .help("Print the log entries of this trace (hex id) instead"),
        )
        .arg(
            Arg::new("lookback")
                .long("lookback")
                .default_value("1h")
                .help("How far back the query looks, e.g. 15m, 1h, 7d"),
        )
        .arg(
            Arg::new("slack")
                .long("slack")
                .default_value("5s")
                .requires("trace")
                .help("With --trace: widen the trace's time window by this much on each side"),
        )
        .arg(
            Arg::new("limit")
                .long("limit")
                .default_value("100")
                .value_parser(value_parser!(u32).range(1..))
                .help("Most entries printed"),
        )
        .arg(
            Arg::new("forward")
                .long("forward")
                .action(ArgAction::SetTrue)
                .help("The oldest entries of the window, oldest first (default: the newest, newest last)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the server's JSON answer"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let limit = arguments.get_one::<u32>("limit").copied().unwrap_or(100);
    let (url, query) = if let Some(trace) = arguments.get_one::<String>("trace") {
        let slack = arguments
            .get_one::<String>("slack")
            .cloned()
            .unwrap_or_else(|| String::from("5s"));
        (
            format!("{}/api/traces/{}/logs", base_url(arguments), trace.trim()),
            vec![("limit", limit.to_string()), ("slack", slack)],
        )
    } else {
        let logql = arguments
            .get_one::<String>("logql")
            .context("a LogQL query is required")?;
        let (_, lookback_seconds, _) = lookback(arguments)?;
        // Integers are Unix nanoseconds to the server, as to Loki.
        let end = weft_logs::time::now_unix_nanos().saturating_add(1);
        let start = end.saturating_sub(
            i64::try_from(lookback_seconds.max(1))
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000_000),
        );
        let direction = if arguments.get_flag("forward") {
            "forward"
        } else {
            "backward"
        };
        (
            format!("{}/api/logs", base_url(arguments)),
            vec![
                ("query", logql.clone()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", limit.to_string()),
                ("direction", direction.to_owned()),
                ("checkTraces", String::from("true")),
            ],
        )
    };
    let body = get_text(arguments, &url, &query).await?;
    if arguments.get_flag("json") {
        println!("{}", body.trim_end());
        return Ok(());
    }
    let answer: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    let Some(entries) = answer.get("entries").and_then(Value::as_array) else {
        bail!("unexpected answer from {url}: no entries");
    };
    // Newest last on screen, as `tail` prints, unless --forward or a trace's logs.
    let mut rows: Vec<&Value> = entries.iter().collect();
    if arguments.get_one::<String>("trace").is_none() && !arguments.get_flag("forward") {
        rows.reverse();
    }
    print!("{}", render(&rows, &answer));
    Ok(())
}

/// One line per entry: RFC 3339 time, `{labels}`, the line, and `trace=<id>` (with `?`
/// when the server did not find that trace); then a summary line.
fn render(rows: &[&Value], answer: &Value) -> String {
    let mut out = String::new();
    for entry in rows {
        let timestamp = entry
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|text| text.parse::<i64>().ok())
            .map(weft_logs::time::format_rfc3339)
            .unwrap_or_default();
        let labels = entry
            .get("labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(name, value)| {
                        format!(
                            "{name}={}",
                            value
                                .as_str()
                                .map_or_else(|| value.to_string(), |text| format!("{text:?}"))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let line = entry
            .get("line")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = write!(out, "{timestamp} {{{labels}}} {line}");
        if let Some(trace) = entry.get("traceId").and_then(Value::as_str) {
            let missing = entry.get("traceFound").and_then(Value::as_bool) == Some(false);
            let _ = write!(
                out,
                "  trace={trace}{}",
                if missing { " (not stored)" } else { "" }
            );
        }
        out.push('\n');
    }
    let truncated = answer.get("truncated").and_then(Value::as_bool) == Some(true);
    let services = answer
        .get("services")
        .and_then(Value::as_array)
        .map(|services| {
            services
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        });
    let _ = write!(
        out,
        "{} entr{}",
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" }
    );
    if let Some(services) = services {
        let _ = write!(
            out,
            " of trace {} (services: {services})",
            answer
                .get("traceId")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
    }
    if truncated {
        out.push_str("; more matched: raise --limit or narrow the query");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_entries_with_their_traces() {
        let answer: Value = serde_json::json!({
            "entries": [
                {"timestamp": "1796530698000000000", "line": "charging card", "labels": {"service_name": "checkout"},
                 "structuredMetadata": {}, "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "traceFound": true},
                {"timestamp": "1796530699000000000", "line": "GET /health", "labels": {"job": "nginx"}, "structuredMetadata": {}},
                {"timestamp": "1796530700000000000", "line": "late", "labels": {"job": "nginx"}, "structuredMetadata": {},
                 "traceId": "00000000000000000000000000000abc", "traceFound": false}
            ],
            "truncated": true
        });
        let rows: Vec<&Value> = answer["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .collect();
        let text = render(&rows, &answer);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].ends_with(
                r#"{service_name="checkout"} charging card  trace=4bf92f3577b34da6a3ce929d0e0e4736"#
            ),
            "{text}"
        );
        assert!(lines[0].starts_with("2026-"), "{text}");
        assert!(lines[1].ends_with(r#"{job="nginx"} GET /health"#), "{text}");
        assert!(
            lines[2].ends_with("trace=00000000000000000000000000000abc (not stored)"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "3 entries; more matched: raise --limit or narrow the query"
        );
    }

    #[test]
    fn a_trace_s_logs_name_the_trace_and_its_services() {
        let answer: Value = serde_json::json!({
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "services": ["checkout", "payment"],
            "entries": [],
            "truncated": false
        });
        assert_eq!(
            render(&[], &answer),
            "0 entries of trace 4bf92f3577b34da6a3ce929d0e0e4736 (services: checkout, payment)\n"
        );
    }
}
