//! `weft agent`: pull collection for applications in any language, with no code change.
//!
//! An application pushes spans as it already does (OTLP gRPC or HTTP, Zipkin, Jaeger) to
//! an agent on its own host; the agent keeps them in the same byte-bounded
//! [`weft_client::RingBuffer`] the Rust client library uses and serves them on the scrape
//! endpoint of `docs/pull-protocol.md`, where weft's scrapers pull them with their own
//! cursors. The backend, not the application, then decides where spans go and when, and
//! labels them with the target's identity from service discovery.
//!
//! [`RingSink`] is the [`SpanSink`] the agent's receivers hand batches to: each span is
//! encoded once to OTLP protobuf and pushed into the ring; a push never waits, and when
//! the ring is full the oldest spans are evicted and counted (scrapers see the count as
//! `Weft-Dropped`). The listeners themselves are wired in `weft-app`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use weft_client::{EncodedResource, EncodedScope, EncodedSpan, RingBuffer, ScrapeHandler};
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

/// Counter of spans taken into the ring.
pub const SPANS_BUFFERED_TOTAL: &str = "weft_agent_spans_buffered_total";
/// Counter of spans refused because one span alone exceeds the ring.
pub const SPANS_REFUSED_TOTAL: &str = "weft_agent_spans_refused_total";

/// The ring and its scrape endpoint: the `agent.buffer` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Most bytes of encoded spans held (default 64 MiB); the oldest are evicted first.
    pub max_bytes: u64,
    /// Most bytes in one scrape answer (default 4 MiB); a scraper asking for more gets
    /// this much and comes back for the rest.
    pub max_response_bytes: u64,
    /// The scrape endpoint's path (default `/weft/spans`).
    pub path: String,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            max_bytes: 64 * 1024 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
            path: String::from("/weft/spans"),
        }
    }
}

impl BufferConfig {
    /// The ring these settings describe.
    pub fn ring(&self) -> Arc<RingBuffer> {
        Arc::new(RingBuffer::new(
            usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
        ))
    }

    /// The scrape endpoint over `ring`, at `path`.
    pub fn router(&self, ring: Arc<RingBuffer>) -> axum::Router {
        let handler = ScrapeHandler::new(ring).with_max_response_bytes(self.max_response_bytes);
        weft_client::axum::router_at(&self.path, handler)
    }
}

/// Pushes every span it is given into the ring. Tenants are not kept apart: an agent
/// serves one host's applications.
#[derive(Debug)]
pub struct RingSink {
    ring: Arc<RingBuffer>,
}

impl RingSink {
    /// A sink filling `ring`.
    pub fn new(ring: Arc<RingBuffer>) -> RingSink {
        RingSink { ring }
    }
}

#[async_trait]
impl SpanSink for RingSink {
    async fn push(&self, _tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        let mut outcome = PushOutcome::default();
        for resource_spans in weft_codec::otlp::to_resource_spans(&batch.spans) {
            let resource = Arc::new(EncodedResource::new(
                resource_spans.resource,
                resource_spans.schema_url,
            ));
            for scope_spans in resource_spans.scope_spans {
                let scope = Arc::new(EncodedScope::new(
                    resource.clone(),
                    scope_spans.scope,
                    scope_spans.schema_url,
                ));
                for span in &scope_spans.spans {
                    match self.ring.push(EncodedSpan::new(scope.clone(), span)) {
                        Ok(_) => outcome.accepted_spans += 1,
                        Err(error) => {
                            outcome.rejected_spans += 1;
                            if outcome.rejection_message.is_empty() {
                                outcome.rejection_message = error.to_string();
                            }
                        }
                    }
                }
            }
        }
        metrics::counter!(SPANS_BUFFERED_TOTAL).increment(outcome.accepted_spans);
        if outcome.rejected_spans > 0 {
            metrics::counter!(SPANS_REFUSED_TOTAL).increment(outcome.rejected_spans);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use weft_model::{Resource, Span, SpanId, TraceId};

    use super::*;

    fn span(service: &str, id: u64) -> Span {
        let mut span = Span::new(
            TraceId::from_halves(7, 9),
            SpanId::from_u64(id),
            "GET /cart",
        );
        span.resource = Arc::new(Resource::for_service(service));
        span.start_unix_nanos = 1_700_000_000_000_000_000 + id;
        span.duration_nanos = 1_000;
        span
    }

    #[tokio::test]
    async fn pushed_spans_come_back_from_a_scrape_grouped_by_resource() {
        let config = BufferConfig::default();
        let ring = config.ring();
        let sink = RingSink::new(ring.clone());
        let batch = SpanBatch::from(vec![span("api", 1), span("db", 2), span("api", 3)]);
        let outcome = sink.push(&TenantId::single(), batch).await.expect("push");
        assert_eq!(outcome.accepted_spans, 3);

        let read = ring.read(None, config.max_response_bytes);
        assert_eq!((read.first_sequence, read.next_sequence), (0, 3));
        let request =
            ExportTraceServiceRequest::decode(read.encode_export_request()).expect("decodes");
        let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| resource.attributes.first())
                .and_then(|attribute| attribute.value.as_ref())
                .map(|value| format!("{:?}", value.value))
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    seen.push((service.clone(), span.span_id.clone()));
                }
            }
        }
        assert_eq!(seen.len(), 3);
        assert!(
            seen.iter()
                .filter(|(service, _)| service.contains("api"))
                .count()
                == 2
        );
    }

    #[tokio::test]
    async fn a_span_larger_than_the_ring_is_refused_and_counted() {
        let ring = Arc::new(RingBuffer::new(256));
        let sink = RingSink::new(ring);
        let mut big = span("api", 1);
        big.name = "x".repeat(1_000);
        let outcome = sink
            .push(
                &TenantId::single(),
                SpanBatch::from(vec![big, span("api", 2)]),
            )
            .await
            .expect("push");
        assert_eq!((outcome.accepted_spans, outcome.rejected_spans), (1, 1));
        assert!(
            outcome.rejection_message.contains("exceeds"),
            "{}",
            outcome.rejection_message
        );
    }
}
