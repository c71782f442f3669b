//! [`ObjectBlockStore`]: block format v1 over `object_store` (local filesystem or S3).
//!
//! Layout under the store's root (a directory, or a bucket and key prefix):
//! ```text
//! <tenant>/<block-id>/data.parquet     spans, one row per span, in block order
//! <tenant>/<block-id>/traces.parquet   one row per trace part (digests)
//! <tenant>/<block-id>/bloom            bloom filter over the block's trace ids
//! <tenant>/<block-id>/meta.json        written last: the block exists iff it does
//! <tenant>/<block-id>/uploads/<file>.json  while a multipart upload of <file> is open
//! ```
//! See `docs/format/blocks-v1.md`.

mod file;
mod reader;
mod search;
mod upload;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use weft_model::{Span, TenantId};

pub use reader::ObjectBlockReader;
pub use writer::ObjectBlockWriter;

use self::file::Shared;
use crate::block_id::BlockId;
use crate::config::{BackendKind, CacheConfig, S3Config, StorageBackendConfig};
use crate::error::StorageError;
use crate::meta::BlockMeta;
use crate::store::{
    BlockListing, BlockReader, BlockStore, BlockWriteOptions, BlockWriter, block_order,
};

/// The spans of a block, one row per span.
pub const DATA_FILE: &str = "data.parquet";
/// The trace table, one row per trace part.
pub const TRACES_FILE: &str = "traces.parquet";
/// The bloom filter over trace ids.
pub const BLOOM_FILE: &str = "bloom";
/// The block's dependency links per minute (`crate::dependencies`).
pub const DEPENDENCIES_FILE: &str = "dependencies.json";
/// The block's metadata; written last.
pub const META_FILE: &str = "meta.json";

/// How many rows a row group of `data.parquet` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGroupRows {
    /// A row group is closed at the first trace boundary at or after this many rows.
    pub target_rows: usize,
    /// A row group is closed at this many rows even inside a trace (a larger trace is
    /// split over row groups). At least `target_rows`.
    pub max_rows: usize,
}

impl Default for RowGroupRows {
    fn default() -> Self {
        RowGroupRows {
            target_rows: 64 * 1024,
            max_rows: 256 * 1024,
        }
    }
}

/// Blocks in an object store. Cheap to share between threads and tasks; readers it
/// opens share its footer and bloom caches. Several processes may read the same root;
/// block ids are random, so several writers never collide either.
pub struct ObjectBlockStore {
    shared: Arc<Shared>,
    prefix: Path,
    /// The root directory for the local backend (for fsync and cleanup of staging files).
    local_root: Option<PathBuf>,
    /// The local backend's store, which maps object paths to files.
    local_fs: Option<Arc<LocalFileSystem>>,
    description: String,
    row_groups: RowGroupRows,
}

impl std::fmt::Debug for ObjectBlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlockStore")
            .field("at", &self.description)
            .finish()
    }
}

/// Opens the configured block store: `local` under `local_dir`, or `s3` (checked to be
/// reachable with one list call, so a wrong endpoint, bucket or credentials fail here
/// with an error naming endpoint and bucket).
pub async fn open_block_store(
    config: &StorageBackendConfig,
    local_dir: &std::path::Path,
) -> Result<Arc<dyn BlockStore>, StorageError> {
    match config.backend {
        BackendKind::Local => Ok(Arc::new(ObjectBlockStore::local(
            local_dir,
            config.cache.clone(),
        )?)),
        BackendKind::S3 => {
            let store = ObjectBlockStore::s3(&config.s3, config.cache.clone())?;
            store.check_reachable(&config.s3).await?;
            Ok(Arc::new(store))
        }
    }
}

/// The raw object store behind the block store of `config` and the prefix blocks live
/// under, opened exactly as [`open_block_store`] opens it (local files fsynced, S3 with
/// the same settings and reachability check), for other data kept beside the blocks
/// (logs keep their chunks under `<prefix>/logs/`).
pub async fn open_object_store(
    config: &StorageBackendConfig,
    local_dir: &std::path::Path,
) -> Result<(Arc<dyn ObjectStore>, Path), StorageError> {
    let store = match config.backend {
        BackendKind::Local => ObjectBlockStore::local(local_dir, config.cache.clone())?,
        BackendKind::S3 => {
            let store = ObjectBlockStore::s3(&config.s3, config.cache.clone())?;
            store.check_reachable(&config.s3).await?;
            store
        }
    };
    Ok((store.shared.store.clone(), store.prefix.clone()))
}

