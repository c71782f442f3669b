//! Decoding errors.

/// Why a request body could not be decoded. The message names the offending field or
/// value, is lowercase and has no trailing period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// Human-readable reason, e.g. `span 3: traceId "xyz" has a character that is not hex`.
    pub message: String,
}

impl DecodeError {
    /// Builds an error from a message.
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError {
            message: message.into(),
        }
    }
}
