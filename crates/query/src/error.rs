//! Query errors.

use weft_model::ReadError;

/// Why a query could not be answered.
///
/// `InvalidArgument` messages are the exact texts Zipkin answers with (for example
/// `endTs <= 0`), because clients and conformance tests compare them; the API layer sends
/// them as a 400 plain-text body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A request parameter is missing or invalid (HTTP 400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The store failed (status depends on the [`ReadError`] kind).
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl QueryError {
    /// Builds an [`QueryError::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        QueryError::InvalidArgument(message.into())
    }
}
