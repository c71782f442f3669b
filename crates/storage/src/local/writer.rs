//! Encodes a block's three files into a directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use foldhash::HashMap;
use weft_model::{Span, TenantId, TraceId};

use crate::block_id::BlockId;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::local::files::{sync_directory, write_file_synced};
use crate::local::index::{ChunkRef, IndexEntry, StoredIndex, StoredRoot};
use crate::meta::{BlockMeta, FORMAT_NAME, FORMAT_VERSION};
use crate::names::NameCollector;
use crate::span_table::SpanTableWriter;
use crate::store::BlockWriteOptions;

/// Name of the file holding the compressed chunks.
pub const DATA_FILE: &str = "data";
/// Name of the index file.
pub const INDEX_FILE: &str = "index";
/// Name of the meta file.
pub const META_FILE: &str = "meta.json";

/// Writes `data`, `index` and `meta.json` for `spans` into `directory` (which must
/// exist and be empty), fsyncs each file and the directory, and returns the meta.
/// `spans` must not be empty.
pub fn write_block_files(
    directory: &Path,
    tenant: &TenantId,
    block_id: BlockId,
    spans: &[&Span],
    options: &BlockWriteOptions,
) -> Result<BlockMeta, StorageError> {
    let sorted = sort_by_trace_and_start(spans);

    let data_path = directory.join(DATA_FILE);
    let data_file = File::create(&data_path).map_err(StorageError::io("create", &data_path))?;
    let mut chunks = ChunkWriter {
        data: BufWriter::with_capacity(1 << 20, data_file),
        compressor: zstd::bulk::Compressor::new(options.compression_level).map_err(|error| {
            StorageError::Encode {
                what: "block chunk",
                reason: error.to_string(),
            }
        })?,
        encoded: Vec::new(),
        compressed: Vec::new(),
        chunks: Vec::new(),
        offset: 0,
        uncompressed_bytes: 0,
    };

    let mut names = NameCollector::new(&options.indexed_attribute_keys);
    let mut index_services = ServiceTable::default();
    let mut traces: Vec<IndexEntry> = Vec::new();
    let mut min_start_unix_nanos = 0u64;
    let mut max_end_unix_nanos = 0u64;
    let mut table = SpanTableWriter::new();
    let mut table_spans = 0usize;
    for trace_spans in sorted.chunk_by(|a, b| a.trace_id == b.trace_id) {
        let trace_id = trace_spans[0].trace_id;
        if table_spans > 0 && table.group_bytes() >= options.target_chunk_bytes {
            chunks.write_chunk(&mut table, table_spans, &data_path)?;
            table_spans = 0;
        }
        let group = table.add_group(trace_spans)?;
        table_spans += trace_spans.len();

        let mut digest = TraceDigest::new(trace_id);
        for span in trace_spans {
            let service = names.add_span(span);
            digest.add_span_of_service(span, service.unwrap_or(""));
        }
        if digest.start_unix_nanos != 0
            && (min_start_unix_nanos == 0 || digest.start_unix_nanos < min_start_unix_nanos)
        {
            min_start_unix_nanos = digest.start_unix_nanos;
        }
        max_end_unix_nanos = max_end_unix_nanos.max(digest.end_unix_nanos);
        let entry_services = digest
            .services
            .iter()
            .map(|name| index_services.intern(name))
            .collect();
        let root = digest.root.map(|root| StoredRoot {
            start_unix_nanos: root.start_unix_nanos,
            shared: root.shared,
            service_id: (!root.service_name.is_empty())
                .then(|| index_services.intern(&root.service_name)),
            span_name: root.span_name,
        });
        traces.push(IndexEntry {
            trace_id,
            chunk: chunks.chunks.len() as u32,
            group_start: group.start,
            group_end: group.end,
            start_unix_nanos: digest.start_unix_nanos,
            end_unix_nanos: digest.end_unix_nanos,
            span_count: digest.span_count,
            root,
            service_ids: entry_services,
        });
    }
    if table_spans > 0 {
        chunks.write_chunk(&mut table, table_spans, &data_path)?;
    }
    drop(table);
    let data_bytes = chunks.offset;
    let uncompressed_bytes = chunks.uncompressed_bytes;
    let data_file = chunks.data.into_inner().map_err(|error| StorageError::Io {
        action: "write",
        path: data_path.clone(),
        source: error.into_error(),
    })?;
    data_file
        .sync_all()
        .map_err(StorageError::io("fsync", &data_path))?;

    let trace_count = traces.len() as u64;
    let index = StoredIndex {
        services: index_services.names,
        chunks: chunks.chunks,
        traces,
    };
    let index_file = index.encode(options.compression_level)?;
    write_file_synced(&directory.join(INDEX_FILE), &index_file)?;

    let meta = BlockMeta {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        block_id,
        tenant: tenant.clone(),
        created_unix_nanos: now_unix_nanos(),
        min_start_unix_nanos,
        max_end_unix_nanos,
        span_count: sorted.len() as u64,
        trace_count,
        chunk_count: index.chunks.len() as u64,
        data_bytes,
        index_bytes: index_file.len() as u64,
        uncompressed_bytes,
        compaction_level: 0,
        wal_segments: options.wal_segments,
        names: names.into_name_index(),
    };
    let meta_json = serde_json::to_vec_pretty(&meta).map_err(|error| StorageError::Encode {
        what: "block meta",
        reason: error.to_string(),
    })?;
    write_file_synced(&directory.join(META_FILE), &meta_json)?;
    sync_directory(directory)?;
    Ok(meta)
}

