//! A trace as a tree of merged spans, built the way Zipkin's `SpanNode.Builder` builds it,
//! keeping only what dependency linking needs.
//!
//! Zipkin first merges fragments of one span (same id, same `shared` flag, compatible
//! local service), backfills `shared` on a server that reuses its client's id, and then
//! places each span under its parent: a shared server under the client with its id, other
//! spans under their parent id (preferring a shared server of the same service with that
//! id). Spans whose parent is missing hang under the root, which is synthetic when the
//! trace has no root span (a headless trace).

use std::collections::HashMap;

use crate::attribute::AttributeValue;
use crate::id::SpanId;
use crate::span::{Span, SpanKind, StatusCode};

/// One span as dependency linking sees it (a few ids, flags and lower-case service
/// names, not the whole span), before or after merging its fragments. Build it with
/// [`LinkSpan::from_span`] to keep a trace's spans for linking without cloning them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpan {
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: Option<SpanId>,
    /// Zipkin's kind; `None` for internal and unspecified spans.
    pub(crate) kind: Option<SpanKind>,
    pub(crate) shared: bool,
    /// Local service, lower case.
    pub(crate) local_service: Option<String>,
    /// Remote service, lower case.
    pub(crate) remote_service: Option<String>,
    pub(crate) error: bool,
    pub(crate) timestamp_micros: u64,
}

impl LinkSpan {
    /// What linking needs of `span`.
    pub fn from_span(span: &Span) -> Self {
        LinkSpan {
            span_id: span.span_id,
            parent_id: span.parent_span_id,
            kind: zipkin_kind(span),
            shared: span.shared,
            local_service: span.service_name().map(str::to_lowercase),
            remote_service: span.remote_service_name().map(str::to_lowercase),
            error: has_error_tag(span),
            timestamp_micros: timestamp_micros(span),
        }
    }

    /// Fills what this fragment lacks from `other`, as Zipkin's `Span.Builder.merge` does.
    fn merge(&mut self, other: LinkSpan) {
        if self.parent_id.is_none() {
            self.parent_id = other.parent_id;
        }
        if self.kind.is_none() {
            self.kind = other.kind;
        }
        if self.local_service.is_none() {
            self.local_service = other.local_service;
        }
        if self.remote_service.is_none() {
            self.remote_service = other.remote_service;
        }
        if self.timestamp_micros == 0 {
            self.timestamp_micros = other.timestamp_micros;
        }
        self.error |= other.error;
    }
}

/// Zipkin's `Trace.merge`: sort, merge fragments, backfill `shared` and the parent of a
/// shared server span.
fn merge_fragments(mut sorted: Vec<LinkSpan>) -> Vec<LinkSpan> {
    // Same id together; non-shared before shared, clients first among non-shared; spans
    // without a local service first so that their data joins the first span with one.
    sorted.sort_by(|left, right| {
        left.span_id
            .cmp(&right.span_id)
            .then_with(|| sharing_rank(left).cmp(&sharing_rank(right)))
            .then_with(|| match (&left.local_service, &right.local_service) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(a), Some(b)) => a.cmp(b),
            })
    });
    let mut merged: Vec<LinkSpan> = Vec::with_capacity(sorted.len());
    let mut input = sorted.into_iter().peekable();
    while let Some(mut span) = input.next() {
        let mut tracked_service = span.local_service.clone();
        while let Some(next) = input.peek() {
            if next.span_id != span.span_id || next.shared != span.shared {
                break;
            }
            let compatible = match (&tracked_service, &next.local_service) {
                (Some(tracked), Some(other)) => tracked == other,
                _ => true,
            };
            if !compatible {
                break;
            }
            if tracked_service.is_none() {
                tracked_service = next.local_service.clone();
            }
            if let Some(next) = input.next() {
                span.merge(next);
            }
        }
        if let Some(last) = merged.last()
            && last.span_id == span.span_id
        {
            if last.kind == Some(SpanKind::Client)
                && span.kind == Some(SpanKind::Server)
                && !span.shared
            {
                span.shared = true;
            }
            if span.shared && span.parent_id.is_none() && last.parent_id.is_some() {
                span.parent_id = last.parent_id;
            }
        }
        merged.push(span);
    }
    merged
}

fn sharing_rank(span: &LinkSpan) -> u8 {
    match (span.shared, span.kind) {
        (true, _) => 2,
        (false, Some(SpanKind::Client)) => 0,
        (false, _) => 1,
    }
}

/// How a span is addressed in the tree: by id, or for a shared server span by id and
/// local service (several servers can answer one client id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NodeKey {
    Id(SpanId),
    Shared(SpanId, Option<String>),
}

/// Insertion-ordered child-key to parent-key map (Zipkin uses a `LinkedHashMap`, and the
/// order decides the order of siblings before they are sorted by time).
#[derive(Default)]
struct ParentMap {
    entries: Vec<Option<(NodeKey, Option<NodeKey>)>>,
    positions: HashMap<NodeKey, usize>,
}

impl ParentMap {
    fn put(&mut self, child: NodeKey, parent: Option<NodeKey>) {
        match self.positions.get(&child) {
            Some(&position) => self.entries[position] = Some((child, parent)),
            None => {
                self.positions.insert(child.clone(), self.entries.len());
                self.entries.push(Some((child, parent)));
            }
        }
    }

    fn contains(&self, key: &NodeKey) -> bool {
        self.positions.contains_key(key)
    }

    fn remove(&mut self, key: &NodeKey) {
        if let Some(position) = self.positions.remove(key) {
            self.entries[position] = None;
        }
    }
}

