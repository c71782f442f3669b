//! Zipkin v1 span -> Zipkin v2 spans, by the rules of Zipkin's `V1SpanConverter` (the
//! module docs of `zipkin_v1` list them). Both v1 decoders fill a [`V1Span`]; the result
//! is raw v2 spans that the v2 decoder's `SpanConverter` validates and maps to the model.

use std::borrow::Cow;

use crate::zipkin::{Micros, Present, RawAnnotation, RawEndpoint, RawId, RawSpan, Tags, Text};

/// A Zipkin v1 span as read from JSON or Thrift, before conversion.
pub(super) struct V1Span<'a> {
    pub(super) trace_id: Option<RawId<'a>>,
    pub(super) id: Option<RawId<'a>>,
    pub(super) parent_id: Option<RawId<'a>>,
    pub(super) name: Option<Cow<'a, str>>,
    /// Epoch microseconds; 0 = absent.
    pub(super) timestamp: u64,
    /// Microseconds; 0 = absent.
    pub(super) duration: u64,
    pub(super) debug: bool,
    pub(super) annotations: Vec<V1Annotation<'a>>,
    pub(super) binary_annotations: Vec<V1BinaryAnnotation<'a>>,
}

/// A v1 annotation. `endpoint` is `None` when absent or empty.
pub(super) struct V1Annotation<'a> {
    /// Epoch microseconds.
    pub(super) timestamp: u64,
    pub(super) value: Cow<'a, str>,
    pub(super) endpoint: Option<RawEndpoint<'a>>,
}

/// A v1 binary annotation. `endpoint` is `None` when absent or empty.
pub(super) struct V1BinaryAnnotation<'a> {
    pub(super) key: Cow<'a, str>,
    pub(super) value: V1Value<'a>,
    pub(super) endpoint: Option<RawEndpoint<'a>>,
}

/// The part of a binary annotation's value that Zipkin keeps.
pub(super) enum V1Value<'a> {
    /// A `STRING` value: a tag, or (leniently) an address annotation.
    String(Cow<'a, str>),
    /// A `BOOL` value of true: an address annotation (`ca`, `sa`, `ma`).
    True,
    /// Anything else (false, numbers, bytes): dropped.
    Other,
}

/// True when an endpoint carries nothing; v1 readers treat such an endpoint as absent.
pub(super) fn is_empty_endpoint(endpoint: &RawEndpoint<'_>) -> bool {
    endpoint.service_name.as_deref().is_none_or(str::is_empty)
        && endpoint.ipv4.is_none()
        && endpoint.ipv6.is_none()
        && endpoint.port.is_none_or(|port| port == 0)
}

/// Converts one v1 span into one or more raw v2 spans appended to `out`, in Zipkin's
/// order: the first v2 span, then any split off for other local services.
pub(super) fn convert<'a>(source: &V1Span<'a>, out: &mut Vec<RawSpan<'a>>) {
    let mut conversion = Conversion {
        source,
        halves: vec![Half::default()],
        cs: None,
        sr: None,
        ss: None,
        cr: None,
        ms: None,
        mr: None,
        ws: None,
        wr: None,
    };
    conversion.process_annotations();
    conversion.process_binary_annotations();
    let name = source.name.as_deref().filter(|name| !name.is_empty());
    for half in conversion.halves {
        out.push(RawSpan {
            trace_id: source.trace_id.clone(),
            id: source.id.clone(),
            parent_id: source.parent_id.clone(),
            kind: half.kind.map(|kind| Text(Cow::Borrowed(kind))),
            name: name.map(str::to_owned),
            timestamp: (half.timestamp != 0).then_some(Micros(half.timestamp)),
            duration: (half.duration != 0).then_some(Micros(half.duration)),
            local_endpoint: half.local,
            remote_endpoint: half.remote,
            annotations: Some(half.annotations),
            tags: Some(Tags(half.tags)),
            debug: Some(source.debug),
            shared: Some(half.shared),
            binary_annotations: Present(false),
        });
    }
}

const CLIENT: &str = "CLIENT";
const SERVER: &str = "SERVER";
const PRODUCER: &str = "PRODUCER";
const CONSUMER: &str = "CONSUMER";

/// One v2 span being built. Times are µs, 0 = absent.
#[derive(Default)]
struct Half<'a> {
    kind: Option<&'static str>,
    local: Option<RawEndpoint<'a>>,
    remote: Option<RawEndpoint<'a>>,
    timestamp: u64,
    duration: u64,
    shared: bool,
    annotations: Vec<RawAnnotation>,
    tags: Vec<(String, String)>,
}

