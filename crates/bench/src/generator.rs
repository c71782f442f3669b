//! A deterministic generator of realistic microservice traces.
//!
//! The shape: a request enters `frontend` (or a mobile `api-gateway`), fans out over a
//! fixed call graph of services, each remote call as a CLIENT span in the caller and a
//! SERVER span in the callee, with database, cache and messaging leaves and occasional
//! INTERNAL spans. Fan-out per server span is heavy-tailed (most spans call one or two
//! services, a few call a dozen); depth is capped at [`GeneratorSettings::max_depth`].
//! Latencies are log-normal, errors rare and propagated to callers. Attribute names follow
//! OpenTelemetry's semantic conventions.

use std::sync::Arc;

use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Resource, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};

use crate::random::SplitMix64;

/// Knobs of the corpus. The defaults give about 18 spans per trace.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    /// Seed of the whole corpus.
    pub seed: u64,
    /// Deepest nesting of server spans below the root (the root is depth 0).
    pub max_depth: u32,
    /// Most spans in one trace.
    pub max_spans_per_trace: usize,
    /// Probability that a span fails.
    pub error_rate: f64,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            seed: 42,
            max_depth: 10,
            max_spans_per_trace: 500,
            error_rate: 0.02,
        }
    }
}

/// What a service calls.
struct ServiceSpec {
    name: &'static str,
    operations: &'static [&'static str],
    downstream: &'static [&'static str],
    datastores: &'static [Datastore],
}

#[derive(Clone, Copy)]
struct Datastore {
    system: &'static str,
    host: &'static str,
    statements: &'static [&'static str],
}

const POSTGRES: Datastore = Datastore {
    system: "postgresql",
    host: "postgres-main",
    statements: &[
        "SELECT * FROM products WHERE id = $1",
        "SELECT id, name, price FROM products WHERE category = $1 LIMIT 50",
        "UPDATE inventory SET quantity = quantity - $1 WHERE sku = $2",
        "INSERT INTO orders (id, user_id, total) VALUES ($1, $2, $3)",
    ],
};
const REDIS: Datastore = Datastore {
    system: "redis",
    host: "redis-cache",
    statements: &["GET", "SET", "HGETALL", "EXPIRE", "MGET"],
};
const MYSQL: Datastore = Datastore {
    system: "mysql",
    host: "mysql-users",
    statements: &[
        "SELECT * FROM users WHERE id = ?",
        "SELECT * FROM sessions WHERE token = ?",
        "UPDATE users SET last_login = NOW() WHERE id = ?",
    ],
};
const MONGODB: Datastore = Datastore {
    system: "mongodb",
    host: "mongo-reviews",
    statements: &["find reviews", "aggregate reviews", "insert reviews"],
};
const ELASTICSEARCH: Datastore = Datastore {
    system: "elasticsearch",
    host: "es-search",
    statements: &["GET /products/_search", "POST /products/_msearch"],
};

