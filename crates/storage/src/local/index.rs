//! The `index` file: sorted trace ids, their chunk and their digest.

use serde::{Deserialize, Serialize};
use weft_model::TraceId;

use crate::digest::{RootSpan, TraceDigest};
use crate::error::StorageError;

/// First bytes of every index file.
pub const INDEX_MAGIC: &[u8; 8] = b"WEFTIDX0";

/// Bytes before the compressed payload: magic, crc32, uncompressed length.
pub const INDEX_HEADER_BYTES: usize = 8 + 4 + 8;

/// The largest decompressed index or chunk this build accepts (guards allocations
/// against a damaged length field).
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// Where one chunk lies in `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Byte offset in `data`.
    pub offset: u64,
    /// Compressed length in bytes.
    pub compressed_bytes: u64,
    /// Length of the encoded span table before compression.
    pub uncompressed_bytes: u64,
    /// crc32 (IEEE) of the compressed bytes.
    pub crc32: u32,
    /// Spans in the chunk.
    pub span_count: u32,
}

/// The root span of a trace as stored in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRoot {
    /// See [`RootSpan::start_unix_nanos`].
    pub start_unix_nanos: u64,
    /// See [`RootSpan::shared`].
    pub shared: bool,
    /// Index into [`StoredIndex::services`]; `None` when the root has no service.
    pub service_id: Option<u32>,
    /// See [`RootSpan::span_name`].
    pub span_name: String,
}

/// One trace in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The trace.
    pub trace_id: TraceId,
    /// Index into [`StoredIndex::chunks`] of the chunk holding all its spans.
    pub chunk: u32,
    /// Byte range of the trace's span group within the chunk's groups section
    /// (see [`crate::span_table::SpanTableReader::group`]).
    pub group_start: u64,
    /// End (exclusive) of that byte range.
    pub group_end: u64,
    /// See [`TraceDigest::start_unix_nanos`].
    pub start_unix_nanos: u64,
    /// See [`TraceDigest::end_unix_nanos`].
    pub end_unix_nanos: u64,
    /// Spans of the trace in this block.
    pub span_count: u32,
    /// The root, if the block has one for this trace.
    pub root: Option<StoredRoot>,
    /// Indexes into [`StoredIndex::services`], sorted by service name.
    pub service_ids: Vec<u32>,
}

impl IndexEntry {
    /// The trace timestamp of this part (root start, else earliest start).
    pub fn timestamp_unix_nanos(&self) -> u64 {
        match &self.root {
            Some(root) if root.start_unix_nanos != 0 => root.start_unix_nanos,
            _ => self.start_unix_nanos,
        }
    }

    /// The digest, resolving service ids through `services` (validated on open).
    pub fn to_digest(&self, services: &[String]) -> TraceDigest {
        let name = |id: u32| services.get(id as usize).cloned().unwrap_or_default();
        TraceDigest {
            trace_id: self.trace_id,
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos: self.end_unix_nanos,
            span_count: self.span_count,
            root: self.root.as_ref().map(|root| RootSpan {
                start_unix_nanos: root.start_unix_nanos,
                shared: root.shared,
                service_name: root.service_id.map(name).unwrap_or_default(),
                span_name: root.span_name.clone(),
            }),
            services: self.service_ids.iter().map(|&id| name(id)).collect(),
        }
    }
}

/// The decoded index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIndex {
    /// Every service name used by an entry, each once.
    pub services: Vec<String>,
    /// The chunks of `data`, in file order.
    pub chunks: Vec<ChunkRef>,
    /// One entry per trace, sorted by trace id, ids unique.
    pub traces: Vec<IndexEntry>,
}

impl StoredIndex {
    /// Encodes the index file: header, then the zstd-compressed postcard payload.
    pub fn encode(&self, compression_level: i32) -> Result<Vec<u8>, StorageError> {
        let payload = postcard::to_allocvec(self).map_err(|error| StorageError::Encode {
            what: "block index",
            reason: error.to_string(),
        })?;
        let compressed = zstd::bulk::compress(&payload, compression_level).map_err(|error| {
            StorageError::Encode {
                what: "block index",
                reason: error.to_string(),
            }
        })?;
        let mut file = Vec::with_capacity(INDEX_HEADER_BYTES + compressed.len());
        file.extend_from_slice(INDEX_MAGIC);
        file.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&compressed);
        Ok(file)
    }

    /// Decodes and checks an index file. `what` names it in errors. Checks the magic,
    /// the checksum, sorted unique trace ids, and that every chunk and service id exists
    /// and every chunk lies inside a data file of `data_bytes` bytes.
    pub fn decode(file: &[u8], data_bytes: u64, what: &str) -> Result<StoredIndex, StorageError> {
        if file.len() < INDEX_HEADER_BYTES || &file[..8] != INDEX_MAGIC {
            return Err(StorageError::corrupt(what, "missing index header"));
        }
        let stored_crc = u32::from_le_bytes([file[8], file[9], file[10], file[11]]);
        let mut length = [0u8; 8];
        length.copy_from_slice(&file[12..20]);
        let uncompressed_bytes = u64::from_le_bytes(length);
        let compressed = &file[INDEX_HEADER_BYTES..];
        if crc32fast::hash(compressed) != stored_crc {
            return Err(StorageError::corrupt(what, "index checksum mismatch"));
        }
        if uncompressed_bytes > MAX_DECOMPRESSED_BYTES {
            return Err(StorageError::corrupt(
                what,
                format!("index claims {uncompressed_bytes} uncompressed bytes"),
            ));
        }
        let payload =
            zstd::bulk::decompress(compressed, uncompressed_bytes as usize).map_err(|error| {
                StorageError::corrupt(what, format!("index does not decompress: {error}"))
            })?;
        let index: StoredIndex = postcard::from_bytes(&payload).map_err(|error| {
            StorageError::corrupt(what, format!("index does not decode: {error}"))
        })?;
        index.validate(data_bytes, what)?;
        Ok(index)
    }

    fn validate(&self, data_bytes: u64, what: &str) -> Result<(), StorageError> {
        for chunk in &self.chunks {
            let end = chunk.offset.checked_add(chunk.compressed_bytes);
            if end.is_none_or(|end| end > data_bytes) {
                return Err(StorageError::corrupt(
                    what,
                    "chunk lies outside the data file",
                ));
            }
            if chunk.uncompressed_bytes > MAX_DECOMPRESSED_BYTES {
                return Err(StorageError::corrupt(what, "chunk is too large"));
            }
        }
        let services = self.services.len();
        for (position, entry) in self.traces.iter().enumerate() {
            if position > 0 && self.traces[position - 1].trace_id >= entry.trace_id {
                return Err(StorageError::corrupt(
                    what,
                    "trace ids are not sorted and unique",
                ));
            }
            if entry.chunk as usize >= self.chunks.len() {
                return Err(StorageError::corrupt(
                    what,
                    format!(
                        "trace {} points at missing chunk {}",
                        entry.trace_id, entry.chunk
                    ),
                ));
            }
            let root_service = entry.root.as_ref().and_then(|root| root.service_id);
            if entry
                .service_ids
                .iter()
                .chain(root_service.iter())
                .any(|&id| id as usize >= services)
            {
                return Err(StorageError::corrupt(
                    what,
                    format!("trace {} names a missing service", entry.trace_id),
                ));
            }
        }
        Ok(())
    }
}
