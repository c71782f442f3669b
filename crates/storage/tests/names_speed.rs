//! Cost of collecting names on the ingester's push path ([`NameCollector`]), per span.
//! Ignored by default; run with
//! `cargo test --profile ci -p weft-storage --test names_speed -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use weft_model::{CatalogLimits, KeyValue, NameIndex, Resource, Span, SpanId, SpanKind, TraceId};
use weft_storage::NameCollector;

const BATCHES: usize = 400;
const TRACES_PER_BATCH: u64 = 50;
const SPANS_PER_TRACE: u64 = 20;

/// Batches like the ingester's throughput test: semantic-convention attributes, a few
/// services, ids that vary per trace.
fn batches() -> Vec<Vec<Span>> {
    (0..BATCHES)
        .map(|batch| {
            let mut resource = Resource::for_service(format!("service-{}", batch % 7));
            resource
                .attributes
                .push(KeyValue::new("host.name", "host-1"));
            resource
                .attributes
                .push(KeyValue::new("telemetry.sdk.language", "rust"));
            let resource = Arc::new(resource);
            let mut spans = Vec::new();
            for trace in 0..TRACES_PER_BATCH {
                let trace_number = batch as u64 * TRACES_PER_BATCH + trace;
                for id in 1..=SPANS_PER_TRACE {
                    let mut span = Span::new(
                        TraceId::from_halves(7, trace_number),
                        SpanId::from_u64(id),
                        format!("GET /api/{}", id % 5),
                    );
                    span.kind = if id == 1 {
                        SpanKind::Server
                    } else {
                        SpanKind::Client
                    };
                    span.attributes = vec![
                        KeyValue::new("http.request.method", "GET"),
                        KeyValue::new("http.route", "/api/items/{id}"),
                        KeyValue::new("http.response.status_code", 200i64),
                        KeyValue::new("server.address", "backend.internal"),
                        KeyValue::new("url.path", format!("/api/items/{}", id % 50)),
                        KeyValue::new("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                    ];
                    span.resource = resource.clone();
                    spans.push(span);
                }
            }
            spans
        })
        .collect()
}

#[test]
#[ignore = "a measurement, not a check"]
fn name_collection_cost_per_span() {
    let batches = batches();
    let keys = vec![String::from("http.request.method")];
    let spans = (BATCHES as u64 * TRACES_PER_BATCH * SPANS_PER_TRACE) as f64;
    let off = CatalogLimits {
        max_keys_per_scope: 0,
        ..CatalogLimits::default()
    };
    let rounds = [off, CatalogLimits::default()].into_iter().cycle().take(8);
    for (round, limits) in rounds.enumerate() {
        let mut names = NameIndex::default();
        let started = Instant::now();
        for batch in &batches {
            let mut collector = NameCollector::new(&keys, limits);
            for span in batch {
                collector.add_span(span);
            }
            collector.merge_into(&mut names);
        }
        let nanos = started.elapsed().as_nanos() as f64;
        let catalog = if limits.max_keys_per_scope == 0 {
            "off"
        } else {
            "on"
        };
        println!(
            "round {round}, catalog {catalog}: {:.1} ns per span",
            nanos / spans
        );
    }
}
