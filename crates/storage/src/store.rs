//! The traits every block engine implements (format v1: Parquet over `object_store`).
//!
//! All I/O is async and goes through `object_store`; CPU-heavy work (encoding a row
//! group, decoding pages) runs on the caller's task, so callers that care run readers
//! and writers on a blocking-friendly task (`spawn_blocking` + `Handle::block_on`) or
//! accept the cost on the async runtime.
//!
//! Span order inside a block is the *block order*: trace id ascending, then start,
//! then span id, then kind (see [`block_order`]). Writers take spans in that order and
//! readers give them back in it, so compaction is a streaming k-way merge.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
pub use weft_model::SpanFilter;
use weft_model::{CatalogLimits, Span, TenantId, TimeWindow, TraceId};

use crate::block_id::BlockId;
use crate::dependencies::DependencyBuckets;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::meta::{BlockMeta, WalSegmentRange};

/// The order of spans inside a block: trace id, start, span id, kind.
pub fn block_order(left: &Span, right: &Span) -> Ordering {
    left.trace_id
        .cmp(&right.trace_id)
        .then(left.start_unix_nanos.cmp(&right.start_unix_nanos))
        .then(left.span_id.cmp(&right.span_id))
        .then(left.kind.to_otlp().cmp(&right.kind.to_otlp()))
}

/// How to write one block. The default: no indexed keys, no WAL ranges, level 0, not a
/// compaction output, ingested now.
#[derive(Debug, Clone, Default)]
pub struct BlockWriteOptions {
    /// Attribute keys whose values go into the block's name index (autocomplete).
    pub indexed_attribute_keys: Vec<String>,
    /// Bounds of the block's attribute catalog (`NameIndex::attributes`).
    pub catalog_limits: CatalogLimits,
    /// The WAL segments the block's spans came from, recorded in `meta.json`.
    pub wal_segments: Option<WalSegmentRange>,
    /// The WAL ranges of the compaction inputs (their own and inherited ones), recorded
    /// in `meta.json` as [`BlockMeta::input_wal_segments`] after normalising with
    /// [`WalSegmentRange::normalized_union`] (any order and overlap is fine here).
    /// Only a block that holds every record of its tenant in those segments may carry
    /// them: replay skips those records.
    pub input_wal_segments: Vec<WalSegmentRange>,
    /// 0 for blocks cut from the head; compaction writes its inputs' level + 1.
    pub compaction_level: u32,
    /// The blocks this block replaces (compaction inputs), recorded in `meta.json`. Once
    /// this block is visible, readers ignore those blocks and cleanup deletes them.
    pub compacted_from: Vec<BlockId>,
    /// Oldest and newest ingest time of the spans, in nanoseconds since the Unix epoch
    /// (retention judges blocks by the newest). `None` means "now" for both: right for a
    /// block cut from the head; compaction passes the span of its inputs.
    pub ingested_unix_nanos: Option<(u64, u64)>,
}

/// A block's listing in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockListing {
    /// Complete blocks (their `meta.json` exists), oldest id first.
    pub complete: Vec<BlockId>,
    /// Block ids that have data files but no `meta.json` (a write in progress, or one
    /// interrupted by a crash), with the newest modification time of their files in
    /// nanoseconds since the Unix epoch, oldest id first.
    pub incomplete: Vec<(BlockId, u64)>,
}

/// One trace part that met at least one criterion of a [`SpanFilter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMatch {
    /// The trace part's digest (over exactly its spans in the block).
    pub digest: TraceDigest,
    /// Bit i set when criterion i was met, in the order of [`SpanFilter::criteria_count`].
    pub met: u64,
}

/// What a scan of one block works through ([`BlockReader::scan_plan`]).
#[derive(Debug, Clone, Default)]
pub struct ScanPlan {
    /// Digests of the trace parts with their own timestamp in the window, by trace id.
    pub digests: Arc<Vec<TraceDigest>>,
    /// Row groups of the block's span data (0 when no part lies in the window).
    pub row_groups: usize,
}

/// Units [`BlockReader::scan_group`] cuts a row group into (by trace id, about equal
/// numbers of parts): small steps let a search that has enough stop early.
pub const SCAN_UNITS_PER_GROUP: usize = 4;

impl ScanPlan {
    /// The units of the plan: `0..units()` are what [`BlockReader::scan_group`] takes.
    pub fn units(&self) -> usize {
        self.row_groups * SCAN_UNITS_PER_GROUP
    }
}

/// One trace part decoded by [`BlockReader::scan_group`].
#[derive(Debug, Clone)]
pub struct ScannedPart {
    /// The part's digest (over exactly its spans in the block).
    pub digest: TraceDigest,
    /// Bit i set when criterion i of the filter was met (0 for a filter without
    /// criteria).
    pub met: u64,
    /// Every span of the part, in block order; empty for a part that meets some but
    /// not every criterion (it can only match together with other parts).
    pub spans: Vec<Span>,
}

