//! The SDK processor end to end: tracer -> spans -> ring -> scrape body decoded.

use std::sync::Arc;

use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use prost::Message;
use weft_client::{RingBuffer, RingBufferSpanProcessor, ScrapeHandler};

fn string_attribute<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(value) => Some(value.as_str()),
                _ => None,
            },
        )
}

#[test]
fn finished_sampled_spans_reach_the_scrape_body_grouped_by_scope() {
    let ring = Arc::new(RingBuffer::new(1 << 20));
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("checkout")
                .with_attribute(KeyValue::new("deployment.environment", "test"))
                .build(),
        )
        .with_span_processor(RingBufferSpanProcessor::new(Arc::clone(&ring)))
        .build();
    let http_tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("http")
            .with_version("1.2.3")
            .build(),
    );
    let db_tracer = provider.tracer("db");

    let (root_trace_id, root_span_id) = http_tracer.in_span("GET /cart", |cx| {
        db_tracer.in_span("SELECT cart", |cx| {
            cx.span()
                .set_attribute(KeyValue::new("db.system", "postgresql"));
        });
        let mut failing = db_tracer.start("UPDATE cart");
        failing.set_status(Status::error("deadlock"));
        failing.end();
        let span_context = cx.span().span_context().clone();
        (span_context.trace_id(), span_context.span_id())
    });

    let response = ScrapeHandler::new(Arc::clone(&ring)).scrape("");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("weft-cursor-first"), Some("0"));
    assert_eq!(response.header("weft-cursor-next"), Some("3"));
    let request = ExportTraceServiceRequest::decode(response.body).expect("decodes");
    assert_eq!(request.resource_spans.len(), 1);
    let resource_spans = &request.resource_spans[0];
    let resource = resource_spans.resource.as_ref().expect("resource");
    assert_eq!(
        string_attribute(&resource.attributes, "service.name"),
        Some("checkout")
    );
    assert_eq!(
        string_attribute(&resource.attributes, "deployment.environment"),
        Some("test")
    );

    // Spans end child first: SELECT, UPDATE (db scope), then GET (http scope).
    let scopes: Vec<(&str, &str, Vec<&str>)> = resource_spans
        .scope_spans
        .iter()
        .map(|scope_spans| {
            let scope = scope_spans.scope.as_ref().expect("scope");
            (
                scope.name.as_str(),
                scope.version.as_str(),
                scope_spans
                    .spans
                    .iter()
                    .map(|span| span.name.as_str())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        vec![
            ("db", "", vec!["SELECT cart", "UPDATE cart"]),
            ("http", "1.2.3", vec!["GET /cart"]),
        ]
    );
    let db_spans = &resource_spans.scope_spans[0].spans;
    let root = &resource_spans.scope_spans[1].spans[0];
    assert_eq!(root.trace_id, root_trace_id.to_bytes().to_vec());
    assert_eq!(root.span_id, root_span_id.to_bytes().to_vec());
    assert!(root.parent_span_id.is_empty());
    assert_eq!(db_spans[0].parent_span_id, root_span_id.to_bytes().to_vec());
    assert_eq!(db_spans[0].trace_id, root.trace_id);
    assert_eq!(
        string_attribute(&db_spans[0].attributes, "db.system"),
        Some("postgresql")
    );
    let status = db_spans[1].status.as_ref().expect("status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "deadlock");
    assert!(root.end_time_unix_nano >= root.start_time_unix_nano);
    assert!(root.start_time_unix_nano > 0);
}

#[test]
fn spans_that_are_not_sampled_are_not_buffered() {
    let ring = Arc::new(RingBuffer::new(1 << 20));
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .with_span_processor(RingBufferSpanProcessor::new(Arc::clone(&ring)))
        .build();
    provider.tracer("t").in_span("ignored", |_cx| {});
    assert_eq!(ring.stats().next_sequence, 0);
}
