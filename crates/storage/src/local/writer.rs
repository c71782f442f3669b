//! Encodes a block's three files into a directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use foldhash::HashMap;
use weft_model::{NameIndex, Span, TenantId, TraceId};

use crate::block_id::BlockId;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::local::files::{sync_directory, write_file_synced};
use crate::local::index::{ChunkRef, IndexEntry, StoredIndex, StoredRoot};
use crate::meta::{BlockMeta, FORMAT_NAME, FORMAT_VERSION};
use crate::names::NameCollector;
use crate::span_table::SpanTableWriter;
use crate::store::{BlockWriteOptions, StoredBlock};

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
    let mut builder = BlockBuilder::create(directory, options)?;
    let mut names = NameCollector::new(&options.indexed_attribute_keys);
    for trace_spans in sorted.chunk_by(|a, b| a.trace_id == b.trace_id) {
        let trace_id = trace_spans[0].trace_id;
        let group = builder.next_group()?.add_group(trace_spans)?;
        let mut digest = TraceDigest::new(trace_id);
        for span in trace_spans {
            let service = names.add_span(span);
            digest.add_span_of_service(span, service.unwrap_or(""));
        }
        builder.add_trace(&digest, trace_spans.len(), group);
    }
    builder.finish(directory, tenant, block_id, names.into_name_index())
}

/// Like [`write_block_files`] for spans already in stored form: copies their bytes
/// into chunks and takes digests and names from `block`. Checks that traces are sorted
/// and unique, that every span range lies inside `block.spans`, and that every span
/// starts with its trace's id; violations are [`StorageError::Encode`] errors. Traces
/// with no spans are skipped.
pub fn write_stored_block_files(
    directory: &Path,
    tenant: &TenantId,
    block_id: BlockId,
    block: &StoredBlock<'_>,
    options: &BlockWriteOptions,
) -> Result<BlockMeta, StorageError> {
    let invalid = |reason: String| StorageError::Encode {
        what: "stored block",
        reason,
    };
    let mut builder = BlockBuilder::create(directory, options)?;
    let mut previous: Option<TraceId> = None;
    for trace in block.traces {
        let trace_id = trace.digest.trace_id;
        if previous.is_some_and(|previous| previous >= trace_id) {
            return Err(invalid(format!(
                "trace {trace_id} is not after {}",
                previous.unwrap_or_default()
            )));
        }
        previous = Some(trace_id);
        let spans = block
            .spans
            .get(trace.spans.clone())
            .ok_or_else(|| invalid(format!("spans of trace {trace_id} lie outside the block")))?;
        if spans.is_empty() {
            continue;
        }
        if let Some(stranger) = spans
            .iter()
            .find(|span| span.bytes.get(..16) != Some(&trace_id.0[..]))
        {
            return Err(invalid(format!(
                "a span of {} bytes filed under trace {trace_id} belongs to another trace",
                stranger.bytes.len()
            )));
        }
        let group = builder
            .next_group()?
            .add_stored_group(spans, block.values)?;
        builder.add_trace(trace.digest, spans.len(), group);
    }
    builder.finish(directory, tenant, block_id, block.names.clone())
}

/// The parts of a block being written: the data file with its chunks so far, the
/// chunk being built, and the index entries.
struct BlockBuilder<'o> {
    options: &'o BlockWriteOptions,
    data_path: PathBuf,
    chunks: ChunkWriter,
    table: SpanTableWriter,
    table_spans: usize,
    services: ServiceTable,
    traces: Vec<IndexEntry>,
    min_start_unix_nanos: u64,
    max_end_unix_nanos: u64,
    span_count: u64,
}

