//! The OpenTelemetry SDK span processor that feeds the ring buffer.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::encode::{EncodedResource, EncodedScope, EncodedSpan};
use crate::ring::RingBuffer;

/// Distinct instrumentation scopes whose encoding is cached; past this, spans of new
/// scopes are encoded with an uncached scope (correct, grouped less tightly).
const MAX_CACHED_SCOPES: usize = 1024;

/// A [`SpanProcessor`] that encodes every finished, sampled span to OTLP protobuf and
/// pushes it into a [`RingBuffer`] for scrapers to pull.
///
/// `on_end` does the encoding on the thread that ended the span (no background thread,
/// no export): one conversion to the OTLP `Span` message, one protobuf encoding and one
/// short lock of the ring. Spans that are not sampled are ignored. The resource comes
/// from the tracer provider ([`SpanProcessor::set_resource`]). Spans the ring refuses
/// (larger than its whole capacity) are counted by the ring and otherwise dropped.
#[derive(Debug)]
pub struct RingBufferSpanProcessor {
    ring: Arc<RingBuffer>,
    resource: Arc<EncodedResource>,
    scopes: RwLock<HashMap<InstrumentationScope, Arc<EncodedScope>>>,
}

impl RingBufferSpanProcessor {
    /// A processor pushing into `ring`.
    pub fn new(ring: Arc<RingBuffer>) -> Self {
        Self {
            ring,
            resource: Arc::new(EncodedResource::empty()),
            scopes: RwLock::new(HashMap::new()),
        }
    }

    /// The ring this processor pushes into.
    pub fn ring(&self) -> &Arc<RingBuffer> {
        &self.ring
    }

    fn encoded_scope(&self, scope: &InstrumentationScope) -> Arc<EncodedScope> {
        if let Some(encoded) = self
            .scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(scope)
        {
            return Arc::clone(encoded);
        }
        let encoded = Arc::new(EncodedScope::new(
            Arc::clone(&self.resource),
            Some((scope, None).into()),
            scope.schema_url().unwrap_or_default().to_owned(),
        ));
        let mut scopes = self.scopes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = scopes.get(scope) {
            return Arc::clone(existing);
        }
        if scopes.len() < MAX_CACHED_SCOPES {
            scopes.insert(scope.clone(), Arc::clone(&encoded));
        }
        encoded
    }
}

impl SpanProcessor for RingBufferSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let scope = self.encoded_scope(&span.instrumentation_scope);
        let proto_span = ProtoSpan::from(span);
        // A refused span is already counted by the ring (Weft-Dropped-Total); there is
        // nobody to return the error to from `on_end`.
        let _refused = self.ring.push(EncodedSpan::new(scope, &proto_span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let with_schema = ResourceAttributesWithSchema::from(resource);
        self.resource = Arc::new(EncodedResource::new(
            Some(ProtoResource {
                attributes: with_schema.attributes.0,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            with_schema.schema_url.unwrap_or_default(),
        ));
        // Cached scopes point at the old resource.
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
