//! Comparisons of two traces and of two sets of traces, aligned by calling context (see
//! [`crate::calling_context_tree`] for contexts, inclusive and exclusive time).

use serde::Serialize;
use weft_model::Span;

use crate::cct::{ContextBuilder, SetAccumulator};
use crate::error::AnalyticsError;
use crate::limits::{Admission, Coverage, Limits};
use crate::stats::{LatencySummary, fraction, nearest_rank};
use crate::tree::{TraceTree, TreeOptions};

/// One step of a calling-context path.
///
/// JSON: `{"service": "api", "operation": "GET /"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The service; empty when unknown.
    pub service: String,
    /// The operation (span name).
    pub operation: String,
}

/// Where a context occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// In both traces.
    Both,
    /// Only in trace A.
    OnlyA,
    /// Only in trace B.
    OnlyB,
}

/// One side of a trace comparison.
///
/// JSON: `{"trace_id": "...", "span_count": 12, "duration_nanos": 1000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRef {
    /// The trace, hex.
    pub trace_id: String,
    /// Spans after merging fragments.
    pub span_count: u64,
    /// The primary root's duration (0 when untimed).
    pub duration_nanos: u64,
}

/// What one trace has at one context.
///
/// JSON: `{"span_count": 2, "inclusive_nanos": 300, "exclusive_nanos": 120}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceNodeTotals {
    /// Spans at the context.
    pub span_count: u64,
    /// Sum of their durations.
    pub inclusive_nanos: u64,
    /// Sum of their self times.
    pub exclusive_nanos: u64,
}

/// One context of a trace comparison.
///
/// JSON: `{"path": [Frame...], "presence": "both", "a": TraceNodeTotals, "b":
/// TraceNodeTotals, "count_delta": 1, "inclusive_delta_nanos": 200,
/// "exclusive_delta_nanos": 150}`; deltas are B minus A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceComparisonNode {
    /// The context, root first.
    pub path: Vec<Frame>,
    /// Which traces have it.
    pub presence: Presence,
    /// Trace A's totals.
    pub a: TraceNodeTotals,
    /// Trace B's totals.
    pub b: TraceNodeTotals,
    /// B's spans less A's.
    pub count_delta: i64,
    /// B's inclusive time less A's.
    pub inclusive_delta_nanos: i64,
    /// B's exclusive time less A's.
    pub exclusive_delta_nanos: i64,
}

/// Two traces compared.
///
/// JSON: `{"a": TraceRef, "b": TraceRef, "nodes": [TraceComparisonNode...], "only_in_a":
/// [[Frame...]...], "only_in_b": [[Frame...]...], "coverage": Coverage}`. `nodes` holds
/// every context of either trace, ranked by absolute exclusive delta, then absolute count
/// delta, then absolute inclusive delta, largest first (ties in tree order).
/// `only_in_a`/`only_in_b` list the topmost contexts of the structural differences (a
/// subtree missing from the other trace is listed once, at its top), in tree order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceComparison {
    /// Trace A.
    pub a: TraceRef,
    /// Trace B.
    pub b: TraceRef,
    /// Every context, ranked.
    pub nodes: Vec<TraceComparisonNode>,
    /// Tops of subtrees only A has.
    pub only_in_a: Vec<Vec<Frame>>,
    /// Tops of subtrees only B has.
    pub only_in_b: Vec<Vec<Frame>>,
    /// What was taken and left out (two traces seen).
    pub coverage: Coverage,
}