impl<'o> BlockBuilder<'o> {
    fn create(directory: &Path, options: &'o BlockWriteOptions) -> Result<Self, StorageError> {
        let data_path = directory.join(DATA_FILE);
        let data_file = File::create(&data_path).map_err(StorageError::io("create", &data_path))?;
        let compressor =
            zstd::bulk::Compressor::new(options.compression_level).map_err(|error| {
                StorageError::Encode {
                    what: "block chunk",
                    reason: error.to_string(),
                }
            })?;
        Ok(BlockBuilder {
            options,
            data_path,
            chunks: ChunkWriter {
                data: BufWriter::with_capacity(1 << 20, data_file),
                compressor,
                encoded: Vec::new(),
                compressed: Vec::new(),
                chunks: Vec::new(),
                offset: 0,
                uncompressed_bytes: 0,
            },
            table: SpanTableWriter::new(),
            table_spans: 0,
            services: ServiceTable::default(),
            traces: Vec::new(),
            min_start_unix_nanos: 0,
            max_end_unix_nanos: 0,
            span_count: 0,
        })
    }

    /// The chunk table to add the next trace's group to (closing the current chunk
    /// first when it is full; a trace is never split).
    fn next_group(&mut self) -> Result<&mut SpanTableWriter, StorageError> {
        if self.table_spans > 0 && self.table.group_bytes() >= self.options.target_chunk_bytes {
            self.chunks
                .write_chunk(&mut self.table, self.table_spans, &self.data_path)?;
            self.table_spans = 0;
        }
        Ok(&mut self.table)
    }

    /// Records the trace whose group was just added.
    fn add_trace(&mut self, digest: &TraceDigest, span_count: usize, group: Range<u64>) {
        self.table_spans += span_count;
        self.span_count += span_count as u64;
        if digest.start_unix_nanos != 0
            && (self.min_start_unix_nanos == 0
                || digest.start_unix_nanos < self.min_start_unix_nanos)
        {
            self.min_start_unix_nanos = digest.start_unix_nanos;
        }
        self.max_end_unix_nanos = self.max_end_unix_nanos.max(digest.end_unix_nanos);
        let services = &mut self.services;
        let service_ids = digest
            .services
            .iter()
            .map(|name| services.intern(name))
            .collect();
        let root = digest.root.as_ref().map(|root| StoredRoot {
            start_unix_nanos: root.start_unix_nanos,
            shared: root.shared,
            service_id: (!root.service_name.is_empty())
                .then(|| services.intern(&root.service_name)),
            span_name: root.span_name.clone(),
        });
        self.traces.push(IndexEntry {
            trace_id: digest.trace_id,
            chunk: self.chunks.chunks.len() as u32,
            group_start: group.start,
            group_end: group.end,
            start_unix_nanos: digest.start_unix_nanos,
            end_unix_nanos: digest.end_unix_nanos,
            // The group's own count: the reader checks it against the spans it decodes.
            span_count: u32::try_from(span_count).unwrap_or(u32::MAX),
            root,
            service_ids,
        });
    }

    /// Writes the last chunk, the index and meta.json, fsyncing each file and the
    /// directory.
    fn finish(
        mut self,
        directory: &Path,
        tenant: &TenantId,
        block_id: BlockId,
        names: NameIndex,
    ) -> Result<BlockMeta, StorageError> {
        if self.table_spans > 0 {
            self.chunks
                .write_chunk(&mut self.table, self.table_spans, &self.data_path)?;
        }
        let options = self.options;
        let data_path = self.data_path;
        let chunks = self.chunks;
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

        let trace_count = self.traces.len() as u64;
        let index = StoredIndex {
            services: self.services.names,
            chunks: chunks.chunks,
            traces: self.traces,
        };
        let index_file = index.encode(options.compression_level)?;
        write_file_synced(&directory.join(INDEX_FILE), &index_file)?;

        let meta = BlockMeta {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            block_id,
            tenant: tenant.clone(),
            created_unix_nanos: now_unix_nanos(),
            min_start_unix_nanos: self.min_start_unix_nanos,
            max_end_unix_nanos: self.max_end_unix_nanos,
            span_count: self.span_count,
            trace_count,
            chunk_count: index.chunks.len() as u64,
            data_bytes,
            index_bytes: index_file.len() as u64,
            uncompressed_bytes,
            compaction_level: 0,
            wal_segments: options.wal_segments,
            names,
        };
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|error| StorageError::Encode {
            what: "block meta",
            reason: error.to_string(),
        })?;
        write_file_synced(&directory.join(META_FILE), &meta_json)?;
        sync_directory(directory)?;
        Ok(meta)
    }
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