impl Half<'_> {
    fn add_annotation(&mut self, timestamp: u64, value: &str) {
        self.annotations.push(RawAnnotation {
            timestamp: Some(Micros(timestamp)),
            value: Some(value.to_owned()),
            endpoint: Present(false),
        });
    }
}

/// A core annotation (`cs`, `sr`, ...) with its endpoint, which core annotations require.
#[derive(Clone, Copy)]
struct Core<'s, 'a> {
    timestamp: u64,
    value: &'static str,
    endpoint: &'s RawEndpoint<'a>,
}

struct Conversion<'s, 'a> {
    source: &'s V1Span<'a>,
    /// The v2 spans; index 0 is the first, which gets everything without an endpoint.
    halves: Vec<Half<'a>>,
    cs: Option<Core<'s, 'a>>,
    sr: Option<Core<'s, 'a>>,
    ss: Option<Core<'s, 'a>>,
    cr: Option<Core<'s, 'a>>,
    ms: Option<Core<'s, 'a>>,
    mr: Option<Core<'s, 'a>>,
    ws: Option<Core<'s, 'a>>,
    wr: Option<Core<'s, 'a>>,
}

/// Zipkin compares endpoints by service name only; absent and empty are equal, and
/// Zipkin lowercases names, so case does not matter.
fn same_service(left: &RawEndpoint<'_>, right: &RawEndpoint<'_>) -> bool {
    match (service_name(left), service_name(right)) {
        (None, None) => true,
        (Some(left), Some(right)) => left == right || left.to_lowercase() == right.to_lowercase(),
        _ => false,
    }
}

fn service_name<'e>(endpoint: &'e RawEndpoint<'_>) -> Option<&'e str> {
    endpoint
        .service_name
        .as_deref()
        .filter(|name| !name.is_empty())
}

/// Signed difference `end - begin` in µs; not positive = absent (0).
fn elapsed(begin: u64, end: u64) -> u64 {
    end.saturating_sub(begin)
}

impl<'s, 'a> Conversion<'s, 'a> {
    /// The v2 span for an endpoint: the first one when `endpoint` is `None`, the first
    /// without a local endpoint (which takes this one) or with the same service name,
    /// else a new span.
    fn for_endpoint(&mut self, endpoint: Option<&RawEndpoint<'a>>) -> usize {
        let Some(endpoint) = endpoint else {
            return 0;
        };
        for (index, half) in self.halves.iter_mut().enumerate() {
            match &half.local {
                None => {
                    half.local = Some(endpoint.clone());
                    return index;
                }
                Some(local) if same_service(local, endpoint) => return index,
                Some(_) => {}
            }
        }
        self.new_half(endpoint)
    }

    fn new_half(&mut self, endpoint: &RawEndpoint<'a>) -> usize {
        self.halves.push(Half {
            local: Some(endpoint.clone()),
            ..Half::default()
        });
        self.halves.len() - 1
    }

    fn process_annotations(&mut self) {
        let source = self.source;
        for annotation in &source.annotations {
            let index = self.for_endpoint(annotation.endpoint.as_ref());
            // Core annotations need an endpoint; without one they are plain annotations.
            let Some(endpoint) = &annotation.endpoint else {
                self.halves[index].add_annotation(annotation.timestamp, &annotation.value);
                continue;
            };
            let (slot, value, kind) = match &*annotation.value {
                "cs" => (&mut self.cs, "cs", Some(CLIENT)),
                "sr" => (&mut self.sr, "sr", Some(SERVER)),
                "ss" => (&mut self.ss, "ss", Some(SERVER)),
                "cr" => (&mut self.cr, "cr", Some(CLIENT)),
                "ms" => (&mut self.ms, "ms", Some(PRODUCER)),
                "mr" => (&mut self.mr, "mr", Some(CONSUMER)),
                "ws" => (&mut self.ws, "ws", None),
                "wr" => (&mut self.wr, "wr", None),
                other => {
                    self.halves[index].add_annotation(annotation.timestamp, other);
                    continue;
                }
            };
            *slot = Some(Core {
                timestamp: annotation.timestamp,
                value,
                endpoint,
            });
            if kind.is_some() {
                self.halves[index].kind = kind;
            }
        }

        // Bridged from an event model, a span can lack its start annotation; the span's
        // own timestamp stands in when timestamp + duration lands exactly on the end.
        if self.cs.is_none()
            && let Some(cr) = self.cr
            && self.end_is_span_end(cr)
        {
            self.cs = Some(Core {
                timestamp: source.timestamp,
                value: "cs",
                endpoint: cr.endpoint,
            });
        }
        if self.sr.is_none()
            && let Some(ss) = self.ss
            && self.end_is_span_end(ss)
        {
            self.sr = Some(Core {
                timestamp: source.timestamp,
                value: "sr",
                endpoint: ss.endpoint,
            });
        }

        self.process_rpc();
        self.process_messaging();
    }

