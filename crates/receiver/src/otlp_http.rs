//! OTLP/HTTP: `POST /v1/traces`.
//!
//! - `Content-Type: application/x-protobuf` or `application/json` (parameters such as
//!   `charset` are ignored); anything else is 415 with a JSON `google.rpc.Status`.
//! - `Content-Encoding: gzip` or none/`identity`; anything else is 415.
//! - The body is held to `max_request_bytes` before and after gunzip (413 over it), and
//!   its spans are counted before decoding: more than the context's
//!   `max_spans_per_request` is 413 without decoding.
//! - Reading, inflating and decoding are charged to the context's in-flight budget; when
//!   it has no room within a second the answer is 429 with `Retry-After`.
//! - Success is 200 with an `ExportTraceServiceResponse` in the request's encoding:
//!   `{}` (or empty protobuf) on full success, `partialSuccess` with `rejectedSpans`
//!   (a decimal string in JSON) and `errorMessage` when some spans were refused. An
//!   empty body is a full success that stores nothing.
//! - Failure is the status of [`ReceiveError::class`] with a `google.rpc.Status` body in
//!   the request's encoding (`{"code":3,"message":"..."}` in JSON); overload adds
//!   `Retry-After` and a `RetryInfo` detail.
//! - `GET /v1/traces` (any other method) is 405.
//!
//! `POST /v1/logs` is served beside it by [`crate::otlp_logs`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use weft_codec::DecodeError;
use weft_codec::otlp::OtlpDecoded;
use weft_model::PushOutcome;

use crate::body;
use crate::context::ReceiverContext;
use crate::counters::{self, Protocol};
use crate::error::ReceiveError;
use crate::ingest::SpanFormat;
use crate::rpc_status::{self, RETRY_INFO_TYPE_URL};
use crate::text_http;

/// The OTLP/HTTP traces path.
pub const TRACES_PATH: &str = "/v1/traces";

pub(crate) const PROTOBUF: &str = "application/x-protobuf";
pub(crate) const JSON: &str = "application/json";

/// The body encoding of a request, and so of its answer; OTLP/gRPC takes
/// [`Encoding::Protobuf`] too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `ExportTraceServiceRequest` in protobuf.
    Protobuf,
    /// `ExportTraceServiceRequest` in OTLP/JSON.
    Json,
}

impl Encoding {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Encoding::Protobuf => Protocol::OtlpHttpProto,
            Encoding::Json => Protocol::OtlpHttpJson,
        }
    }
}

impl SpanFormat for Encoding {
    type Decoded = OtlpDecoded;

    fn count_spans(self, payload: &[u8]) -> Result<u64, DecodeError> {
        match self {
            Encoding::Protobuf => weft_codec::otlp::count_proto_spans(payload),
            Encoding::Json => Ok(weft_codec::otlp::count_json_spans(payload)),
        }
    }

    fn decode(self, payload: &[u8]) -> Result<OtlpDecoded, DecodeError> {
        match self {
            Encoding::Protobuf => weft_codec::otlp::decode_proto(payload),
            Encoding::Json => weft_codec::otlp::decode_json(payload),
        }
    }
}

/// The OTLP/HTTP traces router: `POST /v1/traces`, answered as described in the module
/// documentation. Spans go to the context's sink for the request's tenant.
pub fn otlp_http_router(context: &ReceiverContext) -> Router {
    Router::new()
        .route(TRACES_PATH, post(export_traces))
        .route(
            crate::otlp_logs::LOGS_PATH,
            post(crate::otlp_logs::export_logs_http),
        )
        .with_state(Arc::new(context.clone()))
}