/// Where blocks live. Implementations are safe to share between threads.
#[async_trait]
pub trait BlockStore: Send + Sync + fmt::Debug + 'static {
    /// Writes `spans` (any order; the block sorts them into block order) as a new block
    /// of `tenant` and returns its meta. The block appears atomically and durably: after
    /// `Ok` it survives a crash, and a crash before leaves no visible block (at most
    /// incomplete files that cleanup removes). Empty `spans` writes nothing: `Ok(None)`.
    async fn write_block(
        &self,
        tenant: &TenantId,
        spans: &[Span],
        options: &BlockWriteOptions,
    ) -> Result<Option<BlockMeta>, StorageError>;

    /// Starts a streaming block write: spans pushed in block order, memory bounded by a
    /// row group whatever the total size.
    async fn writer(
        &self,
        tenant: &TenantId,
        options: &BlockWriteOptions,
    ) -> Result<Box<dyn BlockWriter>, StorageError>;

    /// Tenants that have blocks, sorted. Prefixes that are not valid tenant ids are
    /// skipped.
    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError>;

    /// The blocks of `tenant`, complete and incomplete. Unknown tenants have none.
    async fn list_blocks(&self, tenant: &TenantId) -> Result<BlockListing, StorageError>;

    /// Reads a block's `meta.json` only.
    async fn read_meta(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<BlockMeta, StorageError>;

    /// Opens a complete block for reading: meta, bloom filter and Parquet footers (the
    /// footers through the store's bounded cache).
    async fn open_block(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<Arc<dyn BlockReader>, StorageError>;

    /// Deletes a block: `meta.json` first (so it stops being visible at once), then its
    /// other files. Deleting an unknown or incomplete block is `Ok` and removes whatever
    /// files it has; multipart uploads its writer left open (a kill in the middle of a
    /// large file) are aborted first, and an abort that fails fails the call with the
    /// rest of the block kept, so that a retry can abort them. Readers already open may
    /// fail afterwards with `NotFound`.
    async fn delete_block(&self, tenant: &TenantId, block_id: BlockId) -> Result<(), StorageError>;
}

/// A block being written. Dropping it without [`BlockWriter::finish`] leaves incomplete
/// files (never a visible block), and possibly an open multipart upload that
/// [`BlockStore::delete_block`] aborts; call [`BlockWriter::abort`] to remove them.
#[async_trait]
pub trait BlockWriter: Send {
    /// Appends spans that continue block order (each at or after the previous span
    /// pushed). Out-of-order input is an error and the writer must then be aborted.
    async fn push(&mut self, spans: &[Span]) -> Result<(), StorageError>;

    /// Spans pushed so far.
    fn span_count(&self) -> u64;

    /// Bytes written to the store so far (compressed), for size-bounded outputs.
    fn written_bytes(&self) -> u64;

    /// Writes the remaining rows, the trace table, the bloom filter and last `meta.json`
    /// (which makes the block visible). No spans pushed: nothing visible, `Ok(None)`.
    async fn finish(self: Box<Self>) -> Result<Option<BlockMeta>, StorageError>;

    /// Removes whatever this writer wrote, aborting its open multipart uploads. If an
    /// abort fails, the error is returned and the files stay for the cleanup of
    /// incomplete blocks.
    async fn abort(self: Box<Self>) -> Result<(), StorageError>;
}

/// Read access to one immutable block.
#[async_trait]
pub trait BlockReader: Send + Sync + fmt::Debug + 'static {
    /// The block's meta.
    fn meta(&self) -> &BlockMeta;

    /// False when the block certainly has no span of `trace_id`; true when it may have.
    /// Asks the block's bloom filter, from the store's bounded bloom cache (a miss
    /// reads it once).
    async fn may_contain_trace(&self, trace_id: TraceId) -> Result<bool, StorageError>;

    /// Every span of `trace_id` in the block, in block order; empty when none. Reads
    /// only the row groups (and pages) whose trace-id statistics admit the id.
    async fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StorageError>;

    /// Digests of the trace parts whose own timestamp
    /// ([`TraceDigest::timestamp_unix_nanos`]) lies in `window` and is not 0, from the
    /// block's trace table.
    async fn digests_in_window(&self, window: TimeWindow)
    -> Result<Vec<TraceDigest>, StorageError>;

    /// The digests of those of `sorted_trace_ids` that the block holds (ascending input;
    /// unsorted input gives an incomplete answer, never a panic).
    async fn digests(&self, sorted_trace_ids: &[TraceId])
    -> Result<Vec<TraceDigest>, StorageError>;

    /// Trace parts with their own timestamp in `window` that meet at least one criterion
    /// of `filter` (every part in the window when the filter has no criteria), judged on
    /// the span columns without building spans.
    async fn search(
        &self,
        window: TimeWindow,
        filter: &SpanFilter,
    ) -> Result<Vec<FilterMatch>, StorageError>;

    /// The trace parts with their own timestamp in `window` and the row groups that
    /// [`BlockReader::scan_group`] works through.
    async fn scan_plan(&self, window: TimeWindow) -> Result<ScanPlan, StorageError>;

    /// Decodes the parts of `plan` in unit `unit` (of [`ScanPlan::units`]: a share of
    /// the parts that start in one row group) that meet some criterion of `filter`
    /// (every such part when it has none), each whole (a part continuing into later row
    /// groups is read there too), with the criteria met. Parts are judged on the
    /// filter's columns first, so a part meeting nothing costs no decoding; together
    /// the units give every part of the plan once.
    async fn scan_group(
        &self,
        plan: &ScanPlan,
        unit: usize,
        filter: &SpanFilter,
    ) -> Result<Vec<ScannedPart>, StorageError>;

    /// The block's precomputed dependency links (`dependencies.json`, read on every
    /// call); `None` for blocks written before the file existed
    /// ([`BlockMeta::dependencies_bytes`] absent).
    async fn dependencies(&self) -> Result<Option<DependencyBuckets>, StorageError>;

    /// Every span of the block in block order, one row group (or less) per item, for
    /// compaction and export; memory bounded by a row group.
    fn spans(&self) -> BoxStream<'_, Result<Vec<Span>, StorageError>>;
}
