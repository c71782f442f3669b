//! Immutable trace blocks in object storage (block format v1), and the span table the
//! WAL shares.
//!
//! A block holds the spans of one tenant in block order (trace id, start, span id,
//! kind) as Parquet, with a per-trace table for search, a bloom filter over its trace
//! ids and a `meta.json` with counts, the time range and the names for the autocomplete
//! endpoints. Blocks are written once, appear atomically (`meta.json` last) and are only
//! ever deleted whole. `docs/format/blocks-v1.md` is the specification.
//!
//! - [`BlockStore`], [`BlockWriter`] and [`BlockReader`] are the engine-neutral seam
//!   ([`store`]); [`ObjectBlockStore`] implements it over `object_store` (local
//!   filesystem or S3), opened from configuration by [`open_block_store`].
//! - [`TraceDigest`] is the mergeable per-trace summary that the head and blocks share.
//! - [`span_table`] is the stored form of a list of spans used by the WAL.
//! - [`NameCollector`] gathers the names of many spans without a copy per span.
//! - [`DependencyBuckets`] are a block's service links per minute of trace timestamps.

pub mod block_id;
mod bloom;
mod cache;
pub mod columns;
pub mod config;
pub mod dependencies;
pub mod digest;
pub mod error;
pub mod meta;
pub mod names;
pub mod object;
pub mod span_table;
pub mod store;

pub use block_id::{BlockId, BlockIdError};
pub use config::{BackendKind, CacheConfig, S3Config, StorageBackendConfig};
pub use dependencies::{DEPENDENCY_BUCKET_NANOS, DependencyBuckets, split_window};
pub use digest::{RootSpan, TraceDigest};
pub use error::StorageError;
pub use meta::{BlockMeta, FORMAT_VERSION, MAX_INPUT_WAL_SEGMENT_RANGES, WalSegmentRange};
pub use names::{CopiedNames, NameCollector};
pub use object::{ObjectBlockStore, RowGroupRows, open_block_store, open_object_store};
pub use store::{
    BlockListing, BlockReader, BlockStore, BlockWriteOptions, BlockWriter, FilterMatch,
    SCAN_UNITS_PER_GROUP, ScanPlan, ScannedPart, SpanFilter, block_order,
};
