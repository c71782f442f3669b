//! The per-trace index (parents, children, root, trace duration, nested-set numbers) and
//! the structural operators over it.
//!
//! Every operator runs in time linear in the trace's spans: relations are computed for
//! all spans at once (one pass down or up the parent links) instead of per pair. Parent
//! links may form cycles in bad data; walks stop at spans already visited.

use std::cell::OnceCell;
use std::collections::HashMap;

use weft_model::{Span, SpanId};

use super::ast::SpansetOp;

const NO_PARENT: u32 = u32::MAX;

/// Parent links and child counts, built on first use.
struct Links {
    /// Index of each span's parent in `spans`, or `NO_PARENT` (root, parent missing, or
    /// not reached from a root).
    parent: Vec<u32>,
    child_count: Vec<u32>,
}

/// Facts about one trace's spans that several operators and intrinsics need. Parent links
/// are only built when the query needs them (structure, child counts, nested sets).
pub(crate) struct TraceIndex<'a> {
    pub spans: &'a [Span],
    links: OnceCell<Links>,
    /// The first span without a parent id, in slice order.
    pub root: Option<usize>,
    /// Latest end minus earliest start over spans with a start time.
    pub trace_duration_nanos: Option<i64>,
    nested_set: OnceCell<Vec<(i64, i64, i64)>>,
}

impl<'a> TraceIndex<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> Self {
        let root = spans.iter().position(|s| s.parent_span_id.is_none());
        let start = spans
            .iter()
            .filter(|s| s.start_unix_nanos > 0)
            .map(|s| s.start_unix_nanos)
            .min();
        let end = spans
            .iter()
            .filter(|s| s.start_unix_nanos > 0)
            .map(Span::end_unix_nanos)
            .max();
        let trace_duration_nanos = match (start, end) {
            (Some(start), Some(end)) => i64::try_from(end - start).ok(),
            _ => None,
        };
        TraceIndex {
            spans,
            links: OnceCell::new(),
            root,
            trace_duration_nanos,
            nested_set: OnceCell::new(),
        }
    }

    fn links(&self) -> &Links {
        self.links.get_or_init(|| build_links(self.spans))
    }

    pub(crate) fn parent_of(&self, index: usize) -> Option<usize> {
        match self.links().parent[index] {
            NO_PARENT => None,
            p => Some(p as usize),
        }
    }

    pub(crate) fn child_count(&self, index: usize) -> i64 {
        i64::from(self.links().child_count[index])
    }

    /// Tempo's nested-set numbers `(left, right, parent's left)` of a span: a depth-first
    /// numbering from 1, children in start-time order; roots have parent -1 and spans not
    /// reachable from a root (orphans, cycles) have zeros.
    pub(crate) fn nested_set(&self, index: usize) -> (i64, i64, i64) {
        self.nested_set.get_or_init(|| self.number_nested_sets())[index]
    }

    fn number_nested_sets(&self) -> Vec<(i64, i64, i64)> {
        let n = self.spans.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            if let Some(p) = self.parent_of(i) {
                children[p].push(i);
            }
        }
        for list in &mut children {
            list.sort_by_key(|&c| (self.spans[c].start_unix_nanos, c));
        }
        let mut numbers = vec![(0i64, 0i64, 0i64); n];
        let mut visited = vec![false; n];
        let mut counter = 0i64;
        let mut roots: Vec<usize> = (0..n)
            .filter(|&i| self.spans[i].parent_span_id.is_none())
            .collect();
        roots.sort_by_key(|&r| (self.spans[r].start_unix_nanos, r));
        for root in roots {
            // Iterative depth-first walk: (span, next child position).
            let mut stack = vec![(root, 0usize)];
            visited[root] = true;
            counter += 1;
            numbers[root] = (counter, 0, -1);
            while let Some(&mut (span, ref mut next)) = stack.last_mut() {
                if let Some(&child) = children[span].get(*next) {
                    *next += 1;
                    if !visited[child] {
                        visited[child] = true;
                        counter += 1;
                        numbers[child] = (counter, 0, numbers[span].0);
                        stack.push((child, 0));
                    }
                } else {
                    counter += 1;
                    numbers[span].1 = counter;
                    stack.pop();
                }
            }
        }
        numbers
    }

    /// For every span, whether some strict ancestor is marked in `marked`.
    fn has_marked_ancestor(&self, marked: &[bool]) -> Vec<bool> {
        let n = self.spans.len();
        // 0 = unknown, 1 = in progress (cycle guard), 2 = false, 3 = true
        let mut state = vec![0u8; n];
        let mut path = Vec::new();
        for start in 0..n {
            let mut current = start;
            // Walk up until a span whose answer is known or a cycle.
            loop {
                if state[current] != 0 {
                    break;
                }
                state[current] = 1;
                path.push(current);
                match self.parent_of(current) {
                    Some(p) => current = p,
                    None => break,
                }
            }
            // Resolve the path from the top down.
            while let Some(span) = path.pop() {
                let answer = match self.parent_of(span) {
                    Some(p) => marked[p] || state[p] == 3,
                    None => false,
                };
                state[span] = if answer { 3 } else { 2 };
            }
        }
        state.into_iter().map(|s| s == 3).collect()
    }

    /// For every span, whether it is a strict ancestor of some span marked in `marked`.
    fn is_ancestor_of_marked(&self, marked: &[bool]) -> Vec<bool> {
        let mut result = vec![false; self.spans.len()];
        for (i, is_marked) in marked.iter().enumerate() {
            if !is_marked {
                continue;
            }
            let mut current = self.parent_of(i);
            while let Some(p) = current {
                if result[p] {
                    break;
                }
                result[p] = true;
                current = self.parent_of(p);
            }
        }
        result
    }

    /// Sibling groups: spans with the same parent; roots share one group (Tempo gives
    /// them the same nested-set parent, -1), unreachable spans none.
    fn sibling_group(&self, index: usize) -> Option<usize> {
        match self.parent_of(index) {
            Some(p) => Some(p),
            None if self.spans[index].parent_span_id.is_none() => Some(self.spans.len()),
            None => None,
        }
    }

    /// For every span, whether another span of its sibling group is marked.
    fn has_marked_sibling(&self, marked: &[bool]) -> Vec<bool> {
        let mut counts = vec![0u32; self.spans.len() + 1];
        for (i, is_marked) in marked.iter().enumerate() {
            if *is_marked && let Some(group) = self.sibling_group(i) {
                counts[group] += 1;
            }
        }
        (0..self.spans.len())
            .map(|i| match self.sibling_group(i) {
                Some(group) => counts[group] > u32::from(marked[i]),
                None => false,
            })
            .collect()
    }

    /// The spans a structural operator returns for left-hand spans `lhs` and right-hand
    /// spans `rhs` (Tempo's `DescendantOf`, `ChildOf`, `SiblingOf`), in slice order.
    pub(crate) fn relate(&self, op: SpansetOp, lhs: &[u32], rhs: &[u32]) -> Vec<u32> {
        let n = self.spans.len();
        let mut in_lhs = vec![false; n];
        for &i in lhs {
            in_lhs[i as usize] = true;
        }
        let mut in_rhs = vec![false; n];
        for &i in rhs {
            in_rhs[i as usize] = true;
        }
        let child_of_lhs = |marked: &[bool]| -> Vec<bool> {
            (0..n)
                .map(|i| self.parent_of(i).is_some_and(|p| marked[p]))
                .collect()
        };
        let parent_of_marked = |marked: &[bool]| -> Vec<bool> {
            let mut result = vec![false; n];
            for (i, is_marked) in marked.iter().enumerate() {
                if *is_marked && let Some(p) = self.parent_of(i) {
                    result[p] = true;
                }
            }
            result
        };
        use SpansetOp::*;
        let (rhs_test, lhs_test): (Vec<bool>, Option<Vec<bool>>) = match op {
            Descendant | NotDescendant => (self.has_marked_ancestor(&in_lhs), None),
            Ancestor | NotAncestor => (self.is_ancestor_of_marked(&in_lhs), None),
            Child | NotChild => (child_of_lhs(&in_lhs), None),
            Parent | NotParent => (parent_of_marked(&in_lhs), None),
            Sibling | NotSibling => (self.has_marked_sibling(&in_lhs), None),
            UnionDescendant => (
                self.has_marked_ancestor(&in_lhs),
                Some(self.is_ancestor_of_marked(&in_rhs)),
            ),
            UnionAncestor => (
                self.is_ancestor_of_marked(&in_lhs),
                Some(self.has_marked_ancestor(&in_rhs)),
            ),
            UnionChild => (child_of_lhs(&in_lhs), Some(parent_of_marked(&in_rhs))),
            UnionParent => (parent_of_marked(&in_lhs), Some(child_of_lhs(&in_rhs))),
            UnionSibling => (
                self.has_marked_sibling(&in_lhs),
                Some(self.has_marked_sibling(&in_rhs)),
            ),
            And | Union => return Vec::new(),
        };
        let negate = matches!(
            op,
            NotDescendant | NotAncestor | NotChild | NotParent | NotSibling
        );
        let mut selected = vec![false; n];
        for &r in rhs {
            selected[r as usize] = rhs_test[r as usize] != negate;
        }
        if let Some(lhs_test) = lhs_test {
            for &l in lhs {
                if lhs_test[l as usize] {
                    selected[l as usize] = true;
                }
            }
        }
        (0..n as u32).filter(|&i| selected[i as usize]).collect()
    }
}