impl ObjectBlockStore {
    /// Blocks under the local directory `dir` (created if missing). Every block file is
    /// fsynced with its directory before the write that made it returns.
    pub fn local(dir: &std::path::Path, cache: CacheConfig) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
        let root = std::fs::canonicalize(dir).map_err(StorageError::io("resolve", dir))?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|error| StorageError::ObjectStore {
                action: "open",
                path: root.display().to_string(),
                source: error,
            })?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        let store = Arc::new(store);
        Ok(ObjectBlockStore {
            shared: Arc::new(Shared::new(store.clone(), &cache)),
            local_fs: Some(store),
            prefix: Path::default(),
            description: format!("local directory {}", root.display()),
            local_root: Some(root),
            row_groups: RowGroupRows::default(),
        })
    }

    /// Blocks in an S3-compatible bucket. Settings come from the standard AWS
    /// environment variables, overridden by the non-empty fields of `config`; an
    /// endpoint switches to path-style requests. Nothing is sent until first use (see
    /// [`open_block_store`] for the reachability check).
    pub fn s3(config: &S3Config, cache: CacheConfig) -> Result<Self, StorageError> {
        if config.bucket.is_empty() {
            return Err(StorageError::Config(String::from(
                "s3.bucket is empty: the s3 backend needs a bucket",
            )));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if !config.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&config.endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if !config.region.is_empty() {
            builder = builder.with_region(&config.region);
        }
        if config.allow_http {
            builder = builder.with_allow_http(true);
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| String::from("the default AWS endpoint"));
        let store = Arc::new(builder.build().map_err(|error| {
            StorageError::Config(format!(
                "s3 bucket {} at {endpoint}: {error}",
                config.bucket
            ))
        })?);
        let prefix = Path::parse(config.prefix.trim_matches('/')).map_err(|error| {
            StorageError::Config(format!("s3.prefix {:?}: {error}", config.prefix))
        })?;
        Ok(ObjectBlockStore {
            shared: Arc::new(Shared::new(store.clone(), &cache).with_multipart(store)),
            description: format!(
                "s3 bucket {} prefix {:?} at {endpoint}",
                config.bucket, config.prefix
            ),
            prefix,
            local_root: None,
            local_fs: None,
            row_groups: RowGroupRows::default(),
        })
    }

    /// Blocks in any object store under `prefix` (tests, other clouds). No fsync is done
    /// beyond what the store itself guarantees.
    pub fn from_object_store(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        cache: CacheConfig,
    ) -> Self {
        ObjectBlockStore {
            description: format!("{store} prefix {prefix}"),
            shared: Arc::new(Shared::new(store, &cache)),
            prefix,
            local_root: None,
            local_fs: None,
            row_groups: RowGroupRows::default(),
        }
    }

    /// Blocks in an object store that also offers multipart uploads (GCS, Azure, the
    /// in-memory store), under `prefix`. As [`ObjectBlockStore::from_object_store`],
    /// except that block files above 10 MiB go up as multipart uploads tracked by a
    /// marker, which [`BlockStore::delete_block`] uses to abort an upload left open by
    /// a killed writer (as on S3).
    pub fn from_multipart_store<S: ObjectStore + MultipartStore>(
        store: Arc<S>,
        prefix: Path,
        cache: CacheConfig,
    ) -> Self {
        ObjectBlockStore {
            description: format!("{store} prefix {prefix}"),
            shared: Arc::new(Shared::new(store.clone(), &cache).with_multipart(store)),
            prefix,
            local_root: None,
            local_fs: None,
            row_groups: RowGroupRows::default(),
        }
    }

    /// Uses `rows` for the row groups of blocks written from now on (the default suits
    /// production; tests use small groups).
    pub fn with_row_group_rows(mut self, rows: RowGroupRows) -> Self {
        self.row_groups = RowGroupRows {
            target_rows: rows.target_rows.max(1),
            max_rows: rows.max_rows.max(rows.target_rows).max(1),
        };
        self
    }

    /// Bytes read from the object store by this store and its readers so far.
    pub fn bytes_read(&self) -> u64 {
        self.shared.bytes_read()
    }

    /// Lists the root once; errors name the endpoint and bucket of `config`.
    async fn check_reachable(&self, config: &S3Config) -> Result<(), StorageError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        match self.shared.store.list_with_delimiter(prefix).await {
            Ok(_) => Ok(()),
            Err(source) => Err(StorageError::Unreachable {
                endpoint: if config.endpoint.is_empty() {
                    String::from("default AWS endpoint")
                } else {
                    config.endpoint.clone()
                },
                bucket: config.bucket.clone(),
                source,
            }),
        }
    }

    fn tenant_prefix(&self, tenant: &TenantId) -> Path {
        // Tenant ids are validated to `[A-Za-z0-9!_.*'()-]`, never `.` or `..`.
        self.prefix.clone().join(tenant.as_str())
    }

    fn block_prefix(&self, tenant: &TenantId, block_id: BlockId) -> Path {
        self.tenant_prefix(tenant).join(block_id.to_string())
    }

    fn object_path(&self, tenant: &TenantId, block_id: BlockId, file: &str) -> Path {
        self.block_prefix(tenant, block_id).join(file)
    }

    /// The local directory of a block (local backend only), as the local object store
    /// maps the block's prefix onto the filesystem.
    fn local_block_directory(&self, tenant: &TenantId, block_id: BlockId) -> Option<PathBuf> {
        let local = self.local_fs.as_ref()?;
        let file = self.object_path(tenant, block_id, META_FILE);
        let path = local.path_to_filesystem(&file).ok()?;
        path.parent().map(PathBuf::from)
    }

    /// Every object under `prefix`.
    async fn list_objects(
        &self,
        prefix: &Path,
    ) -> Result<Vec<object_store::ObjectMeta>, StorageError> {
        self.shared
            .store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(StorageError::object("list", prefix))
    }

    /// The root directory of the local backend; `None` for other backends.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The local directory of a tenant's blocks (local backend only).
    fn local_tenant_directory(&self, tenant: &TenantId) -> Option<PathBuf> {
        let directory = self.local_block_directory(tenant, BlockId::from_parts(0, 0))?;
        directory.parent().map(PathBuf::from)
    }

    async fn new_writer(
        &self,
        tenant: &TenantId,
        options: &BlockWriteOptions,
    ) -> Result<ObjectBlockWriter, StorageError> {
        let block_id = BlockId::generate();
        ObjectBlockWriter::create(writer::WriterTarget {
            shared: self.shared.clone(),
            tenant: tenant.clone(),
            block_id,
            block_prefix: self.block_prefix(tenant, block_id),
            local_directory: self.local_block_directory(tenant, block_id),
            local_root: self.local_root.clone(),
            row_groups: self.row_groups,
            options: options.clone(),
        })
    }

    fn what(tenant: &TenantId, block_id: BlockId, file: &str) -> String {
        format!("tenant {tenant} block {block_id} {file}")
    }
}

