//! What the HTTP listeners share: reading a request within the limits and taking its
//! spans (every HTTP listener, OTLP too), and for the Zipkin and Jaeger collector
//! listeners answering 202 or a plain-text error.
//!
//! Neither protocol has a partial-success answer, and a 2xx would tell the reporter that
//! every span was kept, so a request whose spans the sink partly refused is answered 400
//! with `stored N of M spans; rejected M-N: <reason>`.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use weft_model::{PushOutcome, TenantId};

use crate::body::{self, ContentEncoding};
use crate::config::ReceiverConfig;
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::inflight::Reservation;
use crate::ingest::{self, SpanFormat};

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// Resolves the tenant, reads the body within `max_request_bytes` and undoes gzip,
/// charging `reservation` as it goes (see [`body::read_body_limited`] and
/// [`body::inflate_charged`]), then counts the payload bytes under `protocol`. The
/// payload may be empty.
pub(crate) async fn read_request(
    config: &ReceiverConfig,
    protocol: Protocol,
    request: Request,
    reservation: &Reservation,
) -> Result<(TenantId, Bytes), ReceiveError> {
    let limit_bytes = config.max_request_bytes_usize();
    let (parts, request_body) = request.into_parts();
    let tenant = body::tenant_from_headers(config.multitenancy_enabled, &parts.headers)?;
    let content_encoding = ContentEncoding::from_headers(&parts.headers)?;
    let raw =
        body::read_body_limited(&parts.headers, request_body, limit_bytes, reservation).await?;
    let payload = body::inflate_charged(content_encoding, raw, limit_bytes, reservation).await?;
    counters::record_bytes_received(protocol, payload.len());
    Ok((tenant, payload))
}

/// Takes the spans of one HTTP request in `format`: reads it ([`read_request`]), then
/// counts, decodes and hands them to the context's sink ([`ingest::decode_and_store`]).
/// Everything is charged to one reservation on the context's budget, held until the batch
/// is stored. An empty payload stores nothing.
pub(crate) async fn receive<F: SpanFormat>(
    context: &ReceiverContext,
    protocol: Protocol,
    request: Request,
    format: F,
) -> Result<PushOutcome, ReceiveError> {
    let reservation = context.budget().reservation();
    let (tenant, payload) = read_request(context.config(), protocol, request, &reservation).await?;
    if payload.is_empty() {
        return Ok(PushOutcome::default());
    }
    ingest::decode_and_store(context, &tenant, protocol, payload, &reservation, format).await
}

/// 202 with an empty body when every span was stored; 400 naming the counts when the sink
/// refused some (counted as a rejected request with reason `limit`); the error's answer
/// otherwise.
pub(crate) fn answer(protocol: Protocol, result: Result<PushOutcome, ReceiveError>) -> Response {
    match result {
        Ok(outcome) if outcome.rejected_spans == 0 => StatusCode::ACCEPTED.into_response(),
        Ok(outcome) => {
            counters::record_request_rejected(protocol, "limit");
            text_response(StatusCode::BAD_REQUEST, partial_message(&outcome))
        }
        Err(error) => failure(protocol, &error),
    }
}

/// `stored N of M spans; rejected K: <reason>`, for protocols without partial success.
pub(crate) fn partial_message(outcome: &PushOutcome) -> String {
    let total = outcome.accepted_spans + outcome.rejected_spans;
    format!(
        "stored {} of {total} spans; rejected {}: {}",
        outcome.accepted_spans, outcome.rejected_spans, outcome.rejection_message
    )
}

/// The plain-text answer to `error`, with `Retry-After` when the table gives a delay;
/// counts the rejected request under `protocol`.
pub(crate) fn failure(protocol: Protocol, error: &ReceiveError) -> Response {
    let class = error.class();
    counters::record_request_rejected(protocol, class.reason);
    tracing::debug!(protocol = protocol.as_str(), reason = class.reason, %error, "request rejected");
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
