//! `weft graph`: the service map (default), a request-flow graph (`--flow`) or the
//! calling-context tree (`--cct`) from a running server's analytics API, printed as DOT
//! (default) or SVG (`--format svg`).

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use serde_json::Value;

use crate::graph_render::{Graph, GraphEdge, GraphNode, to_dot, to_svg};
use crate::inspect::{base_url, lookback};
use crate::query::get_text;
use crate::waterfall::format_duration;
use crate::{server_arg, tenant_arg};

pub fn command() -> Command {
    Command::new("graph")
        .about("Print the service map, a request-flow graph (--flow) or the calling-context tree (--cct) as DOT or SVG")
        .arg(server_arg())
        .arg(tenant_arg())
        .arg(
            Arg::new("flow")
                .long("flow")
                .action(ArgAction::SetTrue)
                .conflicts_with("cct")
                .help("The request-flow graph of one workflow (--root-service, --root-operation; default: the most common)"),
        )
        .arg(
            Arg::new("cct")
                .long("cct")
                .action(ArgAction::SetTrue)
                .help("The calling-context tree"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_parser(["dot", "svg"])
                .default_value("dot")
                .help("Output format"),
        )
        .arg(
            Arg::new("query")
                .long("query")
                .short('q')
                .help("TraceQL filter selecting the traces (default: all)"),
        )
        .arg(
            Arg::new("lookback")
                .long("lookback")
                .default_value("1h")
                .help("How far back to look, e.g. 15m, 1h, 7d"),
        )
        .arg(
            Arg::new("limit")
                .long("limit")
                .value_parser(value_parser!(u32).range(1..))
                .help("Most traces to analyse (default: the server's)"),
        )
        .arg(
            Arg::new("root_service")
                .long("root-service")
                .requires("flow")
                .help("Workflow of --flow: the root span's service"),
        )
        .arg(
            Arg::new("root_operation")
                .long("root-operation")
                .requires("flow")
                .help("Workflow of --flow: the root span's name"),
        )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let (_, lookback_seconds, now) = lookback(arguments)?;
    let end_seconds = now + 1;
    let start_seconds = end_seconds.saturating_sub(lookback_seconds.max(1));
    let mut query = vec![
        ("start", start_seconds.to_string()),
        ("end", end_seconds.to_string()),
    ];
    for (flag, parameter) in [
        ("query", "q"),
        ("root_service", "root_service"),
        ("root_operation", "root_operation"),
    ] {
        if let Some(value) = arguments.get_one::<String>(flag) {
            query.push((parameter, value.clone()));
        }
    }
    if let Some(limit) = arguments.get_one::<u32>("limit") {
        query.push(("limit", limit.to_string()));
    }
    let (path, build): (&str, fn(&Value) -> Graph) = if arguments.get_flag("flow") {
        ("flow", flow_graph)
    } else if arguments.get_flag("cct") {
        ("cct", calling_context_tree)
    } else {
        ("service-map", service_map)
    };
    let url = format!("{}/api/analytics/{path}", base_url(arguments));
    let body = get_text(arguments, &url, &query).await?;
    let answer: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
    if !answer.is_object() {
        bail!("unexpected answer from {url}: not a JSON object");
    }
    let graph = build(&answer);
    match arguments.get_one::<String>("format").map(String::as_str) {
        Some("svg") => print!("{}", to_svg(&graph)),
        _ => print!("{}", to_dot(&graph)),
    }
    if answer["truncated"] == Value::Bool(true) {
        eprintln!(
            "note: the answer is truncated (a trace limit or a search bound was reached): {}",
            answer["selection"]["partial_reason"]
                .as_str()
                .unwrap_or("more traces matched than --limit")
        );
    }
    Ok(())
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or_default()
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn selection_title(kind: &str, answer: &Value) -> String {
    format!(
        "{kind} of {} traces ({})",
        number(&answer["selection"]["traces_selected"]),
        text(&answer["selection"]["query"])
    )
}

/// Services with their server RED; edges with call counts, errors and p95 latency.
pub(crate) fn service_map(answer: &Value) -> Graph {
    let nodes: Vec<&Value> = array(&answer["nodes"]).iter().collect();
    let index_of = |service: &str| {
        nodes
            .iter()
            .position(|node| text(&node["service"]) == service)
    };
    let graph_nodes = nodes
        .iter()
        .map(|node| {
            let server = &node["server"];
            let mut label = vec![text(&node["service"]).to_owned()];
            label.push(format!(
                "{} spans, {} errors",
                number(&node["span_count"]),
                number(&node["error_span_count"])
            ));
            if number(&server["call_count"]) > 0 {
                label.push(format!(
                    "served {}, p95 {}",
                    number(&server["call_count"]),
                    format_duration(number(&server["latency"]["p95_nanos"]))
                ));
            }
            GraphNode {
                label,
                highlighted: number(&node["error_span_count"]) > 0,
            }
        })
        .collect();
    let edges = array(&answer["edges"])
        .iter()
        .filter_map(|edge| {
            let stats = &edge["stats"];
            let mut label = format!(
                "{} calls, p95 {}",
                number(&stats["call_count"]),
                format_duration(number(&stats["latency"]["p95_nanos"]))
            );
            if number(&stats["error_count"]) > 0 {
                label.push_str(&format!(", {} errors", number(&stats["error_count"])));
            }
            if text(&edge["connection"]) != "rpc" {
                label.push_str(&format!(" ({})", text(&edge["connection"])));
            }
            Some(GraphEdge {
                from: index_of(text(&edge["caller"]))?,
                to: index_of(text(&edge["callee"]))?,
                label,
                highlighted: number(&stats["error_count"]) > 0,
            })
        })
        .collect();
    Graph {
        title: selection_title("service map", answer),
        nodes: graph_nodes,
        edges,
    }
}

/// Flow nodes with frequency and median latency; the common path highlighted.
pub(crate) fn flow_graph(answer: &Value) -> Graph {
    let nodes = array(&answer["nodes"])
        .iter()
        .map(|node| GraphNode {
            label: vec![
                format!("{}: {}", text(&node["service"]), text(&node["operation"])),
                format!(
                    "{:.0}% of traces, {} spans",
                    node["frequency"].as_f64().unwrap_or_default() * 100.0,
                    number(&node["span_count"])
                ),
                format!(
                    "p50 {}, p95 {}",
                    format_duration(number(&node["latency"]["p50_nanos"])),
                    format_duration(number(&node["latency"]["p95_nanos"]))
                ),
            ],
            highlighted: node["on_common_path"] == Value::Bool(true),
        })
        .collect();
    let edges = array(&answer["edges"])
        .iter()
        .map(|edge| GraphEdge {
            from: number(&edge["caller"]) as usize,
            to: number(&edge["callee"]) as usize,
            label: format!("{} calls", number(&edge["call_count"])),
            highlighted: edge["on_common_path"] == Value::Bool(true),
        })
        .collect();
    let workflow = &answer["workflow"];
    Graph {
        title: format!(
            "flow of {}: {} over {} traces",
            text(&workflow["root_service"]),
            text(&workflow["root_operation"]),
            number(&answer["trace_count"])
        ),
        nodes,
        edges,
    }
}

/// Contexts with span counts and total inclusive and exclusive time.
pub(crate) fn calling_context_tree(answer: &Value) -> Graph {
    let mut edges = Vec::new();
    let nodes = array(&answer["nodes"])
        .iter()
        .enumerate()
        .map(|(index, node)| {
            if let Some(parent) = node["parent"].as_u64() {
                edges.push(GraphEdge {
                    from: parent as usize,
                    to: index,
                    label: String::new(),
                    highlighted: false,
                });
            }
            GraphNode {
                label: vec![
                    format!("{}: {}", text(&node["service"]), text(&node["operation"])),
                    format!(
                        "{} spans in {} traces",
                        number(&node["span_count"]),
                        number(&node["trace_count"])
                    ),
                    format!(
                        "total {}, self {}",
                        format_duration(number(&node["inclusive"]["total_nanos"])),
                        format_duration(number(&node["exclusive"]["total_nanos"]))
                    ),
                ],
                highlighted: false,
            }
        })
        .collect();
    Graph {
        title: selection_title("calling-context tree", answer),
        nodes,
        edges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_map_answers_become_nodes_and_labelled_edges() {
        let answer = json!({
            "nodes": [
                {"service": "api", "span_count": 3, "error_span_count": 0, "server": {"call_count": 0}},
                {"service": "db", "span_count": 2, "error_span_count": 1,
                 "server": {"call_count": 2, "latency": {"p95_nanos": 2_000_000}}}
            ],
            "edges": [{"caller": "api", "callee": "db", "connection": "rpc",
                       "stats": {"call_count": 2, "error_count": 1, "latency": {"p95_nanos": 3_000_000}}},
                      {"caller": "api", "callee": "gone", "connection": "rpc", "stats": {}}],
            "selection": {"traces_selected": 2, "query": "{ }"}
        });
        let graph = service_map(&answer);
        assert_eq!(graph.title, "service map of 2 traces ({ })");
        assert_eq!(
            graph.nodes[1].label,
            ["db", "2 spans, 1 errors", "served 2, p95 2.0ms"]
        );
        assert_eq!(
            graph.edges.len(),
            1,
            "edges to unknown services are dropped"
        );
        assert_eq!(graph.edges[0].label, "2 calls, p95 3.0ms, 1 errors");
        assert!(graph.edges[0].highlighted);
    }

    #[test]
    fn flow_and_cct_answers_keep_node_ids_as_indices() {
        let flow = json!({
            "workflow": {"root_service": "api", "root_operation": "GET /"}, "trace_count": 4,
            "nodes": [{"service": "api", "operation": "GET /", "frequency": 1.0, "on_common_path": true},
                      {"service": "db", "operation": "q", "frequency": 0.5}],
            "edges": [{"caller": 0, "callee": 1, "call_count": 2, "on_common_path": false}]
        });
        let graph = flow_graph(&flow);
        assert_eq!(graph.title, "flow of api: GET / over 4 traces");
        assert!(graph.nodes[0].highlighted && !graph.nodes[1].highlighted);
        assert_eq!(graph.nodes[1].label[1], "50% of traces, 0 spans");
        assert_eq!((graph.edges[0].from, graph.edges[0].to), (0, 1));

        let cct = json!({"nodes": [{"service": "a", "operation": "x", "parent": null},
                                   {"service": "b", "operation": "y", "parent": 0}]});
        let graph = calling_context_tree(&cct);
        assert_eq!(graph.edges.len(), 1);
        assert_eq!(graph.nodes[1].label[0], "b: y");
    }
}
