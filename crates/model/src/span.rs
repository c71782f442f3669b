//! Spans and what they carry.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attribute::{self, AttributeValue, KeyValue};
use crate::id::{SpanId, TraceId};

/// The resource attribute that names a service.
pub const SERVICE_NAME: &str = "service.name";

/// The span attribute that names the remote service (Zipkin's remote endpoint).
pub const PEER_SERVICE: &str = "peer.service";

/// Attributes that name the remote side of a client or producer span when
/// `peer.service` is absent, most specific first (OpenTelemetry's Zipkin exporter rules,
/// less the address-only keys: see [`Span::remote_service_name`]).
pub const REMOTE_SERVICE_FALLBACK_KEYS: [&str; 2] = ["server.address", "net.peer.name"];

/// The entity that produced spans: a service instance and its attributes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// Resource attributes; `service.name` among them when known.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

impl Resource {
    /// A resource with only a service name.
    pub fn for_service(service_name: impl Into<String>) -> Self {
        Resource {
            attributes: vec![KeyValue::new(SERVICE_NAME, service_name.into())],
            dropped_attributes_count: 0,
        }
    }

    /// The `service.name` attribute, if it is a non-empty string.
    pub fn service_name(&self) -> Option<&str> {
        match attribute::find(&self.attributes, SERVICE_NAME) {
            Some(AttributeValue::String(name)) if !name.is_empty() => Some(name),
            _ => None,
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.attributes.iter().map(KeyValue::heap_bytes).sum()
    }
}

/// The instrumentation library that recorded spans.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstrumentationScope {
    /// Library name; empty when unknown.
    pub name: String,
    /// Library version; empty when unknown.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
}

