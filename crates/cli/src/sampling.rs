//! `weft sampling`: the sampling in force on a running server (head ratios, tail
//! policies, the strategies served to remote samplers, adaptive probabilities) and what it
//! has decided so far, from `/api/sampling` and the counters on `/metrics`.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::Value;

use crate::inspect::base_url;
use crate::query::get_text;
use crate::{server_arg, tenant_arg};

pub fn command() -> Command {
    Command::new("sampling")
        .about(
            "Show the sampling in force (head ratios, tail policies, remote strategies, \
             adaptive probabilities) and the decisions counted so far",
        )
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the server's /api/sampling JSON instead of tables"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let base = base_url(arguments);
    let url = format!("{base}/api/sampling");
    let body = get_text(arguments, &url, &[]).await?;
    if arguments.get_flag("json") {
        println!("{}", body.trim_end());
        return Ok(());
    }
    let status: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    let metrics = get_text(arguments, &format!("{base}/metrics"), &[]).await?;
    print!("{}", render(&status, &Counters::parse(&metrics)));
    Ok(())
}

/// The sampling counters of a `/metrics` text, summed over tenants.
#[derive(Debug, Default)]
struct Counters {
    head_kept: f64,
    head_dropped: f64,
    /// (policy, decision) -> traces.
    tail: BTreeMap<(String, String), f64>,
    early: f64,
    late_spans: f64,
    carried_spans: f64,
    spans_received: f64,
}

impl Counters {
    fn parse(text: &str) -> Counters {
        let mut counters = Counters::default();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let label = |key: &str| label_value(labels, key).unwrap_or_default();
            match name {
                "weft_head_sampling_spans_total" if label("decision") == "kept" => {
                    counters.head_kept += value
                }
                "weft_head_sampling_spans_total" => counters.head_dropped += value,
                "weft_tail_sampling_traces_total" => {
                    *counters
                        .tail
                        .entry((label("policy"), label("decision")))
                        .or_default() += value
                }
                "weft_tail_sampling_early_decisions_total" => counters.early += value,
                "weft_tail_sampling_late_spans_total" => counters.late_spans += value,
                "weft_tail_sampling_carried_spans_total" => counters.carried_spans += value,
                "traces_spanmetrics_calls_total" => counters.spans_received += value,
                _ => {}
            }
        }
        counters
    }
}

/// The value of `key` in a Prometheus label list (`a="1",b="2"`).
fn label_value(labels: &str, key: &str) -> Option<String> {
    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &labels[start..];
    let mut value = String::new();
    let mut characters = rest.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => value.push(characters.next()?),
            '"' => return Some(value),
            other => value.push(other),
        }
    }
    None
}

fn render(status: &Value, counters: &Counters) -> String {
    let mut out = String::new();
    let head = &status["head"];
    out.push_str(&format!(
        "head sampling      default ratio {}",
        head["default_ratio"].as_f64().unwrap_or(1.0)
    ));
    for key in ["tenants", "services"] {
        if let Some(ratios) = head[key].as_object().filter(|ratios| !ratios.is_empty()) {
            let list: Vec<String> = ratios
                .iter()
                .map(|(name, ratio)| format!("{name}={ratio}"))
                .collect();
            out.push_str(&format!("; {key}: {}", list.join(", ")));
        }
    }
    out.push_str(&format!(
        "\n                   spans kept {}, dropped {} (of {} received)\n",
        counters.head_kept, counters.head_dropped, counters.spans_received
    ));
    match status["tail"].as_object() {
        None => out.push_str("tail sampling      off (--sampling.tail-policies)\n"),
        Some(tail) => {
            let policies: Vec<&str> = tail["policies"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "tail sampling      {} (decision wait {}): {}\n",
                tail["policiesFile"].as_str().unwrap_or_default(),
                tail["decisionWait"].as_str().unwrap_or_default(),
                policies.join(", ")
            ));
            let kept: f64 = sum(counters, "kept");
            let dropped: f64 = sum(counters, "dropped");
            out.push_str(&format!(
                "                   traces kept {kept}, dropped {dropped}; decided early {}; \
                 late spans {}; spans carried {}\n",
                counters.early, counters.late_spans, counters.carried_spans
            ));
            for ((policy, decision), traces) in &counters.tail {
                out.push_str(&format!(
                    "                     {policy:<24} {decision:<8} {traces}\n"
                ));
            }
        }
    }
    let file = status["strategiesFile"].as_str().unwrap_or_default();
    out.push_str(&format!(
        "remote strategies  {}\n",
        if file.is_empty() {
            "(no file: the default for every service)"
        } else {
            file
        }
    ));
    out.push_str(&format!("  {:<28} {}\n", "SERVICE", "STRATEGY"));
    out.push_str(&format!(
        "  {:<28} {}\n",
        "(default)",
        strategy(&status["defaultStrategy"])
    ));
    if let Some(services) = status["services"].as_object() {
        for (service, served) in services {
            out.push_str(&format!("  {service:<28} {}\n", strategy(served)));
        }
    }
    if status["adaptiveEnabled"].as_bool() == Some(true) {
        out.push_str("adaptive sampling  on\n");
        out.push_str(&format!(
            "  {:<20} {:<28} {:>12} {:>16}\n",
            "SERVICE", "OPERATION", "PROBABILITY", "SAMPLED/S"
        ));
        if let Some(services) = status["adaptiveOperations"].as_object() {
            for (service, operations) in services {
                for (operation, state) in operations.as_object().into_iter().flatten() {
                    out.push_str(&format!(
                        "  {service:<20} {operation:<28} {:>12.6} {:>16.3}\n",
                        state["probability"].as_f64().unwrap_or_default(),
                        state["sampled_traces_per_second"]
                            .as_f64()
                            .unwrap_or_default()
                    ));
                }
            }
        }
    } else {
        out.push_str("adaptive sampling  off (--sampling.adaptive-enabled)\n");
    }
    out
}

