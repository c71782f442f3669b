//! `weft targets`: the scrape targets of a running server, from `/api/scrape/targets`
//! (Prometheus's `/api/v1/targets` shape plus weft's spans per second and drops).

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::Value;

use crate::inspect::base_url;
use crate::query::get_text;
use crate::{server_arg, tenant_arg};

pub fn command() -> Command {
    Command::new("targets")
        .about("List the scrape targets of pull collection: health, last scrape, spans/s, drops")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("dropped")
                .long("dropped")
                .action(ArgAction::SetTrue)
                .help("Also list the targets relabeling dropped, with their discovered labels"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the server's JSON answer instead of a table"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let url = format!("{}/api/scrape/targets", base_url(arguments));
    let body = get_text(arguments, &url, &[]).await?;
    if arguments.get_flag("json") {
        println!("{}", body.trim_end());
        return Ok(());
    }
    let answer: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    print!("{}", render(&answer, arguments.get_flag("dropped")));
    Ok(())
}

fn render(answer: &Value, with_dropped: bool) -> String {
    let data = &answer["data"];
    let active = data["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = String::new();
    if active.is_empty() {
        out.push_str("no active scrape targets (--scrape.config-file)\n");
    } else {
        out.push_str(&format!(
            "{:<16} {:<28} {:<8} {:>10} {:>9} {:>8}  {}\n",
            "JOB", "INSTANCE", "HEALTH", "SPANS/S", "DROPPED", "LAST(s)", "ERROR"
        ));
    }
    for target in &active {
        let labels = &target["labels"];
        out.push_str(&format!(
            "{:<16} {:<28} {:<8} {:>10.1} {:>9} {:>8.3}  {}\n",
            labels["job"].as_str().unwrap_or_default(),
            labels["instance"].as_str().unwrap_or_default(),
            target["health"].as_str().unwrap_or_default(),
            target["spansPerSecond"].as_f64().unwrap_or_default(),
            target["droppedSpans"].as_u64().unwrap_or_default(),
            target["lastScrapeDuration"].as_f64().unwrap_or_default(),
            target["lastError"].as_str().unwrap_or_default(),
        ));
    }
    let dropped = data["droppedTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if with_dropped {
        for target in &dropped {
            let labels = target["discoveredLabels"]
                .as_object()
                .map(|labels| {
                    labels
                        .iter()
                        .map(|(name, value)| {
                            format!("{name}={}", value.as_str().unwrap_or_default())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            out.push_str(&format!("dropped  {labels}\n"));
        }
    } else if !dropped.is_empty() {
        out.push_str(&format!(
            "{} targets dropped by relabeling (--dropped lists them)\n",
            dropped.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_a_table_and_dropped_ones_are_counted() {
        let answer = serde_json::json!({"status": "success", "data": {
            "activeTargets": [{"labels": {"job": "shop", "instance": "10.0.0.1:9911"}, "health": "up",
                "spansPerSecond": 12.5, "droppedSpans": 3, "lastScrapeDuration": 0.004, "lastError": ""}],
            "droppedTargets": [{"discoveredLabels": {"__address__": "10.0.0.2:9911"}}]}});
        let table = render(&answer, false);
        assert!(table.contains("shop             10.0.0.1:9911                up             12.5         3    0.004"), "{table}");
        assert!(table.contains("1 targets dropped by relabeling"), "{table}");
        assert!(render(&answer, true).contains("dropped  __address__=10.0.0.2:9911"));
    }
}