fn path_of(builder: &ContextBuilder, context: u32) -> Vec<Frame> {
    let mut path = Vec::new();
    let mut current = Some(context);
    while let Some(id) = current {
        path.push(Frame {
            service: builder.service(id).to_owned(),
            operation: builder.operation(id).to_owned(),
        });
        current = builder.contexts[id as usize].parent;
    }
    path.reverse();
    path
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn totals(set: &SetAccumulator) -> TraceNodeTotals {
    TraceNodeTotals {
        span_count: set.span_count,
        inclusive_nanos: set.inclusive.iter().sum(),
        exclusive_nanos: set.exclusive.iter().sum(),
    }
}

fn trace_ref(tree: &TraceTree<'_>) -> TraceRef {
    let root = &tree.nodes[tree.primary_root() as usize];
    TraceRef {
        trace_id: root.span.trace_id.to_hex(),
        span_count: tree.nodes.len() as u64,
        duration_nanos: if root.timed { root.duration() } else { 0 },
    }
}

/// Compares trace A (`a`, all its spans) with trace B, context by context. Errors when
/// either is empty or over `limits.max_spans_per_trace`.
pub fn compare_traces(
    a: &[Span],
    b: &[Span],
    options: &TreeOptions,
    limits: &Limits,
) -> Result<TraceComparison, AnalyticsError> {
    limits.validate()?;
    let tree_a = TraceTree::build(a, options, limits.max_spans_per_trace)?;
    let tree_b = TraceTree::build(b, options, limits.max_spans_per_trace)?;
    let mut builder = ContextBuilder::new(2, limits.max_nodes);
    let mut admission = Admission::new(*limits);
    for (set, tree) in [&tree_a, &tree_b].into_iter().enumerate() {
        admission.admit(tree.nodes.len());
        let dropped = builder.add_trace(tree, set);
        admission.dropped_spans(dropped);
        admission.analyzed(tree.nodes.len() - dropped as usize);
    }
    let order = builder.canonical_order();
    let presence_of = |context: u32| {
        let sets = &builder.contexts[context as usize].sets;
        match (sets[0].span_count > 0, sets[1].span_count > 0) {
            (true, false) => Presence::OnlyA,
            (false, true) => Presence::OnlyB,
            _ => Presence::Both,
        }
    };
    let mut only_in_a = Vec::new();
    let mut only_in_b = Vec::new();
    let mut nodes: Vec<(usize, TraceComparisonNode)> = Vec::with_capacity(order.len());
    for (position, &context) in order.iter().enumerate() {
        let presence = presence_of(context);
        let parent_presence = builder.contexts[context as usize].parent.map(presence_of);
        if presence != Presence::Both && parent_presence.is_none_or(|parent| parent != presence) {
            match presence {
                Presence::OnlyA => only_in_a.push(path_of(&builder, context)),
                _ => only_in_b.push(path_of(&builder, context)),
            }
        }
        let sets = &builder.contexts[context as usize].sets;
        let (a, b) = (totals(&sets[0]), totals(&sets[1]));
        nodes.push((
            position,
            TraceComparisonNode {
                path: path_of(&builder, context),
                presence,
                count_delta: signed(b.span_count) - signed(a.span_count),
                inclusive_delta_nanos: signed(b.inclusive_nanos) - signed(a.inclusive_nanos),
                exclusive_delta_nanos: signed(b.exclusive_nanos) - signed(a.exclusive_nanos),
                a,
                b,
            },
        ));
    }
    nodes.sort_by(|(left_position, left), (right_position, right)| {
        let key = |node: &TraceComparisonNode| {
            (
                node.exclusive_delta_nanos.unsigned_abs(),
                node.count_delta.unsigned_abs(),
                node.inclusive_delta_nanos.unsigned_abs(),
            )
        };
        key(right)
            .cmp(&key(left))
            .then(left_position.cmp(right_position))
    });
    Ok(TraceComparison {
        a: trace_ref(&tree_a),
        b: trace_ref(&tree_b),
        nodes: nodes.into_iter().map(|(_, node)| node).collect(),
        only_in_a,
        only_in_b,
        coverage: admission.coverage,
    })
}

/// One set's figures at one context.
///
/// JSON: `{"trace_frequency": 0.5, "spans_per_trace": 1.5, "exclusive_per_trace_mean_nanos":
/// 120.0, "exclusive_per_trace_median_nanos": 100, "inclusive_mean_nanos": 300.0,
/// "inclusive_median_nanos": 280}`. Per-trace figures are over every trace of the set,
/// counting 0 for traces without the context; inclusive figures are per span.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SetNodeStats {
    /// Fraction of the set's traces with the context.
    pub trace_frequency: f64,
    /// Spans at the context per trace of the set.
    pub spans_per_trace: f64,
    /// Mean exclusive time at the context per trace of the set.
    pub exclusive_per_trace_mean_nanos: f64,
    /// Median (nearest rank) of the exclusive time per trace of the set.
    pub exclusive_per_trace_median_nanos: u64,
    /// Mean span duration at the context.
    pub inclusive_mean_nanos: f64,
    /// Median (nearest rank) span duration at the context.
    pub inclusive_median_nanos: u64,
}

/// One context of a set comparison.
///
/// JSON: `{"path": [Frame...], "a": SetNodeStats, "b": SetNodeStats,
/// "contribution_nanos": 250.0}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetComparisonNode {
    /// The context, root first.
    pub path: Vec<Frame>,
    /// Set A's figures.
    pub a: SetNodeStats,
    /// Set B's figures.
    pub b: SetNodeStats,
    /// B's mean exclusive time per trace less A's: this context's part in the difference
    /// of the sets' mean trace time (the parts add up to it when no spans run in
    /// parallel).
    pub contribution_nanos: f64,
}

/// One set of a set comparison.
///
/// JSON: `{"trace_count": 20, "duration": LatencySummary, "coverage": Coverage}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetSummary {
    /// Traces taken.
    pub trace_count: u64,
    /// Primary roots' durations.
    pub duration: LatencySummary,
    /// What was taken and left out of this set.
    pub coverage: Coverage,
}

