//! The request-flow graph of one workflow, aggregated over many of its traces.
//!
//! A workflow is a root service and root operation; a trace belongs to it when its
//! primary root has both. Only the primary root's subtree is taken. Nodes are
//! (service, operation) at a calling position ([`FlowNodeKey::CallingPosition`], the
//! default: the same operation called from two places is two nodes, and the graph is a
//! tree) or merged wherever they are called ([`FlowNodeKey::Operation`]: a graph that may
//! have several callers per node, and cycles for recursion). Edges are calls from a
//! span's node to its children's nodes, async calls and attached orphans included.
//!
//! The *common path* is the most frequent critical path: each trace's critical path
//! (see [`crate::critical_path`]) as the sequence of nodes it passes through, repeats of
//! one node in a row collapsed; the sequence shared by most traces wins (ties: the
//! smallest sequence of node ids). Its nodes are marked `on_common_path`, and so are the
//! edges its spans were called through (in the first trace that took that path).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use weft_model::Span;

use crate::critical::path_segments;
use crate::limits::{Admission, Coverage, Limits};
use crate::names::Names;
use crate::stats::{HistogramBucket, LatencySummary, fraction, histogram};
use crate::tree::{TraceTree, TreeOptions};

const NONE: u32 = u32::MAX;

/// What makes two spans the same flow node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowNodeKey {
    /// Service, operation and the caller's node (default).
    #[default]
    CallingPosition,
    /// Service and operation only.
    Operation,
}

/// A workflow: the root service and operation of its traces.
///
/// JSON: `{"root_service": "frontend", "root_operation": "GET /checkout"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// The root span's service.
    pub root_service: String,
    /// The root span's name.
    pub root_operation: String,
}

/// Options of [`flow_graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowOptions {
    /// How traces become trees.
    pub tree: TreeOptions,
    /// What makes two spans one node.
    pub node_key: FlowNodeKey,
}

/// A request-flow graph.
///
/// JSON: `{"workflow": Workflow, "node_key": "calling_position", "trace_count": 40,
/// "nodes": [FlowNode...], "edges": [FlowEdge...], "common_path": CommonPath | null,
/// "coverage": Coverage}`. Node ids are indices into `nodes`; the root is node 0 when
/// any trace was taken. Nodes are ordered by depth, then caller, service and operation;
/// edges by caller then callee. Traces of other workflows count as
/// `coverage.traces_skipped_other`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowGraph {
    /// The workflow.
    pub workflow: Workflow,
    /// How nodes were keyed.
    pub node_key: FlowNodeKey,
    /// Traces of the workflow taken.
    pub trace_count: u64,
    /// The nodes.
    pub nodes: Vec<FlowNode>,
    /// The calls between nodes.
    pub edges: Vec<FlowEdge>,
    /// The most common critical path; `None` when no trace had one.
    pub common_path: Option<CommonPath>,
    /// What was taken and left out.
    pub coverage: Coverage,
}

/// How often a node occurs in the traces that visit it.
///
/// JSON: `{"mean": 1.5, "max": 3}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerTrace {
    /// Mean spans per visiting trace.
    pub mean: f64,
    /// Most spans in one trace.
    pub max: u64,
}

/// One node of a flow graph.
///
/// JSON: `{"id": 2, "service": "db", "operation": "SELECT", "caller": 1, "depth": 2,
/// "span_count": 60, "trace_count": 40, "frequency": 1.0, "per_trace": PerTrace,
/// "error_count": 0, "latency": LatencySummary, "histogram": [HistogramBucket...],
/// "on_common_path": true}`. `caller` is `null` for the root and in
/// [`FlowNodeKey::Operation`] graphs; `depth` is then the smallest depth seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowNode {
    /// Index in [`FlowGraph::nodes`].
    pub id: u32,
    /// The service; empty when unknown.
    pub service: String,
    /// The operation (span name).
    pub operation: String,
    /// The calling node (calling-position graphs only).
    pub caller: Option<u32>,
    /// Calls from the root (0 for the root).
    pub depth: u32,
    /// Spans at this node.
    pub span_count: u64,
    /// Traces with at least one span here.
    pub trace_count: u64,
    /// `trace_count` over the graph's `trace_count`.
    pub frequency: f64,
    /// Spans per visiting trace.
    pub per_trace: PerTrace,
    /// Failed spans.
    pub error_count: u64,
    /// Span durations.
    pub latency: LatencySummary,
    /// Span durations in fixed buckets (1-2-5 steps from 1 µs to 100 s, then overflow).
    pub histogram: Vec<HistogramBucket>,
    /// True when the node is on the common path.
    pub on_common_path: bool,
}

