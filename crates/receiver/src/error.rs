//! The one table that maps every ingest failure to an HTTP status, a gRPC code and a
//! metric reason.

use http::StatusCode;
use weft_codec::DecodeError;
use weft_model::{PushError, TenantError};

use crate::rpc_status;

/// Why a request was not (fully) taken. Messages are lowercase and name the offending
/// value; they are sent to the client as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The body is not valid in its declared format.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// `Content-Encoding: gzip` but the body is not valid gzip.
    #[error("cannot gunzip request body: {0}")]
    Gunzip(String),
    /// The body could not be read (the client went away, a broken chunk).
    #[error("cannot read request body: {0}")]
    BodyRead(String),
    /// The body, compressed or decompressed, is over `max_request_bytes`.
    #[error("request body is larger than the limit of {limit_bytes} bytes")]
    BodyTooLarge {
        /// The limit in force, in bytes.
        limit_bytes: u64,
    },
    /// The request has more spans than the per-request limit; found before decoding
    /// them, by counting on the wire.
    #[error("request has {spans} spans, over the limit of {limit} spans per request")]
    TooManySpans {
        /// Spans in the request (as counted before decoding).
        spans: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The receivers' shared in-flight memory budget
    /// ([`crate::ReceiverConfig::max_inflight_bytes`]) had no room for this request within
    /// the wait; retrying later will help.
    #[error("receivers are holding their in-flight limit of {limit_bytes} bytes; retry later")]
    Overloaded {
        /// The budget, in bytes.
        limit_bytes: u64,
        /// The retry hint, in seconds.
        retry_after_seconds: u32,
    },
    /// The content type or content encoding is not one this endpoint takes; the message
    /// names what was sent and what is accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Multi-tenancy is on and the request has no valid tenant.
    #[error("{0}")]
    Unauthorized(#[from] TenantError),
    /// The sink refused the whole batch.
    #[error("{0}")]
    Push(#[from] PushError),
}

/// How a [`ReceiveError`] is answered and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    /// HTTP status.
    pub http_status: StatusCode,
    /// gRPC status code.
    pub grpc_code: tonic::Code,
    /// The `reason` label of the rejection counters: a short snake_case word.
    pub reason: &'static str,
    /// Seconds the client should wait before retrying (HTTP `Retry-After`, gRPC
    /// `google.rpc.RetryInfo`); `None` when retrying will not help or needs no hint.
    /// Never `Some(0)`: a zero hint is raised to 1 so clients do not retry in a hot loop.
    pub retry_after_seconds: Option<u32>,
}

impl ReceiveError {
    /// The error table. OTLP treats INVALID_ARGUMENT as non-retryable and
    /// RESOURCE_EXHAUSTED as retryable only with a `RetryInfo`. Size errors (a body over
    /// `max_request_bytes`, too many spans, the sink's `TooLarge`) are
    /// RESOURCE_EXHAUSTED *without* a `RetryInfo`, as grpc-go and the OpenTelemetry
    /// Collector answer an oversize message, so clients do not retry them; overload is
    /// RESOURCE_EXHAUSTED *with* a `RetryInfo` (and HTTP `Retry-After`).
    pub fn class(&self) -> ErrorClass {
        let (http_status, grpc_code, reason, retry_after_seconds) = match self {
            ReceiveError::Decode(_) | ReceiveError::Gunzip(_) => (
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                "decode_error",
                None,
            ),
            ReceiveError::BodyRead(_) => (
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                "read_error",
                None,
            ),
            ReceiveError::BodyTooLarge { .. }
            | ReceiveError::TooManySpans { .. }
            | ReceiveError::Push(PushError::TooLarge(_)) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::ResourceExhausted,
                "too_large",
                None,
            ),
            ReceiveError::Overloaded {
                retry_after_seconds,
                ..
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                tonic::Code::ResourceExhausted,
                "overloaded",
                Some((*retry_after_seconds).max(1)),
            ),
            ReceiveError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::InvalidArgument,
                "unsupported_media_type",
                None,
            ),
            ReceiveError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                tonic::Code::Unauthenticated,
                "unauthorized",
                None,
            ),
            ReceiveError::Push(PushError::InvalidInput(_)) => (
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                "invalid_input",
                None,
            ),
            ReceiveError::Push(PushError::Overloaded {
                retry_after_seconds,
                ..
            }) => (
                StatusCode::TOO_MANY_REQUESTS,
                tonic::Code::ResourceExhausted,
                "overloaded",
                Some((*retry_after_seconds).max(1)),
            ),
            ReceiveError::Push(PushError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                tonic::Code::Unavailable,
                "unavailable",
                None,
            ),
        };
        ErrorClass {
            http_status,
            grpc_code,
            reason,
            retry_after_seconds,
        }
    }

    /// The gRPC answer: the code from [`ReceiveError::class`], this error's message, and
    /// for overload a `google.rpc.Status` in the details that carries a `RetryInfo`.
    pub fn to_grpc_status(&self) -> tonic::Status {
        let class = self.class();
        let message = self.to_string();
        match class.retry_after_seconds {
            Some(seconds) => {
                let details = prost::Message::encode_to_vec(&rpc_status::rpc_status(
                    class.grpc_code as i32,
                    &message,
                    Some(seconds),
                ));
                tonic::Status::with_details(class.grpc_code, message, details.into())
            }
            None => tonic::Status::new(class.grpc_code, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::rpc_status::{RETRY_INFO_TYPE_URL, RetryInfo, RpcStatus};

    #[test]
    fn table_maps_each_kind_to_status_code_and_reason() {
        let cases: Vec<(ReceiveError, u16, tonic::Code, &str)> = vec![
            (
                DecodeError::new("bad").into(),
                400,
                tonic::Code::InvalidArgument,
                "decode_error",
            ),
            (
                ReceiveError::Gunzip("eof".into()),
                400,
                tonic::Code::InvalidArgument,
                "decode_error",
            ),
            (
                ReceiveError::BodyTooLarge { limit_bytes: 1 },
                413,
                tonic::Code::ResourceExhausted,
                "too_large",
            ),
            (
                PushError::TooLarge("x".into()).into(),
                413,
                tonic::Code::ResourceExhausted,
                "too_large",
            ),
            (
                ReceiveError::TooManySpans {
                    spans: 11,
                    limit: 10,
                },
                413,
                tonic::Code::ResourceExhausted,
                "too_large",
            ),
            (
                ReceiveError::Overloaded {
                    limit_bytes: 1024,
                    retry_after_seconds: 1,
                },
                429,
                tonic::Code::ResourceExhausted,
                "overloaded",
            ),
            (
                PushError::InvalidInput("x".into()).into(),
                400,
                tonic::Code::InvalidArgument,
                "invalid_input",
            ),
            (
                ReceiveError::Push(PushError::TooLarge("y".into())),
                413,
                tonic::Code::ResourceExhausted,
                "too_large",
            ),
            (
                ReceiveError::UnsupportedMediaType("x".into()),
                415,
                tonic::Code::InvalidArgument,
                "unsupported_media_type",
            ),
            (
                TenantError::Missing.into(),
                401,
                tonic::Code::Unauthenticated,
                "unauthorized",
            ),
            (
                PushError::InvalidInput("x".into()).into(),
                400,
                tonic::Code::InvalidArgument,
                "invalid_input",
            ),
            (
                PushError::Overloaded {
                    message: "x".into(),
                    retry_after_seconds: 3,
                }
                .into(),
                429,
                tonic::Code::ResourceExhausted,
                "overloaded",
            ),
            (
                PushError::Unavailable("x".into()).into(),
                503,
                tonic::Code::Unavailable,
                "unavailable",
            ),
        ];
        for (error, http_status, grpc_code, reason) in cases {
            let class = error.class();
            assert_eq!(class.http_status.as_u16(), http_status, "{error:?}");
            assert_eq!(class.grpc_code, grpc_code, "{error:?}");
            assert_eq!(class.reason, reason, "{error:?}");
        }
    }

    #[test]
    fn body_too_large_message_names_the_limit() {
        let error = ReceiveError::BodyTooLarge { limit_bytes: 1024 };
        assert_eq!(
            error.to_string(),
            "request body is larger than the limit of 1024 bytes"
        );
    }

    #[test]
    fn overloaded_grpc_status_carries_retry_info() {
        let error = ReceiveError::Push(PushError::Overloaded {
            message: "ingester memory limit reached".into(),
            retry_after_seconds: 5,
        });
        let status = error.to_grpc_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "ingester memory limit reached");
        let details = RpcStatus::decode(status.details()).expect("google.rpc.Status details");
        assert_eq!(details.code, tonic::Code::ResourceExhausted as i32);
        assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
        let retry = RetryInfo::decode(details.details[0].value.as_slice()).expect("RetryInfo");
        assert_eq!(
            retry.retry_delay.map(|d| (d.seconds, d.nanos)),
            Some((5, 0))
        );
    }

    #[test]
    fn zero_retry_hint_is_raised_to_one_second() {
        let error = ReceiveError::Push(PushError::Overloaded {
            message: "x".into(),
            retry_after_seconds: 0,
        });
        assert_eq!(error.class().retry_after_seconds, Some(1));
    }

    #[test]
    fn size_errors_are_resource_exhausted_without_retry_info() {
        for error in [
            ReceiveError::BodyTooLarge { limit_bytes: 10 },
            ReceiveError::TooManySpans {
                spans: 11,
                limit: 10,
            },
            ReceiveError::Push(PushError::TooLarge("too many".into())),
        ] {
            let status = error.to_grpc_status();
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{error:?}");
            assert!(status.details().is_empty(), "{error:?}");
            assert_eq!(error.class().retry_after_seconds, None);
        }
    }

    #[test]
    fn inflight_overload_carries_retry_info() {
        let error = ReceiveError::Overloaded {
            limit_bytes: 1024,
            retry_after_seconds: 1,
        };
        let status = error.to_grpc_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(!status.details().is_empty());
    }

    #[test]
    fn non_retryable_grpc_status_has_no_details() {
        let status =
            ReceiveError::Push(PushError::InvalidInput("bad span".into())).to_grpc_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.details().is_empty());
    }
}