const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "frontend",
        operations: &[
            "GET /",
            "GET /product/{id}",
            "POST /cart",
            "POST /checkout",
            "GET /search",
        ],
        downstream: &[
            "auth-service",
            "product-catalog",
            "cart-service",
            "checkout-service",
            "recommendation-service",
            "ad-service",
            "search-service",
            "currency-service",
        ],
        datastores: &[],
    },
    ServiceSpec {
        name: "api-gateway",
        operations: &[
            "GET /api/v1/products",
            "GET /api/v1/orders/{id}",
            "POST /api/v1/orders",
            "GET /api/v1/me",
        ],
        downstream: &[
            "auth-service",
            "user-service",
            "product-catalog",
            "order-service",
            "review-service",
        ],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "auth-service",
        operations: &["Authenticate", "ValidateToken", "RefreshToken"],
        downstream: &["user-service"],
        datastores: &[REDIS, MYSQL],
    },
    ServiceSpec {
        name: "user-service",
        operations: &["GetUser", "UpdateUser", "GetPreferences"],
        downstream: &[],
        datastores: &[MYSQL, REDIS],
    },
    ServiceSpec {
        name: "product-catalog",
        operations: &["GetProduct", "ListProducts", "SearchProducts"],
        downstream: &["pricing-service", "inventory-service", "review-service"],
        datastores: &[POSTGRES, REDIS],
    },
    ServiceSpec {
        name: "cart-service",
        operations: &["AddItem", "GetCart", "EmptyCart"],
        downstream: &["product-catalog", "pricing-service"],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "checkout-service",
        operations: &["PlaceOrder"],
        downstream: &[
            "cart-service",
            "payment-service",
            "shipping-service",
            "currency-service",
            "order-service",
            "email-service",
            "fraud-detection",
        ],
        datastores: &[],
    },
    ServiceSpec {
        name: "payment-service",
        operations: &["Charge", "Refund"],
        downstream: &["fraud-detection"],
        datastores: &[POSTGRES],
    },
    ServiceSpec {
        name: "shipping-service",
        operations: &["GetQuote", "ShipOrder"],
        downstream: &["currency-service"],
        datastores: &[POSTGRES],
    },
    ServiceSpec {
        name: "currency-service",
        operations: &["Convert", "GetSupportedCurrencies"],
        downstream: &[],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "recommendation-service",
        operations: &["ListRecommendations"],
        downstream: &["product-catalog"],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "ad-service",
        operations: &["GetAds"],
        downstream: &[],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "search-service",
        operations: &["Search", "Suggest"],
        downstream: &["product-catalog"],
        datastores: &[ELASTICSEARCH],
    },
    ServiceSpec {
        name: "pricing-service",
        operations: &["GetPrice", "ApplyDiscounts"],
        downstream: &["currency-service"],
        datastores: &[POSTGRES],
    },
    ServiceSpec {
        name: "inventory-service",
        operations: &["CheckStock", "Reserve"],
        downstream: &[],
        datastores: &[POSTGRES],
    },
    ServiceSpec {
        name: "order-service",
        operations: &["CreateOrder", "GetOrder"],
        downstream: &["inventory-service", "notification-service"],
        datastores: &[POSTGRES],
    },
    ServiceSpec {
        name: "email-service",
        operations: &["SendOrderConfirmation"],
        downstream: &[],
        datastores: &[],
    },
    ServiceSpec {
        name: "fraud-detection",
        operations: &["Score"],
        downstream: &["user-service"],
        datastores: &[REDIS],
    },
    ServiceSpec {
        name: "notification-service",
        operations: &["Notify"],
        downstream: &["email-service"],
        datastores: &[],
    },
    ServiceSpec {
        name: "review-service",
        operations: &["ListReviews", "GetRating"],
        downstream: &["user-service"],
        datastores: &[MONGODB],
    },
];

/// Services that calls enter through.
const ENTRY_SERVICES: [&str; 2] = ["frontend", "api-gateway"];
/// Instances (pods) per service; each gets its own resource.
const INSTANCES_PER_SERVICE: usize = 3;

/// Builds traces; the sequence of traces is fixed by the settings' seed.
pub struct TraceGenerator {
    settings: GeneratorSettings,
    random: SplitMix64,
    /// One resource per service instance, indexed by service then instance.
    resources: Vec<Vec<Arc<Resource>>>,
    scope: Arc<InstrumentationScope>,
}

/// A point in a generator's sequence of traces (see [`TraceGenerator::position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneratorPosition(u64);

/// Mutable state while one trace is built.
struct TraceBuilder {
    trace_id: TraceId,
    spans: Vec<Span>,
}

impl TraceGenerator {
    /// A generator with `settings`.
    pub fn new(settings: GeneratorSettings) -> Self {
        let resources = SERVICES
            .iter()
            .map(|service| {
                (0..INSTANCES_PER_SERVICE)
                    .map(|instance| Arc::new(resource_for(service, instance)))
                    .collect()
            })
            .collect();
        let scope = Arc::new(InstrumentationScope {
            name: String::from("io.opentelemetry.auto"),
            version: String::from("2.9.0"),
            attributes: Vec::new(),
        });
        TraceGenerator {
            random: SplitMix64::new(settings.seed),
            settings,
            resources,
            scope,
        }
    }

    /// The next trace, starting at `start_unix_nanos`. Spans are in creation order
    /// (parents before children).
    pub fn next_trace(&mut self, start_unix_nanos: u64) -> Vec<Span> {
        let trace_id = loop {
            let id = TraceId::from_halves(self.random.next_u64(), self.random.next_u64());
            if id != TraceId::default() {
                break id;
            }
        };
        let mut builder = TraceBuilder {
            trace_id,
            spans: Vec::with_capacity(32),
        };
        let entry = ENTRY_SERVICES[self.random.below(ENTRY_SERVICES.len() as u64) as usize];
        let service_index = service_index(entry);
        self.server_span(&mut builder, service_index, None, start_unix_nanos, 0);
        builder.spans
    }

