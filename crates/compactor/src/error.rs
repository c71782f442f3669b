//! Errors of the compactor.

use weft_model::TenantId;
use weft_storage::{BlockId, StorageError};

/// Why a compactor setting, a pass or a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// A setting is unusable; the message names the key.
    #[error("{0}")]
    InvalidConfig(String),
    /// The block store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An input block gave a span that sorts before the span it gave just before it:
    /// the block is not in block order (corrupt or written by a faulty engine). Nothing
    /// was committed.
    #[error("block {block_id} of tenant {tenant} gives spans out of block order")]
    InputOutOfOrder {
        /// The tenant.
        tenant: TenantId,
        /// The offending input block.
        block_id: BlockId,
    },
    /// The inputs of a merge gave a different number of spans than their `meta.json`
    /// files record; the merge was abandoned (nothing committed, inputs kept).
    #[error(
        "merging blocks of tenant {tenant} read {read_spans} spans where their meta records {expected_spans}"
    )]
    SpanCountMismatch {
        /// The tenant.
        tenant: TenantId,
        /// Spans the inputs gave.
        read_spans: u64,
        /// Sum of the inputs' `span_count`.
        expected_spans: u64,
    },
    /// The compactor was asked to stop; the merge in progress was abandoned and its
    /// partial output removed.
    #[error("compaction stopped by shutdown")]
    Stopped,
}