/// Calls from one node to another.
///
/// JSON: `{"caller": 0, "callee": 1, "call_count": 40, "trace_count": 40, "frequency":
/// 1.0, "on_common_path": true}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowEdge {
    /// The calling node.
    pub caller: u32,
    /// The called node.
    pub callee: u32,
    /// Calls.
    pub call_count: u64,
    /// Traces with at least one such call.
    pub trace_count: u64,
    /// `trace_count` over the graph's `trace_count`.
    pub frequency: f64,
    /// True when a span on the common path was called through this edge.
    pub on_common_path: bool,
}

/// The most common critical path.
///
/// JSON: `{"nodes": [0, 1, 0, 2, 0], "trace_count": 30, "fraction": 0.75}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonPath {
    /// Node ids in time order, repeats in a row collapsed.
    pub nodes: Vec<u32>,
    /// Traces whose critical path this is.
    pub trace_count: u64,
    /// `trace_count` over the traces that had a critical path.
    pub fraction: f64,
}

#[derive(Debug)]
struct NodeAccumulator {
    service: u32,
    operation: u32,
    caller: u32,
    depth: u32,
    spans: u64,
    traces: u64,
    max_per_trace: u64,
    errors: u64,
    latencies: Vec<u64>,
}

#[derive(Debug, Default)]
struct EdgeAccumulator {
    calls: u64,
    traces: u64,
}

/// The traces whose critical path is one node sequence.
#[derive(Debug)]
struct PathTally {
    traces: u64,
    /// (caller, callee) of each span on the path, in the first such trace.
    steps: Vec<(u32, u32)>,
}

struct FlowBuilder {
    key: FlowNodeKey,
    names: Names,
    node_ids: HashMap<(u32, u32, u32), u32>,
    nodes: Vec<NodeAccumulator>,
    edges: HashMap<(u32, u32), EdgeAccumulator>,
    /// Critical paths as node sequences: traces, and the calls the first trace made on it.
    paths: HashMap<Vec<u32>, PathTally>,
    max_nodes: usize,
}

