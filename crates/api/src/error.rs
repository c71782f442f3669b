//! The one table from error kinds to HTTP answers, and small response helpers.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weft_model::{ReadError, TenantError, TenantId};
use weft_query::QueryError;

/// The header that names the tenant when multi-tenancy is on (Tempo and Loki convention).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// Why a read request failed. Answered as a `text/plain` body holding the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or invalid: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The requested trace does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// Multi-tenancy is on and no tenant was named: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Storage is unavailable: 503.
    #[error("{0}")]
    Unavailable(String),
    /// Stored data could not be read: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 400 for a required parameter that is absent: `missing required parameter <name>`.
    pub fn missing_parameter(name: &str) -> Self {
        ApiError::BadRequest(format!("missing required parameter {name}"))
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::InvalidInput(message) => ApiError::BadRequest(message),
            ReadError::Unavailable(message) => ApiError::Unavailable(message),
            ReadError::Corrupt(message) => ApiError::Internal(message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::InvalidArgument(message) => ApiError::BadRequest(message),
            QueryError::Read(read) => read.into(),
        }
    }
}

impl From<TenantError> for ApiError {
    fn from(error: TenantError) -> Self {
        match error {
            TenantError::Missing => ApiError::Unauthorized(error.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "read request failed");
        }
        text_response(status, self.to_string())
    }
}

/// The tenant of a request (see [`TenantId::from_header`]).
pub fn request_tenant(
    headers: &HeaderMap,
    multitenancy_enabled: bool,
) -> Result<TenantId, ApiError> {
    let header = match headers.get(TENANT_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::BadRequest(format!("{TENANT_HEADER} is not valid text")))?,
        ),
        None => None,
    };
    Ok(TenantId::from_header(multitenancy_enabled, header)?)
}

/// A `text/plain; charset=utf-8` answer.
pub fn text_response(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.into(),
    )
        .into_response()
}

/// A 200 `application/json` answer with a body already encoded.
pub fn json_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
