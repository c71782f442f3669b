//! The critical path of one trace.
//!
//! Walking back in time from the root's end: at each point the child that finishes last
//! among the synchronous children still running at that point (started before it) is on
//! the path until its start, seen through the same rule applied to its own children; the
//! time between such children is the parent's own (self) time on the path. Children are
//! clipped to their parent's window, so a child that outlives its parent only counts up to
//! the parent's end, and one that started before its parent counts from the parent's
//! start. Async children (follows-from, links, producer/consumer) never hold their parent
//! up and are left off; orphans attached to the root count as its children. The segments
//! cover the root's extent exactly: their durations add up to `total_nanos`.

use std::collections::HashMap;

use serde::Serialize;
use weft_model::Span;

use crate::error::AnalyticsError;
use crate::limits::Limits;
use crate::tree::{ClockSkewReport, TraceTree, TreeOptions};

/// The critical path of one trace.
///
/// JSON: `{"trace_id": "...", "root_span_id": "...", "start_unix_nanos": ...,
/// "end_unix_nanos": ..., "total_nanos": ..., "segments": [PathSegment...],
/// "spans": [SpanOnPath...], "span_count": 7, "orphan_span_count": 0,
/// "async_span_count": 1, "clock_skew": ClockSkewReport}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPath {
    /// The trace, hex.
    pub trace_id: String,
    /// The primary root the path is of, hex.
    pub root_span_id: String,
    /// The root's start after clock-skew correction.
    pub start_unix_nanos: u64,
    /// The root's end after clock-skew correction.
    pub end_unix_nanos: u64,
    /// The root's duration; the segments' durations add up to it.
    pub total_nanos: u64,
    /// The segments in time order; consecutive segments of one span are merged.
    pub segments: Vec<PathSegment>,
    /// Each span on the path with its time on it, most time first (ties by span id).
    pub spans: Vec<SpanOnPath>,
    /// Spans in the trace after merging fragments.
    pub span_count: u64,
    /// Spans whose parent is missing.
    pub orphan_span_count: u64,
    /// Async children (left off the path).
    pub async_span_count: u64,
    /// Clock-skew corrections made before the walk.
    pub clock_skew: ClockSkewReport,
}

/// One stretch of time during which a span is on the critical path.
///
/// JSON: `{"span_id": "...", "service": "api", "name": "GET /", "start_unix_nanos": 10,
/// "end_unix_nanos": 30, "duration_nanos": 20}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathSegment {
    /// The span, hex.
    pub span_id: String,
    /// Its service; empty when unknown.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Segment start (inclusive).
    pub start_unix_nanos: u64,
    /// Segment end (exclusive).
    pub end_unix_nanos: u64,
    /// `end - start`.
    pub duration_nanos: u64,
}

/// A span's share of the critical path: its self time on the path.
///
/// JSON: `{"span_id": "...", "service": "db", "name": "SELECT",
/// "self_time_on_path_nanos": 40, "fraction_of_total": 0.4}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanOnPath {
    /// The span, hex.
    pub span_id: String,
    /// Its service; empty when unknown.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Sum of its segments.
    pub self_time_on_path_nanos: u64,
    /// `self_time_on_path_nanos / total_nanos` (0 when the total is 0).
    pub fraction_of_total: f64,
}

