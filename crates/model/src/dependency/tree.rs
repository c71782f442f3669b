//! A trace as a tree of merged spans, built the way Zipkin's `SpanNode.Builder` builds it,
//! keeping only what dependency linking needs.
//!
//! Zipkin first merges fragments of one span (same id, same `shared` flag, compatible
//! local endpoint), backfills `shared` on a server that reuses its client's id, and then
//! places each span under its parent: a shared server under the client with its id, other
//! spans under their parent id (preferring a shared server with that id and the same
//! local endpoint). Spans whose parent is missing hang under the root, which is synthetic
//! when the trace has no root span (a headless trace).
//!
//! A local endpoint is Zipkin's `localEndpoint`: service name, IPv4, IPv6 and port. Two
//! shared server spans with one id are two servers when their endpoints differ in any of
//! these (one request answered on two hosts), and a local span finds its shared parent
//! only when its endpoint equals the server's, port included.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;

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
    /// The rest of the local endpoint: address and port.
    pub(crate) local_address: LocalAddress,
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
            local_address: LocalAddress::of_span(span),
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
        self.local_address.fill_from(other.local_address);
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
            .then_with(|| compare_endpoints(left, right))
    });
    let mut merged: Vec<LinkSpan> = Vec::with_capacity(sorted.len());
    let mut input = sorted.into_iter().peekable();
    while let Some(mut span) = input.next() {
        // The endpoint of the fragments merged so far (Zipkin's `EndpointTracker`).
        let mut tracked = Endpoint::of(&span);
        while let Some(next) = input.peek() {
            if next.span_id != span.span_id || next.shared != span.shared {
                break;
            }
            if !tracked.try_merge(&Endpoint::of(next)) {
                break;
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

/// Address and port of a span's local endpoint (`net.host.ip`, `net.host.ipv6`,
/// `net.host.port`, as the Zipkin decoder stores them); the service is kept apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct LocalAddress {
    pub(crate) ipv4: Option<String>,
    pub(crate) ipv6: Option<String>,
    /// 0 = no port.
    pub(crate) port: u16,
}

impl LocalAddress {
    /// The address attributes of `span`; an address that does not parse is left out, as
    /// the Zipkin encoder leaves it out of `localEndpoint`.
    fn of_span(span: &Span) -> LocalAddress {
        let mut address = LocalAddress::default();
        let text = |key: &str| match span.attribute(key) {
            Some(AttributeValue::String(text)) => text.parse::<IpAddr>().ok(),
            _ => None,
        };
        match text("net.host.ip") {
            Some(IpAddr::V4(ipv4)) => address.ipv4 = Some(ipv4.to_string()),
            Some(IpAddr::V6(ipv6)) => address.ipv6 = Some(ipv6.to_string()),
            None => {}
        }
        if address.ipv6.is_none()
            && let Some(IpAddr::V6(ipv6)) = text("net.host.ipv6")
        {
            address.ipv6 = Some(ipv6.to_string());
        }
        address.port = match span.attribute("net.host.port") {
            Some(AttributeValue::Int(port)) => u16::try_from(*port).unwrap_or(0),
            Some(AttributeValue::String(port)) => port.parse().unwrap_or(0),
            _ => 0,
        };
        address
    }

    /// Fills the fields this address lacks from `other` (Zipkin's `Endpoint.Builder.merge`).
    fn fill_from(&mut self, other: LocalAddress) {
        if self.ipv4.is_none() {
            self.ipv4 = other.ipv4;
        }
        if self.ipv6.is_none() {
            self.ipv6 = other.ipv6;
        }
        if self.port == 0 {
            self.port = other.port;
        }
    }

    fn is_empty(&self) -> bool {
        self.ipv4.is_none() && self.ipv6.is_none() && self.port == 0
    }
}

/// A whole local endpoint (Zipkin's `Endpoint`): `None` fields are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Endpoint {
    service: Option<String>,
    address: LocalAddress,
}

impl Endpoint {
    fn of(span: &LinkSpan) -> Endpoint {
        Endpoint {
            service: span.local_service.clone(),
            address: span.local_address.clone(),
        }
    }

    /// `None` when the span has no local endpoint at all (nothing set).
    fn of_present(span: &LinkSpan) -> Option<Endpoint> {
        let endpoint = Endpoint::of(span);
        (endpoint.service.is_some() || !endpoint.address.is_empty()).then_some(endpoint)
    }

    /// Zipkin's `EndpointTracker.tryMerge`: false when a field set on both sides differs;
    /// otherwise fills the absent fields from `other`.
    fn try_merge(&mut self, other: &Endpoint) -> bool {
        fn clash<T: PartialEq>(mine: &Option<T>, theirs: &Option<T>) -> bool {
            matches!((mine, theirs), (Some(mine), Some(theirs)) if mine != theirs)
        }
        let (mine, theirs) = (&self.address, &other.address);
        if clash(&self.service, &other.service)
            || clash(&mine.ipv4, &theirs.ipv4)
            || clash(&mine.ipv6, &theirs.ipv6)
            || (mine.port != 0 && theirs.port != 0 && mine.port != theirs.port)
        {
            return false;
        }
        if self.service.is_none() {
            self.service.clone_from(&other.service);
        }
        self.address.fill_from(other.address.clone());
        true
    }
}

/// Zipkin's `compareEndpoint`: spans without a local endpoint first, then by service,
/// IPv4 and IPv6, each with absent values last (the port is not compared).
fn compare_endpoints(left: &LinkSpan, right: &LinkSpan) -> Ordering {
    fn absent_last(left: &Option<String>, right: &Option<String>) -> Ordering {
        match (left, right) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(left), Some(right)) => left.cmp(right),
        }
    }
    match (Endpoint::of_present(left), Endpoint::of_present(right)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(left), Some(right)) => absent_last(&left.service, &right.service)
            .then_with(|| absent_last(&left.address.ipv4, &right.address.ipv4))
            .then_with(|| absent_last(&left.address.ipv6, &right.address.ipv6)),
    }
}

/// How a span is addressed in the tree: by id, or for a shared server span by id and
/// local endpoint (several servers can answer one client id); `Shared(id, None)` finds a
/// shared server by id alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NodeKey {
    Id(SpanId),
    Shared(SpanId, Option<Endpoint>),
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
                    NodeKey::Shared(span.span_id, Endpoint::of_present(span)),
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
                NodeKey::Shared(span.span_id, Endpoint::of_present(&span))
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
                // Most specific first: a local span under a shared server of its endpoint.
                let shared_parent = NodeKey::Shared(parent_id, Endpoint::of_present(&span));
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