/// OpenTelemetry's span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SpanKind {
    /// Not given by the sender (Zipkin spans without `kind`).
    #[default]
    Unspecified,
    /// An operation inside one service.
    Internal,
    /// The server side of a synchronous call.
    Server,
    /// The client side of a synchronous call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The OTLP enum number.
    pub fn to_otlp(self) -> i32 {
        match self {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }

    /// From the OTLP enum number; unknown numbers are `Unspecified`.
    pub fn from_otlp(number: i32) -> Self {
        match number {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Lowercase name as used in query languages and Jaeger's `span.kind` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// OpenTelemetry's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum StatusCode {
    /// No status set.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error,
}

impl StatusCode {
    /// The OTLP enum number.
    pub fn to_otlp(self) -> i32 {
        match self {
            StatusCode::Unset => 0,
            StatusCode::Ok => 1,
            StatusCode::Error => 2,
        }
    }

    /// From the OTLP enum number; unknown numbers are `Unset`.
    pub fn from_otlp(number: i32) -> Self {
        match number {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// A developer-facing message; empty when none.
    pub message: String,
}

/// A timestamped event inside a span (a Zipkin annotation, a Jaeger log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// The event name (the Zipkin annotation value).
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span, possibly in another trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C trace state of the link; empty when none.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags of the link.
    pub flags: u32,
}

/// One span: the unit every receiver produces and every API reads.
///
/// Timestamps are nanoseconds since the Unix epoch. `start_unix_nanos == 0` means the
/// sender gave no timestamp (Zipkin allows this for late fragments); such spans are kept
/// and returned by trace id but never match a time-window search on their own.
/// `duration_nanos == 0` means no duration was given or the span took no time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id; unique within the trace together with `kind` and `shared`.
    pub span_id: SpanId,
    /// The parent span, `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state; empty when none.
    pub trace_state: String,
    /// The operation name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch; 0 when unknown.
    pub start_unix_nanos: u64,
    /// Duration in nanoseconds; 0 when unknown.
    pub duration_nanos: u64,
    /// Status.
    pub status: Status,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Events (annotations, logs).
    pub events: Vec<Event>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// The resource that produced the span; shared between the spans of one batch.
    pub resource: Arc<Resource>,
    /// The instrumentation scope; shared between the spans of one batch.
    pub scope: Arc<InstrumentationScope>,
    /// W3C trace flags (OTLP `flags`).
    pub flags: u32,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Events the sender dropped.
    pub dropped_events_count: u32,
    /// Links the sender dropped.
    pub dropped_links_count: u32,
    /// Zipkin's `shared`: a server span that reuses its client's span id.
    pub shared: bool,
    /// Zipkin's `debug`: the sender forced sampling.
    pub debug: bool,
}

impl Span {
    /// A span with the given ids, name and service, and everything else empty.
    /// Handy in tests and generators.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: impl Into<String>) -> Self {
        Span {
            trace_id,
            span_id,
            parent_span_id: None,
            trace_state: String::new(),
            name: name.into(),
            kind: SpanKind::Unspecified,
            start_unix_nanos: 0,
            duration_nanos: 0,
            status: Status::default(),
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            resource: Arc::new(Resource::default()),
            scope: Arc::new(InstrumentationScope::default()),
            flags: 0,
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            shared: false,
            debug: false,
        }
    }

    /// The service that recorded the span (`service.name` of its resource).
    pub fn service_name(&self) -> Option<&str> {
        self.resource.service_name()
    }

    /// End time in nanoseconds since the epoch (start + duration).
    pub fn end_unix_nanos(&self) -> u64 {
        self.start_unix_nanos.saturating_add(self.duration_nanos)
    }

    /// The first span attribute with `key`.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        attribute::find(&self.attributes, key)
    }

    /// The service on the other side of the call, as Zipkin's `remoteEndpoint.serviceName`
    /// would name it: `peer.service` for any kind (the Zipkin receiver stores the remote
    /// service there), else for client and producer spans the first of `server.address`
    /// and `net.peer.name` that is a host name. IP addresses never name a service: Zipkin
    /// leaves an address-only endpoint unnamed and skips it in dependency links, where
    /// OpenTelemetry's exporter rules would fall back to the address.
    pub fn remote_service_name(&self) -> Option<&str> {
        if let Some(AttributeValue::String(name)) = self.attribute(PEER_SERVICE)
            && !name.is_empty()
        {
            return Some(name);
        }
        if !matches!(self.kind, SpanKind::Client | SpanKind::Producer) {
            return None;
        }
        REMOTE_SERVICE_FALLBACK_KEYS
            .iter()
            .find_map(|key| match self.attribute(key) {
                Some(AttributeValue::String(name))
                    if !name.is_empty() && name.parse::<std::net::IpAddr>().is_err() =>
                {
                    Some(name.as_str())
                }
                _ => None,
            })
    }

    /// True when the span failed: an error status, or Zipkin's `error` tag.
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error || self.attribute("error").is_some()
    }

    /// Approximate bytes this span holds on the heap, excluding the shared resource and
    /// scope. Used to bound memory; counts strings and vectors, not allocator overhead.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Span>()
            + self.name.len()
            + self.trace_state.len()
            + self.status.message.len()
            + self
                .attributes
                .iter()
                .map(KeyValue::heap_bytes)
                .sum::<usize>()
            + self
                .events
                .iter()
                .map(|event| {
                    std::mem::size_of::<Event>()
                        + event.name.len()
                        + event
                            .attributes
                            .iter()
                            .map(KeyValue::heap_bytes)
                            .sum::<usize>()
                })
                .sum::<usize>()
            + self
                .links
                .iter()
                .map(|link| {
                    std::mem::size_of::<Link>()
                        + link.trace_state.len()
                        + link
                            .attributes
                            .iter()
                            .map(KeyValue::heap_bytes)
                            .sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// A batch of spans from one request, the unit of ingest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpanBatch {
    /// The spans, in the order they arrived.
    pub spans: Vec<Span>,
}

impl SpanBatch {
    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl From<Vec<Span>> for SpanBatch {
    fn from(spans: Vec<Span>) -> Self {
        SpanBatch { spans }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_with(key: &str, value: &str) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(1), "call");
        span.kind = SpanKind::Client;
        span.attributes.push(KeyValue::new(key, value));
        span
    }

    #[test]
    fn remote_service_prefers_peer_service_then_host_names() {
        assert_eq!(
            client_with("peer.service", "db").remote_service_name(),
            Some("db")
        );
        assert_eq!(
            client_with("server.address", "backend.internal").remote_service_name(),
            Some("backend.internal")
        );
    }

    #[test]
    fn addresses_never_name_a_remote_service() {
        assert_eq!(
            client_with("server.address", "10.0.0.9").remote_service_name(),
            None
        );
        assert_eq!(
            client_with("net.peer.ip", "10.0.0.9").remote_service_name(),
            None
        );
        assert_eq!(
            client_with("server.address", "::1").remote_service_name(),
            None
        );
    }

    #[test]
    fn server_spans_need_an_explicit_peer_service() {
        let mut span = client_with("server.address", "backend.internal");
        span.kind = SpanKind::Server;
        assert_eq!(span.remote_service_name(), None);
    }
}