    fn end_is_span_end(&self, end: Core<'_, '_>) -> bool {
        let source = self.source;
        source.timestamp != 0
            && source.duration != 0
            && source.timestamp.saturating_add(source.duration) == end.timestamp
    }

    fn process_rpc(&mut self) {
        let source = self.source;
        match (self.cs, self.sr, self.ss, self.cr) {
            (Some(cs), Some(sr), ss, cr) => {
                // One record holding both sides: the client owns the span's timestamp
                // and duration; the server side is a second, shared span.
                self.timestamp_and_duration(cs, cr);
                let client = self.for_endpoint(Some(cs.endpoint));
                let server = if same_service(cs.endpoint, sr.endpoint) {
                    // Loopback: both sides in one service still make two spans.
                    self.halves[client].kind = Some(CLIENT);
                    let server = self.new_half(sr.endpoint);
                    self.halves[server].kind = Some(SERVER);
                    server
                } else {
                    self.for_endpoint(Some(sr.endpoint))
                };
                let server_half = &mut self.halves[server];
                server_half.shared = true;
                server_half.timestamp = sr.timestamp;
                if let Some(ss) = ss {
                    server_half.duration = elapsed(sr.timestamp, ss.timestamp);
                }
                if cr.is_none() && source.duration == 0 {
                    self.halves[client].duration = 0;
                }
            }
            (Some(cs), None, _, Some(cr)) => self.timestamp_and_duration(cs, Some(cr)),
            (None, Some(sr), Some(ss), _) => self.timestamp_and_duration(sr, Some(ss)),
            _ => self.handle_incomplete_rpc(),
        }

        // v1 had no shared flag: a server side without the authoritative timestamp (or
        // with ss but no duration) was propagated from a client, so it is shared.
        if self.cs.is_none()
            && let Some(sr) = self.sr
            && (source.timestamp == 0 || (self.ss.is_some() && source.duration == 0))
        {
            let index = self.for_endpoint(Some(sr.endpoint));
            self.halves[index].shared = true;
        }
    }

    /// Only one side of an RPC, or only one of its two annotations: start from the begin
    /// annotation, keep the end annotation as an annotation, and let the span's own
    /// timestamp and duration win for the first span.
    fn handle_incomplete_rpc(&mut self) {
        let (cs, cr, sr, ss) = (self.cs, self.cr, self.sr, self.ss);
        for half in &mut self.halves {
            let (begin, end) = match half.kind {
                Some(CLIENT) => (cs, cr),
                Some(SERVER) => (sr, ss),
                _ => continue,
            };
            if let Some(begin) = begin {
                half.timestamp = begin.timestamp;
            }
            if let Some(end) = end {
                half.add_annotation(end.timestamp, end.value);
            }
        }
        let source = self.source;
        if source.timestamp != 0 {
            self.halves[0].timestamp = source.timestamp;
            self.halves[0].duration = source.duration;
        }
    }

    fn process_messaging(&mut self) {
        match (self.ms, self.mr) {
            (Some(ms), Some(mr)) => {
                // Not supposed to share a record, but when they do: two spans.
                let producer = self.for_endpoint(Some(ms.endpoint));
                let consumer = if same_service(ms.endpoint, mr.endpoint) {
                    self.halves[producer].kind = Some(PRODUCER);
                    let consumer = self.new_half(mr.endpoint);
                    self.halves[consumer].kind = Some(CONSUMER);
                    consumer
                } else {
                    self.for_endpoint(Some(mr.endpoint))
                };
                let wr = self.wr;
                let consumer_half = &mut self.halves[consumer];
                consumer_half.shared = true;
                match wr {
                    Some(wr) => {
                        consumer_half.timestamp = wr.timestamp;
                        consumer_half.duration = elapsed(wr.timestamp, mr.timestamp);
                    }
                    None => consumer_half.timestamp = mr.timestamp,
                }
                let ws = self.ws;
                let producer_half = &mut self.halves[producer];
                producer_half.timestamp = ms.timestamp;
                producer_half.duration = ws.map_or(0, |ws| elapsed(ms.timestamp, ws.timestamp));
            }
            (Some(ms), None) => self.timestamp_and_duration(ms, self.ws),
            (None, Some(mr)) => match self.wr {
                Some(wr) => self.timestamp_and_duration(wr, Some(mr)),
                None => self.timestamp_and_duration(mr, None),
            },
            (None, None) => {
                for wire in [self.ws, self.wr].into_iter().flatten() {
                    let index = self.for_endpoint(Some(wire.endpoint));
                    self.halves[index].add_annotation(wire.timestamp, wire.value);
                }
            }
        }
    }

