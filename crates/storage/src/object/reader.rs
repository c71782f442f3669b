//! [`ObjectBlockReader`]: read access to one block in the object store.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, FixedSizeBinaryArray, RecordBatch};
use arrow_schema::ArrowError;
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, RowFilter, RowSelection,
};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use weft_model::{Span, TimeWindow, TraceId};

use super::file::{ObjectFile, Shared};
use super::{BLOOM_FILE, DATA_FILE, DEPENDENCIES_FILE, TRACES_FILE, search};
use crate::bloom::TraceBloom;
use crate::columns::decode::SpanDecoder;
use crate::columns::traces::TraceTableColumns;
use crate::dependencies::DependencyBuckets;
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::meta::BlockMeta;
use crate::store::{BlockReader, FilterMatch, ScanPlan, ScannedPart, SpanFilter};

/// Spans per item of [`BlockReader::spans`] and per decoded batch.
const READ_BATCH_ROWS: usize = 8 * 1024;

/// An open block. Only its meta is held; the bloom filter and the Parquet footers come
/// from the store's bounded caches, loaded on first use, so open blocks cost memory in
/// proportion to their number, not to the spans they hold.
pub struct ObjectBlockReader {
    shared: Arc<Shared>,
    block_prefix: Path,
    meta: BlockMeta,
}

impl std::fmt::Debug for ObjectBlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlockReader")
            .field("block", &self.block_prefix)
            .field("spans", &self.meta.span_count)
            .finish()
    }
}

/// Whether `[min, max]` (from statistics; unknown bounds admit everything) may hold `id`.
fn admits(min: Option<&[u8]>, max: Option<&[u8]>, id: &[u8]) -> bool {
    min.is_none_or(|min| min <= id) && max.is_none_or(|max| id <= max)
}

/// The trace-id range of row group `group` from its chunk statistics, if known.
pub(crate) fn group_trace_range(
    metadata: &ParquetMetaData,
    group: usize,
) -> (Option<&[u8]>, Option<&[u8]>) {
    let statistics = metadata
        .row_groups()
        .get(group)
        .and_then(|row_group| row_group.columns().first())
        .and_then(|column| column.statistics());
    match statistics {
        Some(Statistics::FixedLenByteArray(statistics)) => {
            (statistics.min_bytes_opt(), statistics.max_bytes_opt())
        }
        _ => (None, None),
    }
}

impl ObjectBlockReader {
    pub(crate) fn new(shared: Arc<Shared>, block_prefix: Path, meta: BlockMeta) -> Self {
        ObjectBlockReader {
            shared,
            block_prefix,
            meta,
        }
    }

    /// The block's bloom filter over trace ids, through the store's bloom cache (a miss
    /// reads and checks the `bloom` object). A missing object is
    /// [`StorageError::NotFound`]: the block was deleted after it was listed.
    async fn bloom(&self) -> Result<Arc<TraceBloom>, StorageError> {
        let key = self.block_prefix.to_string();
        if let Some(bloom) = self.shared.blooms.get(&key) {
            return Ok(bloom);
        }
        let what = self.what(BLOOM_FILE);
        let Some(bytes) = self.shared.get_optional(&self.path(BLOOM_FILE)).await? else {
            return Err(StorageError::NotFound {
                tenant: self.meta.tenant.to_string(),
                block_id: self.meta.block_id.to_string(),
            });
        };
        if bytes.len() as u64 != self.meta.bloom_bytes {
            return Err(StorageError::corrupt(
                what,
                format!(
                    "has {} bytes, meta.json says {}",
                    bytes.len(),
                    self.meta.bloom_bytes
                ),
            ));
        }
        let bloom = Arc::new(TraceBloom::from_bytes(&bytes, &what)?);
        self.shared
            .blooms
            .insert(key, bloom.clone(), bloom.memory_bytes() as u64);
        Ok(bloom)
    }

    pub(crate) fn what(&self, file: &str) -> String {
        format!(
            "tenant {} block {} {file}",
            self.meta.tenant, self.meta.block_id
        )
    }

    fn path(&self, file: &str) -> Path {
        self.block_prefix.clone().join(file)
    }

    pub(crate) async fn data_footer(&self) -> Result<ArrowReaderMetadata, StorageError> {
        self.shared
            .footer(
                &self.path(DATA_FILE),
                self.meta.data_bytes,
                &self.what(DATA_FILE),
            )
            .await
    }

    async fn traces_footer(&self) -> Result<ArrowReaderMetadata, StorageError> {
        self.shared
            .footer(
                &self.path(TRACES_FILE),
                self.meta.traces_bytes,
                &self.what(TRACES_FILE),
            )
            .await
    }

