//! Makes tonic's own answer to an oversize gRPC message follow OTLP (and grpc-go, which
//! the Jaeger collector is written with).
//!
//! tonic refuses a message whose length on the wire is over `max_decoding_message_size`
//! with OUT_OF_RANGE before our handler runs (a gzip message's inflated length is held to
//! the same limit by the services themselves as it inflates, answered
//! RESOURCE_EXHAUSTED). OTLP lists OUT_OF_RANGE among the retryable codes, so exporters
//! would resend the same oversize batch forever. grpc-go (and so the OpenTelemetry
//! Collector and Jaeger's collector) answers RESOURCE_EXHAUSTED, which without a
//! RetryInfo detail OTLP clients do not retry; this wrapper rewrites the status to that
//! and counts the rejection under the wrapped service's protocol.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderValue;
use tonic::server::NamedService;

use crate::counters::{self, Protocol};

/// tonic's message for a message over the decoding limit contains this, percent-encoded
/// as tonic sends `grpc-message` (spaces as `%20`).
const TONIC_TOO_LARGE_ENCODED: &str = "decoded%20message%20length%20too%20large";
/// grpc-status of OUT_OF_RANGE and RESOURCE_EXHAUSTED.
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

/// A gRPC service whose oversize-message answers are rewritten (see the module docs).
#[derive(Debug, Clone)]
pub struct OversizeAsResourceExhausted<S> {
    inner: S,
    protocol: Protocol,
}

impl<S> OversizeAsResourceExhausted<S> {
    /// Wraps `inner`; rewritten answers are counted as rejected `protocol` requests with
    /// reason `too_large`.
    pub fn new(inner: S, protocol: Protocol) -> Self {
        OversizeAsResourceExhausted { inner, protocol }
    }
}

impl<S: NamedService> NamedService for OversizeAsResourceExhausted<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, RequestBody, ResponseBody> tower_service::Service<http::Request<RequestBody>>
    for OversizeAsResourceExhausted<S>
where
    S: tower_service::Service<
            http::Request<RequestBody>,
            Response = http::Response<ResponseBody>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let future = self.inner.call(request);
        let protocol = self.protocol;
        Box::pin(async move {
            let mut response = future.await?;
            if rewrite_oversize(response.headers_mut()) {
                counters::record_request_rejected(protocol, "too_large");
            }
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only OUT_OF_RANGE answer about message size to RESOURCE_EXHAUSTED;
/// true when it did.
fn rewrite_oversize(headers: &mut http::HeaderMap) -> bool {
    let is_out_of_range = headers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == OUT_OF_RANGE.as_bytes());
    let is_size_limit = headers.get("grpc-message").is_some_and(|message| {
        let text = String::from_utf8_lossy(message.as_bytes());
        text.contains(TONIC_TOO_LARGE_ENCODED) || text.contains("decoded message length too large")
    });
    if is_out_of_range && is_size_limit {
        headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(status: &'static str, message: &'static str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        headers
    }

    #[test]
    fn tonic_size_refusal_becomes_resource_exhausted() {
        // as tonic 0.14 sends it: "Error, decoded message length too large: ..." encoded
        let mut map = headers(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%209%20bytes",
        );
        assert!(rewrite_oversize(&mut map));
        assert_eq!(map["grpc-status"], "8");
    }

    #[test]
    fn other_out_of_range_answers_are_left_alone() {
        let mut map = headers("11", "something else");
        assert!(!rewrite_oversize(&mut map));
        assert_eq!(map["grpc-status"], "11");
        let mut map = headers("3", "decoded message length too large");
        assert!(!rewrite_oversize(&mut map));
        assert_eq!(map["grpc-status"], "3");
    }
}