/// Two sets of traces compared.
///
/// JSON: `{"a": SetSummary, "b": SetSummary, "nodes": [SetComparisonNode...]}`; nodes
/// ranked by absolute contribution, then absolute change in trace frequency, largest first
/// (ties in tree order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetComparison {
    /// Set A.
    pub a: SetSummary,
    /// Set B.
    pub b: SetSummary,
    /// Every context of either set, ranked.
    pub nodes: Vec<SetComparisonNode>,
}

fn set_stats(set: &mut SetAccumulator, trace_count: u64) -> SetNodeStats {
    let exclusive_sum: u64 = set.per_trace_exclusive.iter().sum();
    set.per_trace_exclusive.sort_unstable();
    let exclusive_median = if trace_count == 0 {
        0
    } else {
        let rank = (trace_count * 500).div_ceil(1000).max(1);
        let zeros = trace_count - set.per_trace_exclusive.len() as u64;
        if rank <= zeros {
            0
        } else {
            set.per_trace_exclusive[(rank - zeros - 1) as usize]
        }
    };
    set.inclusive.sort_unstable();
    let inclusive_sum: u64 = set.inclusive.iter().sum();
    SetNodeStats {
        trace_frequency: fraction(set.trace_count, trace_count),
        spans_per_trace: fraction(set.span_count, trace_count),
        exclusive_per_trace_mean_nanos: fraction(exclusive_sum, trace_count),
        exclusive_per_trace_median_nanos: exclusive_median,
        inclusive_mean_nanos: fraction(inclusive_sum, set.inclusive.len() as u64),
        inclusive_median_nanos: if set.inclusive.is_empty() {
            0
        } else {
            nearest_rank(&set.inclusive, 500)
        },
    }
}

/// Compares set A of traces (each the spans of one trace) with set B (fast and slow,
/// before and after), context by context. Each set is bounded by `limits` on its own;
/// `max_nodes` bounds the contexts of both together.
pub fn compare_trace_sets<A: AsRef<[Span]>, B: AsRef<[Span]>>(
    a: impl IntoIterator<Item = A>,
    b: impl IntoIterator<Item = B>,
    options: &TreeOptions,
    limits: &Limits,
) -> Result<SetComparison, AnalyticsError> {
    limits.validate()?;
    let mut builder = ContextBuilder::new(2, limits.max_nodes);
    let mut add =
        |set: usize, spans: &[Span], admission: &mut Admission, durations: &mut Vec<u64>| {
            if !admission.admit(spans.len()) {
                return;
            }
            let Ok(tree) = TraceTree::build(spans, options, limits.max_spans_per_trace) else {
                admission.rejected(spans.len());
                return;
            };
            let dropped = builder.add_trace(&tree, set);
            admission.dropped_spans(dropped);
            admission.analyzed(tree.nodes.len() - dropped as usize);
            let root = &tree.nodes[tree.primary_root() as usize];
            if root.timed {
                durations.push(root.duration());
            }
        };
    let (mut admission_a, mut durations_a) = (Admission::new(*limits), Vec::new());
    for trace in a {
        add(0, trace.as_ref(), &mut admission_a, &mut durations_a);
    }
    let (mut admission_b, mut durations_b) = (Admission::new(*limits), Vec::new());
    for trace in b {
        add(1, trace.as_ref(), &mut admission_b, &mut durations_b);
    }
    let traces = [
        admission_a.coverage.traces_analyzed,
        admission_b.coverage.traces_analyzed,
    ];
    let order = builder.canonical_order();
    let mut nodes: Vec<(usize, SetComparisonNode)> = Vec::with_capacity(order.len());
    for (position, &context) in order.iter().enumerate() {
        let path = path_of(&builder, context);
        let sets = &mut builder.contexts[context as usize].sets;
        let a = set_stats(&mut sets[0], traces[0]);
        let b = set_stats(&mut sets[1], traces[1]);
        nodes.push((
            position,
            SetComparisonNode {
                path,
                contribution_nanos: b.exclusive_per_trace_mean_nanos
                    - a.exclusive_per_trace_mean_nanos,
                a,
                b,
            },
        ));
    }
    nodes.sort_by(|(left_position, left), (right_position, right)| {
        let contribution = |node: &SetComparisonNode| node.contribution_nanos.abs();
        let frequency =
            |node: &SetComparisonNode| (node.b.trace_frequency - node.a.trace_frequency).abs();
        contribution(right)
            .total_cmp(&contribution(left))
            .then_with(|| frequency(right).total_cmp(&frequency(left)))
            .then(left_position.cmp(right_position))
    });
    Ok(SetComparison {
        a: SetSummary {
            trace_count: traces[0],
            duration: LatencySummary::from_samples(&mut durations_a),
            coverage: admission_a.coverage,
        },
        b: SetSummary {
            trace_count: traces[1],
            duration: LatencySummary::from_samples(&mut durations_b),
            coverage: admission_b.coverage,
        },
        nodes: nodes.into_iter().map(|(_, node)| node).collect(),
    })
}
