//! The calling-context tree: spans merged by their path of (service, operation) from the
//! root, across traces and workflows.
//!
//! A span's *exclusive* (self) time is its duration less the time covered by the union
//! of its synchronous children (clipped to the span), so parallel children are not
//! subtracted twice and async children not at all. Its *inclusive* time is its duration.
//! Orphans attached to the root sit under the root's context; roots of their own start
//! their own paths. Spans without a timestamp are counted but give no time samples.

use std::collections::HashMap;

use serde::Serialize;
use weft_model::Span;

use crate::limits::{Admission, Coverage, Limits};
use crate::names::Names;
use crate::stats::{LatencySummary, covered_nanos};
use crate::tree::{TraceTree, TreeOptions};

/// Marks a dropped span's context.
const DROPPED: u32 = u32::MAX;

/// What one set of traces put into one context.
#[derive(Debug, Default)]
pub(crate) struct SetAccumulator {
    pub(crate) span_count: u64,
    pub(crate) trace_count: u64,
    pub(crate) inclusive: Vec<u64>,
    pub(crate) exclusive: Vec<u64>,
    /// Exclusive time summed per trace, one entry per trace that has the context.
    pub(crate) per_trace_exclusive: Vec<u64>,
    /// Spans per trace, one entry per trace that has the context.
    pub(crate) per_trace_spans: Vec<u64>,
}

/// One calling context.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) parent: Option<u32>,
    pub(crate) service: u32,
    pub(crate) operation: u32,
    pub(crate) depth: u32,
    pub(crate) children: Vec<u32>,
    pub(crate) sets: Vec<SetAccumulator>,
}

#[derive(Debug, Default, Clone, Copy)]
struct TraceTotals {
    spans: u64,
    exclusive: u64,
}

/// Merges traces into calling contexts, for one or several sets of traces.
#[derive(Debug)]
pub(crate) struct ContextBuilder {
    pub(crate) names: Names,
    keys: HashMap<(u32, u32, u32), u32>,
    pub(crate) contexts: Vec<Context>,
    pub(crate) roots: Vec<u32>,
    set_count: usize,
    max_nodes: usize,
    scratch: HashMap<u32, TraceTotals>,
}

impl ContextBuilder {
    pub(crate) fn new(set_count: usize, max_nodes: usize) -> Self {
        ContextBuilder {
            names: Names::default(),
            keys: HashMap::new(),
            contexts: Vec::new(),
            roots: Vec::new(),
            set_count,
            max_nodes,
            scratch: HashMap::new(),
        }
    }

    fn context(&mut self, parent: Option<u32>, service: &str, operation: &str) -> u32 {
        let service = self.names.intern(service);
        let operation = self.names.intern(operation);
        let key = (parent.unwrap_or(DROPPED), service, operation);
        if let Some(&id) = self.keys.get(&key) {
            return id;
        }
        if self.contexts.len() >= self.max_nodes {
            return DROPPED;
        }
        let id = self.contexts.len() as u32;
        let depth = parent.map_or(0, |parent| self.contexts[parent as usize].depth + 1);
        self.contexts.push(Context {
            parent,
            service,
            operation,
            depth,
            children: Vec::new(),
            sets: (0..self.set_count)
                .map(|_| SetAccumulator::default())
                .collect(),
        });
        match parent {
            Some(parent) => self.contexts[parent as usize].children.push(id),
            None => self.roots.push(id),
        }
        self.keys.insert(key, id);
        id
    }

    /// Adds one trace to set `set`; returns the spans dropped for `max_nodes`.
    pub(crate) fn add_trace(&mut self, tree: &TraceTree<'_>, set: usize) -> u64 {
        let mut node_context = vec![DROPPED; tree.nodes.len()];
        let mut dropped = 0u64;
        let mut intervals: Vec<(u64, u64)> = Vec::new();
        self.scratch.clear();
        for node_index in tree.preorder() {
            let node = &tree.nodes[node_index as usize];
            let parent_context = match node.parent {
                Some(parent) => match node_context[parent as usize] {
                    DROPPED => {
                        dropped += 1;
                        continue;
                    }
                    context => Some(context),
                },
                None => None,
            };
            let context = self.context(parent_context, node.service, node.name);
            if context == DROPPED {
                dropped += 1;
                continue;
            }
            node_context[node_index as usize] = context;
            let accumulator = &mut self.contexts[context as usize].sets[set];
            accumulator.span_count += 1;
            let totals = self.scratch.entry(context).or_default();
            totals.spans += 1;
            if node.timed {
                intervals.clear();
                intervals.extend(tree.children(node_index).iter().filter_map(|&child| {
                    let child = &tree.nodes[child as usize];
                    (child.timed && child.holds_parent()).then_some((child.start, child.end))
                }));
                let exclusive =
                    node.duration() - covered_nanos(&mut intervals, node.start, node.end);
                accumulator.inclusive.push(node.duration());
                accumulator.exclusive.push(exclusive);
                totals.exclusive += exclusive;
            }
        }
        for (&context, totals) in &self.scratch {
            let accumulator = &mut self.contexts[context as usize].sets[set];
            accumulator.trace_count += 1;
            accumulator.per_trace_exclusive.push(totals.exclusive);
            accumulator.per_trace_spans.push(totals.spans);
        }
        dropped
    }

