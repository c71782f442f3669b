//! The service graph: pairing client and server sides into edges.

use std::collections::VecDeque;
use std::time::Instant;

use foldhash::HashMap;
use weft_model::{
    AttributeValue, Span, SpanId, SpanKind, StatusCode, TenantId, TraceId, attribute,
};

use crate::config::ServiceGraphConfig;
use crate::histogram::{Family, Histogram};

/// Span attributes naming the peer of a client span, in order (Tempo's defaults).
const PEER_ATTRIBUTES: [&str; 4] = ["peer.service", "db.name", "db.system", "db.system.name"];
/// Attributes that make a client span a database call, in order (Tempo's defaults).
const DATABASE_NAME_ATTRIBUTES: [&str; 4] =
    ["db.namespace", "db.name", "db.system", "db.system.name"];
/// The client of a root server span that names no peer.
const UNKNOWN_CLIENT: &str = "user";

/// How an edge's services talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Connection {
    Unknown,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Unknown => "",
            Connection::MessagingSystem => "messaging_system",
            Connection::Database => "database",
            Connection::VirtualNode => "virtual_node",
        }
    }
}

/// Which side of a call a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// What the graph keeps of one client or server span.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    key: EdgeKey,
    role: Role,
    service: String,
    seconds: f64,
    failed: bool,
    connection: Connection,
    peer: Option<String>,
    /// The server of a client span that calls a database.
    database: Option<String>,
    /// A server span without a parent: its client is outside the traced system.
    root: bool,
}

/// Identifies a call: the client span's id, which the server span has as its parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EdgeKey {
    tenant: Option<TenantId>,
    trace: TraceId,
    span: SpanId,
}

/// The side a span contributes, if it is a client, producer, server or consumer span
/// of a named service.
pub(crate) fn side_of(tenant: Option<&TenantId>, span: &Span, service: &str) -> Option<Side> {
    let (role, connection) = match span.kind {
        SpanKind::Client => (Role::Client, Connection::Unknown),
        SpanKind::Producer => (Role::Client, Connection::MessagingSystem),
        SpanKind::Server => (Role::Server, Connection::Unknown),
        SpanKind::Consumer => (Role::Server, Connection::MessagingSystem),
        SpanKind::Internal | SpanKind::Unspecified => return None,
    };
    let span_id = match role {
        Role::Client => span.span_id,
        // A Zipkin server span sharing its client's id pairs with that id.
        Role::Server if span.shared => span.span_id,
        Role::Server => span.parent_span_id.unwrap_or(span.span_id),
    };
    let root = role == Role::Server && span.parent_span_id.is_none() && !span.shared;
    let find = |key: &str| {
        attribute::find(&span.attributes, key)
            .or_else(|| attribute::find(&span.resource.attributes, key))
            .map(AttributeValue::to_text)
            .filter(|value| !value.is_empty())
    };
    let mut side = Side {
        key: EdgeKey {
            tenant: tenant.cloned(),
            trace: span.trace_id,
            span: span_id,
        },
        role,
        service: service.to_owned(),
        seconds: span.duration_nanos as f64 / 1e9,
        failed: span.status.code == StatusCode::Error,
        connection,
        peer: PEER_ATTRIBUTES.iter().find_map(|key| {
            attribute::find(&span.attributes, key)
                .map(AttributeValue::to_text)
                .filter(|value| !value.is_empty())
        }),
        database: None,
        root,
    };
    if role == Role::Client
        && let Some(name) = DATABASE_NAME_ATTRIBUTES.iter().find_map(|key| find(key))
    {
        side.connection = Connection::Database;
        side.database = Some(
            find("peer.service")
                .or_else(|| find("server.address"))
                .or_else(|| {
                    let host = find("network.peer.address")?;
                    Some(match find("network.peer.port") {
                        Some(port) => format!("{host}:{port}"),
                        None => host,
                    })
                })
                .unwrap_or(name),
        );
    }
    Some(side)
}

/// The labels of one edge series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EdgeLabels {
    pub tenant: Option<TenantId>,
    pub client: String,
    pub server: String,
    pub connection: Connection,
}

/// The numbers of one edge series.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSeries {
    pub requests: u64,
    pub failed: u64,
    pub client_seconds: Histogram,
    pub server_seconds: Histogram,
}

/// A call seen from one side so far.
#[derive(Debug)]
struct Pending {
    client: Option<Side>,
    server: Option<Side>,
    expires: Instant,
}

/// Unpaired sides waiting for their other half, and the edge series.
#[derive(Debug)]
pub(crate) struct Graph {
    config: ServiceGraphConfig,
    pending: HashMap<EdgeKey, Pending>,
    /// Pending keys in arrival order with their expiry; entries of calls paired since
    /// are skipped when they come up.
    order: VecDeque<(EdgeKey, Instant)>,
    pub edges: Family<EdgeLabels, EdgeSeries>,
    /// Sides that waited `wait` without a partner and named no peer.
    pub expired: u64,
    /// Sides refused because `max_items` sides were waiting.
    pub dropped: u64,
}