    /// The span's own timestamp and duration when both are set, else from `begin` and
    /// `end`.
    fn timestamp_and_duration(&mut self, begin: Core<'_, 'a>, end: Option<Core<'_, 'a>>) {
        let source = self.source;
        let index = self.for_endpoint(Some(begin.endpoint));
        let half = &mut self.halves[index];
        if source.timestamp != 0 && source.duration != 0 {
            half.timestamp = source.timestamp;
            half.duration = source.duration;
        } else {
            half.timestamp = begin.timestamp;
            if let Some(end) = end {
                half.duration = elapsed(begin.timestamp, end.timestamp);
            }
        }
    }

    fn process_binary_annotations(&mut self) {
        let source = self.source;
        let (mut ca, mut sa, mut ma) = (None, None, None);
        for binary in &source.binary_annotations {
            let value = match &binary.value {
                V1Value::String(text) => Some(text),
                V1Value::True => None,
                V1Value::Other => continue,
            };
            // Address annotations should be `true`, but some tracers send "1" or "True";
            // like Zipkin, any value counts. They need an endpoint.
            let address = match &*binary.key {
                "ca" => Some(&mut ca),
                "sa" => Some(&mut sa),
                "ma" => Some(&mut ma),
                _ => None,
            };
            if let Some(address) = address {
                if let Some(endpoint) = &binary.endpoint {
                    *address = Some(endpoint);
                }
                continue;
            }
            let Some(value) = value else {
                // A true boolean that is not an address annotation: dropped.
                continue;
            };
            let index = self.for_endpoint(binary.endpoint.as_ref());
            // "lc" with an empty value only marks a local span (its endpoint named it).
            if binary.key == "lc" && value.is_empty() {
                continue;
            }
            self.halves[index]
                .tags
                .push((binary.key.clone().into_owned(), value.clone().into_owned()));
        }

        let no_core =
            self.cs.is_none() && self.sr.is_none() && self.ss.is_none() && self.cr.is_none();
        // Both addresses but no core annotations: the client address is the local side.
        if self.cs.is_none()
            && self.sr.is_none()
            && let (Some(ca), Some(sa)) = (ca, sa)
        {
            let index = self.for_endpoint(Some(ca));
            self.halves[index].remote = Some(sa.clone());
            return;
        }
        if let Some(sa) = sa {
            let begin = [self.cs, self.cr]
                .into_iter()
                .flatten()
                .find(|core| !same_service(sa, core.endpoint));
            if let Some(core) = begin {
                self.set_remote(Some(core.endpoint), sa, None);
            } else if no_core {
                self.set_remote(None, sa, Some(CLIENT));
            }
        }
        if let Some(ca) = ca {
            let begin = [self.sr, self.ss]
                .into_iter()
                .flatten()
                .find(|core| !same_service(ca, core.endpoint));
            if let Some(core) = begin {
                self.set_remote(Some(core.endpoint), ca, None);
            } else if no_core {
                self.set_remote(None, ca, Some(SERVER));
            }
        }
        if let Some(ma) = ma {
            for core in [self.ms, self.mr].into_iter().flatten() {
                if !same_service(ma, core.endpoint) {
                    self.set_remote(Some(core.endpoint), ma, None);
                }
            }
        }
    }

    fn set_remote(
        &mut self,
        local: Option<&RawEndpoint<'a>>,
        remote: &RawEndpoint<'a>,
        kind: Option<&'static str>,
    ) {
        let index = self.for_endpoint(local);
        let half = &mut self.halves[index];
        half.remote = Some(remote.clone());
        if kind.is_some() {
            half.kind = kind;
        }
    }
}