    /// Context ids in depth-first order, children by (service, operation).
    pub(crate) fn canonical_order(&self) -> Vec<u32> {
        let by_name = |ids: &[u32]| {
            let mut ids = ids.to_vec();
            ids.sort_by(|&left, &right| {
                let (a, b) = (
                    &self.contexts[left as usize],
                    &self.contexts[right as usize],
                );
                self.names
                    .text(a.service)
                    .cmp(self.names.text(b.service))
                    .then_with(|| {
                        self.names
                            .text(a.operation)
                            .cmp(self.names.text(b.operation))
                    })
            });
            ids
        };
        let mut order = Vec::with_capacity(self.contexts.len());
        let mut stack: Vec<u32> = by_name(&self.roots).into_iter().rev().collect();
        while let Some(id) = stack.pop() {
            order.push(id);
            stack.extend(
                by_name(&self.contexts[id as usize].children)
                    .into_iter()
                    .rev(),
            );
        }
        order
    }

    pub(crate) fn service(&self, context: u32) -> &str {
        self.names.text(self.contexts[context as usize].service)
    }

    pub(crate) fn operation(&self, context: u32) -> &str {
        self.names.text(self.contexts[context as usize].operation)
    }
}

/// A calling-context tree over many traces.
///
/// JSON: `{"trace_count": 2, "roots": [0], "nodes": [CctNode...], "coverage": Coverage}`;
/// node ids are indices into `nodes`, which lists the tree depth first with siblings
/// ordered by service then operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallingContextTree {
    /// Traces merged.
    pub trace_count: u64,
    /// Root contexts (one per distinct root service and operation).
    pub roots: Vec<u32>,
    /// Every context.
    pub nodes: Vec<CctNode>,
    /// What was taken and left out.
    pub coverage: Coverage,
}

/// One calling context: a path of (service, operation) from a root.
///
/// JSON: `{"id": 1, "parent": 0, "depth": 1, "service": "db", "operation": "SELECT",
/// "children": [], "span_count": 3, "trace_count": 2, "inclusive": LatencySummary,
/// "exclusive": LatencySummary}`; the summaries are per span, with `total_nanos` the sum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CctNode {
    /// Index in [`CallingContextTree::nodes`].
    pub id: u32,
    /// The calling context; `None` for a root.
    pub parent: Option<u32>,
    /// 0 for a root.
    pub depth: u32,
    /// The service; empty when unknown.
    pub service: String,
    /// The operation (span name).
    pub operation: String,
    /// The contexts called from here, by service then operation.
    pub children: Vec<u32>,
    /// Spans at this context.
    pub span_count: u64,
    /// Traces with at least one span at this context.
    pub trace_count: u64,
    /// Span durations.
    pub inclusive: LatencySummary,
    /// Span self times (duration less the union of synchronous children).
    pub exclusive: LatencySummary,
}

/// Merges `traces` (each the spans of one trace) into one calling-context tree.
/// Traces that are empty or over a limit are skipped and counted in `coverage`.
pub fn calling_context_tree<T: AsRef<[Span]>>(
    traces: impl IntoIterator<Item = T>,
    options: &TreeOptions,
    limits: &Limits,
) -> Result<CallingContextTree, crate::AnalyticsError> {
    limits.validate()?;
    let mut admission = Admission::new(*limits);
    let mut builder = ContextBuilder::new(1, limits.max_nodes);
    for trace in traces {
        let spans = trace.as_ref();
        if !admission.admit(spans.len()) {
            continue;
        }
        let Ok(tree) = TraceTree::build(spans, options, limits.max_spans_per_trace) else {
            admission.rejected(spans.len());
            continue;
        };
        let dropped = builder.add_trace(&tree, 0);
        admission.dropped_spans(dropped);
        admission.analyzed(tree.nodes.len() - dropped as usize);
    }
    let order = builder.canonical_order();
    let mut new_id = vec![0u32; builder.contexts.len()];
    for (position, &old) in order.iter().enumerate() {
        new_id[old as usize] = position as u32;
    }
    let mut nodes = Vec::with_capacity(order.len());
    for &old in &order {
        let service = builder.service(old).to_owned();
        let operation = builder.operation(old).to_owned();
        let context = &mut builder.contexts[old as usize];
        let mut children: Vec<u32> = context
            .children
            .iter()
            .map(|&child| new_id[child as usize])
            .collect();
        children.sort_unstable();
        let set = &mut context.sets[0];
        nodes.push(CctNode {
            id: new_id[old as usize],
            parent: context.parent.map(|parent| new_id[parent as usize]),
            depth: context.depth,
            service,
            operation,
            children,
            span_count: set.span_count,
            trace_count: set.trace_count,
            inclusive: LatencySummary::from_samples(&mut set.inclusive),
            exclusive: LatencySummary::from_samples(&mut set.exclusive),
        });
    }
    let mut roots: Vec<u32> = builder
        .roots
        .iter()
        .map(|&root| new_id[root as usize])
        .collect();
    roots.sort_unstable();
    Ok(CallingContextTree {
        trace_count: admission.coverage.traces_analyzed,
        roots,
        nodes,
        coverage: admission.coverage,
    })
}