    /// A stream over `data.parquet` row group `group`, optionally projected and with
    /// a row selection.
    pub(crate) fn data_stream(
        &self,
        footer: &ArrowReaderMetadata,
        group: usize,
        projection: Option<ProjectionMask>,
        selection: Option<RowSelection>,
        only_traces: Option<Arc<Vec<TraceId>>>,
    ) -> Result<ParquetRecordBatchStream<ObjectFile>, StorageError> {
        let file = self.shared.file(self.path(DATA_FILE), self.meta.data_bytes);
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(file, footer.clone())
            .with_row_groups(vec![group])
            .with_batch_size(READ_BATCH_ROWS);
        if let Some(projection) = projection {
            builder = builder.with_projection(projection);
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        if let Some(wanted) = only_traces {
            // Decode the trace_id column first and the others only for the rows of the
            // wanted traces (sorted ids).
            let trace_id_column =
                ProjectionMask::leaves(footer.metadata().file_metadata().schema_descr(), [0]);
            let predicate = ArrowPredicateFn::new(trace_id_column, move |batch: RecordBatch| {
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| {
                        ArrowError::InvalidArgumentError(String::from(
                            "trace_id is not FixedSizeBinary",
                        ))
                    })?;
                Ok((0..ids.len())
                    .map(|row| {
                        Some(
                            wanted
                                .binary_search_by(|id| id.0.as_slice().cmp(ids.value(row)))
                                .is_ok(),
                        )
                    })
                    .collect::<BooleanArray>())
            });
            builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
        }
        builder
            .build()
            .map_err(StorageError::parquet(&self.what(DATA_FILE)))
    }

    /// The rows of row group `group` whose `trace_id` pages may hold `id`, from the
    /// column index; `None` when the group has no usable page index (read it whole).
    pub(crate) fn page_selection(
        metadata: &ParquetMetaData,
        group: usize,
        id: &[u8],
    ) -> Option<RowSelection> {
        let page_index = metadata.page_index_for_row_group(group);
        let Some(ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(index)) = page_index.column_index(0)
        else {
            return None;
        };
        let locations = page_index.page_locations(0)?;
        let total_rows = usize::try_from(metadata.row_group(group).num_rows()).ok()?;
        if locations.len() as u64 != index.num_pages() {
            return None;
        }
        let mut ranges = Vec::new();
        for (page, location) in locations.iter().enumerate() {
            if !admits(index.min_value(page), index.max_value(page), id) {
                continue;
            }
            let start = usize::try_from(location.first_row_index).ok()?;
            let end = match locations.get(page + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => total_rows,
            };
            if start > end || end > total_rows {
                return None;
            }
            ranges.push(start..end);
        }
        Some(RowSelection::from_consecutive_ranges(
            ranges.into_iter(),
            total_rows,
        ))
    }

    /// Every row of the trace table, as (columns of a batch) callbacks.
    async fn scan_traces(
        &self,
        mut visit: impl FnMut(&TraceTableColumns<'_>) -> Result<(), StorageError> + Send,
    ) -> Result<(), StorageError> {
        let footer = self.traces_footer().await?;
        let what = self.what(TRACES_FILE);
        let file = self
            .shared
            .file(self.path(TRACES_FILE), self.meta.traces_bytes);
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(file, footer)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(StorageError::parquet(&what))?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(StorageError::parquet(&what))?
        {
            let columns = TraceTableColumns::new(&batch, &what)?;
            visit(&columns)?;
        }
        Ok(())
    }
}

#[async_trait]
impl BlockReader for ObjectBlockReader {
    fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    async fn may_contain_trace(&self, trace_id: TraceId) -> Result<bool, StorageError> {
        Ok(self.bloom().await?.may_contain(&trace_id))
    }

    async fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StorageError> {
        if !self.may_contain_trace(trace_id).await? {
            return Ok(Vec::new());
        }
        let footer = self.data_footer().await?;
        let metadata = footer.metadata().clone();
        let what = self.what(DATA_FILE);
        let mut decoder = SpanDecoder::new(what.clone());
        let mut spans = Vec::new();
        for group in 0..metadata.num_row_groups() {
            let (min, max) = group_trace_range(&metadata, group);
            if !admits(min, max, &trace_id.0) {
                continue;
            }
            let selection = Self::page_selection(&metadata, group, &trace_id.0);
            if selection
                .as_ref()
                .is_some_and(|selection| !selection.selects_any())
            {
                continue;
            }
            let mut stream = self.data_stream(
                &footer,
                group,
                None,
                selection,
                Some(Arc::new(vec![trace_id])),
            )?;
            decoder.start_row_group();
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(StorageError::parquet(&what))?
            {
                decoder.decode(&batch, Some(trace_id), &mut spans)?;
            }
        }
        Ok(spans)
    }

