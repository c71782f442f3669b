//! Span fixtures shared by the integration tests.

#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use weft_client::{EncodedResource, EncodedScope, EncodedSpan};

/// A scope under an empty resource.
pub fn scope(name: &str) -> Arc<EncodedScope> {
    Arc::new(EncodedScope::new(
        Arc::new(EncodedResource::empty()),
        Some(InstrumentationScope {
            name: name.to_owned(),
            ..Default::default()
        }),
        String::new(),
    ))
}

/// A span whose name is `span-<number>` and whose encoding is padded by `padding_bytes`.
pub fn numbered_span(scope: &Arc<EncodedScope>, number: u64, padding_bytes: usize) -> EncodedSpan {
    EncodedSpan::new(
        Arc::clone(scope),
        &Span {
            trace_id: number.to_be_bytes().repeat(2),
            span_id: number.to_be_bytes().to_vec(),
            name: format!("span-{number}"),
            trace_state: "p".repeat(padding_bytes),
            ..Default::default()
        },
    )
}

/// The number in each span name of a decoded body, in body order.
pub fn span_numbers(body: Bytes) -> Vec<u64> {
    let request = ExportTraceServiceRequest::decode(body).expect("body decodes as OTLP");
    request
        .resource_spans
        .iter()
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .flat_map(|scope_spans| &scope_spans.spans)
        .map(|span| {
            span.name
                .strip_prefix("span-")
                .and_then(|number| number.parse().ok())
                .expect("numbered span name")
        })
        .collect()
}
