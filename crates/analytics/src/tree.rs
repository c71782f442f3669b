//! How the spans of one trace become a tree, the shape every analysis walks.
//!
//! 1. **Fragments.** Spans with the same id, the same `shared` flag, the same clock
//!    domain (service and host, see 6) and compatible kinds (equal, or one unspecified)
//!    are fragments of one span (Zipkin sends late data that way, and one host may report
//!    a consumer several times) and merge into one node: the earliest timed start, the
//!    latest end, the first parent id and name given, error if any fragment failed.
//! 2. **Shared halves.** Several nodes with one span id are the client and server halves
//!    of one RPC (Zipkin's `shared`): the first client-side node (not shared, not a
//!    server) is the parent of the others.
//! 3. **Parents.** A node hangs under the node with its parent id, preferring among the
//!    halves with that id the one of its own domain, then of its own service, then the
//!    server half. A node without a parent id but with a link to a span of the same
//!    trace (Jaeger's `FOLLOWS_FROM`, an OpenTelemetry link) hangs under that span as an
//!    *async* child.
//!    A child is also async when it is a consumer, when its parent is a producer, or when
//!    it links its parent with `opentracing.ref_type = follows_from`. Async children do
//!    not hold their parent up: critical paths and self times ignore them.
//! 4. **Orphans.** A node whose parent id names no span of the trace (or whose parents
//!    form a cycle, which is broken there) is an orphan. With
//!    [`OrphanPolicy::AttachToRoot`] (the default) it hangs under the primary root as if
//!    it were a child; with [`OrphanPolicy::SeparateRoots`] it is a root of its own.
//! 5. **Roots.** The primary root is the earliest timed span without a parent id (ties:
//!    the longest, then the first); a trace with none (headless) takes its earliest
//!    orphan. Other spans without a parent id stay separate roots.
//! 6. **Clock skew** ([`TreeOptions::correct_clock_skew`], on by default), in the spirit
//!    of Zipkin's and Jaeger's UIs: spans belong to a *clock domain* (service name plus
//!    host: `net.host.ip`, `net.host.ipv6`, or resource `host.name`, `host.id`,
//!    `host.ip`, `ip`, `hostname`). A synchronous child of another domain whose parent
//!    is a client span (or has no kind) and which does not lie within that (already
//!    corrected) parent is shifted so that it is centred in the parent, assuming equal
//!    network latency both ways; its descendants in its domain move with it. Under a
//!    parent without duration (a one-way call: a redirect, a message) only a child that
//!    starts before the parent is known to be skewed, and it moves to the parent's start.
//!    A child longer than its parent cannot fit and is not shifted by its own measure
//!    (it is reported as uncorrectable). Other children of another domain (under a server
//!    or internal span of another host there is no call to measure: a browser redirect,
//!    say), async children and orphans take the shift first found for their domain, else
//!    none. Spans without a timestamp are never shifted.
//!
//! Building is O(n log n) in the spans and uses no recursion.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use weft_model::{AttributeValue, Span, SpanId, SpanKind, StatusCode};

use crate::error::AnalyticsError;
use crate::names::Names;

/// What to do with spans whose parent is not in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanPolicy {
    /// Hang them under the trace's primary root, as children (the default).
    #[default]
    AttachToRoot,
    /// Keep each as a root of its own; analyses of one root's path ignore them.
    SeparateRoots,
}

/// How a trace is turned into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeOptions {
    /// Where orphans go.
    pub orphans: OrphanPolicy,
    /// Whether clock skew between domains is corrected (default true).
    pub correct_clock_skew: bool,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            orphans: OrphanPolicy::AttachToRoot,
            correct_clock_skew: true,
        }
    }
}

/// One span shifted to correct clock skew.
///
/// JSON: `{"span_id": "00000000000000b2", "service": "backend", "shift_nanos": -4000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockSkewCorrection {
    /// The span that was measured against its parent, hex.
    pub span_id: String,
    /// Its service.
    pub service: String,
    /// What was added to its timestamps and its domain's descendants' (negative: earlier).
    pub shift_nanos: i64,
}