    async fn digests_in_window(
        &self,
        window: TimeWindow,
    ) -> Result<Vec<TraceDigest>, StorageError> {
        if self.meta.max_end_unix_nanos != 0
            && !window.overlaps(self.meta.min_start_unix_nanos, self.meta.max_end_unix_nanos)
        {
            return Ok(Vec::new());
        }
        let what = self.what(TRACES_FILE);
        let mut digests = Vec::new();
        self.scan_traces(|columns| {
            for row in 0..columns.len() {
                let timestamp = columns.timestamp_unix_nanos(row);
                if timestamp != 0 && window.contains(timestamp) {
                    digests.push(columns.digest(row, &what)?);
                }
            }
            Ok(())
        })
        .await?;
        Ok(digests)
    }

    async fn digests(
        &self,
        sorted_trace_ids: &[TraceId],
    ) -> Result<Vec<TraceDigest>, StorageError> {
        let bloom = self.bloom().await?;
        let wanted: Vec<TraceId> = sorted_trace_ids
            .iter()
            .copied()
            .filter(|id| bloom.may_contain(id))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let what = self.what(TRACES_FILE);
        let mut digests = Vec::new();
        self.scan_traces(|columns| {
            for row in 0..columns.len() {
                if wanted.binary_search(&columns.trace_id(row)).is_ok() {
                    digests.push(columns.digest(row, &what)?);
                }
            }
            Ok(())
        })
        .await?;
        Ok(digests)
    }

    async fn search(
        &self,
        window: TimeWindow,
        filter: &SpanFilter,
    ) -> Result<Vec<FilterMatch>, StorageError> {
        let digests = self.digests_in_window(window).await?;
        search::search(self, digests, filter).await
    }

    async fn scan_plan(&self, window: TimeWindow) -> Result<ScanPlan, StorageError> {
        let digests = self.digests_in_window(window).await?;
        let row_groups = if digests.is_empty() {
            0
        } else {
            self.data_footer().await?.metadata().num_row_groups()
        };
        Ok(ScanPlan {
            digests: Arc::new(digests),
            row_groups,
        })
    }

    async fn scan_group(
        &self,
        plan: &ScanPlan,
        unit: usize,
        filter: &SpanFilter,
    ) -> Result<Vec<ScannedPart>, StorageError> {
        search::scan_group(self, plan, unit, filter).await
    }

    async fn dependencies(&self) -> Result<Option<DependencyBuckets>, StorageError> {
        let Some(expected_bytes) = self.meta.dependencies_bytes else {
            return Ok(None);
        };
        let what = self.what(DEPENDENCIES_FILE);
        let Some(bytes) = self
            .shared
            .get_optional(&self.path(DEPENDENCIES_FILE))
            .await?
        else {
            return Err(StorageError::NotFound {
                tenant: self.meta.tenant.to_string(),
                block_id: self.meta.block_id.to_string(),
            });
        };
        if bytes.len() as u64 != expected_bytes {
            return Err(StorageError::corrupt(
                what,
                format!("has {} bytes, meta.json says {expected_bytes}", bytes.len()),
            ));
        }
        DependencyBuckets::from_json(&bytes, &what).map(Some)
    }

    fn spans(&self) -> BoxStream<'_, Result<Vec<Span>, StorageError>> {
        struct State<'a> {
            reader: &'a ObjectBlockReader,
            footer: Option<ArrowReaderMetadata>,
            next_group: usize,
            stream: Option<ParquetRecordBatchStream<ObjectFile>>,
            decoder: SpanDecoder,
        }
        let state = State {
            reader: self,
            footer: None,
            next_group: 0,
            stream: None,
            decoder: SpanDecoder::new(self.what(DATA_FILE)),
        };
        futures::stream::try_unfold(state, |mut state| async move {
            let what = state.reader.what(DATA_FILE);
            loop {
                if let Some(stream) = state.stream.as_mut() {
                    match stream
                        .try_next()
                        .await
                        .map_err(StorageError::parquet(&what))?
                    {
                        Some(batch) => {
                            let mut spans = Vec::with_capacity(batch.num_rows());
                            state.decoder.decode(&batch, None, &mut spans)?;
                            return Ok(Some((spans, state)));
                        }
                        None => state.stream = None,
                    }
                }
                let footer = match &state.footer {
                    Some(footer) => footer.clone(),
                    None => {
                        let footer = state.reader.data_footer().await?;
                        state.footer = Some(footer.clone());
                        footer
                    }
                };
                if state.next_group >= footer.metadata().num_row_groups() {
                    return Ok(None);
                }
                let group = state.next_group;
                state.next_group += 1;
                state.stream = Some(state.reader.data_stream(&footer, group, None, None, None)?);
                state.decoder.start_row_group();
            }
        })
        .boxed()
    }
}