impl FlowBuilder {
    fn node(&mut self, caller: u32, service: &str, operation: &str, depth: u32) -> u32 {
        let service = self.names.intern(service);
        let operation = self.names.intern(operation);
        let caller_key = match self.key {
            FlowNodeKey::CallingPosition => caller,
            FlowNodeKey::Operation => NONE,
        };
        let key = (caller_key, service, operation);
        if let Some(&id) = self.node_ids.get(&key) {
            let node = &mut self.nodes[id as usize];
            node.depth = node.depth.min(depth);
            return id;
        }
        if self.nodes.len() >= self.max_nodes {
            return NONE;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(NodeAccumulator {
            service,
            operation,
            caller: caller_key,
            depth,
            spans: 0,
            traces: 0,
            max_per_trace: 0,
            errors: 0,
            latencies: Vec::new(),
        });
        self.node_ids.insert(key, id);
        id
    }

    /// Adds the primary root's subtree; returns (spans taken, spans dropped).
    fn add_trace(&mut self, tree: &TraceTree<'_>) -> (u64, u64) {
        let mut node_of = vec![NONE; tree.nodes.len()];
        let mut depth_of = vec![0u32; tree.nodes.len()];
        let mut per_trace_nodes: HashMap<u32, u64> = HashMap::new();
        let mut per_trace_edges: HashMap<(u32, u32), u64> = HashMap::new();
        let (mut taken, mut dropped) = (0u64, 0u64);
        let mut stack = vec![tree.primary_root()];
        while let Some(index) = stack.pop() {
            let span = &tree.nodes[index as usize];
            let (caller, depth) = match span.parent {
                Some(parent) if index != tree.primary_root() => {
                    (node_of[parent as usize], depth_of[parent as usize] + 1)
                }
                _ => (NONE, 0),
            };
            if depth > 0 && caller == NONE {
                dropped += 1;
                continue;
            }
            let id = self.node(caller, span.service, span.name, depth);
            if id == NONE {
                dropped += 1;
                continue;
            }
            taken += 1;
            node_of[index as usize] = id;
            depth_of[index as usize] = depth;
            let node = &mut self.nodes[id as usize];
            node.spans += 1;
            node.errors += u64::from(span.error);
            if span.timed {
                node.latencies.push(span.duration());
            }
            *per_trace_nodes.entry(id).or_default() += 1;
            if caller != NONE {
                *per_trace_edges.entry((caller, id)).or_default() += 1;
            }
            stack.extend(tree.children(index).iter().rev());
        }
        for (id, count) in per_trace_nodes {
            let node = &mut self.nodes[id as usize];
            node.traces += 1;
            node.max_per_trace = node.max_per_trace.max(count);
        }
        for (key, count) in per_trace_edges {
            let edge = self.edges.entry(key).or_default();
            edge.calls += count;
            edge.traces += 1;
        }
        if let Ok(segments) = path_segments(tree) {
            let mut path: Vec<u32> = Vec::new();
            let mut steps: Vec<(u32, u32)> = Vec::new();
            for (index, _, _) in segments {
                let id = node_of[index as usize];
                if id == NONE {
                    continue;
                }
                if path.last() != Some(&id) {
                    path.push(id);
                }
                let span = &tree.nodes[index as usize];
                if let Some(parent) = span.parent
                    && index != tree.primary_root()
                    && node_of[parent as usize] != NONE
                {
                    steps.push((node_of[parent as usize], id));
                }
            }
            if !path.is_empty() {
                steps.sort_unstable();
                steps.dedup();
                let tally = self
                    .paths
                    .entry(path)
                    .or_insert(PathTally { traces: 0, steps });
                tally.traces += 1;
            }
        }
        (taken, dropped)
    }
}

/// The request-flow graph of `workflow` over `traces` (each the spans of one trace).
/// Traces of other workflows, empty ones and ones over a limit are skipped and counted.
pub fn flow_graph<T: AsRef<[Span]>>(
    traces: impl IntoIterator<Item = T>,
    workflow: &Workflow,
    options: &FlowOptions,
    limits: &Limits,
) -> Result<FlowGraph, crate::AnalyticsError> {
    limits.validate()?;
    let mut admission = Admission::new(*limits);
    let mut builder = FlowBuilder {
        key: options.node_key,
        names: Names::default(),
        node_ids: HashMap::new(),
        nodes: Vec::new(),
        edges: HashMap::new(),
        paths: HashMap::new(),
        max_nodes: limits.max_nodes,
    };
    for trace in traces {
        let spans = trace.as_ref();
        if !admission.admit(spans.len()) {
            continue;
        }
        let tree = match TraceTree::build(spans, &options.tree, limits.max_spans_per_trace) {
            Ok(tree) => tree,
            Err(_) => {
                admission.rejected(spans.len());
                continue;
            }
        };
        let root = &tree.nodes[tree.primary_root() as usize];
        if root.service != workflow.root_service || root.name != workflow.root_operation {
            admission.rejected(spans.len());
            continue;
        }
        let (taken, dropped) = builder.add_trace(&tree);
        admission.dropped_spans(dropped);
        admission.analyzed(taken as usize);
    }
    Ok(finish(
        builder,
        workflow,
        options.node_key,
        admission.coverage,
    ))
}

fn finish(
    builder: FlowBuilder,
    workflow: &Workflow,
    node_key: FlowNodeKey,
    coverage: Coverage,
) -> FlowGraph {
    let FlowBuilder {
        names,
        mut nodes,
        edges,
        paths,
        ..
    } = builder;
    let trace_count = coverage.traces_analyzed;
    // Ids by depth, then caller's new id, service and operation: callers come first.
    let mut new_id = vec![NONE; nodes.len()];
    let mut by_depth: Vec<u32> = (0..nodes.len() as u32).collect();
    by_depth.sort_by_key(|&id| nodes[id as usize].depth);
    let mut next = 0u32;
    let mut start = 0;
    while start < by_depth.len() {
        let depth = nodes[by_depth[start] as usize].depth;
        let end = by_depth[start..]
            .iter()
            .position(|&id| nodes[id as usize].depth != depth)
            .map_or(by_depth.len(), |offset| start + offset);
        let group = &mut by_depth[start..end];
        group.sort_by(|&left, &right| {
            let (a, b) = (&nodes[left as usize], &nodes[right as usize]);
            let caller = |node: &NodeAccumulator| match node.caller {
                NONE => NONE,
                caller => new_id[caller as usize],
            };
            caller(a)
                .cmp(&caller(b))
                .then_with(|| names.text(a.service).cmp(names.text(b.service)))
                .then_with(|| names.text(a.operation).cmp(names.text(b.operation)))
        });
        for &id in group.iter() {
            new_id[id as usize] = next;
            next += 1;
        }
        start = end;
    }
    let remap = |id: u32| new_id[id as usize];
    let total_paths: u64 = paths.values().map(|tally| tally.traces).sum();
    let common = paths
        .into_iter()
        .map(|(path, tally)| {
            (
                path.into_iter().map(remap).collect::<Vec<u32>>(),
                tally.traces,
                tally.steps,
            )
        })
        .max_by(|(left_path, left, _), (right_path, right, _)| {
            left.cmp(right).then_with(|| right_path.cmp(left_path))
        });
    let path_steps: std::collections::HashSet<(u32, u32)> = common
        .iter()
        .flat_map(|(_, _, steps)| steps.iter().map(|&(from, to)| (remap(from), remap(to))))
        .collect();
    let common_path = common.map(|(path, count, _)| CommonPath {
        nodes: path,
        trace_count: count,
        fraction: fraction(count, total_paths),
    });
    let on_path: std::collections::HashSet<u32> = common_path
        .iter()
        .flat_map(|path| path.nodes.iter().copied())
        .collect();
    let mut flow_nodes: Vec<FlowNode> = nodes
        .iter_mut()
        .enumerate()
        .map(|(old, node)| {
            let id = new_id[old];
            FlowNode {
                id,
                service: names.text(node.service).to_owned(),
                operation: names.text(node.operation).to_owned(),
                caller: (node.caller != NONE).then(|| new_id[node.caller as usize]),
                depth: node.depth,
                span_count: node.spans,
                trace_count: node.traces,
                frequency: fraction(node.traces, trace_count),
                per_trace: PerTrace {
                    mean: fraction(node.spans, node.traces),
                    max: node.max_per_trace,
                },
                error_count: node.errors,
                histogram: histogram(&node.latencies),
                latency: LatencySummary::from_samples(&mut node.latencies),
                on_common_path: on_path.contains(&id),
            }
        })
        .collect();
    flow_nodes.sort_by_key(|node| node.id);
    let mut flow_edges: Vec<FlowEdge> = edges
        .into_iter()
        .map(|((caller, callee), edge)| {
            let (caller, callee) = (remap(caller), remap(callee));
            FlowEdge {
                caller,
                callee,
                call_count: edge.calls,
                trace_count: edge.traces,
                frequency: fraction(edge.traces, trace_count),
                on_common_path: path_steps.contains(&(caller, callee)),
            }
        })
        .collect();
    flow_edges.sort_by_key(|edge| (edge.caller, edge.callee));
    FlowGraph {
        workflow: workflow.clone(),
        node_key,
        trace_count,
        nodes: flow_nodes,
        edges: flow_edges,
        common_path,
        coverage,
    }
}