/// Most corrections a report lists; the count covers all.
const MAX_REPORTED_CORRECTIONS: usize = 100;

/// The clock-skew corrections made to one trace.
///
/// JSON: `{"corrected_span_count": 1, "uncorrectable_span_count": 0, "corrections":
/// [ClockSkewCorrection...], "corrections_truncated": false}`; `corrections` lists at
/// most 100, largest shift first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClockSkewReport {
    /// Spans shifted by their own measure (their descendants not counted).
    pub corrected_span_count: u64,
    /// Synchronous children of another domain outside their parent but longer than it.
    pub uncorrectable_span_count: u64,
    /// The corrections, largest absolute shift first.
    pub corrections: Vec<ClockSkewCorrection>,
    /// True when more corrections were made than listed.
    pub corrections_truncated: bool,
}

/// How a node hangs under its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// A span without a parent id.
    Root,
    /// A synchronous child.
    Child,
    /// An asynchronous child (follows-from, link, producer/consumer).
    Async,
    /// A span whose parent is missing (attached to the root or a root itself).
    Orphan,
}

/// One span (its fragments merged) in a trace tree.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    /// The first fragment.
    pub(crate) span: &'a Span,
    /// `service.name`, empty when unknown.
    pub(crate) service: &'a str,
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
    /// Start after clock-skew correction; 0 when untimed.
    pub(crate) start: u64,
    /// End after clock-skew correction.
    pub(crate) end: u64,
    /// False when no fragment had a timestamp.
    pub(crate) timed: bool,
    pub(crate) error: bool,
    pub(crate) parent: Option<u32>,
    pub(crate) relation: Relation,
    domain: Option<u32>,
    parent_span_id: Option<SpanId>,
    shared: bool,
}

impl Node<'_> {
    pub(crate) fn duration(&self) -> u64 {
        self.end - self.start
    }

    /// True when the parent waits for this node: a synchronous child or an attached orphan.
    pub(crate) fn holds_parent(&self) -> bool {
        matches!(self.relation, Relation::Child | Relation::Orphan) && self.parent.is_some()
    }
}

/// The tree of one trace.
#[derive(Debug)]
pub(crate) struct TraceTree<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
    child_offsets: Vec<u32>,
    child_list: Vec<u32>,
    /// The primary root first, then other roots by start.
    pub(crate) roots: Vec<u32>,
    pub(crate) orphan_count: u64,
    pub(crate) async_count: u64,
    pub(crate) skew: ClockSkewReport,
}

impl<'a> TraceTree<'a> {
    /// Builds the tree of `spans` (all stored spans of one trace).
    pub(crate) fn build(
        spans: &'a [Span],
        options: &TreeOptions,
        max_spans: usize,
    ) -> Result<Self, AnalyticsError> {
        if spans.is_empty() {
            return Err(AnalyticsError::EmptyTrace);
        }
        if spans.len() > max_spans || spans.len() >= u32::MAX as usize {
            return Err(AnalyticsError::TooManySpans {
                span_count: spans.len(),
                limit: max_spans,
            });
        }
        let mut domains = Names::default();
        let mut nodes = merge_fragments(spans, &mut domains);
        let id_ranges = id_ranges(&nodes);
        assign_parents(&mut nodes, &id_ranges);
        break_cycles(&mut nodes);
        let roots = choose_roots(&mut nodes, options.orphans);
        let (child_offsets, child_list) = children_lists(&nodes);
        let mut tree = TraceTree {
            orphan_count: nodes
                .iter()
                .filter(|node| node.relation == Relation::Orphan)
                .count() as u64,
            async_count: nodes
                .iter()
                .filter(|node| node.relation == Relation::Async)
                .count() as u64,
            nodes,
            child_offsets,
            child_list,
            roots,
            skew: ClockSkewReport::default(),
        };
        if options.correct_clock_skew {
            tree.correct_clock_skew();
        }
        tree.sort_children_by_start();
        Ok(tree)
    }