    /// Where the generator is: [`TraceGenerator::seek`] back to it and the next trace is
    /// the same trace again (given the same start time), on any generator built with the
    /// same settings. Lets a caller remember traces by position instead of keeping them.
    pub fn position(&self) -> GeneratorPosition {
        GeneratorPosition(self.random.state())
    }

    /// Continues the sequence from `position` (taken from a generator with the same
    /// settings; a position from other settings gives traces of these settings' shape
    /// drawn from another point of the sequence).
    pub fn seek(&mut self, position: GeneratorPosition) {
        self.random = SplitMix64::new(position.0);
    }

    fn new_span_id(&mut self) -> SpanId {
        loop {
            let id = self.random.next_u64();
            if id != 0 {
                return SpanId::from_u64(id);
            }
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.random.below(items.len() as u64) as usize]
    }

    fn base_span(
        &mut self,
        builder: &TraceBuilder,
        service: usize,
        parent: Option<SpanId>,
        name: String,
        kind: SpanKind,
        start_unix_nanos: u64,
    ) -> Span {
        let mut span = Span::new(builder.trace_id, self.new_span_id(), name);
        span.parent_span_id = parent;
        span.kind = kind;
        span.start_unix_nanos = start_unix_nanos;
        let instance = self.random.below(INSTANCES_PER_SERVICE as u64) as usize;
        span.resource = self.resources[service][instance].clone();
        span.scope = self.scope.clone();
        span.flags = 1;
        span
    }

    /// Adds a SERVER span for `service` and everything below it. Returns (end time, failed).
    fn server_span(
        &mut self,
        builder: &mut TraceBuilder,
        service: usize,
        parent: Option<SpanId>,
        start_unix_nanos: u64,
        depth: u32,
    ) -> (u64, bool) {
        let spec = &SERVICES[service];
        let operation = *self.pick(spec.operations);
        let is_http = operation.contains(' ');
        let mut span = self.base_span(
            builder,
            service,
            parent,
            operation.to_owned(),
            SpanKind::Server,
            start_unix_nanos,
        );
        let span_id = span.span_id;
        let index = builder.spans.len();
        if is_http {
            let (method, route) = operation.split_once(' ').unwrap_or(("GET", operation));
            span.attributes
                .push(KeyValue::new("http.request.method", method));
            span.attributes.push(KeyValue::new("http.route", route));
            span.attributes.push(KeyValue::new(
                "url.path",
                route.replace("{id}", &self.random.below(100_000).to_string()),
            ));
            span.attributes.push(KeyValue::new("url.scheme", "https"));
            span.attributes.push(KeyValue::new(
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            ));
        } else {
            span.attributes.push(KeyValue::new("rpc.system", "grpc"));
            span.attributes.push(KeyValue::new(
                "rpc.service",
                format!("{}.{}", spec.name.replace('-', "."), "v1"),
            ));
            span.attributes.push(KeyValue::new("rpc.method", operation));
        }
        builder.spans.push(span);

        let mut cursor = start_unix_nanos + self.random.log_normal(200_000.0, 0.8) as u64;
        let mut failed = false;
        let budget_left = self
            .settings
            .max_spans_per_trace
            .saturating_sub(builder.spans.len());
        let can_call_services = depth < self.settings.max_depth && !spec.downstream.is_empty();
        let calls = if budget_left < 3 {
            0
        } else {
            // Heavy-tailed: mostly 1-3 calls, sometimes a dozen; deeper spans call less.
            let raw = self.random.heavy_tailed(1.0, 1.6, 14);
            let damped = if depth >= 3 { raw.min(2) } else { raw };
            damped.min(budget_left as u64 / 3)
        };
        let parallel = self.random.chance(0.3);
        let mut parallel_end = cursor;
        for _ in 0..calls {
            let call_start = if parallel {
                cursor
            } else {
                parallel_end.max(cursor)
            };
            let use_datastore =
                !can_call_services || (!spec.datastores.is_empty() && self.random.chance(0.35));
            let (end, child_failed) = if use_datastore && !spec.datastores.is_empty() {
                let datastore = *self.pick(spec.datastores);
                self.datastore_call(builder, service, span_id, datastore, call_start)
            } else if can_call_services {
                let callee_name: &str = self.pick::<&str>(spec.downstream);
                let callee = service_index(callee_name);
                self.client_call(builder, service, span_id, callee, call_start, depth)
            } else {
                (call_start, false)
            };
            failed |= child_failed;
            parallel_end = parallel_end.max(end);
            if !parallel {
                cursor = end + self.random.log_normal(30_000.0, 0.5) as u64;
            }
        }
        if self.random.chance(0.15) && builder.spans.len() < self.settings.max_spans_per_trace {
            let internal_start = parallel_end.max(cursor);
            let mut internal = self.base_span(
                builder,
                service,
                Some(span_id),
                format!("{operation} render"),
                SpanKind::Internal,
                internal_start,
            );
            internal.duration_nanos = self.random.log_normal(150_000.0, 0.7) as u64;
            parallel_end = internal.end_unix_nanos();
            builder.spans.push(internal);
        }
        let own_failure = self.random.chance(self.settings.error_rate);
        let failed = failed && self.random.chance(0.7) || own_failure;
        let end = parallel_end.max(cursor) + self.random.log_normal(100_000.0, 0.6) as u64;
        let span = &mut builder.spans[index];
        span.duration_nanos = end - start_unix_nanos;
        if is_http {
            let status: i64 = if failed {
                500
            } else if self.random.chance(0.03) {
                404
            } else {
                200
            };
            span.attributes
                .push(KeyValue::new("http.response.status_code", status));
        }
        if failed {
            span.status = Status {
                code: StatusCode::Error,
                message: String::from("upstream call failed"),
            };
            span.events.push(Event {
                time_unix_nanos: end.saturating_sub(50_000),
                name: String::from("exception"),
                attributes: vec![
                    KeyValue::new("exception.type", "UpstreamError"),
                    KeyValue::new(
                        "exception.message",
                        format!("{} failed", SERVICES[service].name),
                    ),
                ],
                dropped_attributes_count: 0,
            });
        }
        (end, failed)
    }