#[async_trait]
impl BlockStore for ObjectBlockStore {
    async fn write_block(
        &self,
        tenant: &TenantId,
        spans: &[Span],
        options: &BlockWriteOptions,
    ) -> Result<Option<BlockMeta>, StorageError> {
        if spans.is_empty() {
            return Ok(None);
        }
        let mut sorted: Vec<&Span> = spans.iter().collect();
        sorted.sort_by(|left, right| block_order(left, right));
        let mut writer = self.new_writer(tenant, options).await?;
        if let Err(error) = writer.push_refs(&sorted).await {
            if let Err(abort_error) = Box::new(writer).abort().await {
                tracing::warn!(%abort_error, "cannot remove the files of a failed block write");
            }
            return Err(error);
        }
        Box::new(writer).finish().await
    }

    async fn writer(
        &self,
        tenant: &TenantId,
        options: &BlockWriteOptions,
    ) -> Result<Box<dyn BlockWriter>, StorageError> {
        Ok(Box::new(self.new_writer(tenant, options).await?))
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listing = self
            .shared
            .store
            .list_with_delimiter(prefix)
            .await
            .map_err(StorageError::object("list", &self.prefix))?;
        let mut tenants: Vec<TenantId> = listing
            .common_prefixes
            .iter()
            .filter_map(|path| path.filename())
            .filter_map(|name| TenantId::parse(&percent_decode(name)?).ok())
            .collect();
        tenants.sort();
        tenants.dedup();
        Ok(tenants)
    }

    async fn list_blocks(&self, tenant: &TenantId) -> Result<BlockListing, StorageError> {
        let prefix = self.tenant_prefix(tenant);
        let objects = self.list_objects(&prefix).await?;
        // block -> (has meta.json, newest modification in nanoseconds)
        let mut blocks: BTreeMap<BlockId, (bool, u64)> = BTreeMap::new();
        for object in objects {
            let Some(parts) = object.location.prefix_match(&prefix) else {
                continue;
            };
            let parts: Vec<PathPart<'_>> = parts.collect();
            // Any object inside a block directory counts: an upload marker may be all
            // that a killed write left.
            let [block, files @ ..] = parts.as_slice() else {
                continue;
            };
            if files.is_empty() {
                continue;
            }
            let Ok(block_id) = block.as_ref().parse::<BlockId>() else {
                continue;
            };
            let modified = object
                .last_modified
                .timestamp_nanos_opt()
                .and_then(|nanos| u64::try_from(nanos).ok())
                .unwrap_or(0);
            let entry = blocks.entry(block_id).or_insert((false, 0));
            entry.0 |= matches!(files, [file] if file.as_ref() == META_FILE);
            entry.1 = entry.1.max(modified);
        }
        // On local disk, an upload cut off by a crash leaves staging files (`name#N`) that
        // the object listing does not show, and a block directory may be left empty:
        // list such directories as incomplete too, so cleanup removes them.
        if let Some(tenant_directory) = self.local_tenant_directory(tenant) {
            let found =
                tokio::task::spawn_blocking(move || local_block_directories(&tenant_directory))
                    .await
                    .unwrap_or_default();
            for (block_id, modified) in found {
                blocks.entry(block_id).or_insert((false, modified));
            }
        }
        let mut listing = BlockListing::default();
        for (block_id, (complete, modified)) in blocks {
            if complete {
                listing.complete.push(block_id);
            } else {
                listing.incomplete.push((block_id, modified));
            }
        }
        Ok(listing)
    }

