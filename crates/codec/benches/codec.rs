//! Codec throughput on a realistic synthetic request: 1000 spans over 5 services and 2
//! scopes each, 128-bit random-looking ids, 8 semantic-convention attributes per span,
//! an event on every tenth span.
//!
//! `cargo bench -p weft-codec --bench codec`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use prost::Message;
use weft_codec::{otlp, zipkin};

const SPAN_COUNT: usize = 1000;

/// SplitMix64, so the corpus is the same on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut mixed = *state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn synthetic_request() -> ExportTraceServiceRequest {
    let mut state = 42u64;
    let services = ["frontend", "checkout", "cart", "payments", "inventory"];
    let per_scope = SPAN_COUNT / (services.len() * 2);
    let resource_spans = services
        .iter()
        .map(|service| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", Value::StringValue((*service).to_owned())),
                    attribute("service.version", Value::StringValue("1.4.2".to_owned())),
                    attribute(
                        "host.name",
                        Value::StringValue(format!("{service}-7d9f8-x2x4q")),
                    ),
                ],
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: ["io.opentelemetry.http", "io.opentelemetry.jdbc"]
                .iter()
                .map(|scope| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: (*scope).to_owned(),
                        version: "2.1.0".to_owned(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                    }),
                    spans: (0..per_scope)
                        .map(|index| {
                            let trace = next(&mut state);
                            let start =
                                1_700_000_000_000_000_000 + next(&mut state) % 1_000_000_000_000;
                            Span {
                                trace_id: [trace.to_be_bytes(), next(&mut state).to_be_bytes()]
                                    .concat(),
                                span_id: next(&mut state).to_be_bytes().to_vec(),
                                trace_state: String::new(),
                                parent_span_id: next(&mut state).to_be_bytes().to_vec(),
                                flags: 1,
                                name: format!("GET /api/v1/items/{{id}}/{}", index % 7),
                                kind: 2 + (index % 2) as i32,
                                start_time_unix_nano: start,
                                end_time_unix_nano: start + next(&mut state) % 50_000_000,
                                attributes: vec![
                                    attribute(
                                        "http.request.method",
                                        Value::StringValue("GET".to_owned()),
                                    ),
                                    attribute(
                                        "http.route",
                                        Value::StringValue("/api/v1/items/{id}".to_owned()),
                                    ),
                                    attribute("http.response.status_code", Value::IntValue(200)),
                                    attribute("url.scheme", Value::StringValue("https".to_owned())),
                                    attribute(
                                        "server.address",
                                        Value::StringValue("items.internal".to_owned()),
                                    ),
                                    attribute("server.port", Value::IntValue(8443)),
                                    attribute(
                                        "network.peer.address",
                                        Value::StringValue("10.1.2.3".to_owned()),
                                    ),
                                    attribute(
                                        "user_agent.original",
                                        Value::StringValue("okhttp/4.12.0".to_owned()),
                                    ),
                                ],
                                dropped_attributes_count: 0,
                                events: if index % 10 == 0 {
                                    vec![Event {
                                        time_unix_nano: start + 1000,
                                        name: "exception".to_owned(),
                                        attributes: vec![attribute(
                                            "exception.type",
                                            Value::StringValue("java.io.IOException".to_owned()),
                                        )],
                                        dropped_attributes_count: 0,
                                    }]
                                } else {
                                    Vec::new()
                                },
                                dropped_events_count: 0,
                                links: Vec::new(),
                                dropped_links_count: 0,
                                status: Some(Status {
                                    message: String::new(),
                                    code: if index % 10 == 0 { 2 } else { 0 },
                                }),
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn benches(criterion: &mut Criterion) {
    let request = synthetic_request();
    let proto_bytes = request.encode_to_vec();
    let spans = otlp::from_request(request.clone()).batch.spans;
    assert_eq!(spans.len(), SPAN_COUNT);
    let otlp_json = otlp::encode_json(&spans);
    let zipkin_json = zipkin::encode_v2_json(&spans);

    let mut group = criterion.benchmark_group("codec_1000_spans");
    group.throughput(Throughput::Elements(SPAN_COUNT as u64));
    group.bench_function("otlp_decode_proto", |bench| {
        bench.iter(|| otlp::decode_proto(black_box(&proto_bytes)))
    });
    group.bench_function("otlp_from_request", |bench| {
        bench.iter_batched(
            || request.clone(),
            otlp::from_request,
            criterion::BatchSize::LargeInput,
        )
    });
    group.bench_function("otlp_decode_json", |bench| {
        bench.iter(|| otlp::decode_json(black_box(&otlp_json)))
    });
    group.bench_function("otlp_to_resource_spans", |bench| {
        bench.iter(|| otlp::to_resource_spans(black_box(&spans)))
    });
    group.bench_function("otlp_encode_json", |bench| {
        bench.iter(|| otlp::encode_json(black_box(&spans)))
    });
    group.bench_function("zipkin_decode_v2_json", |bench| {
        bench.iter(|| zipkin::decode_v2_json(black_box(&zipkin_json)))
    });
    group.bench_function("zipkin_encode_v2_json", |bench| {
        bench.iter(|| zipkin::encode_v2_json(black_box(&spans)))
    });
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