    fn client_call(
        &mut self,
        builder: &mut TraceBuilder,
        service: usize,
        parent: SpanId,
        callee: usize,
        start_unix_nanos: u64,
        depth: u32,
    ) -> (u64, bool) {
        let callee_spec = &SERVICES[callee];
        let operation = *self.pick(callee_spec.operations);
        let name = if operation.contains(' ') {
            operation.split(' ').next().unwrap_or("GET").to_owned()
        } else {
            format!("{}/{}", callee_spec.name, operation)
        };
        let mut client = self.base_span(
            builder,
            service,
            Some(parent),
            name,
            SpanKind::Client,
            start_unix_nanos,
        );
        let client_id = client.span_id;
        client
            .attributes
            .push(KeyValue::new("peer.service", callee_spec.name));
        client.attributes.push(KeyValue::new(
            "server.address",
            format!("{}.default.svc.cluster.local", callee_spec.name),
        ));
        client
            .attributes
            .push(KeyValue::new("server.port", AttributeValue::Int(8080)));
        let index = builder.spans.len();
        builder.spans.push(client);
        let network_delay = self.random.log_normal(300_000.0, 0.5) as u64;
        let (server_end, failed) = self.server_span(
            builder,
            callee,
            Some(client_id),
            start_unix_nanos + network_delay / 2,
            depth + 1,
        );
        let end = server_end + network_delay / 2;
        let client = &mut builder.spans[index];
        client.duration_nanos = end - start_unix_nanos;
        if failed {
            client.status = Status {
                code: StatusCode::Error,
                message: String::from("remote error"),
            };
        }
        (end, failed)
    }