fn build_links(spans: &[Span]) -> Links {
    let mut by_id: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
    for (i, span) in spans.iter().enumerate() {
        // Zipkin's shared server span reuses its client's id; its children belong to it.
        match by_id.get(&span.span_id) {
            Some(&existing) if !span.shared || spans[existing].shared => {}
            _ => {
                by_id.insert(span.span_id, i);
            }
        }
    }
    let mut parent = vec![NO_PARENT; spans.len()];
    for (i, span) in spans.iter().enumerate() {
        if let Some(parent_id) = span.parent_span_id
            && let Some(&p) = by_id.get(&parent_id)
            && p != i
        {
            parent[i] = p as u32;
        }
    }
    // Tempo numbers spans (nested sets) walking down from the roots; spans it does not
    // reach (orphans, cycles, every span of a trace without root) get no numbers and
    // take part in no structural relation, and count no children.
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); spans.len()];
    for (i, p) in parent.iter().enumerate() {
        if *p != NO_PARENT {
            children[*p as usize].push(i as u32);
        }
    }
    let mut reachable = vec![false; spans.len()];
    let mut stack: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].parent_span_id.is_none())
        .collect();
    for &root in &stack {
        reachable[root] = true;
    }
    while let Some(span) = stack.pop() {
        for &child in &children[span] {
            if !reachable[child as usize] {
                reachable[child as usize] = true;
                stack.push(child as usize);
            }
        }
    }
    let mut child_count = vec![0u32; spans.len()];
    for i in 0..spans.len() {
        if parent[i] != NO_PARENT && reachable[i] {
            let p = parent[i] as usize;
            child_count[p] = child_count[p].saturating_add(1);
        }
        if !reachable[i] {
            parent[i] = NO_PARENT;
        }
    }
    Links {
        parent,
        child_count,
    }
}
