//! Random spans that exercise every field and attribute shape of the model.

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};

/// SplitMix64: deterministic and dependency-free.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn text(&mut self) -> String {
        match self.below(6) {
            0 => String::new(),
            1 => String::from("ünïcødé ✓"),
            2 => format!("value-{}", self.below(20)),
            3 => format!("{:x}", self.next()),
            4 => String::from("GET"),
            _ => self
                .pick(&["a", "b", "db", "frontend", "10.0.0.1", "backend.svc"])
                .to_owned(),
        }
    }

    fn value(&mut self, depth: u32) -> AttributeValue {
        match self.below(if depth > 1 { 6 } else { 8 }) {
            0 => AttributeValue::String(self.text()),
            1 => AttributeValue::Bool(self.chance(50)),
            2 => AttributeValue::Int(self.next() as i64 >> self.below(60)),
            3 => AttributeValue::Double((self.next() as i64 >> 11) as f64 / 1024.0),
            4 => AttributeValue::Bytes((0..self.below(5)).map(|_| self.next() as u8).collect()),
            5 => AttributeValue::Empty,
            6 => AttributeValue::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => AttributeValue::KeyValueList(
                (0..self.below(3))
                    .map(|_| KeyValue::new(self.text(), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }

    /// Keys that hit dedicated columns (with right and wrong types) and generic ones.
    pub fn attribute(&mut self) -> KeyValue {
        const KEYS: [&str; 14] = [
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "http.status_code",
            "url.path",
            "server.address",
            "server.port",
            "peer.service",
            "net.peer.name",
            "error",
            "db.system",
            "custom.key",
            "",
            "retry",
        ];
        let key = self.pick(&KEYS).to_owned();
        let value = match (key.as_str(), self.below(3)) {
            ("http.response.status_code" | "http.status_code" | "server.port", 0 | 1) => {
                AttributeValue::Int(200 + self.below(400) as i64)
            }
            (_, 0 | 1) => AttributeValue::String(self.text()),
            _ => self.value(0),
        };
        KeyValue::new(key, value)
    }

    fn attributes(&mut self, most: u64) -> Vec<KeyValue> {
        (0..self.below(most + 1))
            .map(|_| self.attribute())
            .collect()
    }
}

/// Pools of shared resources and scopes, like a decoder's batches.
pub struct Pools {
    pub resources: Vec<Arc<Resource>>,
    pub scopes: Vec<Arc<InstrumentationScope>>,
}

impl Pools {
    pub fn new(random: &mut Random) -> Self {
        let mut resources = vec![Arc::new(Resource::default())];
        for service in ["frontend", "backend", "db", "Frontend"] {
            let mut resource = Resource::for_service(service);
            resource.attributes.extend(random.attributes(4));
            resource.dropped_attributes_count = random.below(3) as u32;
            resources.push(Arc::new(resource));
        }
        resources.push(Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", AttributeValue::Int(3))],
            dropped_attributes_count: 0,
        }));
        resources.push(Arc::new(Resource::for_service("")));
        let scopes = vec![
            Arc::new(InstrumentationScope::default()),
            Arc::new(InstrumentationScope {
                name: String::from("io.opentelemetry.auto"),
                version: String::from("2.9.0"),
                attributes: vec![KeyValue::new("scope.attr", AttributeValue::Bool(true))],
            }),
        ];
        Pools { resources, scopes }
    }
}

/// One random trace of up to `most_spans` spans, parents included (some before, some
/// after their children, some missing).
pub fn random_trace(random: &mut Random, pools: &Pools, most_spans: u64) -> Vec<Span> {
    let trace_id = TraceId::from_halves(random.next(), random.next() | 1);
    let count = 1 + random.below(most_spans);
    let base = if random.chance(5) {
        0
    } else {
        1_700_000_000_000_000_000 + random.below(1 << 40)
    };
    let mut spans: Vec<Span> = Vec::new();
    for index in 0..count {
        let span_id = if index > 0 && random.chance(5) {
            spans[random.below(index) as usize].span_id
        } else {
            SpanId::from_u64(random.next() | 1)
        };
        let mut span = Span::new(trace_id, span_id, random.text());
        span.parent_span_id = match random.below(10) {
            0 => None,
            1 => Some(SpanId::from_u64(random.next() | 1)),
            _ if index > 0 => Some(spans[random.below(index) as usize].span_id),
            _ => None,
        };
        span.trace_state = if random.chance(20) {
            String::from("rojo=00f067aa0ba902b7")
        } else {
            String::new()
        };
        span.kind = SpanKind::from_otlp(random.below(6) as i32);
        span.start_unix_nanos = if base == 0 || random.chance(3) {
            0
        } else {
            base.wrapping_add(random.below(1_000_000_000))
                .wrapping_sub(random.below(1_000))
        };
        span.duration_nanos = match random.below(4) {
            0 => 0,
            1 => random.next(),
            _ => random.below(10_000_000),
        };
        span.status = Status {
            code: StatusCode::from_otlp(random.below(3) as i32),
            message: if random.chance(20) {
                random.text()
            } else {
                String::new()
            },
        };
        span.attributes = random.attributes(7);
        span.events = (0..random.below(3))
            .map(|_| Event {
                time_unix_nanos: if random.chance(10) {
                    random.next()
                } else {
                    span.start_unix_nanos.wrapping_add(random.below(1000))
                },
                name: random.text(),
                attributes: random.attributes(2),
                dropped_attributes_count: random.below(2) as u32,
            })
            .collect();
        span.links = (0..random.below(2))
            .map(|_| Link {
                trace_id: TraceId::from_halves(random.next(), random.next()),
                span_id: SpanId::from_u64(random.next()),
                trace_state: random.text(),
                attributes: random.attributes(2),
                dropped_attributes_count: random.below(2) as u32,
                flags: random.below(3) as u32,
            })
            .collect();
        span.resource =
            pools.resources[random.below(pools.resources.len() as u64) as usize].clone();
        span.scope = pools.scopes[random.below(pools.scopes.len() as u64) as usize].clone();
        span.flags = random.below(4) as u32;
        span.dropped_attributes_count = random.below(2) as u32;
        span.dropped_events_count = random.below(2) as u32;
        span.dropped_links_count = random.below(2) as u32;
        span.shared = random.chance(10);
        span.debug = random.chance(5);
        spans.push(span);
    }
    spans
}

/// `traces` random traces, flattened in random trace order (not block order).
pub fn random_spans(seed: u64, traces: usize, most_spans: u64) -> Vec<Span> {
    let mut random = Random::new(seed);
    let pools = Pools::new(&mut random);
    let mut spans = Vec::new();
    for _ in 0..traces {
        spans.extend(random_trace(&mut random, &pools, most_spans));
    }
    spans
}
