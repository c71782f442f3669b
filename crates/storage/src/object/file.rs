//! Reading block files through `object_store`, counting the bytes read, and the
//! footer cache.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use crate::bloom::TraceBloom;
use crate::cache::LruCache;
use crate::config::CacheConfig;
use crate::error::StorageError;

/// Bytes fetched with the footer in one request (Parquet footers of blocks are usually
/// smaller, so most opens take one request).
const FOOTER_PREFETCH_BYTES: usize = 256 * 1024;

/// What every reader of one store shares: the object store, the caches and the counter
/// of bytes read.
pub struct Shared {
    /// The object store.
    pub store: Arc<dyn ObjectStore>,
    /// The same store's multipart API, when it has one: block files then go up as
    /// multipart uploads tracked by markers (see `upload.rs`).
    pub multipart: Option<Arc<dyn MultipartStore>>,
    /// Parquet footers by object path.
    pub footers: LruCache<String, ArrowReaderMetadata>,
    /// Bloom filters by block prefix.
    pub blooms: LruCache<String, Arc<TraceBloom>>,
    bytes_read: AtomicU64,
}

impl Shared {
    /// Shared state over `store` with caches bounded by `cache`.
    pub fn new(store: Arc<dyn ObjectStore>, cache: &CacheConfig) -> Self {
        Shared {
            store,
            multipart: None,
            footers: LruCache::new("footer", cache.max_footer_bytes),
            blooms: LruCache::new("bloom", cache.max_bloom_bytes),
            bytes_read: AtomicU64::new(0),
        }
    }

    /// Uploads block files through `multipart`, which must be the multipart API of the
    /// same store.
    pub fn with_multipart(mut self, multipart: Arc<dyn MultipartStore>) -> Self {
        self.multipart = Some(multipart);
        self
    }

    /// Total bytes read from the object store so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Counts `bytes` as read.
    pub fn count_read(&self, bytes: usize) {
        let bytes = bytes as u64;
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        metrics::counter!("weft_storage_read_bytes_total").increment(bytes);
    }

    /// The whole object at `path`. A missing object is `Ok(None)`.
    pub async fn get_optional(&self, path: &Path) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(path).await {
            Ok(result) => {
                let bytes = result
                    .bytes()
                    .await
                    .map_err(StorageError::object("read", path))?;
                self.count_read(bytes.len());
                Ok(Some(bytes))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(StorageError::object("get", path)(error)),
        }
    }

    /// The Parquet metadata (with offset indexes, and the column index of the first
    /// column) of the file at `path` of `file_bytes` bytes, through the footer cache.
    pub async fn footer(
        self: &Arc<Self>,
        path: &Path,
        file_bytes: u64,
        what: &str,
    ) -> Result<ArrowReaderMetadata, StorageError> {
        let key = path.to_string();
        if let Some(metadata) = self.footers.get(&key) {
            return Ok(metadata);
        }
        let mut reader = self.file(path.clone(), file_bytes);
        let metadata = ParquetMetaDataReader::new()
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Optional)
            .with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES))
            .load_and_finish(&mut reader, file_bytes)
            .await
            .map_err(StorageError::parquet(what))?;
        let memory = metadata.memory_size() as u64;
        let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(StorageError::parquet(what))?;
        self.footers.insert(key, metadata.clone(), memory);
        Ok(metadata)
    }

    /// A Parquet reader of the object at `path` (`file_bytes` long).
    pub fn file(self: &Arc<Self>, path: Path, file_bytes: u64) -> ObjectFile {
        ObjectFile {
            shared: self.clone(),
            path,
            file_bytes,
        }
    }
}

/// One Parquet file in the object store, read by byte ranges; every byte read is
/// counted. Metadata comes from [`Shared::footer`], never from this reader.
pub struct ObjectFile {
    shared: Arc<Shared>,
    path: Path,
    file_bytes: u64,
}

impl ObjectFile {
    fn check(&self, range: &Range<u64>) -> parquet::errors::Result<()> {
        if range.start > range.end || range.end > self.file_bytes {
            return Err(ParquetError::General(format!(
                "range {range:?} lies outside {} of {} bytes",
                self.path, self.file_bytes
            )));
        }
        Ok(())
    }
}

impl AsyncFileReader for ObjectFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.check(&range)?;
            let bytes = self
                .shared
                .store
                .get_range(&self.path, range)
                .await
                .map_err(|error| ParquetError::External(Box::new(error)))?;
            self.shared.count_read(bytes.len());
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            for range in &ranges {
                self.check(range)?;
            }
            let parts = self
                .shared
                .store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|error| ParquetError::External(Box::new(error)))?;
            self.shared
                .count_read(parts.iter().map(Bytes::len).sum::<usize>());
            Ok(parts)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            Err(ParquetError::General(String::from(
                "block files are opened with cached metadata",
            )))
        }
        .boxed()
    }
}