    /// The children of `node`, by corrected start.
    pub(crate) fn children(&self, node: u32) -> &[u32] {
        let from = self.child_offsets[node as usize] as usize;
        let to = self.child_offsets[node as usize + 1] as usize;
        &self.child_list[from..to]
    }

    pub(crate) fn primary_root(&self) -> u32 {
        self.roots[0]
    }

    /// Every node reachable from the roots, parents before children, roots in order.
    pub(crate) fn preorder(&self) -> Vec<u32> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<u32> = self.roots.iter().rev().copied().collect();
        while let Some(node) = stack.pop() {
            order.push(node);
            stack.extend(self.children(node).iter().rev());
        }
        order
    }

    fn sort_children_by_start(&mut self) {
        for node in 0..self.nodes.len() {
            let from = self.child_offsets[node] as usize;
            let to = self.child_offsets[node + 1] as usize;
            let nodes = &self.nodes;
            self.child_list[from..to].sort_by_key(|&child| (nodes[child as usize].start, child));
        }
    }

    fn correct_clock_skew(&mut self) {
        let mut shifts = vec![0i64; self.nodes.len()];
        let mut domain_shift: HashMap<u32, i64> = HashMap::new();
        let mut corrections: Vec<ClockSkewCorrection> = Vec::new();
        for node in self.preorder() {
            let index = node as usize;
            let current = &self.nodes[index];
            if !current.timed {
                continue;
            }
            let remembered = |domain: Option<u32>| {
                domain
                    .and_then(|domain| domain_shift.get(&domain).copied())
                    .unwrap_or(0)
            };
            let shift = match current.parent.map(|parent| &self.nodes[parent as usize]) {
                None => remembered(current.domain),
                Some(parent) if current.domain.is_none() || current.domain == parent.domain => {
                    shifts[current.parent.map_or(0, |parent| parent as usize)]
                }
                Some(parent)
                    if current.relation == Relation::Child
                        && parent.timed
                        && matches!(parent.kind, SpanKind::Client | SpanKind::Unspecified) =>
                {
                    let (parent_start, parent_end) = (parent.start, parent.end);
                    let (start, end) = (current.start, current.end);
                    let shift = if start >= parent_start && end <= parent_end {
                        0
                    } else if parent_end == parent_start {
                        // A one-way call (the parent did not wait): only a child that
                        // starts before its parent is known to be skewed; it moves to
                        // the parent's start.
                        if start < parent_start {
                            let shift = i64::try_from(parent_start - start).unwrap_or(0);
                            self.skew.corrected_span_count += 1;
                            corrections.push(ClockSkewCorrection {
                                span_id: current.span.span_id.to_hex(),
                                service: current.service.to_owned(),
                                shift_nanos: shift,
                            });
                            shift
                        } else {
                            0
                        }
                    } else if end - start > parent_end - parent_start {
                        self.skew.uncorrectable_span_count += 1;
                        remembered(current.domain)
                    } else {
                        let latency = (parent_end - parent_start - (end - start)) / 2;
                        let shift =
                            i128::from(parent_start) + i128::from(latency) - i128::from(start);
                        let shift = i64::try_from(shift).unwrap_or(0);
                        if shift != 0 {
                            self.skew.corrected_span_count += 1;
                            corrections.push(ClockSkewCorrection {
                                span_id: current.span.span_id.to_hex(),
                                service: current.service.to_owned(),
                                shift_nanos: shift,
                            });
                        }
                        shift
                    };
                    if let Some(domain) = current.domain {
                        domain_shift.entry(domain).or_insert(shift);
                    }
                    shift
                }
                Some(_) => remembered(current.domain),
            };
            shifts[index] = shift;
            if shift != 0 {
                let node = &mut self.nodes[index];
                let duration = node.end - node.start;
                node.start = node.start.saturating_add_signed(shift).max(1);
                node.end = node.start.saturating_add(duration);
            }
        }
        corrections
            .sort_by_key(|correction| std::cmp::Reverse(correction.shift_nanos.unsigned_abs()));
        if corrections.len() > MAX_REPORTED_CORRECTIONS {
            corrections.truncate(MAX_REPORTED_CORRECTIONS);
            self.skew.corrections_truncated = true;
        }
        self.skew.corrections = corrections;
    }
}

