//! `weft compare`: what differs between two traces (`weft compare A B`), or between fast
//! and slow traces (`--threshold 250ms`), or two TraceQL selections (`--qa`, `--qb`), from
//! a running server's `/api/analytics/compare`, as a table ranked by the difference.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use serde_json::Value;

use crate::inspect::{base_url, lookback};
use crate::query::get_text;
use crate::waterfall::format_duration;
use crate::{server_arg, tenant_arg};

pub fn command() -> Command {
    Command::new("compare")
        .about("Compare two traces (A B), fast and slow traces (--threshold) or two TraceQL selections (--qa, --qb): calling contexts ranked by the difference")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(Arg::new("a").help("Trace A (hex id)").requires("b"))
        .arg(Arg::new("b").help("Trace B (hex id)"))
        .arg(
            Arg::new("threshold")
                .long("threshold")
                .conflicts_with_all(["a", "qa"])
                .help("Split the traces of --query at this duration (e.g. 250ms): A faster, B slower"),
        )
        .arg(
            Arg::new("query")
                .long("query")
                .short('q')
                .requires("threshold")
                .help("TraceQL filter for --threshold (default: all traces)"),
        )
        .arg(Arg::new("qa").long("qa").requires("qb").conflicts_with("a").help("TraceQL selection A"))
        .arg(Arg::new("qb").long("qb").requires("qa").help("TraceQL selection B"))
        .arg(
            Arg::new("lookback")
                .long("lookback")
                .default_value("1h")
                .help("How far back selections look, e.g. 15m, 1h, 7d"),
        )
        .arg(
            Arg::new("top")
                .long("top")
                .default_value("20")
                .value_parser(value_parser!(usize))
                .help("Rows to print"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let (Some(a), Some(b)) = (
        arguments.get_one::<String>("a"),
        arguments.get_one::<String>("b"),
    ) {
        query.push(("a", a.clone()));
        query.push(("b", b.clone()));
    } else {
        let (_, lookback_seconds, now) = lookback(arguments)?;
        let end_seconds = now + 1;
        query.push((
            "start",
            end_seconds
                .saturating_sub(lookback_seconds.max(1))
                .to_string(),
        ));
        query.push(("end", end_seconds.to_string()));
        for (flag, parameter) in [
            ("threshold", "threshold"),
            ("query", "q"),
            ("qa", "qa"),
            ("qb", "qb"),
        ] {
            if let Some(value) = arguments.get_one::<String>(flag) {
                query.push((parameter, value.clone()));
            }
        }
        if query.len() == 2 {
            bail!("give two trace ids, --threshold <duration>, or --qa and --qb");
        }
    }
    let url = format!("{}/api/analytics/compare", base_url(arguments));
    let body = get_text(arguments, &url, &query).await?;
    let answer: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    let top = arguments.get_one::<usize>("top").copied().unwrap_or(20);
    print!("{}", render(&answer, top));
    Ok(())
}

fn nanos(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_f64().map(|float| float.max(0.0) as u64))
        .unwrap_or_default()
}

fn signed(value: &Value) -> String {
    let number = value.as_f64().unwrap_or_default();
    let sign = if number > 0.0 {
        "+"
    } else if number < 0.0 {
        "-"
    } else {
        ""
    };
    format!("{sign}{}", format_duration(number.abs() as u64))
}

/// The last two steps of a calling-context path, `service: operation`.
fn context(path: &Value) -> String {
    let steps: Vec<String> = path
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|step| {
            format!(
                "{}: {}",
                step["service"].as_str().unwrap_or_default(),
                step["operation"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let shown = &steps[steps.len().saturating_sub(2)..];
    let prefix = if steps.len() > 2 { "… > " } else { "" };
    format!("{prefix}{}", shown.join(" > "))
}

/// The comparison as a table: trace pairs show spans and self time per side, set pairs
/// frequency, self time per trace and the contribution to the difference.
pub(crate) fn render(answer: &Value, top: usize) -> String {
    let mut out = String::new();
    let nodes = answer["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if answer["a"]["trace_id"].is_string() {
        let _ = writeln!(
            out,
            "A {} ({} spans, {})  B {} ({} spans, {})",
            answer["a"]["trace_id"].as_str().unwrap_or_default(),
            nanos(&answer["a"]["span_count"]),
            format_duration(nanos(&answer["a"]["duration_nanos"])),
            answer["b"]["trace_id"].as_str().unwrap_or_default(),
            nanos(&answer["b"]["span_count"]),
            format_duration(nanos(&answer["b"]["duration_nanos"])),
        );
        let _ = writeln!(
            out,
            "{:<60} {:>7} {:>9} {:>10} {:>10} {:>11}",
            "context", "in", "spans", "self A", "self B", "self B-A"
        );
        for node in nodes.iter().take(top) {
            let _ = writeln!(
                out,
                "{:<60} {:>7} {:>9} {:>10} {:>10} {:>11}",
                context(&node["path"]),
                node["presence"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('_', " "),
                format!(
                    "{}->{}",
                    nanos(&node["a"]["span_count"]),
                    nanos(&node["b"]["span_count"])
                ),
                format_duration(nanos(&node["a"]["exclusive_nanos"])),
                format_duration(nanos(&node["b"]["exclusive_nanos"])),
                signed(&node["exclusive_delta_nanos"]),
            );
        }
    } else {
        let _ = writeln!(
            out,
            "A: {} traces, median {}  B: {} traces, median {}",
            nanos(&answer["a"]["trace_count"]),
            format_duration(nanos(&answer["a"]["duration"]["p50_nanos"])),
            nanos(&answer["b"]["trace_count"]),
            format_duration(nanos(&answer["b"]["duration"]["p50_nanos"])),
        );
        let _ = writeln!(
            out,
            "{:<60} {:>6} {:>6} {:>10} {:>10} {:>12}",
            "context", "in A", "in B", "self/tr A", "self/tr B", "contribution"
        );
        for node in nodes.iter().take(top) {
            let percent =
                |value: &Value| format!("{:.0}%", value.as_f64().unwrap_or_default() * 100.0);
            let _ = writeln!(
                out,
                "{:<60} {:>6} {:>6} {:>10} {:>10} {:>12}",
                context(&node["path"]),
                percent(&node["a"]["trace_frequency"]),
                percent(&node["b"]["trace_frequency"]),
                format_duration(nanos(&node["a"]["exclusive_per_trace_mean_nanos"])),
                format_duration(nanos(&node["b"]["exclusive_per_trace_mean_nanos"])),
                signed(&node["contribution_nanos"]),
            );
        }
    }
    if nodes.len() > top {
        let _ = writeln!(
            out,
            "({} more contexts; --top to see them)",
            nodes.len() - top
        );
    }
    if answer["truncated"] == Value::Bool(true) {
        let _ = writeln!(
            out,
            "note: the answer is truncated (a trace limit or a bound was reached)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(service: &str, operation: &str) -> Value {
        serde_json::json!({"service": service, "operation": operation})
    }

    #[test]
    fn trace_pairs_show_spans_and_self_time_per_side_ranked_as_answered() {
        let answer = serde_json::json!({
            "a": {"trace_id": "aa", "span_count": 3, "duration_nanos": 100_000_000},
            "b": {"trace_id": "bb", "span_count": 4, "duration_nanos": 150_000_000},
            "nodes": [
                {"path": [step("front", "GET /"), step("front", "call db"), step("db", "query")],
                 "presence": "only_in_b", "a": {}, "b": {"span_count": 1, "exclusive_nanos": 50_000_000},
                 "exclusive_delta_nanos": 50_000_000},
                {"path": [step("front", "GET /")], "presence": "both",
                 "a": {"span_count": 1, "exclusive_nanos": 10_000_000},
                 "b": {"span_count": 1, "exclusive_nanos": 8_000_000}, "exclusive_delta_nanos": -2_000_000},
            ],
            "truncated": false,
        });
        let table = render(&answer, 1);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("A aa (3 spans, 100.0ms)"), "{table}");
        assert!(
            lines[2].starts_with("… > front: call db > db: query"),
            "{table}"
        );
        assert!(
            lines[2].contains("only in b")
                && lines[2].contains("0->1")
                && lines[2].ends_with("+50.0ms"),
            "{table}"
        );
        assert_eq!(lines[3], "(1 more contexts; --top to see them)");
        assert!(render(&answer, 5).contains("-2.0ms"));
    }

    #[test]
    fn set_pairs_show_frequencies_and_contributions() {
        let answer = serde_json::json!({
            "a": {"trace_count": 2, "duration": {"p50_nanos": 100_000_000}},
            "b": {"trace_count": 1, "duration": {"p50_nanos": 10_000_000_000u64}},
            "nodes": [{"path": [step("batch", "nightly run")],
                       "a": {"trace_frequency": 0.0, "exclusive_per_trace_mean_nanos": 0.0},
                       "b": {"trace_frequency": 1.0, "exclusive_per_trace_mean_nanos": 100_000_000.0},
                       "contribution_nanos": 100_000_000.0}],
            "truncated": true,
        });
        let table = render(&answer, 20);
        assert!(
            table.starts_with("A: 2 traces, median 100.0ms  B: 1 traces, median 10.000s"),
            "{table}"
        );
        assert!(
            table.contains("batch: nightly run")
                && table.contains("0%")
                && table.contains("100%")
                && table.contains("+100.0ms"),
            "{table}"
        );
        assert!(
            table.ends_with(
                "note: the answer is truncated (a trace limit or a bound was reached)\n"
            )
        );
    }
}
