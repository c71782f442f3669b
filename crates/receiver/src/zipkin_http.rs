//! Zipkin HTTP ingest, routed by path and `Content-Type` as Zipkin's own collector does:
//!
//! | path | `Content-Type` | format |
//! |---|---|---|
//! | `POST /api/v2/spans`, `POST /` | none or `application/json` | v2 JSON |
//! | `POST /api/v2/spans`, `POST /` | `application/x-protobuf` | v2 proto3 `ListOfSpans` |
//! | `POST /api/v1/spans` | none or `application/json` | v1 JSON |
//! | `POST /api/v1/spans` | `application/x-thrift` | v1 Thrift (TBinaryProtocol `list<Span>`) |
//!
//! - Any other content type is 415 naming what the path accepts (Zipkin has no route for
//!   it either): Thrift is taken only on v1 and protobuf only on v2.
//! - Formats are not guessed across versions. As in Zipkin, v1 JSON posted to v2 is 400
//!   `Expected a JSON_V2 encoded list, but received: JSON_V1`, and v2 JSON posted to v1
//!   (a body containing `Endpoint"` or `"tags"`) is 400
//!   `Expected a JSON_V1 encoded list, but received: JSON_V2`.
//! - `Content-Encoding: gzip` is accepted for every format; the body is held to
//!   `max_request_bytes` before and after gunzip (413 over it), and its spans are counted
//!   before decoding (413 over the context's `max_spans_per_request`). Reading and
//!   decoding are charged to the in-flight budget (429 with `Retry-After` when full).
//! - Success is 202 with an empty body; an empty body (or `[]` in JSON) is a success that
//!   stores nothing.
//! - Errors are plain text, Zipkin style, with the status of [`ReceiveError::class`]
//!   (decode errors 400, overload 429 with `Retry-After`, ...). Spans partly refused by
//!   the sink are 400 `stored N of M spans; rejected M-N: <reason>`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use weft_codec::DecodeError;
use weft_model::SpanBatch;

use crate::body;
use crate::context::ReceiverContext;
use crate::counters::Protocol;
use crate::error::ReceiveError;
use crate::ingest::SpanFormat;
use crate::span_count;
use crate::text_http;

/// The Zipkin v2 ingest path.
pub const SPANS_V2_PATH: &str = "/api/v2/spans";
/// The Zipkin v1 ingest path.
pub const SPANS_V1_PATH: &str = "/api/v1/spans";

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/x-protobuf";
const THRIFT: &str = "application/x-thrift";

/// Zipkin's message when a v2 JSON body arrives on the v1 path.
const V2_ON_V1_MESSAGE: &str = "Expected a JSON_V1 encoded list, but received: JSON_V2";

/// A Zipkin body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V2Json,
    V2Proto,
    V1Json,
    V1Thrift,
}

impl Format {
    fn protocol(self) -> Protocol {
        match self {
            Format::V2Json => Protocol::ZipkinV2Json,
            Format::V2Proto => Protocol::ZipkinV2Proto,
            Format::V1Json => Protocol::ZipkinV1Json,
            Format::V1Thrift => Protocol::ZipkinV1Thrift,
        }
    }
}

impl SpanFormat for Format {
    type Decoded = SpanBatch;

    fn count_spans(self, payload: &[u8]) -> Result<u64, DecodeError> {
        match self {
            Format::V2Json | Format::V1Json => span_count::zipkin_json(payload),
            Format::V2Proto => span_count::zipkin_proto(payload),
            Format::V1Thrift => span_count::zipkin_thrift(payload),
        }
    }

    fn decode(self, payload: &[u8]) -> Result<SpanBatch, DecodeError> {
        match self {
            Format::V2Json => weft_codec::zipkin::decode_v2_json(payload),
            Format::V2Proto => weft_codec::zipkin::decode_v2_proto(payload),
            Format::V1Json => {
                if looks_like_v2_json(payload) {
                    return Err(DecodeError::new(V2_ON_V1_MESSAGE));
                }
                weft_codec::zipkin_v1::decode_json(payload)
            }
            Format::V1Thrift => weft_codec::zipkin_v1::decode_thrift(payload),
        }
    }
}

