//! Zipkin HTTP ingest: `POST /api/v2/spans` (and `POST /`, which some reporters use).
//!
//! - No `Content-Type`, or `application/json`: Zipkin v2 JSON. `application/x-protobuf`
//!   and `application/x-thrift` are 415 "not supported yet", as is `POST /api/v1/spans`
//!   (Zipkin v1). Any other content type is 415.
//! - `Content-Encoding: gzip` is accepted; the body is held to `max_request_bytes`
//!   before and after gunzip (413 over it).
//! - Success is 202 with an empty body; an empty body or `[]` is a success that stores
//!   nothing.
//! - Errors are plain text, Zipkin style, with the status of [`ReceiveError::class`]
//!   (decode errors 400, overload 429 with `Retry-After`, ...).
//! - When the sink stores only some spans (per-span limits), the answer is 400 with
//!   `stored N of M spans; rejected M-N: <reason>`. Zipkin has no partial-success
//!   answer, and a 2xx would tell the reporter that every span was kept.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use weft_model::{PushOutcome, SpanSink};

use crate::body::{self, ContentEncoding};
use crate::config::ReceiverConfig;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::ingest::{self, Decoded};

/// The Zipkin v2 ingest path.
pub const SPANS_V2_PATH: &str = "/api/v2/spans";
/// The Zipkin v1 ingest path (answered 415 until v1 is supported).
pub const SPANS_V1_PATH: &str = "/api/v1/spans";

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

#[derive(Clone)]
struct ZipkinState {
    sink: Arc<dyn SpanSink>,
    max_request_bytes: usize,
    multitenancy_enabled: bool,
}

/// The Zipkin ingest router: `POST /api/v2/spans`, `POST /` and `POST /api/v1/spans`,
/// answered as described in the module documentation. Spans go to `sink` for the
/// request's tenant (`X-Scope-OrgID` when multi-tenancy is on).
pub fn zipkin_ingest_router(sink: Arc<dyn SpanSink>, config: ReceiverConfig) -> Router {
    let state = ZipkinState {
        sink,
        max_request_bytes: config.max_request_bytes_usize(),
        multitenancy_enabled: config.multitenancy_enabled,
    };
    Router::new()
        .route(SPANS_V2_PATH, post(post_spans_v2))
        .route("/", post(post_spans_v2))
        .route(SPANS_V1_PATH, post(post_spans_v1))
        .with_state(state)
}

async fn post_spans_v1() -> Response {
    let error = ReceiveError::UnsupportedMediaType(String::from(
        "zipkin v1 spans are not supported yet; send zipkin v2 json to POST /api/v2/spans",
    ));
    failure(Protocol::ZipkinUnknown, &error)
}

async fn post_spans_v2(State(state): State<ZipkinState>, request: Request) -> Response {
    let unsupported = |message: String| {
        failure(
            Protocol::ZipkinUnknown,
            &ReceiveError::UnsupportedMediaType(message),
        )
    };
    match body::media_type(request.headers()).as_deref() {
        None | Some("application/json") => {}
        Some(format @ ("application/x-protobuf" | "application/x-thrift")) => {
            return unsupported(format!(
                "zipkin {format} spans are not supported yet; send zipkin v2 json (application/json)"
            ));
        }
        Some(other) => {
            return unsupported(format!(
                "unsupported content type {other:?}; accepted: application/json"
            ));
        }
    }
    let protocol = Protocol::ZipkinV2Json;
    match receive(&state, request).await {
        Ok(outcome) if outcome.rejected_spans == 0 => StatusCode::ACCEPTED.into_response(),
        Ok(outcome) => {
            counters::record_request_rejected(protocol, "limit");
            let total = outcome.accepted_spans + outcome.rejected_spans;
            let message = format!(
                "stored {} of {total} spans; rejected {}: {}",
                outcome.accepted_spans, outcome.rejected_spans, outcome.rejection_message
            );
            text_response(StatusCode::BAD_REQUEST, message)
        }
        Err(error) => failure(protocol, &error),
    }
}

async fn receive(state: &ZipkinState, request: Request) -> Result<PushOutcome, ReceiveError> {
    let (parts, request_body) = request.into_parts();
    let tenant = body::tenant_from_headers(state.multitenancy_enabled, &parts.headers)?;
    let content_encoding = ContentEncoding::from_headers(&parts.headers)?;
    let raw =
        body::read_body_limited(&parts.headers, request_body, state.max_request_bytes).await?;
    let payload = body::decode_content_encoding(content_encoding, raw, state.max_request_bytes)?;
    let protocol = Protocol::ZipkinV2Json;
    counters::record_bytes_received(protocol, payload.len());
    if payload.is_empty() {
        return Ok(PushOutcome::default());
    }
    let batch = weft_codec::zipkin::decode_v2_json(&payload)?;
    drop(payload);
    ingest::store(state.sink.as_ref(), &tenant, protocol, Decoded::from(batch)).await
}

fn failure(protocol: Protocol, error: &ReceiveError) -> Response {
    let class = error.class();
    counters::record_request_rejected(protocol, class.reason);
    tracing::debug!(protocol = protocol.as_str(), reason = class.reason, %error, "zipkin request rejected");
    let mut response = text_response(class.http_status, error.to_string());
    if let Some(seconds) = class.retry_after_seconds {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn text_response(status: StatusCode, message: String) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
        message,
    )
        .into_response()
}
