//! The service map: services and the calls between them over a set of traces.
//!
//! Edges come from the trace trees (after clock-skew correction), one per call. A call is
//! a parent and child in different services, or a server or consumer span under any
//! parent (a service calling another instance of itself, or itself):
//! - [`Connection::Rpc`] when the parent is a client and the child a server (Zipkin's
//!   shared halves included); latency is the client's duration (what the caller waited);
//! - [`Connection::Messaging`] when the parent is a producer or the child a consumer;
//!   latency is from the producer's start to the consumer's start (delivery);
//! - otherwise [`Connection::Inferred`] (kinds missing or unusual); latency is the
//!   client's duration when the parent is a client, else the child's duration.
//!
//! The call failed when the child failed or a client parent did. Besides, a client or
//! producer span with no child in another service but a remote service name
//! (`peer.service`, or a host name, as [`Span::remote_service_name`] reads it) is a call
//! to that uninstrumented service, and a root server or consumer span with
//! `peer.service` a call from that uninstrumented caller; latency is the span's duration.
//! Orphans attached to a root make no edges (their caller is unknown); spans without a
//! service name make none either. Per service, the *server* statistics cover its server
//! and consumer spans and, when kinds are missing, its entry spans (roots, and spans
//! whose parent is in another service).
//!
//! Added up over connections, the calls per (caller, callee) equal those of Zipkin's
//! dependency linker ([`weft_model::dependency_links`], which the Zipkin API serves) on
//! instrumented traces (the fixture tests check it on real traces); the map adds latency,
//! delivery times and kind-less calls, keeps the case of service names, and does not
//! re-attribute calls the way the linker does for clients labelled with the wrong service.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use weft_model::{Span, SpanKind};

use crate::limits::{Admission, Coverage, Limits};
use crate::names::Names;
use crate::stats::{LatencySummary, fraction};
use crate::tree::{Node, Relation, TraceTree, TreeOptions};

/// How a call was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// A client calling a server (or an uninstrumented one).
    Rpc,
    /// A producer whose message a consumer received.
    Messaging,
    /// A parent and child in different services without client/server kinds.
    Inferred,
}

/// Options of [`service_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceMapOptions {
    /// How traces become trees.
    pub tree: TreeOptions,
    /// The length of the time range the traces were taken from; when given, rates per
    /// second are computed over it.
    pub window_nanos: Option<u64>,
}

/// Calls, errors and latency of a set of calls.
///
/// JSON: `{"call_count": 10, "error_count": 1, "error_rate": 0.1, "calls_per_second":
/// 0.5, "latency": LatencySummary}`; `calls_per_second` is `null` without a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallStats {
    /// Calls.
    pub call_count: u64,
    /// Failed calls.
    pub error_count: u64,
    /// `error_count / call_count` (0 without calls).
    pub error_rate: f64,
    /// `call_count` over the window, when one was given.
    pub calls_per_second: Option<f64>,
    /// Latency of the calls that had timestamps.
    pub latency: LatencySummary,
}

/// One service.
///
/// JSON: `{"service": "api", "span_count": 12, "error_span_count": 1, "server":
/// CallStats}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceNode {
    /// The service name (as given, case kept).
    pub service: String,
    /// Spans of this service (0 for a service only named by callers).
    pub span_count: u64,
    /// Of those, failed spans.
    pub error_span_count: u64,
    /// Its server, consumer and entry spans.
    pub server: CallStats,
}

/// Calls from one service to another.
///
/// JSON: `{"caller": "api", "callee": "db", "connection": "rpc", "stats": CallStats}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceEdge {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// How the calls were seen.
    pub connection: Connection,
    /// The calls.
    pub stats: CallStats,
}

/// A service map.
///
/// JSON: `{"nodes": [ServiceNode...], "edges": [ServiceEdge...], "coverage": Coverage}`;
/// nodes by service name, edges by caller, callee, then connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceMap {
    /// Services, by name.
    pub nodes: Vec<ServiceNode>,
    /// Calls between services.
    pub edges: Vec<ServiceEdge>,
    /// What was taken and left out.
    pub coverage: Coverage,
}

