//! The traits every block engine implements.
//!
//! The v0 engine ([`crate::local::LocalBlockStore`]) keeps postcard+zstd blocks on the
//! local filesystem; the Parquet engine will implement the same traits. All methods
//! block on I/O: async callers run them in `spawn_blocking`.

use std::fmt;
use std::sync::Arc;

use weft_model::{Span, TenantId, TimeWindow, TraceId};

use crate::block_id::BlockId;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::meta::{BlockMeta, WalSegmentRange};

/// How to write one block.
#[derive(Debug, Clone)]
pub struct BlockWriteOptions {
    /// Attribute keys whose values go into the block's name index (autocomplete).
    pub indexed_attribute_keys: Vec<String>,
    /// The WAL segments the block's spans came from, recorded in `meta.json`.
    pub wal_segments: Option<WalSegmentRange>,
    /// Encoded (uncompressed) span bytes after which a chunk is closed. A trace is never
    /// split, so one large trace makes one large chunk. A trace lookup decompresses one
    /// chunk, so this bounds lookup cost; larger chunks compress slightly better.
    pub target_chunk_bytes: usize,
    /// zstd level for chunks and the index (1 fast .. 19 small; 3 is zstd's default).
    pub compression_level: i32,
}

impl Default for BlockWriteOptions {
    fn default() -> Self {
        BlockWriteOptions {
            indexed_attribute_keys: Vec::new(),
            wal_segments: None,
            target_chunk_bytes: 1024 * 1024,
            compression_level: 3,
        }
    }
}

/// Where blocks live. Implementations are safe to share between threads.
pub trait BlockStore: Send + Sync + fmt::Debug + 'static {
    /// Writes `spans` (any order; the block sorts them by trace id, then start) as a new
    /// block of `tenant` and returns its meta. The block appears atomically and durably:
    /// after `Ok` it survives a crash, and a crash before leaves no visible block.
    /// An empty `spans` writes nothing and returns `Ok(None)`.
    fn write_block(
        &self,
        tenant: &TenantId,
        spans: &[&Span],
        options: &BlockWriteOptions,
    ) -> Result<Option<BlockMeta>, StorageError>;

    /// Tenants that have a block directory, sorted. Directory names that are not valid
    /// tenant ids are skipped.
    fn tenants(&self) -> Result<Vec<TenantId>, StorageError>;

    /// Ids of the complete blocks of `tenant`, oldest first. Unknown tenants have none.
    fn list_blocks(&self, tenant: &TenantId) -> Result<Vec<BlockId>, StorageError>;

    /// Opens a block for reading: loads its meta and index into memory and checks them.
    fn open_block(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<Arc<dyn BlockReader>, StorageError>;

    /// Deletes a block. Readers that are already open keep working until dropped.
    /// Deleting a block that does not exist is `Ok`.
    fn delete_block(&self, tenant: &TenantId, block_id: BlockId) -> Result<(), StorageError>;
}

/// Read access to one immutable block. Lookups in the index are in memory; reading
/// spans reads and decodes one chunk per trace.
pub trait BlockReader: Send + Sync + fmt::Debug + 'static {
    /// The block's meta.
    fn meta(&self) -> &BlockMeta;

    /// True when the block holds spans of `trace_id` (in memory, no I/O).
    fn contains_trace(&self, trace_id: TraceId) -> bool;

    /// Every span of `trace_id` in the block, sorted by start; empty when none.
    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StorageError>;

    /// Traces whose own timestamp (as the block's part of the trace sees it, see
    /// [`TraceDigest::timestamp_unix_nanos`]) lies in `window` and is not 0.
    fn trace_ids_in_window(&self, window: TimeWindow) -> Vec<TraceId>;

    /// The digests of those of `sorted_trace_ids` that the block holds. `sorted_trace_ids`
    /// must be sorted ascending (unsorted input gives an incomplete answer, never a panic).
    fn digests(&self, sorted_trace_ids: &[TraceId]) -> Vec<TraceDigest>;
}
