//! The traits every block engine implements.
//!
//! The v0 engine ([`crate::local::LocalBlockStore`]) keeps postcard+zstd blocks on the
//! local filesystem; the Parquet engine will implement the same traits. All methods
//! block on I/O: async callers run them in `spawn_blocking`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use weft_model::{NameIndex, Span, TenantId, TimeWindow, TraceId};

use crate::block_id::BlockId;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::meta::{BlockMeta, WalSegmentRange};
use crate::span_table::{StoredSpanBytes, StoredValues};

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
    /// zstd level for chunks and the index (1 fast .. 19 small). Default 1: on the
    /// benchmark corpus it makes chunks about 3% larger than zstd's default level 3 for
    /// about half the compression time, which matters because the ingester writes
    /// blocks while it ingests (docs/benchmarks.md).
    pub compression_level: i32,
}

impl Default for BlockWriteOptions {
    fn default() -> Self {
        BlockWriteOptions {
            indexed_attribute_keys: Vec::new(),
            wal_segments: None,
            target_chunk_bytes: 1024 * 1024,
            compression_level: 1,
        }
    }
}

/// One trace of a [`StoredBlock`].
#[derive(Debug, Clone)]
pub struct StoredTrace<'a> {
    /// The trace's digest over exactly its spans in the block (its `trace_id` names the
    /// trace). The block's index takes start, end, root and services from it; the span
    /// count is taken from `spans`.
    pub digest: &'a TraceDigest,
    /// Its spans: a range of [`StoredBlock::spans`], sorted by start.
    pub spans: Range<usize>,
}

/// A block's worth of spans already in stored form (for instance the WAL records the
/// ingester's head keeps), so that writing the block copies bytes instead of encoding
/// spans again, and reuses the digests and names the caller maintains.
#[derive(Debug, Clone, Copy)]
pub struct StoredBlock<'a> {
    /// One entry per trace, sorted by trace id, ids unique.
    pub traces: &'a [StoredTrace<'a>],
    /// The spans the traces' ranges point into.
    pub spans: &'a [StoredSpanBytes<'a>],
    /// The encoded resources and scopes the spans refer to.
    pub values: StoredValues<'a>,
    /// The names of exactly these spans (as `NameIndex::add_span` collects them).
    pub names: &'a NameIndex,
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

    /// Writes a block from spans already in stored form, with the same atomicity and
    /// durability as [`BlockStore::write_block`]. Traces must be sorted by id and unique,
    /// and each trace's spans sorted by start and of that trace; input that breaks these
    /// rules is an error (nothing is written), never a malformed block. A block without
    /// spans writes nothing and returns `Ok(None)`.
    fn write_stored_block(
        &self,
        tenant: &TenantId,
        block: &StoredBlock<'_>,
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