/// The Zipkin ingest router: `POST /api/v2/spans`, `POST /` and `POST /api/v1/spans`,
/// answered as described in the module documentation. Spans go to the context's sink for
/// the request's tenant (`X-Scope-OrgID` when multi-tenancy is on).
pub fn zipkin_ingest_router(context: &ReceiverContext) -> Router {
    Router::new()
        .route(SPANS_V2_PATH, post(post_spans_v2))
        .route("/", post(post_spans_v2))
        .route(SPANS_V1_PATH, post(post_spans_v1))
        .with_state(Arc::new(context.clone()))
}

async fn post_spans_v2(State(context): State<Arc<ReceiverContext>>, request: Request) -> Response {
    let format = match body::media_type(request.headers()).as_deref() {
        None | Some(JSON) => Format::V2Json,
        Some(PROTOBUF) => Format::V2Proto,
        Some(THRIFT) => {
            return unsupported(format!(
                "zipkin thrift ({THRIFT}) is accepted only on POST {SPANS_V1_PATH}; \
                 {SPANS_V2_PATH} accepts {JSON}, {PROTOBUF}"
            ));
        }
        Some(other) => {
            return unsupported(format!(
                "unsupported content type {other:?}; accepted: {JSON}, {PROTOBUF}"
            ));
        }
    };
    receive_and_answer(&context, format, request).await
}

async fn post_spans_v1(State(context): State<Arc<ReceiverContext>>, request: Request) -> Response {
    let format = match body::media_type(request.headers()).as_deref() {
        None | Some(JSON) => Format::V1Json,
        Some(THRIFT) => Format::V1Thrift,
        Some(PROTOBUF) => {
            return unsupported(format!(
                "zipkin protobuf ({PROTOBUF}) is accepted only on POST {SPANS_V2_PATH}; \
                 {SPANS_V1_PATH} accepts {JSON}, {THRIFT}"
            ));
        }
        Some(other) => {
            return unsupported(format!(
                "unsupported content type {other:?}; accepted: {JSON}, {THRIFT}"
            ));
        }
    };
    receive_and_answer(&context, format, request).await
}

fn unsupported(message: String) -> Response {
    text_http::failure(
        Protocol::ZipkinUnknown,
        &ReceiveError::UnsupportedMediaType(message),
    )
}

async fn receive_and_answer(
    context: &ReceiverContext,
    format: Format,
    request: Request,
) -> Response {
    let protocol = format.protocol();
    let result = text_http::receive(context, protocol, request, format).await;
    text_http::answer(protocol, result)
}

/// Zipkin's test for a v2 list posted to the v1 path: v2 endpoints are objects named
/// `localEndpoint`/`remoteEndpoint` and v2 tags a `tags` object, neither of which v1 has.
/// Like Zipkin's, it is a byte search, so a v1 value containing `"tags"` also trips it.
fn looks_like_v2_json(payload: &[u8]) -> bool {
    contains(payload, b"Endpoint\"") || contains(payload, b"\"tags\"")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_json_markers_are_detected_and_v1_json_passes() {
        let v2 = br#"[{"traceId":"1","id":"1","localEndpoint":{"serviceName":"a"}}]"#;
        assert!(looks_like_v2_json(v2));
        let v2_tags = br#"[{"traceId":"1","id":"1","tags":{"a":"b"}}]"#;
        assert!(looks_like_v2_json(v2_tags));
        let v1 = br#"[{"traceId":"1","id":"1","name":"x","annotations":[{"timestamp":1,"value":"sr","endpoint":{"serviceName":"a"}}],"binaryAnnotations":[]}]"#;
        assert!(!looks_like_v2_json(v1));
        assert!(!looks_like_v2_json(b""));
    }
}