impl Graph {
    pub fn new(config: ServiceGraphConfig, max_series: usize) -> Graph {
        Graph {
            config,
            pending: HashMap::default(),
            order: VecDeque::new(),
            edges: Family::new(max_series),
            expired: 0,
            dropped: 0,
        }
    }

    pub fn bounds(&self) -> &[f64] {
        &self.config.latency_buckets
    }

    /// Adds one side: completes its call when the other side is there (or not needed),
    /// else waits for it.
    pub fn add(&mut self, side: Side, now: Instant) {
        if side.role == Role::Server && side.root {
            let client = side
                .peer
                .clone()
                .unwrap_or_else(|| UNKNOWN_CLIENT.to_owned());
            self.record(
                None,
                Some(&side),
                client,
                side.service.clone(),
                side.connection,
            );
            return;
        }
        if let Some(database) = side.database.clone() {
            self.record(
                Some(&side),
                None,
                side.service.clone(),
                database,
                Connection::Database,
            );
            return;
        }
        if let Some(pending) = self.pending.get_mut(&side.key) {
            let key = side.key.clone();
            match side.role {
                Role::Client => pending.client = Some(side),
                Role::Server => pending.server = Some(side),
            }
            let paired = pending.client.is_some() && pending.server.is_some();
            if paired && let Some(pending) = self.pending.remove(&key) {
                self.complete(pending);
            }
            return;
        }
        if self.pending.len() >= self.config.max_items {
            self.dropped += 1;
            return;
        }
        let expires = now + self.config.wait;
        let key = side.key.clone();
        let pending = match side.role {
            Role::Client => Pending {
                client: Some(side),
                server: None,
                expires,
            },
            Role::Server => Pending {
                client: None,
                server: Some(side),
                expires,
            },
        };
        self.pending.insert(key.clone(), pending);
        self.order.push_back((key, expires));
        if self.order.len() > 2 * self.config.max_items + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(key, expires)| pending.get(key).is_some_and(|p| p.expires == *expires));
        }
    }

    /// Settles every call whose wait ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((key, expires)) = self.order.front() {
            if *expires > now {
                break;
            }
            let current = self.pending.get(key).is_some_and(|p| p.expires == *expires);
            let key = key.clone();
            self.order.pop_front();
            if current && let Some(pending) = self.pending.remove(&key) {
                self.settle_unpaired(pending);
            }
        }
    }

    fn complete(&mut self, pending: Pending) {
        let (Some(client), Some(server)) = (&pending.client, &pending.server) else {
            return;
        };
        let connection = if client.connection == Connection::MessagingSystem
            || server.connection == Connection::MessagingSystem
        {
            Connection::MessagingSystem
        } else {
            Connection::Unknown
        };
        self.record(
            Some(client),
            Some(server),
            client.service.clone(),
            server.service.clone(),
            connection,
        );
    }

    /// A client side naming a peer becomes an edge to that virtual node; anything else
    /// is counted as expired.
    fn settle_unpaired(&mut self, pending: Pending) {
        match (&pending.client, &pending.server) {
            (Some(client), None) if client.peer.is_some() => {
                let server = client.peer.clone().unwrap_or_default();
                self.record(
                    Some(client),
                    None,
                    client.service.clone(),
                    server,
                    Connection::VirtualNode,
                );
            }
            _ => self.expired += 1,
        }
    }

    fn record(
        &mut self,
        client: Option<&Side>,
        server: Option<&Side>,
        client_service: String,
        server_service: String,
        connection: Connection,
    ) {
        let Some(tenant) = client.or(server).map(|side| side.key.tenant.clone()) else {
            return;
        };
        let bounds = self.config.latency_buckets.clone();
        let series = self.edges.entry(
            EdgeLabels {
                tenant,
                client: client_service,
                server: server_service,
                connection,
            },
            || EdgeSeries {
                requests: 0,
                failed: 0,
                client_seconds: Histogram::new(&bounds),
                server_seconds: Histogram::new(&bounds),
            },
        );
        series.requests += 1;
        if client.is_some_and(|side| side.failed) || server.is_some_and(|side| side.failed) {
            series.failed += 1;
        }
        let client_seconds = client.map_or(0.0, |side| side.seconds);
        // A database call has no server span: its server latency is the client's.
        let server_seconds = server.map_or(client_seconds, |side| side.seconds);
        series.client_seconds.observe(&bounds, client_seconds);
        series.server_seconds.observe(&bounds, server_seconds);
    }

    /// Sides waiting for a partner.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
