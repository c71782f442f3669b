//! Errors of the storage layer.

use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem call failed. `action` says what was attempted ("create", "fsync", ...).
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted, as a lowercase verb phrase.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes do not decode: a checksum mismatch, a truncated file, an index that
    /// points outside its data. `what` names the object ("block 0123.. chunk 4").
    #[error("{what} is corrupt: {reason}")]
    Corrupt {
        /// The object that failed to decode.
        what: String,
        /// Why, in a few lowercase words.
        reason: String,
    },
    /// A block was written by a newer format version than this build reads.
    #[error("block {block_id} has format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// The block.
        block_id: String,
        /// The version in its meta.json.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
    /// Spans could not be encoded (a serializer limit; not expected for valid spans).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serializer's message.
        reason: String,
    },
    /// The named block does not exist.
    #[error("block {block_id} of tenant {tenant} does not exist")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// The block.
        block_id: String,
    },
}

impl StorageError {
    /// Builds an [`StorageError::Io`] from a path-taking closure's error.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    }

    /// Builds a [`StorageError::Corrupt`].
    pub fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