async fn export_traces(State(context): State<Arc<ReceiverContext>>, request: Request) -> Response {
    let encoding = match body::media_type(request.headers()).as_deref() {
        Some(PROTOBUF) => Encoding::Protobuf,
        Some(JSON) => Encoding::Json,
        other => {
            let sent = other.map_or_else(|| String::from("no content type"), |t| format!("{t:?}"));
            let error = ReceiveError::UnsupportedMediaType(format!(
                "unsupported content type {sent}; accepted: {PROTOBUF}, {JSON}"
            ));
            return failure(Encoding::Json, Protocol::OtlpHttpUnknown, &error);
        }
    };
    match text_http::receive(&context, encoding.protocol(), request, encoding).await {
        Ok(outcome) => success(encoding, &outcome),
        Err(error) => failure(encoding, encoding.protocol(), &error),
    }
}

fn success(encoding: Encoding, outcome: &PushOutcome) -> Response {
    let partial = outcome.rejected_spans > 0;
    let body = match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse {
            partial_success: partial.then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(outcome.rejected_spans).unwrap_or(i64::MAX),
                error_message: outcome.rejection_message.clone(),
            }),
        }
        .encode_to_vec(),
        Encoding::Json if partial => serde_json::json!({
            "partialSuccess": {
                // OTLP/JSON writes int64 as a decimal string.
                "rejectedSpans": outcome.rejected_spans.to_string(),
                "errorMessage": outcome.rejection_message,
            }
        })
        .to_string()
        .into_bytes(),
        Encoding::Json => b"{}".to_vec(),
    };
    with_content_type(StatusCode::OK, encoding, Body::from(body))
}

pub(crate) fn failure(encoding: Encoding, protocol: Protocol, error: &ReceiveError) -> Response {
    let class = error.class();
    counters::record_request_rejected(protocol, class.reason);
    tracing::debug!(protocol = protocol.as_str(), reason = class.reason, %error, "otlp http request rejected");
    let message = error.to_string();
    let code = class.grpc_code as i32;
    let body = match encoding {
        Encoding::Protobuf => {
            rpc_status::rpc_status(code, &message, class.retry_after_seconds).encode_to_vec()
        }
        Encoding::Json => {
            let mut status = serde_json::json!({ "code": code, "message": message });
            if let Some(seconds) = class.retry_after_seconds {
                status["details"] = serde_json::json!([{
                    "@type": RETRY_INFO_TYPE_URL,
                    "retryDelay": format!("{seconds}s"),
                }]);
            }
            status.to_string().into_bytes()
        }
    };
    let mut response = with_content_type(class.http_status, encoding, Body::from(body));
    if let Some(seconds) = class.retry_after_seconds {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub(crate) fn with_content_type(status: StatusCode, encoding: Encoding, body: Body) -> Response {
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use weft_model::PushError;

    use super::*;

    async fn body_text(response: Response) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn json_partial_success_writes_rejected_spans_as_a_string() {
        let outcome = PushOutcome {
            accepted_spans: 4,
            rejected_spans: 2,
            rejection_message: "name too long".into(),
        };
        let response = success(Encoding::Json, &outcome);
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("json body");
        assert_eq!(
            body,
            serde_json::json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "name too long"}})
        );
        let full = success(Encoding::Json, &PushOutcome::default());
        assert_eq!(body_text(full).await, "{}");
    }

    #[tokio::test]
    async fn overload_failure_sets_retry_after_and_status_body() {
        let error = ReceiveError::Push(PushError::Overloaded {
            message: "slow down".into(),
            retry_after_seconds: 9,
        });
        let response = failure(Encoding::Protobuf, Protocol::OtlpHttpProto, &error);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers().get(RETRY_AFTER),
            Some(&HeaderValue::from(9u32))
        );
        assert_eq!(
            response.headers().get(CONTENT_TYPE),
            Some(&HeaderValue::from_static(PROTOBUF))
        );
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let status = rpc_status::RpcStatus::decode(bytes).expect("google.rpc.Status");
        assert_eq!((status.code, status.message.as_str()), (8, "slow down"));
        assert_eq!(status.details.len(), 1);
    }
}
