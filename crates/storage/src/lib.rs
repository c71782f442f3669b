//! Immutable on-disk trace blocks.
//!
//! A block holds the spans of one tenant, sorted by trace id, with an index of trace ids
//! and per-trace digests for search, and a `meta.json` with counts, the time range and
//! the names for the autocomplete endpoints. Blocks are written once, appear atomically
//! and are only ever deleted whole (by retention, later by compaction).
//!
//! - [`BlockStore`] and [`BlockReader`] are the engine-neutral seam; the v0 engine is
//!   [`LocalBlockStore`] (postcard + zstd on the local filesystem, specified in
//!   `docs/format/blocks-v0.md`). The Parquet engine will implement the same traits.
//! - [`TraceDigest`] is the mergeable per-trace summary that the head and blocks share.
//! - [`span_table`] is the stored form of a list of spans, shared by blocks and the WAL.
//!   A WAL record can be encoded with every span located in it
//!   ([`span_table::encode_spans_located`]), and [`BlockStore::write_stored_block`]
//!   writes a block by copying such stored spans, without decoding or encoding them.
//! - [`NameCollector`] gathers the names of many spans without a copy per span.

pub mod block_id;
pub mod digest;
pub mod error;
pub mod local;
pub mod meta;
pub mod names;
pub mod span_table;
pub mod store;

pub use block_id::{BlockId, BlockIdError};
pub use digest::{RootSpan, TraceDigest};
pub use error::StorageError;
pub use local::{LocalBlockReader, LocalBlockStore};
pub use meta::{BlockMeta, FORMAT_VERSION, WalSegmentRange};
pub use names::{CopiedNames, NameCollector};
pub use store::{BlockReader, BlockStore, BlockWriteOptions, StoredBlock, StoredTrace};