#[derive(Debug, Default)]
struct Samples {
    calls: u64,
    errors: u64,
    latencies: Vec<u64>,
}

impl Samples {
    fn add(&mut self, latency: Option<u64>, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        if let Some(latency) = latency {
            self.latencies.push(latency);
        }
    }

    fn finish(mut self, window_nanos: Option<u64>) -> CallStats {
        CallStats {
            call_count: self.calls,
            error_count: self.errors,
            error_rate: fraction(self.errors, self.calls),
            calls_per_second: window_nanos
                .filter(|&window| window > 0)
                .map(|window| self.calls as f64 / (window as f64 / 1e9)),
            latency: LatencySummary::from_samples(&mut self.latencies),
        }
    }
}

#[derive(Debug, Default)]
struct ServiceSamples {
    spans: u64,
    error_spans: u64,
    server: Samples,
}

struct MapBuilder {
    names: Names,
    services: HashMap<u32, ServiceSamples>,
    edges: HashMap<(u32, u32, Connection), Samples>,
    max_nodes: usize,
    dropped: u64,
}

impl MapBuilder {
    fn service(&mut self, name: &str) -> Option<&mut ServiceSamples> {
        let id = self.names.intern(name);
        if !self.services.contains_key(&id) && self.services.len() >= self.max_nodes {
            self.dropped += 1;
            return None;
        }
        Some(self.services.entry(id).or_default())
    }

    fn edge(&mut self, caller: &str, callee: &str, connection: Connection) -> Option<&mut Samples> {
        if self.service(caller).is_none() || self.service(callee).is_none() {
            return None;
        }
        let key = (
            self.names.intern(caller),
            self.names.intern(callee),
            connection,
        );
        if !self.edges.contains_key(&key) && self.edges.len() >= self.max_nodes {
            self.dropped += 1;
            return None;
        }
        Some(self.edges.entry(key).or_default())
    }

    fn add_trace(&mut self, tree: &TraceTree<'_>) {
        for (index, node) in tree.nodes.iter().enumerate() {
            if node.service.is_empty() {
                continue;
            }
            let parent = node
                .parent
                .filter(|_| matches!(node.relation, Relation::Child | Relation::Async))
                .map(|parent| &tree.nodes[parent as usize]);
            let is_entry = match node.kind {
                SpanKind::Server | SpanKind::Consumer => true,
                SpanKind::Unspecified | SpanKind::Internal => {
                    parent.is_none_or(|parent| parent.service != node.service)
                }
                SpanKind::Client | SpanKind::Producer => false,
            };
            let Some(service) = self.service(node.service) else {
                continue;
            };
            service.spans += 1;
            service.error_spans += u64::from(node.error);
            if is_entry {
                service.server.add(timed_duration(node), node.error);
            }
            if let Some(parent) = parent
                && !parent.service.is_empty()
                && (parent.service != node.service || is_explicit_call(node))
            {
                self.add_call(parent, node);
            }
            self.add_uninstrumented(tree, index as u32, node, parent.is_none());
        }
    }

    fn add_call(&mut self, parent: &Node<'_>, child: &Node<'_>) {
        let (connection, latency) =
            if parent.kind == SpanKind::Client && child.kind == SpanKind::Server {
                (Connection::Rpc, timed_duration(parent))
            } else if parent.kind == SpanKind::Producer || child.kind == SpanKind::Consumer {
                let delivery =
                    (parent.timed && child.timed).then(|| child.start.saturating_sub(parent.start));
                (Connection::Messaging, delivery)
            } else if parent.kind == SpanKind::Client {
                (Connection::Inferred, timed_duration(parent))
            } else {
                (Connection::Inferred, timed_duration(child))
            };
        let error = child.error || (parent.kind == SpanKind::Client && parent.error);
        if let Some(samples) = self.edge(parent.service, child.service, connection) {
            samples.add(latency, error);
        }
    }

