//! [`ObjectBlockWriter`]: streams spans in block order into a new block.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use weft_model::{AttributeCatalog, LinkSpan, NameIndex, Span, SpanId, TenantId, TraceId};

use super::file::Shared;
use super::upload::FileUpload;
use super::{BLOOM_FILE, DATA_FILE, DEPENDENCIES_FILE, META_FILE, RowGroupRows, TRACES_FILE};
use crate::block_id::BlockId;
use crate::bloom::TraceBloom;
use crate::columns::encode::SpanBatchBuilder;
use crate::columns::schema::{
    data_schema, data_writer_properties, trace_schema, trace_writer_properties,
};
use crate::columns::traces::TraceTableBuilder;
use crate::dependencies::DependencyBuckets;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::meta::{
    BlockMeta, FORMAT_NAME, FORMAT_VERSION, MAX_INPUT_WAL_SEGMENT_RANGES, WalSegmentRange,
};
use crate::names::NameCollector;
use crate::store::{BlockWriteOptions, BlockWriter};

/// Rows handed to the Parquet writer at once (a row group is several such batches).
const BATCH_ROWS: usize = 8 * 1024;

/// Trace-table rows handed to the Parquet writer at once.
const TRACE_BATCH_ROWS: usize = 16 * 1024;

/// Where and how a writer writes its block.
pub(crate) struct WriterTarget {
    pub shared: Arc<Shared>,
    pub tenant: TenantId,
    pub block_id: BlockId,
    pub block_prefix: Path,
    pub local_directory: Option<PathBuf>,
    pub local_root: Option<PathBuf>,
    pub row_groups: RowGroupRows,
    pub options: BlockWriteOptions,
}

type ParquetWriter = AsyncArrowWriter<FileUpload>;

/// A block being written. Holds at most one batch of rows and the encoded row group in
/// progress (plus the trace table's current batch and a bloom filter of a few MiB).
pub struct ObjectBlockWriter {
    target: WriterTarget,
    indexed_keys: Arc<Vec<String>>,
    data: Option<ParquetWriter>,
    traces: Option<ParquetWriter>,
    batch: SpanBatchBuilder,
    trace_table: TraceTableBuilder,
    bloom: TraceBloom,
    names: NameIndex,
    current: Option<TraceDigest>,
    /// The spans of the current trace, as dependency linking needs them.
    current_link_spans: Vec<LinkSpan>,
    dependencies: DependencyBuckets,
    last_key: Option<(TraceId, u64, SpanId, i32)>,
    rows_in_group: usize,
    span_count: u64,
    trace_count: u64,
    min_start_unix_nanos: u64,
    max_end_unix_nanos: u64,
    failed: bool,
}

impl std::fmt::Debug for ObjectBlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlockWriter")
            .field("block", &self.target.block_prefix)
            .field("spans", &self.span_count)
            .finish()
    }
}

fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl ObjectBlockWriter {
    pub(crate) fn create(target: WriterTarget) -> Result<Self, StorageError> {
        let catalog_limits = target.options.catalog_limits;
        // One row more than the largest group, so the Parquet writer never closes a
        // group on its own: parent offsets rely on the boundaries this writer chooses.
        let data = AsyncArrowWriter::try_new(
            FileUpload::new(&target.shared, &target.block_prefix, DATA_FILE),
            data_schema(),
            Some(data_writer_properties(target.row_groups.max_rows + 1)),
        )
        .map_err(StorageError::parquet(&Self::what_of(&target, DATA_FILE)))?;
        let traces = AsyncArrowWriter::try_new(
            FileUpload::new(&target.shared, &target.block_prefix, TRACES_FILE),
            trace_schema(),
            Some(trace_writer_properties()),
        )
        .map_err(StorageError::parquet(&Self::what_of(&target, TRACES_FILE)))?;
        Ok(ObjectBlockWriter {
            indexed_keys: Arc::new(target.options.indexed_attribute_keys.clone()),
            target,
            data: Some(data),
            traces: Some(traces),
            batch: SpanBatchBuilder::default(),
            trace_table: TraceTableBuilder::default(),
            bloom: TraceBloom::for_writing(),
            names: NameIndex {
                attributes: AttributeCatalog::with_limits(catalog_limits),
                ..NameIndex::default()
            },
            current: None,
            current_link_spans: Vec::new(),
            dependencies: DependencyBuckets::new(),
            last_key: None,
            rows_in_group: 0,
            span_count: 0,
            trace_count: 0,
            min_start_unix_nanos: 0,
            max_end_unix_nanos: 0,
            failed: false,
        })
    }

    fn what_of(target: &WriterTarget, file: &str) -> String {
        format!("tenant {} block {} {file}", target.tenant, target.block_id)
    }

    fn what(&self, file: &str) -> String {
        Self::what_of(&self.target, file)
    }

    /// Appends spans that continue block order; see [`BlockWriter::push`].
    pub async fn push_refs(&mut self, spans: &[&Span]) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::InvalidInput(String::from(
                "the block writer failed earlier and must be aborted",
            )));
        }
        let result = self.push_inner(spans).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn push_inner(&mut self, spans: &[&Span]) -> Result<(), StorageError> {
        let keys = self.indexed_keys.clone();
        let mut collector = NameCollector::new(&keys, self.target.options.catalog_limits);
        for &span in spans {
            let key = (
                span.trace_id,
                span.start_unix_nanos,
                span.span_id,
                span.kind.to_otlp(),
            );
            if let Some(last) = &self.last_key
                && *last > key
            {
                return Err(StorageError::InvalidInput(format!(
                    "span {} of trace {} comes before the previous span in block order",
                    span.span_id, span.trace_id
                )));
            }
            self.last_key = Some(key);
            let service = collector.add_span(span).unwrap_or("");
            let new_trace = self
                .current
                .as_ref()
                .is_none_or(|current| current.trace_id != span.trace_id);
            if new_trace {
                self.finish_trace().await?;
                if self.rows_in_group >= self.target.row_groups.target_rows {
                    self.close_row_group().await?;
                }
                self.current = Some(TraceDigest::new(span.trace_id));
            } else if self.rows_in_group >= self.target.row_groups.max_rows {
                self.close_row_group().await?;
            }
            if let Some(current) = self.current.as_mut() {
                current.add_span_of_service(span, service);
            }
            self.current_link_spans.push(LinkSpan::from_span(span));
            self.batch.append(span)?;
            self.rows_in_group += 1;
            self.span_count += 1;
            if span.start_unix_nanos != 0 {
                if self.min_start_unix_nanos == 0
                    || span.start_unix_nanos < self.min_start_unix_nanos
                {
                    self.min_start_unix_nanos = span.start_unix_nanos;
                }
                self.max_end_unix_nanos = self.max_end_unix_nanos.max(span.end_unix_nanos());
            }
            if self.batch.len() >= BATCH_ROWS {
                self.write_batch().await?;
            }
        }
        collector.merge_into(&mut self.names);
        Ok(())
    }

    /// Moves the finished trace's digest into the trace table and the bloom filter.
    async fn finish_trace(&mut self) -> Result<(), StorageError> {
        let Some(digest) = self.current.take() else {
            return Ok(());
        };
        let link_spans = std::mem::take(&mut self.current_link_spans);
        self.dependencies
            .add_part(digest.timestamp_unix_nanos(), digest.trace_id, link_spans);
        self.bloom.insert(&digest.trace_id);
        self.trace_table.append(&digest)?;
        self.trace_count += 1;
        if self.trace_table.len() >= TRACE_BATCH_ROWS {
            self.write_trace_batch().await?;
        }
        Ok(())
    }

    async fn write_trace_batch(&mut self) -> Result<(), StorageError> {
        if self.trace_table.is_empty() {
            return Ok(());
        }
        let batch = self.trace_table.finish()?;
        let what = self.what(TRACES_FILE);
        write_to(self.traces.as_mut(), &batch, &what).await
    }

    async fn write_batch(&mut self) -> Result<(), StorageError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.finish()?;
        let what = self.what(DATA_FILE);
        write_to(self.data.as_mut(), &batch, &what).await
    }

    async fn close_row_group(&mut self) -> Result<(), StorageError> {
        self.write_batch().await?;
        if self.rows_in_group > 0 {
            let what = self.what(DATA_FILE);
            if let Some(writer) = self.data.as_mut() {
                writer.flush().await.map_err(StorageError::parquet(&what))?;
            }
        }
        self.rows_in_group = 0;
        self.batch.start_row_group();
        Ok(())
    }

    fn object(&self, file: &str) -> Path {
        self.target.block_prefix.clone().join(file)
    }

    async fn finish_inner(&mut self) -> Result<Option<BlockMeta>, StorageError> {
        if self.failed {
            return Err(StorageError::InvalidInput(String::from(
                "the block writer failed earlier and must be aborted",
            )));
        }
        if self.span_count == 0 {
            self.remove_files().await?;
            return Ok(None);
        }
        self.finish_trace().await?;
        self.write_batch().await?;
        self.write_trace_batch().await?;
        let data_what = self.what(DATA_FILE);
        let traces_what = self.what(TRACES_FILE);
        // The writers stay in place until both files are complete, so that an abort
        // after a failure here still reaches an upload left open.
        let (Some(data), Some(traces)) = (self.data.as_mut(), self.traces.as_mut()) else {
            return Err(StorageError::InvalidInput(String::from(
                "the block writer is closed",
            )));
        };
        let data_metadata = data
            .finish()
            .await
            .map_err(StorageError::parquet(&data_what))?;
        let data_bytes = data.bytes_written() as u64;
        traces
            .finish()
            .await
            .map_err(StorageError::parquet(&traces_what))?;
        let traces_bytes = traces.bytes_written() as u64;
        self.data = None;
        self.traces = None;
        let bloom = std::mem::replace(&mut self.bloom, TraceBloom::empty());
        let bloom = bloom.finish()?;
        let bloom_bytes = bloom.len() as u64;
        put(&self.target.shared, self.object(BLOOM_FILE), bloom).await?;
        let dependencies = std::mem::take(&mut self.dependencies).to_json()?;
        let dependencies_bytes = dependencies.len() as u64;
        put(
            &self.target.shared,
            self.object(DEPENDENCIES_FILE),
            dependencies,
        )
        .await?;
        let now = now_unix_nanos();
        let (ingested_min, ingested_max) = self
            .target
            .options
            .ingested_unix_nanos
            .unwrap_or((now, now));
        let meta = BlockMeta {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            block_id: self.target.block_id,
            tenant: self.target.tenant.clone(),
            created_unix_nanos: now,
            min_start_unix_nanos: self.min_start_unix_nanos,
            max_end_unix_nanos: self.max_end_unix_nanos,
            span_count: self.span_count,
            trace_count: self.trace_count,
            row_group_count: data_metadata.num_row_groups() as u64,
            data_bytes,
            traces_bytes,
            bloom_bytes,
            compaction_level: self.target.options.compaction_level,
            compacted_from: self.target.options.compacted_from.clone(),
            ingested_min_unix_nanos: ingested_min,
            ingested_max_unix_nanos: ingested_max,
            wal_segments: self.target.options.wal_segments,
            input_wal_segments: WalSegmentRange::normalized_union(
                self.target.options.input_wal_segments.iter().copied(),
                MAX_INPUT_WAL_SEGMENT_RANGES,
            ),
            names: std::mem::take(&mut self.names),
            generic_dedicated_keys: Some(self.batch.generic_dedicated_keys()),
            dependencies_bytes: Some(dependencies_bytes),
        };
        put(&self.target.shared, self.object(META_FILE), meta.to_json()?).await?;
        sync_directories(
            self.target.local_directory.clone(),
            self.target.local_root.clone(),
        )
        .await?;
        metrics::counter!("weft_storage_blocks_written_total").increment(1);
        metrics::counter!("weft_storage_written_bytes_total")
            .increment(data_bytes + traces_bytes + bloom_bytes);
        Ok(Some(meta))
    }

    /// Aborts uploads in progress and deletes whatever the block already has. When an
    /// upload cannot be aborted, nothing is deleted: its marker stays for the cleanup of
    /// incomplete blocks, which aborts it later.
    async fn remove_files(&mut self) -> Result<(), StorageError> {
        let shared = &self.target.shared;
        let prefix = &self.target.block_prefix;
        let mut abort_error = None;
        for writer in [self.data.take(), self.traces.take()].into_iter().flatten() {
            let mut upload = writer.into_inner();
            if let Err(error) = upload.abort().await {
                abort_error.get_or_insert(error);
            }
        }
        if let Some(error) = abort_error {
            return Err(StorageError::object("abort an upload under", prefix)(error));
        }
        let objects: Vec<object_store::ObjectMeta> = shared
            .store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(StorageError::object("list", prefix))?;
        for object in objects {
            match shared.store.delete(&object.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(StorageError::object("delete", &object.location)(error)),
            }
        }
        if let Some(directory) = &self.target.local_directory {
            match tokio::fs::remove_dir_all(directory).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::io("remove", directory)(error)),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BlockWriter for ObjectBlockWriter {
    async fn push(&mut self, spans: &[Span]) -> Result<(), StorageError> {
        let refs: Vec<&Span> = spans.iter().collect();
        self.push_refs(&refs).await
    }

    fn span_count(&self) -> u64 {
        self.span_count
    }

    fn written_bytes(&self) -> u64 {
        let data = self
            .data
            .as_ref()
            .map_or(0, |writer| writer.bytes_written());
        let traces = self
            .traces
            .as_ref()
            .map_or(0, |writer| writer.bytes_written());
        (data + traces) as u64
    }

    async fn finish(mut self: Box<Self>) -> Result<Option<BlockMeta>, StorageError> {
        self.finish_inner().await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        self.remove_files().await
    }
}

async fn put(shared: &Shared, path: Path, bytes: Vec<u8>) -> Result<(), StorageError> {
    shared
        .store
        .put(&path, PutPayload::from(bytes))
        .await
        .map_err(StorageError::object("put", &path))?;
    Ok(())
}

/// Fsyncs the block directory and its parents up to the root (the local backend's files
/// are fsynced by the object store itself), so that the block's directory entries
/// survive power loss. Nothing to do for other backends.
async fn sync_directories(
    block: Option<PathBuf>,
    root: Option<PathBuf>,
) -> Result<(), StorageError> {
    let (Some(block), Some(root)) = (block, root) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || {
        let tenant = block.parent().map(PathBuf::from);
        for directory in [Some(block), tenant, Some(root)].into_iter().flatten() {
            let handle = std::fs::File::open(&directory)
                .map_err(StorageError::io("open directory", &directory))?;
            handle
                .sync_all()
                .map_err(StorageError::io("fsync", &directory))?;
        }
        Ok(())
    })
    .await
    .map_err(|error| StorageError::Encode {
        what: "directory fsync",
        reason: error.to_string(),
    })?
}

/// Writes `batch` to an open Parquet writer; a closed writer (`None`) is an error.
async fn write_to(
    writer: Option<&mut ParquetWriter>,
    batch: &arrow_array::RecordBatch,
    what: &str,
) -> Result<(), StorageError> {
    let writer = writer
        .ok_or_else(|| StorageError::InvalidInput(String::from("the block writer is closed")))?;
    writer
        .write(batch)
        .await
        .map_err(StorageError::parquet(what))
}
