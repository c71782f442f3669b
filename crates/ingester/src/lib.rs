//! Write-ahead log, in-memory head indexed by trace, block cutting, and the
//! `TraceReader` over head and blocks.
//!
//! [`Ingester`] implements [`weft_model::SpanSink`]: a push is encoded in the pushing
//! task, appended to the WAL by a group-commit writer (one write and one fsync for all
//! queued pushes), then inserted into the sharded in-memory head. The head is cut
//! into one block per tenant (`weft-storage`) when it grows past `max_head_bytes`, when
//! it is older than `max_block_duration`, and on shutdown; the WAL segments a block
//! covers are deleted after the block is durable, and each block records that segment
//! range so a crash in between never replays spans twice.
//!
//! [`Ingester`] also implements [`weft_model::TraceReader`] over the head, heads still
//! being written, and blocks.
//!
//! The head keeps the encoded WAL records themselves (not decoded spans), so a span
//! costs about its stored size in memory; a cut decodes them trace by trace into the
//! block writer.
//!
//! Blocks live in a [`weft_storage::BlockStore`] (local disk or S3); the ingester keeps a
//! catalog of them, refreshed periodically, that hides blocks a compacted block replaces.
//!
//! Memory is bounded: when the head and the heads still being written hold more than
//! `max_unflushed_bytes`, a push waits up to `max_memory_wait` for a cut to free memory
//! (slowing senders to what block writing can take), and only then, or when the WAL
//! queue stays full, is it refused with `PushError::Overloaded` and a retry hint.

mod catalog;
pub mod config;
pub mod error;
mod flush;
mod head;
mod ingester;
mod memory;
mod read;
mod replay;
mod scan;
mod tail;
mod values;
pub mod wal;

#[cfg(test)]
mod test_support;

pub use config::{IngesterConfig, WalFsyncPolicy};
pub use error::IngesterError;
pub use ingester::Ingester;
pub use tail::{TailSampling, TailVerdict, TraceDecider};
