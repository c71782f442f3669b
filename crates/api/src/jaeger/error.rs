//! Jaeger's two error shapes over the crate's one error table ([`ApiError`]).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use weft_query::QueryError;

use super::json::{Envelope, ErrorJson};
use crate::error::ApiError;

/// A failed Jaeger request. `API_V3 = false` answers in v1's envelope
/// (`{"data":null,..,"errors":[{"code":400,"msg":".."}]}`, `text/plain` as Jaeger's
/// `http.Error` writes it); `API_V3 = true` as api_v3's gateway does
/// (`{"error":{"httpCode":400,"message":".."}}`, `application/json`).
pub(super) struct JaegerError<const API_V3: bool>(pub ApiError);

/// An error of the v1 API.
pub(super) type V1Error = JaegerError<false>;
/// An error of api_v3.
pub(super) type V3Error = JaegerError<true>;

impl<const API_V3: bool> From<ApiError> for JaegerError<API_V3> {
    fn from(error: ApiError) -> Self {
        JaegerError(error)
    }
}

impl<const API_V3: bool> From<QueryError> for JaegerError<API_V3> {
    fn from(error: QueryError) -> Self {
        JaegerError(error.into())
    }
}

#[derive(Serialize)]
struct V3ErrorBody<'a> {
    error: V3ErrorDetail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V3ErrorDetail<'a> {
    http_code: u16,
    message: &'a str,
}

impl<const API_V3: bool> IntoResponse for JaegerError<API_V3> {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.0, "jaeger read request failed");
        }
        let message = self.0.to_string();
        let (body, content_type) = if API_V3 {
            let body = V3ErrorBody {
                error: V3ErrorDetail {
                    http_code: status.as_u16(),
                    message: &message,
                },
            };
            (serde_json::to_vec(&body), "application/json")
        } else {
            let envelope = Envelope {
                data: (),
                total: 0,
                limit: 0,
                offset: 0,
                errors: Some(vec![ErrorJson {
                    code: status.as_u16(),
                    msg: message,
                    trace_id: None,
                }]),
            };
            (serde_json::to_vec(&envelope), "text/plain; charset=utf-8")
        };
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body.unwrap_or_default(),
        )
            .into_response()
    }
}
