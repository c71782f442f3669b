//! Errors of the ingester.

use weft_storage::StorageError;

/// Why opening, cutting or shutting down the ingester failed.
#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    /// A setting is unusable; the message names the key.
    #[error("{0}")]
    InvalidConfig(String),
    /// Blocks or the WAL directory could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The WAL writer failed or has stopped; the message says why.
    #[error("wal: {0}")]
    Wal(String),
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for IngesterError {
    fn from(error: tokio::task::JoinError) -> Self {
        IngesterError::Task(error.to_string())
    }
}