fn sum(counters: &Counters, decision: &str) -> f64 {
    counters
        .tail
        .iter()
        .filter(|((_, counted), _)| counted == decision)
        .fold(0.0, |total, (_, traces)| total + traces)
}

/// A served strategy in a few words.
fn strategy(served: &Value) -> String {
    let mut words = match served["strategyType"].as_str() {
        Some("RATE_LIMITING") => format!(
            "rate limiting {}/s",
            served["rateLimitingSampling"]["maxTracesPerSecond"]
        ),
        _ => format!(
            "probabilistic {}",
            served["probabilisticSampling"]["samplingRate"]
        ),
    };
    if let Some(operations) = served["operationSampling"]["perOperationStrategies"].as_array() {
        let listed: Vec<String> = operations
            .iter()
            .map(|operation| {
                format!(
                    "{}={}",
                    operation["operation"].as_str().unwrap_or_default(),
                    operation["probabilisticSampling"]["samplingRate"]
                )
            })
            .collect();
        if !listed.is_empty() {
            words.push_str(&format!("; operations {}", listed.join(", ")));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_strategies_are_summarised() {
        let metrics = "# HELP x\n\
            weft_head_sampling_spans_total{decision=\"kept\"} 10\n\
            weft_head_sampling_spans_total{decision=\"dropped\"} 90\n\
            weft_tail_sampling_traces_total{tenant=\"t\",policy=\"errors\",decision=\"kept\"} 3\n\
            weft_tail_sampling_traces_total{tenant=\"u\",policy=\"errors\",decision=\"kept\"} 4\n\
            weft_tail_sampling_traces_total{tenant=\"t\",policy=\"none\",decision=\"dropped\"} 5\n\
            weft_tail_sampling_early_decisions_total 2\n";
        let counters = Counters::parse(metrics);
        assert_eq!((counters.head_kept, counters.head_dropped), (10.0, 90.0));
        assert_eq!(
            counters.tail.get(&("errors".into(), "kept".into())),
            Some(&7.0)
        );
        let status = serde_json::json!({
            "head": {"default_ratio": 0.5, "tenants": {}, "services": {"api": 0.1}},
            "tail": {"policiesFile": "p.yaml", "decisionWait": "10s", "policies": ["errors"]},
            "strategiesFile": "",
            "adaptiveEnabled": false,
            "defaultStrategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.001}},
            "services": {"api": {"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5},
                "operationSampling": {"perOperationStrategies": [{"operation": "GET /", "probabilisticSampling": {"samplingRate": 0.5}}]}}},
        });
        let text = render(&status, &counters);
        assert!(
            text.contains("default ratio 0.5; services: api=0.1"),
            "{text}"
        );
        assert!(
            text.contains("traces kept 7, dropped 5; decided early 2"),
            "{text}"
        );
        assert!(
            text.contains("api                          rate limiting 5/s; operations GET /=0.5"),
            "{text}"
        );
        assert!(
            text.contains("(default)                    probabilistic 0.001"),
            "{text}"
        );
    }
}