/// True when the span failed: an error status, or an `error` attribute other than `false`.
pub(crate) fn span_failed(span: &Span) -> bool {
    match span.attribute("error") {
        Some(AttributeValue::Bool(false)) | None => span.status.code == StatusCode::Error,
        Some(_) => true,
    }
}

fn text_attribute<'a>(attributes: &'a [weft_model::KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find_map(|pair| match &pair.value {
        AttributeValue::String(text) if pair.key == key && !text.is_empty() => Some(text.as_str()),
        _ => None,
    })
}

/// The span's host, for its clock domain.
fn host_of(span: &Span) -> Option<&str> {
    ["net.host.ip", "net.host.ipv6"]
        .iter()
        .find_map(|key| text_attribute(&span.attributes, key))
        .or_else(|| {
            ["host.name", "host.id", "host.ip", "ip", "hostname"]
                .iter()
                .find_map(|key| text_attribute(&span.resource.attributes, key))
        })
}

fn domain_of(span: &Span, domains: &mut Names) -> Option<u32> {
    let service = span.service_name().unwrap_or("");
    let host = host_of(span).unwrap_or("");
    if service.is_empty() && host.is_empty() {
        return None;
    }
    Some(domains.intern(&format!("{service}\u{0}{host}")))
}

fn kinds_compatible(left: SpanKind, right: SpanKind) -> bool {
    left == right || left == SpanKind::Unspecified || right == SpanKind::Unspecified
}

/// Step 1: one node per span, fragments merged; nodes come out sorted by span id.
fn merge_fragments<'a>(spans: &'a [Span], domains: &mut Names) -> Vec<Node<'a>> {
    let span_domains: Vec<Option<u32>> =
        spans.iter().map(|span| domain_of(span, domains)).collect();
    let mut order: Vec<u32> = (0..spans.len() as u32).collect();
    order.sort_by(|&left, &right| {
        let (a, b) = (&spans[left as usize], &spans[right as usize]);
        a.span_id
            .cmp(&b.span_id)
            .then(a.shared.cmp(&b.shared))
            .then(span_domains[left as usize].cmp(&span_domains[right as usize]))
            .then(left.cmp(&right))
    });
    let mut nodes: Vec<Node<'a>> = Vec::with_capacity(spans.len());
    // Nodes of the current (id, shared, domain) group start here.
    let mut group_start = 0;
    for (position, &index) in order.iter().enumerate() {
        let span = &spans[index as usize];
        let service = span.service_name().unwrap_or("");
        let domain = span_domains[index as usize];
        let same_group = position > 0 && {
            let previous_index = order[position - 1] as usize;
            let previous = &spans[previous_index];
            previous.span_id == span.span_id
                && previous.shared == span.shared
                && span_domains[previous_index] == domain
        };
        if !same_group {
            group_start = nodes.len();
        }
        let timed = span.start_unix_nanos != 0;
        let existing = nodes[group_start..]
            .iter()
            .position(|node| kinds_compatible(node.kind, span.kind))
            .map(|offset| group_start + offset);
        match existing {
            Some(existing) => {
                let node = &mut nodes[existing];
                if node.kind == SpanKind::Unspecified {
                    node.kind = span.kind;
                }
                if node.name.is_empty() {
                    node.name = &span.name;
                }
                if node.parent_span_id.is_none() {
                    node.parent_span_id = span.parent_span_id;
                }
                node.error |= span_failed(span);
                if timed {
                    if node.timed {
                        node.start = node.start.min(span.start_unix_nanos);
                        node.end = node.end.max(span.end_unix_nanos());
                    } else {
                        node.start = span.start_unix_nanos;
                        node.end = span.end_unix_nanos();
                        node.timed = true;
                    }
                }
            }
            None => nodes.push(Node {
                span,
                service,
                name: &span.name,
                kind: span.kind,
                start: if timed { span.start_unix_nanos } else { 0 },
                end: if timed { span.end_unix_nanos() } else { 0 },
                timed,
                error: span_failed(span),
                parent: None,
                relation: Relation::Root,
                domain,
                parent_span_id: span.parent_span_id,
                shared: span.shared,
            }),
        }
    }
    nodes
}