    async fn read_meta(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<BlockMeta, StorageError> {
        let path = self.object_path(tenant, block_id, META_FILE);
        let what = Self::what(tenant, block_id, META_FILE);
        let Some(bytes) = self.shared.get_optional(&path).await? else {
            return Err(StorageError::NotFound {
                tenant: tenant.to_string(),
                block_id: block_id.to_string(),
            });
        };
        let meta = BlockMeta::from_json(&bytes, &what)?;
        if meta.block_id != block_id || &meta.tenant != tenant {
            return Err(StorageError::corrupt(
                what,
                format!("names block {} of tenant {}", meta.block_id, meta.tenant),
            ));
        }
        Ok(meta)
    }

    async fn open_block(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<Arc<dyn BlockReader>, StorageError> {
        let meta = self.read_meta(tenant, block_id).await?;
        Ok(Arc::new(ObjectBlockReader::new(
            self.shared.clone(),
            self.block_prefix(tenant, block_id),
            meta,
        )))
    }

    async fn delete_block(&self, tenant: &TenantId, block_id: BlockId) -> Result<(), StorageError> {
        let meta_path = self.object_path(tenant, block_id, META_FILE);
        match self.shared.store.delete(&meta_path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(StorageError::object("delete", &meta_path)(error)),
        }
        let prefix = self.block_prefix(tenant, block_id);
        let key = prefix.to_string();
        self.shared.blooms.remove_where(|cached| *cached == key);
        let file_prefix = format!("{key}/");
        self.shared
            .footers
            .remove_where(|cached| cached.starts_with(&file_prefix));
        let objects = self.list_objects(&prefix).await?;
        // Before any marker goes: a marker is the only record of its upload's id.
        let aborted = upload::abort_marked_uploads(&self.shared, &prefix, &objects).await?;
        if aborted > 0 {
            metrics::counter!("weft_storage_uploads_aborted_total").increment(aborted as u64);
            tracing::info!(block = %prefix, aborted, "aborted multipart uploads of a deleted block");
        }
        for object in objects {
            match self.shared.store.delete(&object.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(StorageError::object("delete", &object.location)(error)),
            }
        }
        if let Some(directory) = self.local_block_directory(tenant, block_id) {
            // Staging files of an interrupted upload are not listed; remove them too.
            match tokio::fs::remove_dir_all(&directory).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::io("remove", directory)(error)),
            }
        }
        metrics::counter!("weft_storage_blocks_deleted_total").increment(1);
        Ok(())
    }
}

/// Undoes the percent-encoding `object_store` applies to path parts (a tenant id may
/// contain `*`, which it encodes). `None` for malformed escapes.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Block directories under a local tenant directory, with the newest modification time
/// (nanoseconds since the Unix epoch) of the directory and its files. Unreadable
/// entries are skipped.
fn local_block_directories(tenant_directory: &std::path::Path) -> Vec<(BlockId, u64)> {
    let nanos = |metadata: &std::fs::Metadata| {
        metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
            })
    };
    let Ok(entries) = std::fs::read_dir(tenant_directory) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(block_id) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<BlockId>().ok())
        else {
            continue;
        };
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if !metadata.is_dir() {
            continue;
        }
        let mut newest = nanos(&metadata);
        if let Ok(files) = std::fs::read_dir(entry.path()) {
            for file in files.flatten() {
                if let Ok(file_metadata) = file.metadata() {
                    newest = newest.max(nanos(&file_metadata));
                }
            }
        }
        found.push((block_id, newest));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_undoes_object_store_encoding() {
        let encoded = Path::default().join("team*a");
        assert_eq!(percent_decode(encoded.as_ref()).as_deref(), Some("team*a"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%2"), None);
    }
}
