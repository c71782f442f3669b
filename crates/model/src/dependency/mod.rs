//! Service dependency links, with Zipkin's `DependencyLinker` semantics.
//!
//! Each trace is turned into a tree (Zipkin's `SpanNode`) and walked breadth-first. A link goes from
//! caller to callee: client to server, producer to broker, broker to consumer. A client
//! span with children is skipped because its server child names the callee better; a
//! client without children links to its remote service (an uninstrumented server). A
//! server span links from its nearest remote ancestor's service, or from its remote
//! service when it is the root (an uninstrumented client). A span without a kind but with
//! both a local and a remote service counts as a client. Services without a name are never
//! linked. Each RPC is counted once even when both halves were reported.

mod parts;
mod tree;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::span::{Span, SpanKind};

pub use tree::LinkSpan;
use tree::SpanTree;

/// Calls between two services over some set of traces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DependencyLink {
    /// The caller: client, producer, or broker (lower-case service name, never empty).
    pub parent: String,
    /// The callee: server, broker, or consumer (lower-case service name, never empty).
    pub child: String,
    /// Calls seen from `parent` to `child`.
    pub call_count: u64,
    /// Of those, calls with an `error` tag (or error status) on the span that defined the
    /// link, or on the client half of a split RPC.
    pub error_count: u64,
}

/// Accumulates dependency links trace by trace; memory is one entry per distinct
/// (parent, child) pair plus the tree of the trace being added.
#[derive(Debug, Default)]
pub struct DependencyLinker {
    /// Parent service, then child service, to (calls, errors).
    counts: BTreeMap<String, BTreeMap<String, (u64, u64)>>,
}

impl DependencyLinker {
    /// An empty linker.
    pub fn new() -> Self {
        DependencyLinker::default()
    }

    /// Adds the links of one trace. `spans` are all stored spans of the trace (raw
    /// fragments are fine); the trace ids are not compared, so a trace whose spans mix a
    /// 64-bit id and the 128-bit id with the same low half links as one. Empty input adds
    /// nothing.
    pub fn put_trace(&mut self, spans: &[Span]) {
        self.put_link_spans(spans.iter().map(LinkSpan::from_span).collect());
    }

    /// [`DependencyLinker::put_trace`] for spans already reduced with
    /// [`LinkSpan::from_span`] (all stored spans of one trace, or of one part of it).
    pub fn put_link_spans(&mut self, spans: Vec<LinkSpan>) {
        if spans.is_empty() {
            return;
        }
        let tree = SpanTree::build(spans);
        for index in tree.breadth_first() {
            let node = &tree.nodes[index];
            let span = &node.span;
            let mut kind = span.kind;
            // Prefer the server's view of a call; a client with children has one.
            if kind == Some(SpanKind::Client) && !node.children.is_empty() {
                continue;
            }
            let service = span.local_service.as_deref();
            let remote_service = span.remote_service.as_deref();
            let kind_value = match kind {
                Some(kind) => kind,
                // Unknown kind with both sides known reads as a client span.
                None if service.is_some() && remote_service.is_some() => {
                    kind = Some(SpanKind::Client);
                    SpanKind::Client
                }
                None => continue,
            };
            let (mut parent, child) = match kind_value {
                SpanKind::Server | SpanKind::Consumer => {
                    if tree.root == Some(index) && remote_service.is_none() {
                        // The root's caller is unknown.
                        continue;
                    }
                    (remote_service, service)
                }
                SpanKind::Client | SpanKind::Producer => (service, remote_service),
                SpanKind::Internal | SpanKind::Unspecified => continue,
            };
            let mut is_error = span.error;
            if matches!(kind_value, SpanKind::Producer | SpanKind::Consumer) {
                if let (Some(parent), Some(child)) = (parent, child) {
                    self.add_link(parent, child, is_error);
                }
                continue;
            }
            // Local spans may sit between this span and its remote parent.
            if let Some(ancestor) = tree.first_remote_ancestor(index)
                && let Some(ancestor_service) = ancestor.local_service.as_deref()
            {
                // A client whose own service differs from its remote ancestor's: the
                // caller put the wrong service on it; backfill the missing hop.
                if kind == Some(SpanKind::Client)
                    && let Some(service) = service
                    && service != ancestor_service
                {
                    self.add_link(ancestor_service, service, false);
                }
                if kind == Some(SpanKind::Server) || parent.is_none() {
                    parent = Some(ancestor_service);
                }
                // A split RPC: the server half is linked, so take the client's error.
                if !is_error
                    && ancestor.kind == Some(SpanKind::Client)
                    && span.parent_id.is_some()
                    && span.parent_id == Some(ancestor.span_id)
                {
                    is_error = ancestor.error;
                }
            }
            if let (Some(parent), Some(child)) = (parent, child) {
                self.add_link(parent, child, is_error);
            }
        }
    }

    fn add_link(&mut self, parent: &str, child: &str, is_error: bool) {
        self.add_counts(parent, child, 1, u64::from(is_error));
    }

    /// Adds `call_count` calls, `error_count` of them failed, from `parent` to `child`
    /// (saturating). Used to sum links counted elsewhere, such as a block's buckets.
    pub fn add_counts(&mut self, parent: &str, child: &str, call_count: u64, error_count: u64) {
        // Look up before inserting so that a known pair allocates nothing.
        if !self.counts.contains_key(parent) {
            self.counts.insert(parent.to_owned(), BTreeMap::new());
        }
        let Some(children) = self.counts.get_mut(parent) else {
            return;
        };
        if !children.contains_key(child) {
            children.insert(child.to_owned(), (0, 0));
        }
        if let Some(counts) = children.get_mut(child) {
            counts.0 = counts.0.saturating_add(call_count);
            counts.1 = counts.1.saturating_add(error_count);
        }
    }

    /// Adds every link of `links` ([`DependencyLinker::add_counts`] for each).
    pub fn add_links<'a>(&mut self, links: impl IntoIterator<Item = &'a DependencyLink>) {
        for link in links {
            self.add_counts(&link.parent, &link.child, link.call_count, link.error_count);
        }
    }

    /// Takes `links` back out (saturating at zero): the links of trace parts that were
    /// added up before their trace was linked whole.
    pub fn subtract_links<'a>(&mut self, links: impl IntoIterator<Item = &'a DependencyLink>) {
        for link in links {
            if let Some(counts) = self
                .counts
                .get_mut(&link.parent)
                .and_then(|children| children.get_mut(&link.child))
            {
                counts.0 = counts.0.saturating_sub(link.call_count);
                counts.1 = counts.1.saturating_sub(link.error_count);
            }
        }
        for children in self.counts.values_mut() {
            children.retain(|_, (call_count, _)| *call_count > 0);
        }
        self.counts.retain(|_, children| !children.is_empty());
    }

    /// True when no link was added.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The links so far, sorted by parent then child.
    pub fn links(&self) -> Vec<DependencyLink> {
        self.counts
            .iter()
            .flat_map(|(parent, children)| {
                children
                    .iter()
                    .map(move |(child, (call_count, error_count))| DependencyLink {
                        parent: parent.clone(),
                        child: child.clone(),
                        call_count: *call_count,
                        error_count: *error_count,
                    })
            })
            .collect()
    }
}

/// Links every trace of `traces` (each the stored spans of one trace) and returns the
/// summed links, sorted by parent then child.
pub fn dependency_links<'a>(traces: impl IntoIterator<Item = &'a [Span]>) -> Vec<DependencyLink> {
    let mut linker = DependencyLinker::new();
    for trace in traces {
        linker.put_trace(trace);
    }
    linker.links()
}