/// Where the nodes of each span id are (they are contiguous after step 1).
fn id_ranges(nodes: &[Node<'_>]) -> HashMap<SpanId, (u32, u32)> {
    let mut ranges: HashMap<SpanId, (u32, u32)> = HashMap::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        ranges
            .entry(node.span.span_id)
            .and_modify(|range| range.1 = index as u32 + 1)
            .or_insert((index as u32, index as u32 + 1));
    }
    ranges
}

/// The client-side half of the nodes `from..to` sharing one id.
fn primary_of(nodes: &[Node<'_>], from: u32, to: u32) -> u32 {
    let range = from..to;
    range
        .clone()
        .find(|&index| {
            let node = &nodes[index as usize];
            !node.shared && node.kind != SpanKind::Server && node.kind != SpanKind::Consumer
        })
        .or_else(|| range.clone().find(|&index| !nodes[index as usize].shared))
        .unwrap_or(from)
}

/// The node a child of `service` in `domain` with parent id in `from..to` hangs under.
fn parent_among(nodes: &[Node<'_>], from: u32, to: u32, service: &str, domain: Option<u32>) -> u32 {
    let range = from..to;
    if to - from == 1 {
        return from;
    }
    range
        .clone()
        .find(|&index| domain.is_some() && nodes[index as usize].domain == domain)
        .or_else(|| {
            range
                .clone()
                .find(|&index| !service.is_empty() && nodes[index as usize].service == service)
        })
        .or_else(|| {
            range.clone().find(|&index| {
                let node = &nodes[index as usize];
                node.shared || node.kind == SpanKind::Server
            })
        })
        .unwrap_or_else(|| primary_of(nodes, from, to))
}

fn links_as_follows_from(span: &Span, target: SpanId) -> bool {
    span.links.iter().any(|link| {
        link.span_id == target
            && matches!(
                text_attribute(&link.attributes, "opentracing.ref_type"),
                Some("follows_from")
            )
    })
}

/// Steps 2 and 3.
fn assign_parents(nodes: &mut [Node<'_>], id_ranges: &HashMap<SpanId, (u32, u32)>) {
    for index in 0..nodes.len() {
        let node = &nodes[index];
        let span_id = node.span.span_id;
        let Some(&(from, to)) = id_ranges.get(&span_id) else {
            continue;
        };
        let primary = primary_of(nodes, from, to);
        let (parent, relation) = if primary != index as u32 {
            (Some(primary), Relation::Child)
        } else if let Some(parent_id) = node.parent_span_id {
            match id_ranges.get(&parent_id) {
                Some(&(parent_from, parent_to)) if parent_id != span_id => {
                    let parent =
                        parent_among(nodes, parent_from, parent_to, node.service, node.domain);
                    let parent_node = &nodes[parent as usize];
                    let asynchronous = node.kind == SpanKind::Consumer
                        || parent_node.kind == SpanKind::Producer
                        || links_as_follows_from(node.span, parent_id);
                    let relation = if asynchronous {
                        Relation::Async
                    } else {
                        Relation::Child
                    };
                    (Some(parent), relation)
                }
                _ => (None, Relation::Orphan),
            }
        } else {
            let trace_id = node.span.trace_id;
            let linked = node.span.links.iter().find_map(|link| {
                let same_trace =
                    link.trace_id == trace_id || link.trace_id.low_u64() == trace_id.low_u64();
                match id_ranges.get(&link.span_id) {
                    Some(&(link_from, link_to)) if same_trace && link.span_id != span_id => Some(
                        parent_among(nodes, link_from, link_to, node.service, node.domain),
                    ),
                    _ => None,
                }
            });
            match linked {
                Some(parent) => (Some(parent), Relation::Async),
                None => (None, Relation::Root),
            }
        };
        nodes[index].parent = parent;
        nodes[index].relation = relation;
    }
}

/// Step 4, cycles: a parent chain that comes back to itself is cut where it is found.
fn break_cycles(nodes: &mut [Node<'_>]) {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![UNSEEN; nodes.len()];
    let mut path: Vec<u32> = Vec::new();
    for start in 0..nodes.len() {
        if state[start] != UNSEEN {
            continue;
        }
        let mut current = start as u32;
        loop {
            match state[current as usize] {
                DONE => break,
                ON_PATH => {
                    let node = &mut nodes[current as usize];
                    node.parent = None;
                    node.relation = Relation::Orphan;
                    break;
                }
                _ => {}
            }
            state[current as usize] = ON_PATH;
            path.push(current);
            match nodes[current as usize].parent {
                Some(parent) => current = parent,
                None => break,
            }
        }
        for &visited in &path {
            state[visited as usize] = DONE;
        }
        path.clear();
    }
}

/// Steps 4 and 5: the roots, primary first; orphans attached per `policy`.
fn choose_roots(nodes: &mut [Node<'_>], policy: OrphanPolicy) -> Vec<u32> {
    let rank = |node: &Node<'_>, index: usize| {
        (
            !node.timed,
            node.start,
            std::cmp::Reverse(node.end - node.start),
            index,
        )
    };
    let pick = |relation: Relation| {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.parent.is_none() && node.relation == relation)
            .min_by_key(|(index, node)| rank(node, *index))
            .map(|(index, _)| index as u32)
    };
    // Every node without a parent is a root or an orphan, and there is at least one.
    let primary = pick(Relation::Root)
        .or_else(|| pick(Relation::Orphan))
        .unwrap_or(0);
    let mut others: Vec<u32> = Vec::new();
    for (index, node) in nodes.iter_mut().enumerate() {
        if index as u32 == primary || node.parent.is_some() {
            continue;
        }
        if node.relation == Relation::Orphan && policy == OrphanPolicy::AttachToRoot {
            node.parent = Some(primary);
        } else {
            others.push(index as u32);
        }
    }
    others.sort_by_key(|&index| rank(&nodes[index as usize], index as usize));
    let mut roots = Vec::with_capacity(others.len() + 1);
    roots.push(primary);
    roots.extend(others);
    roots
}

/// Children as one flat list with offsets per node (in index order until sorted).
fn children_lists(nodes: &[Node<'_>]) -> (Vec<u32>, Vec<u32>) {
    let mut offsets = vec![0u32; nodes.len() + 1];
    for node in nodes {
        if let Some(parent) = node.parent {
            offsets[parent as usize + 1] += 1;
        }
    }
    for index in 0..nodes.len() {
        offsets[index + 1] += offsets[index];
    }
    let mut fill = offsets.clone();
    let mut list = vec![0u32; offsets[nodes.len()] as usize];
    for (index, node) in nodes.iter().enumerate() {
        if let Some(parent) = node.parent {
            list[fill[parent as usize] as usize] = index as u32;
            fill[parent as usize] += 1;
        }
    }
    (offsets, list)
}
