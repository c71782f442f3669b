//! `POST /loki/api/v1/push`: decode, store, answer as Loki does.
//!
//! - 204 when every entry was stored.
//! - 400 naming the refused entries when some failed validation (the rest are stored);
//!   429 instead when one of them hit a rate or stream limit, and when the tenant's
//!   ingestion rate refused the whole push (Loki's messages).
//! - 413 for a body over `logs.max_request_body_bytes` (before or after decompression),
//!   400 for a body that does not decode.
//! - 503 with `Retry-After` when the heads are at `logs.max_head_bytes` and cutting them
//!   did not make room; 500 when the WAL write failed. Neither stored anything.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weft_model::TenantId;

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::push::{DecodeError, decode_content_encoding, decode_json, decode_protobuf};
use crate::store::{PushFailure, PushSummary};

/// Seconds a client is asked to wait when the heads are full.
pub const HEAD_FULL_RETRY_AFTER_SECONDS: u32 = 1;
/// Most rejection messages an answer lists one by one.
const MAX_LISTED_REJECTIONS: usize = 10;

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

pub(crate) async fn push(
    State(store): State<Arc<LogStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match tenant_of(&store, &headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return error_response(status, message),
    };
    let limit = store.config.max_request_body_bytes;
    let content_type = header_text(&headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = header_text(&headers, header::CONTENT_ENCODING);
    let decoded = decode_content_encoding(encoding, &body, limit).and_then(|plain| {
        // Loki reads JSON only when told so; protobuf is the default (also without a
        // Content-Type), snappy-compressed whatever Content-Encoding says.
        if content_type == "application/json" {
            decode_json(&plain)
        } else {
            decode_protobuf(&plain, limit)
        }
    });
    let streams = match decoded {
        Ok(streams) => streams,
        Err(error @ DecodeError::TooLarge { .. }) => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, error.to_string());
        }
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    match store.push(&tenant, streams).await {
        Ok(summary) if summary.rejections.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(summary) => {
            let status = if summary.rate_limited() {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            error_response(status, rejection_message(&tenant, &summary))
        }
        Err(failure) => failure_response(&failure),
    }
}

/// The answer to a push that stored nothing.
pub(crate) fn failure_response(failure: &PushFailure) -> Response {
    match failure {
        PushFailure::RateLimited(message) => {
            error_response(StatusCode::TOO_MANY_REQUESTS, message.clone())
        }
        PushFailure::HeadMemoryFull(message) => {
            let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message.clone());
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(HEAD_FULL_RETRY_AFTER_SECONDS),
            );
            response
        }
        PushFailure::Wal(error) => {
            tracing::warn!(%error, "logs wal write failed; push not acknowledged");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string())
        }
    }
}

/// Loki's answer text for refused entries: the first messages one per line, then the
/// totals when some were left out.
pub fn rejection_message(tenant: &TenantId, summary: &PushSummary) -> String {
    let shown: Vec<&str> = summary
        .rejections
        .iter()
        .take(MAX_LISTED_REJECTIONS)
        .map(|rejection| rejection.message.as_str())
        .collect();
    let mut message = shown.join("\n");
    if summary.rejections.len() > shown.len() {
        let ignored: usize = summary
            .rejections
            .iter()
            .map(|rejection| rejection.entries)
            .sum();
        message.push_str(&format!(
            "\nuser '{tenant}', total ignored: {ignored} out of {}",
            ignored + summary.accepted_entries
        ));
    }
    message
}
