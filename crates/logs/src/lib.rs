//! Loki-compatible logs beside the traces.
//!
//! - [`push`] decodes Loki push bodies (snappy protobuf and JSON) and [`otlp`] OTLP log
//!   exports (mapped to streams as Loki maps them); [`ingest`] validates them with
//!   Loki's messages and [`limits`] holds the rate and stream limits and their counters.
//! - [`wal`] is the logs write-ahead log: a push is acknowledged only after its entries
//!   are in it; it is replayed at start.
//! - [`store::LogStore`] keeps a head per stream (tenant + label set) and cuts heads into
//!   compressed, checksummed [`chunk`]s in the object store ([`chunk_store`]), with an
//!   in-memory chunk index reloaded from per-chunk meta files. `docs/format/logs-v2.md`
//!   is the format specification.
//! - [`logql`] parses LogQL log queries; [`query`] runs them over heads and chunks.
//! - [`links`] ties entries to traces (trace ids in metadata or lines) and finds a
//!   trace's entries.
//! - [`metric`] evaluates LogQL metric queries (instant and range) with Loki's semantics.
//! - [`http::router`] serves the Loki HTTP API (push, query, query_range, labels, label
//!   values, series, index stats and volume ([`index`]), tail over WebSocket) for the
//!   `--loki.listen` port.

pub mod chunk;
pub mod chunk_block;
pub mod chunk_store;
pub mod config;
pub mod encoding;
pub mod http;
mod http_detected;
mod http_index;
mod http_params;
mod http_patterns;
mod http_query;
mod http_tail;
pub mod index;
pub mod ingest;
pub mod labels;
pub mod limits;
pub mod links;
pub mod logql;
pub mod metric;
pub mod otlp;
mod otlp_json;
pub mod patterns;
pub mod push;
mod push_http;
pub mod query;
pub mod retention;
pub mod store;
pub mod time;
pub mod wal;

pub use chunk_store::ChunkStore;
pub use config::{LogsConfig, WalFsyncPolicy};
pub use labels::LabelSet;
pub use push_http::rejection_message as push_rejection_message;
pub use store::{LogStore, PushFailure, PushSummary};

/// One log entry: when, the line, and its structured metadata (not indexed, not part
/// of the stream's identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub timestamp_unix_nanos: i64,
    /// The log line.
    pub line: String,
    /// Name/value pairs sent with the line.
    pub structured_metadata: Vec<(String, String)>,
}