/// The critical path of the trace made of `spans` (all its stored spans), from its
/// primary root. Errors when the trace is empty, over `limits.max_spans_per_trace`, or its
/// root has no timestamp.
pub fn critical_path(
    spans: &[Span],
    options: &TreeOptions,
    limits: &Limits,
) -> Result<CriticalPath, AnalyticsError> {
    limits.validate()?;
    let tree = TraceTree::build(spans, options, limits.max_spans_per_trace)?;
    let segments = path_segments(&tree)?;
    let root = &tree.nodes[tree.primary_root() as usize];
    let total = root.duration();
    let mut self_times: HashMap<u32, u64> = HashMap::new();
    for &(node, start, end) in &segments {
        *self_times.entry(node).or_default() += end - start;
    }
    let describe = |node: u32| {
        let node = &tree.nodes[node as usize];
        (
            node.span.span_id.to_hex(),
            node.service.to_owned(),
            node.name.to_owned(),
        )
    };
    let mut on_path: Vec<SpanOnPath> = self_times
        .into_iter()
        .map(|(node, nanos)| {
            let (span_id, service, name) = describe(node);
            SpanOnPath {
                span_id,
                service,
                name,
                self_time_on_path_nanos: nanos,
                fraction_of_total: crate::stats::fraction(nanos, total),
            }
        })
        .collect();
    on_path.sort_by(|left, right| {
        right
            .self_time_on_path_nanos
            .cmp(&left.self_time_on_path_nanos)
            .then_with(|| left.span_id.cmp(&right.span_id))
    });
    Ok(CriticalPath {
        trace_id: root.span.trace_id.to_hex(),
        root_span_id: root.span.span_id.to_hex(),
        start_unix_nanos: root.start,
        end_unix_nanos: root.end,
        total_nanos: total,
        segments: segments
            .iter()
            .map(|&(node, start, end)| {
                let (span_id, service, name) = describe(node);
                PathSegment {
                    span_id,
                    service,
                    name,
                    start_unix_nanos: start,
                    end_unix_nanos: end,
                    duration_nanos: end - start,
                }
            })
            .collect(),
        spans: on_path,
        span_count: tree.nodes.len() as u64,
        orphan_span_count: tree.orphan_count,
        async_span_count: tree.async_count,
        clock_skew: tree.skew.clone(),
    })
}

/// A span being walked: its window `[low, point)` still to explain, and its candidate
/// children latest end first.
struct Frame {
    node: u32,
    low: u64,
    point: u64,
    children: Vec<u32>,
    cursor: usize,
}

/// The critical path of `tree`'s primary root as `(node, start, end)` in time order,
/// consecutive segments of one node merged, empty ones left out.
pub(crate) fn path_segments(tree: &TraceTree<'_>) -> Result<Vec<(u32, u64, u64)>, AnalyticsError> {
    let root = tree.primary_root();
    let root_node = &tree.nodes[root as usize];
    if !root_node.timed {
        return Err(AnalyticsError::UntimedRoot {
            span_id: root_node.span.span_id.to_hex(),
        });
    }
    let candidates = |node: u32| {
        let mut children: Vec<u32> = tree
            .children(node)
            .iter()
            .copied()
            .filter(|&child| {
                let child = &tree.nodes[child as usize];
                child.timed && child.holds_parent()
            })
            .collect();
        children.sort_by(|&left, &right| {
            let (a, b) = (&tree.nodes[left as usize], &tree.nodes[right as usize]);
            b.end
                .cmp(&a.end)
                .then(b.start.cmp(&a.start))
                .then(left.cmp(&right))
        });
        children
    };
    let mut reversed: Vec<(u32, u64, u64)> = Vec::new();
    let mut stack = vec![Frame {
        node: root,
        low: root_node.start,
        point: root_node.end,
        children: candidates(root),
        cursor: 0,
    }];
    while let Some(frame) = stack.last_mut() {
        let mut next: Option<Frame> = None;
        while frame.cursor < frame.children.len() && frame.point > frame.low {
            let child_index = frame.children[frame.cursor];
            frame.cursor += 1;
            let child = &tree.nodes[child_index as usize];
            // A child starting at or after the point can never be running at it again.
            if child.start >= frame.point {
                continue;
            }
            let child_end = child.end.min(frame.point);
            if child_end <= frame.low {
                // Latest end first: no later candidate reaches into the window either.
                frame.cursor = frame.children.len();
                break;
            }
            if child_end < frame.point {
                reversed.push((frame.node, child_end, frame.point));
            }
            let child_low = child.start.max(frame.low);
            frame.point = child_low;
            next = Some(Frame {
                node: child_index,
                low: child_low,
                point: child_end,
                children: candidates(child_index),
                cursor: 0,
            });
            break;
        }
        match next {
            Some(child_frame) => stack.push(child_frame),
            None => {
                if frame.point > frame.low {
                    reversed.push((frame.node, frame.low, frame.point));
                }
                stack.pop();
            }
        }
    }
    let mut segments: Vec<(u32, u64, u64)> = Vec::with_capacity(reversed.len());
    for (node, start, end) in reversed.into_iter().rev() {
        match segments.last_mut() {
            Some(last) if last.0 == node && last.2 == start => last.2 = end,
            _ => segments.push((node, start, end)),
        }
    }
    Ok(segments)
}