/// A node of the tree: a merged span, its parent and children (indices into
/// [`SpanTree::nodes`]).
#[derive(Debug)]
pub(crate) struct SpanNode {
    pub(crate) span: LinkSpan,
    pub(crate) parent: Option<usize>,
    pub(crate) children: Vec<usize>,
}

/// A trace tree. `root` is `None` when the trace is headless; then `top_level` holds the
/// spans hanging under the synthetic root.
#[derive(Debug)]
pub(crate) struct SpanTree {
    pub(crate) nodes: Vec<SpanNode>,
    pub(crate) root: Option<usize>,
    pub(crate) top_level: Vec<usize>,
}

impl SpanTree {
    /// Builds the tree of one trace's spans (all with the same trace id, or the same low
    /// 64 bits). Never fails: bad parent references end up under the root.
    pub(crate) fn build(spans: Vec<LinkSpan>) -> SpanTree {
        let merged = merge_fragments(spans);
        let mut parents = ParentMap::default();
        for span in &merged {
            if span.shared {
                parents.put(
                    NodeKey::Shared(span.span_id, span.local_service.clone()),
                    Some(NodeKey::Id(span.span_id)),
                );
            } else {
                parents.put(NodeKey::Id(span.span_id), span.parent_id.map(NodeKey::Id));
            }
        }

        let mut nodes: Vec<SpanNode> = Vec::with_capacity(merged.len());
        let mut key_to_node: HashMap<NodeKey, usize> = HashMap::with_capacity(merged.len());
        let mut root: Option<usize> = None;
        for span in merged {
            let key = if span.shared {
                NodeKey::Shared(span.span_id, span.local_service.clone())
            } else {
                NodeKey::Id(span.span_id)
            };
            let key_without_service = if span.shared {
                NodeKey::Shared(span.span_id, None)
            } else {
                NodeKey::Id(span.span_id)
            };
            let mut has_parent = false;
            if span.shared {
                has_parent = true;
            } else if let Some(parent_id) = span.parent_id {
                has_parent = true;
                // Most specific first: a local span under a shared server of its service.
                let shared_parent = NodeKey::Shared(parent_id, span.local_service.clone());
                if parents.contains(&shared_parent) {
                    parents.put(key_without_service.clone(), Some(shared_parent));
                }
            }
            let index = nodes.len();
            let shared = span.shared;
            nodes.push(SpanNode {
                span,
                parent: None,
                children: Vec::new(),
            });
            if !has_parent && root.is_none() {
                root = Some(index);
                parents.remove(&key_without_service);
            } else {
                if shared {
                    key_to_node.insert(key, index);
                }
                key_to_node.insert(key_without_service, index);
            }
        }

        let mut top_level = Vec::new();
        for (child_key, parent_key) in parents.entries.into_iter().flatten() {
            let Some(&child) = key_to_node.get(&child_key) else {
                continue;
            };
            if nodes[child].parent.is_some() || Some(child) == root {
                continue;
            }
            let parent = parent_key
                .and_then(|key| key_to_node.get(&key).copied())
                .filter(|&parent| parent != child);
            match parent.or(root) {
                Some(parent) => {
                    nodes[child].parent = Some(parent);
                    nodes[parent].children.push(child);
                }
                None => top_level.push(child),
            }
        }

        let mut tree = SpanTree {
            nodes,
            root,
            top_level,
        };
        tree.sort_children_by_timestamp();
        tree
    }

    fn sort_children_by_timestamp(&mut self) {
        let timestamps: Vec<u64> = self.nodes.iter().map(|n| n.span.timestamp_micros).collect();
        self.top_level.sort_by_key(|&index| timestamps[index]);
        for node in &mut self.nodes {
            node.children.sort_by_key(|&index| timestamps[index]);
        }
    }

    /// Node indices in breadth-first order from the root (or from the spans under the
    /// synthetic root). Nodes caught in a parent cycle are not reachable and not visited.
    pub(crate) fn breadth_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = match self.root {
            Some(root) => vec![root],
            None => self.top_level.clone(),
        };
        let mut visited = vec![false; self.nodes.len()];
        for &index in &order {
            visited[index] = true;
        }
        let mut next = 0;
        while next < order.len() {
            let current = order[next];
            next += 1;
            for &child in &self.nodes[current].children {
                if !visited[child] {
                    visited[child] = true;
                    order.push(child);
                }
            }
        }
        order
    }

    /// The nearest ancestor with a Zipkin kind (a remote span), if any.
    pub(crate) fn first_remote_ancestor(&self, index: usize) -> Option<&LinkSpan> {
        let mut current = self.nodes[index].parent;
        // A parent chain is at most as long as the node count; the bound guards cycles.
        for _ in 0..self.nodes.len() {
            let ancestor = &self.nodes[current?];
            if ancestor.span.kind.is_some() {
                return Some(&ancestor.span);
            }
            current = ancestor.parent;
        }
        None
    }
}

/// Zipkin's kind: `None` for spans Zipkin shows without one (internal, unspecified).
fn zipkin_kind(span: &Span) -> Option<SpanKind> {
    match span.kind {
        SpanKind::Unspecified | SpanKind::Internal => None,
        kind => Some(kind),
    }
}

/// Zipkin's span timestamp in microseconds (0 = none).
fn timestamp_micros(span: &Span) -> u64 {
    span.start_unix_nanos / 1_000
}

/// True when Zipkin shows an `error` tag: an `error` attribute other than `false`, or an
/// error status (the same rule as weft-query's Zipkin matcher).
fn has_error_tag(span: &Span) -> bool {
    match span.attribute("error") {
        Some(AttributeValue::Bool(false)) | None => span.status.code == StatusCode::Error,
        Some(_) => true,
    }
}
