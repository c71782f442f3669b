//! Errors of the storage layer.

use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A local filesystem call failed (creating the root, fsync). `action` says what was
    /// attempted ("create directory", "fsync", ...).
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
    /// An object store call failed (network, permissions, a missing object where one was
    /// required). `path` is the full object path or prefix inside the bucket or root.
    #[error("cannot {action} object {path}: {source}")]
    ObjectStore {
        /// What was attempted ("get", "put", "list", "delete", ...).
        action: &'static str,
        /// The object path or prefix.
        path: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// Parquet encoding or decoding failed. `what` names the block file ("tenant t block
    /// 0190.. data.parquet").
    #[error("parquet error in {what}: {source}")]
    Parquet {
        /// The file involved.
        what: String,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Stored bytes do not decode: a truncated file, a missing column, a value outside
    /// its range. `what` names the object ("tenant t block 0123.. bloom").
    #[error("{what} is corrupt: {reason}")]
    Corrupt {
        /// The object that failed to decode.
        what: String,
        /// Why, in a few lowercase words.
        reason: String,
    },
    /// A block was written in another format version than this build reads.
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
    /// The caller broke a contract of the API, e.g. pushed spans out of block order.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The storage configuration is unusable (missing bucket, bad endpoint).
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The object store could not be reached at open.
    #[error("object store at endpoint {endpoint} bucket {bucket} is not reachable: {source}")]
    Unreachable {
        /// The configured endpoint (or "default AWS endpoint").
        endpoint: String,
        /// The configured bucket.
        bucket: String,
        /// The error of the probe (a list call).
        #[source]
        source: object_store::Error,
    },
    /// The named block does not exist (no `meta.json`).
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

    /// Builds an [`StorageError::ObjectStore`] for `path` from an object store error.
    pub fn object(
        action: &'static str,
        path: &object_store::path::Path,
    ) -> impl FnOnce(object_store::Error) -> Self {
        let path = path.to_string();
        move |source| StorageError::ObjectStore {
            action,
            path,
            source,
        }
    }

    /// Builds a [`StorageError::Parquet`] naming `what`.
    pub fn parquet(what: &str) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        let what = what.to_owned();
        move |source| StorageError::Parquet { what, source }
    }

    /// True when the error says a block or one of its objects is gone (deleted by
    /// compaction or retention after the caller listed it): [`StorageError::NotFound`],
    /// or an object store or Parquet error caused by a missing object or file.
    pub fn is_not_found(&self) -> bool {
        if matches!(self, StorageError::NotFound { .. }) {
            return true;
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if let Some(object_error) = error.downcast_ref::<object_store::Error>()
                && matches!(object_error, object_store::Error::NotFound { .. })
            {
                return true;
            }
            if let Some(io_error) = error.downcast_ref::<std::io::Error>()
                && io_error.kind() == std::io::ErrorKind::NotFound
            {
                return true;
            }
            if let Some(parquet::errors::ParquetError::External(inner)) =
                error.downcast_ref::<parquet::errors::ParquetError>()
            {
                cause = Some(inner.as_ref());
                continue;
            }
            cause = error.source();
        }
        false
    }

    /// Builds a [`StorageError::Corrupt`].
    pub fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