    fn datastore_call(
        &mut self,
        builder: &mut TraceBuilder,
        service: usize,
        parent: SpanId,
        datastore: Datastore,
        start_unix_nanos: u64,
    ) -> (u64, bool) {
        let statement = *self.pick(datastore.statements);
        let operation = statement.split(' ').next().unwrap_or(statement);
        let name = format!("{} {}", operation, datastore.system);
        let mut span = self.base_span(
            builder,
            service,
            Some(parent),
            name,
            SpanKind::Client,
            start_unix_nanos,
        );
        span.attributes
            .push(KeyValue::new("db.system", datastore.system));
        span.attributes
            .push(KeyValue::new("db.statement", statement));
        span.attributes
            .push(KeyValue::new("db.operation", operation));
        span.attributes
            .push(KeyValue::new("server.address", datastore.host));
        span.attributes
            .push(KeyValue::new("peer.service", datastore.host));
        span.duration_nanos = self.random.log_normal(800_000.0, 1.0) as u64;
        let failed = self.random.chance(self.settings.error_rate / 2.0);
        if failed {
            span.status = Status {
                code: StatusCode::Error,
                message: String::from("connection reset by peer"),
            };
        }
        let end = span.end_unix_nanos();
        builder.spans.push(span);
        (end, failed)
    }
}

fn service_index(name: &str) -> usize {
    SERVICES
        .iter()
        .position(|service| service.name == name)
        .unwrap_or(0)
}

fn resource_for(service: &ServiceSpec, instance: usize) -> Resource {
    let language = ["java", "go", "python", "nodejs"][service.name.len() % 4];
    Resource {
        attributes: vec![
            KeyValue::new("service.name", service.name),
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new(
                "service.version",
                format!("1.{}.{}", service.name.len() % 7, instance),
            ),
            KeyValue::new(
                "service.instance.id",
                format!("{}-{instance}", service.name),
            ),
            KeyValue::new("deployment.environment", "production"),
            KeyValue::new(
                "host.name",
                format!("node-{}", (service.name.len() + instance) % 12),
            ),
            KeyValue::new(
                "k8s.pod.name",
                format!("{}-7d9f8b6c5-{instance:05}", service.name),
            ),
            KeyValue::new("k8s.namespace.name", "shop"),
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
            KeyValue::new("telemetry.sdk.language", language),
            KeyValue::new("telemetry.sdk.version", "1.28.0"),
        ],
        dropped_attributes_count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_corpus_is_deterministic() {
        let mut a = TraceGenerator::new(GeneratorSettings::default());
        let mut b = TraceGenerator::new(GeneratorSettings::default());
        for i in 0..20 {
            assert_eq!(a.next_trace(i * 1_000), b.next_trace(i * 1_000));
        }
    }

    #[test]
    fn seeking_to_a_position_regenerates_the_same_trace() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let mut positions = Vec::new();
        let mut traces = Vec::new();
        for i in 0..50 {
            positions.push(generator.position());
            traces.push(generator.next_trace(i * 1_000));
        }
        let mut other = TraceGenerator::new(GeneratorSettings::default());
        for i in (0..50).rev() {
            other.seek(positions[i]);
            assert_eq!(other.next_trace(i as u64 * 1_000), traces[i]);
        }
    }

    #[test]
    fn traces_are_well_formed_and_realistic() {
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        let mut total_spans = 0usize;
        let mut max_spans = 0usize;
        let mut services = HashSet::new();
        let traces = 2_000;
        for i in 0..traces {
            let trace = generator.next_trace(1_700_000_000_000_000_000 + i * 1_000_000);
            let ids: HashSet<SpanId> = trace.iter().map(|span| span.span_id).collect();
            assert_eq!(ids.len(), trace.len(), "span ids are unique");
            assert_eq!(
                trace
                    .iter()
                    .filter(|span| span.parent_span_id.is_none())
                    .count(),
                1
            );
            for span in &trace {
                if let Some(parent) = span.parent_span_id {
                    assert!(ids.contains(&parent), "parent is in the trace");
                    let parent_span = trace.iter().find(|p| p.span_id == parent).expect("parent");
                    assert!(span.start_unix_nanos >= parent_span.start_unix_nanos);
                    assert!(span.end_unix_nanos() <= parent_span.end_unix_nanos());
                }
                assert!(span.duration_nanos > 0);
                services.extend(span.service_name().map(str::to_owned));
            }
            total_spans += trace.len();
            max_spans = max_spans.max(trace.len());
        }
        let average = total_spans as f64 / traces as f64;
        assert!(
            (10.0..=30.0).contains(&average),
            "average spans per trace {average}"
        );
        assert!(max_spans >= 60, "fan-out is heavy-tailed: max {max_spans}");
        assert!(services.len() >= 15, "many services: {}", services.len());
    }
}