/// `spans` ordered by trace id, then start, then input position (so equal keys keep
/// their input order). Sorts compact keys rather than chasing a pointer per comparison.
fn sort_by_trace_and_start<'a>(spans: &[&'a Span]) -> Vec<&'a Span> {
    let mut keys: Vec<(TraceId, u64, usize)> = spans
        .iter()
        .enumerate()
        .map(|(position, span)| (span.trace_id, span.start_unix_nanos, position))
        .collect();
    keys.sort_unstable();
    keys.into_iter()
        .map(|(_, _, position)| spans[position])
        .collect()
}

/// The index's service names, each once, with ids in order of first use.
#[derive(Default)]
struct ServiceTable {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl ServiceTable {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }
}

struct ChunkWriter {
    data: BufWriter<File>,
    compressor: zstd::bulk::Compressor<'static>,
    /// Reused across chunks: the encoded span table and its compressed form.
    encoded: Vec<u8>,
    compressed: Vec<u8>,
    chunks: Vec<ChunkRef>,
    offset: u64,
    uncompressed_bytes: u64,
}

impl ChunkWriter {
    /// Compresses and appends the table built so far; `table` starts a new one.
    fn write_chunk(
        &mut self,
        table: &mut SpanTableWriter,
        span_count: usize,
        data_path: &Path,
    ) -> Result<(), StorageError> {
        let encode_error = |error: std::io::Error| StorageError::Encode {
            what: "block chunk",
            reason: error.to_string(),
        };
        self.encoded.clear();
        table.finish(&mut self.encoded)?;
        self.compressed.clear();
        self.compressed
            .reserve(zstd::zstd_safe::compress_bound(self.encoded.len()));
        let compressed_bytes = self
            .compressor
            .compress_to_buffer(&self.encoded, &mut self.compressed)
            .map_err(encode_error)?;
        let compressed = &self.compressed[..compressed_bytes];
        self.data
            .write_all(compressed)
            .map_err(StorageError::io("write", data_path))?;
        self.chunks.push(ChunkRef {
            offset: self.offset,
            compressed_bytes: compressed.len() as u64,
            uncompressed_bytes: self.encoded.len() as u64,
            crc32: crc32fast::hash(compressed),
            span_count: u32::try_from(span_count).unwrap_or(u32::MAX),
        });
        self.offset += compressed.len() as u64;
        self.uncompressed_bytes += self.encoded.len() as u64;
        Ok(())
    }
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before the epoch).
pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
