//! Reading a v0 block: meta and index in memory, one chunk read per trace lookup.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use weft_model::{Span, TimeWindow, TraceId};

use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::local::files::read_exact_at;
use crate::local::index::{IndexEntry, StoredIndex};
use crate::local::writer::{DATA_FILE, INDEX_FILE, META_FILE};
use crate::meta::{BlockMeta, FORMAT_NAME, FORMAT_VERSION};
use crate::span_table::SpanTableReader;
use crate::store::BlockReader;

/// An open v0 block. The data file stays open, so the block can still be read after
/// it was deleted from the directory.
pub struct LocalBlockReader {
    meta: BlockMeta,
    index: StoredIndex,
    data: File,
    directory: PathBuf,
}

impl fmt::Debug for LocalBlockReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBlockReader")
            .field("directory", &self.directory)
            .field("traces", &self.index.traces.len())
            .finish()
    }
}

/// Reads and checks `meta.json` in `directory`.
pub fn read_meta(directory: &Path) -> Result<BlockMeta, StorageError> {
    let path = directory.join(META_FILE);
    let bytes = std::fs::read(&path).map_err(StorageError::io("read", &path))?;
    let meta: BlockMeta = serde_json::from_slice(&bytes)
        .map_err(|error| StorageError::corrupt(path.display().to_string(), error.to_string()))?;
    if meta.format != FORMAT_NAME {
        return Err(StorageError::corrupt(
            path.display().to_string(),
            format!("format is {:?}, expected {FORMAT_NAME:?}", meta.format),
        ));
    }
    if meta.format_version != FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            block_id: meta.block_id.to_string(),
            found: meta.format_version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(meta)
}

impl LocalBlockReader {
    /// Opens the block in `directory`: reads meta and index, checks them against each
    /// other and against the size of the data file.
    pub fn open(directory: &Path) -> Result<LocalBlockReader, StorageError> {
        let meta = read_meta(directory)?;
        let what = format!("block {} index", meta.block_id);
        let data_path = directory.join(DATA_FILE);
        let data = File::open(&data_path).map_err(StorageError::io("open", &data_path))?;
        let data_bytes = data
            .metadata()
            .map_err(StorageError::io("stat", &data_path))?
            .len();
        if data_bytes != meta.data_bytes {
            return Err(StorageError::corrupt(
                what,
                format!(
                    "data file has {data_bytes} bytes, meta.json says {}",
                    meta.data_bytes
                ),
            ));
        }
        let index_path = directory.join(INDEX_FILE);
        let index_file =
            std::fs::read(&index_path).map_err(StorageError::io("read", &index_path))?;
        let index = StoredIndex::decode(&index_file, data_bytes, &what)?;
        if index.traces.len() as u64 != meta.trace_count {
            return Err(StorageError::corrupt(
                what,
                "trace count differs from meta.json",
            ));
        }
        Ok(LocalBlockReader {
            meta,
            index,
            data,
            directory: directory.to_owned(),
        })
    }

    fn entry(&self, trace_id: TraceId) -> Option<&IndexEntry> {
        self.index
            .traces
            .binary_search_by(|entry| entry.trace_id.cmp(&trace_id))
            .ok()
            .and_then(|position| self.index.traces.get(position))
    }

    /// Reads, checks and decompresses chunk `number`; returns the encoded span table.
    fn read_chunk(&self, number: u32, what: &str) -> Result<Vec<u8>, StorageError> {
        let chunk = self
            .index
            .chunks
            .get(number as usize)
            .ok_or_else(|| StorageError::corrupt(what, "missing from the index"))?;
        let mut compressed = vec![0u8; chunk.compressed_bytes as usize];
        read_exact_at(&self.data, &mut compressed, chunk.offset)
            .map_err(StorageError::io("read", self.directory.join(DATA_FILE)))?;
        if crc32fast::hash(&compressed) != chunk.crc32 {
            return Err(StorageError::corrupt(what, "checksum mismatch"));
        }
        let encoded = zstd::bulk::decompress(&compressed, chunk.uncompressed_bytes as usize)
            .map_err(|error| {
                StorageError::corrupt(what, format!("does not decompress: {error}"))
            })?;
        if encoded.len() as u64 != chunk.uncompressed_bytes {
            return Err(StorageError::corrupt(
                what,
                "decompressed length differs from the index",
            ));
        }
        Ok(encoded)
    }
}

impl BlockReader for LocalBlockReader {
    fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    fn contains_trace(&self, trace_id: TraceId) -> bool {
        self.entry(trace_id).is_some()
    }

    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StorageError> {
        let Some(entry) = self.entry(trace_id) else {
            return Ok(Vec::new());
        };
        let what = format!("block {} chunk {}", self.meta.block_id, entry.chunk);
        let encoded = self.read_chunk(entry.chunk, &what)?;
        let table = SpanTableReader::open(&encoded, &what)?;
        let spans = table.group(entry.group_start..entry.group_end)?;
        if spans.len() != entry.span_count as usize
            || spans.iter().any(|span| span.trace_id != trace_id)
        {
            return Err(StorageError::corrupt(
                format!("block {} trace {trace_id}", self.meta.block_id),
                "its span group does not match the index",
            ));
        }
        Ok(spans)
    }

    fn trace_ids_in_window(&self, window: TimeWindow) -> Vec<TraceId> {
        if !window.overlaps(self.meta.min_start_unix_nanos, self.meta.max_end_unix_nanos) {
            return Vec::new();
        }
        self.index
            .traces
            .iter()
            .filter(|entry| {
                let timestamp = entry.timestamp_unix_nanos();
                timestamp != 0 && window.contains(timestamp)
            })
            .map(|entry| entry.trace_id)
            .collect()
    }

    fn digests(&self, sorted_trace_ids: &[TraceId]) -> Vec<TraceDigest> {
        let entries = &self.index.traces;
        let services = &self.index.services;
        let mut found = Vec::new();
        // Few ids: binary search each; many: walk both sorted lists once.
        if sorted_trace_ids.len().saturating_mul(16) < entries.len() {
            for &trace_id in sorted_trace_ids {
                if let Some(entry) = self.entry(trace_id) {
                    found.push(entry.to_digest(services));
                }
            }
            return found;
        }
        let mut position = 0;
        for &trace_id in sorted_trace_ids {
            while position < entries.len() && entries[position].trace_id < trace_id {
                position += 1;
            }
            match entries.get(position) {
                Some(entry) if entry.trace_id == trace_id => found.push(entry.to_digest(services)),
                Some(_) => {}
                None => break,
            }
        }
        found
    }
}