    fn add_uninstrumented(
        &mut self,
        tree: &TraceTree<'_>,
        index: u32,
        node: &Node<'_>,
        is_root: bool,
    ) {
        let Some(remote) = node.span.remote_service_name() else {
            return;
        };
        match node.kind {
            SpanKind::Client | SpanKind::Producer => {
                let has_remote_child = tree.children(index).iter().any(|&child| {
                    let child = &tree.nodes[child as usize];
                    matches!(child.relation, Relation::Child | Relation::Async)
                        && child.service != node.service
                });
                if has_remote_child {
                    return;
                }
                let connection = if node.kind == SpanKind::Client {
                    Connection::Rpc
                } else {
                    Connection::Messaging
                };
                if let Some(samples) = self.edge(node.service, remote, connection) {
                    samples.add(timed_duration(node), node.error);
                }
            }
            SpanKind::Server | SpanKind::Consumer if is_root => {
                let connection = if node.kind == SpanKind::Server {
                    Connection::Rpc
                } else {
                    Connection::Messaging
                };
                if let Some(samples) = self.edge(remote, node.service, connection) {
                    samples.add(timed_duration(node), node.error);
                }
            }
            _ => {}
        }
    }
}

/// A call even within one service (a service calling another instance of itself, or
/// itself): every server or consumer span with a parent was called.
fn is_explicit_call(child: &Node<'_>) -> bool {
    matches!(child.kind, SpanKind::Server | SpanKind::Consumer)
}

fn timed_duration(node: &Node<'_>) -> Option<u64> {
    node.timed.then(|| node.duration())
}

/// The service map of `traces` (each the spans of one trace). Traces that are empty or
/// over a limit are skipped and counted in `coverage`.
pub fn service_map<T: AsRef<[Span]>>(
    traces: impl IntoIterator<Item = T>,
    options: &ServiceMapOptions,
    limits: &Limits,
) -> Result<ServiceMap, crate::AnalyticsError> {
    limits.validate()?;
    let mut admission = Admission::new(*limits);
    let mut builder = MapBuilder {
        names: Names::default(),
        services: HashMap::new(),
        edges: HashMap::new(),
        max_nodes: limits.max_nodes,
        dropped: 0,
    };
    for trace in traces {
        let spans = trace.as_ref();
        if !admission.admit(spans.len()) {
            continue;
        }
        let Ok(tree) = TraceTree::build(spans, &options.tree, limits.max_spans_per_trace) else {
            admission.rejected(spans.len());
            continue;
        };
        let dropped_before = builder.dropped;
        builder.add_trace(&tree);
        let dropped = builder.dropped - dropped_before;
        admission.dropped_spans(dropped);
        admission.analyzed(tree.nodes.len().saturating_sub(dropped as usize));
    }
    let MapBuilder {
        names,
        services,
        edges,
        ..
    } = builder;
    let mut nodes: Vec<ServiceNode> = services
        .into_iter()
        .map(|(id, samples)| ServiceNode {
            service: names.text(id).to_owned(),
            span_count: samples.spans,
            error_span_count: samples.error_spans,
            server: samples.server.finish(options.window_nanos),
        })
        .collect();
    nodes.sort_by(|left, right| left.service.cmp(&right.service));
    let mut edges: Vec<ServiceEdge> = edges
        .into_iter()
        .map(|((caller, callee, connection), samples)| ServiceEdge {
            caller: names.text(caller).to_owned(),
            callee: names.text(callee).to_owned(),
            connection,
            stats: samples.finish(options.window_nanos),
        })
        .collect();
    edges.sort_by(|left, right| {
        (&left.caller, &left.callee, left.connection).cmp(&(
            &right.caller,
            &right.callee,
            right.connection,
        ))
    });
    Ok(ServiceMap {
        nodes,
        edges,
        coverage: admission.coverage,
    })
}
