//! Jaeger collector HTTP: `POST /api/traces` with one binary-Thrift `jaeger.Batch`, as
//! jaeger-client's `HttpSender` and the OpenTelemetry Jaeger Thrift HTTP exporter send it.
//!
//! - `Content-Type: application/x-thrift` or `application/vnd.apache.thrift.binary`
//!   (parameters ignored); anything else, or none, is 415 naming the accepted types.
//!   (Jaeger's collector answers 400 there; no client depends on it.)
//! - `Content-Encoding: gzip` is accepted; the body is held to `max_request_bytes`
//!   before and after gunzip (413 over it), and its spans are counted before decoding
//!   (413 over the context's `max_spans_per_request`). Reading and decoding are charged
//!   to the in-flight budget (429 with `Retry-After` when full). A query string
//!   (`?format=jaeger.thrift`) is ignored.
//! - Success is 202 Accepted with an empty body, as Jaeger answers; an empty body stores
//!   nothing and is 202 too.
//! - Errors are plain text with the status of [`ReceiveError::class`]: a body that is not
//!   a valid `Batch` is 400 with the decoder's reason, overload 429 with `Retry-After`,
//!   spans partly refused by the sink 400 `stored N of M spans; rejected M-N: <reason>`.
//! - The tenant is `X-Scope-OrgID` when multi-tenancy is on, as on every listener.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;

use crate::body;
use crate::context::ReceiverContext;
use crate::counters::Protocol;
use crate::error::ReceiveError;
use crate::ingest::FormatFns;
use crate::span_count;
use crate::text_http;

/// The Jaeger collector's HTTP ingest path.
pub const TRACES_PATH: &str = "/api/traces";

const THRIFT: &str = "application/x-thrift";
const THRIFT_BINARY: &str = "application/vnd.apache.thrift.binary";

/// The Jaeger collector HTTP router: `POST /api/traces`, answered as described in the
/// module documentation. Spans go to the context's sink for the request's tenant.
pub fn jaeger_collector_http_router(context: &ReceiverContext) -> Router {
    Router::new()
        .route(TRACES_PATH, post(post_traces))
        .with_state(Arc::new(context.clone()))
}

async fn post_traces(State(context): State<Arc<ReceiverContext>>, request: Request) -> Response {
    match body::media_type(request.headers()).as_deref() {
        Some(THRIFT | THRIFT_BINARY) => {}
        other => {
            let sent = other.map_or_else(|| String::from("no content type"), |t| format!("{t:?}"));
            let error = ReceiveError::UnsupportedMediaType(format!(
                "unsupported content type {sent}; accepted: {THRIFT}, {THRIFT_BINARY}"
            ));
            return text_http::failure(Protocol::JaegerHttpUnknown, &error);
        }
    }
    let protocol = Protocol::JaegerHttpThrift;
    let format = FormatFns {
        count_spans: span_count::jaeger_thrift_batch,
        decode: weft_codec::jaeger::decode_batch_binary,
    };
    let result = text_http::receive(&context, protocol, request, format).await;
    text_http::answer(protocol, result)
}
