//! Chunk files and their meta files in the object store, under `<root>/logs/chunks/`,
//! and the day index files under `<root>/logs/index/`.
//!
//! Layout: `logs/chunks/<tenant>/<chunk id>.chunk` and `<chunk id>.meta.json`. The meta
//! is written after the chunk, so a chunk is visible (listed by [`ChunkStore::load_index`])
//! only once both are durable. Index compaction gathers the metas of a tenant's day
//! (by the chunk's first entry) into `logs/index/<tenant>/<YYYY-MM-DD>.json.zst`
//! (zstd-compressed JSON: `{"format_version":1,"tenant","day","chunks":[meta...]}`)
//! and then deletes the single meta files; a chunk listed in both is loaded once.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::chunk::ChunkMeta;

/// Object store failures, naming the action and the object.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {reason}")]
pub struct ChunkStoreError {
    /// What was being done.
    pub action: &'static str,
    /// The object path.
    pub path: String,
    /// The store's message.
    pub reason: String,
}

/// Chunks of every tenant in one object store.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    index_prefix: Path,
}

const META_SUFFIX: &str = ".meta.json";
const DAY_INDEX_SUFFIX: &str = ".json.zst";
/// The day index format written and read.
const DAY_INDEX_FORMAT_VERSION: u8 = 1;
/// Meta and index files read at once when the index is loaded.
const LOAD_CONCURRENCY: usize = 16;

/// A tenant's day index file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DayIndex {
    format_version: u8,
    tenant: String,
    day: String,
    chunks: Vec<ChunkMeta>,
}

/// What [`ChunkStore::load`] found.
#[derive(Debug, Default)]
pub struct LoadedIndex {
    /// Every chunk, once.
    pub chunks: Vec<ChunkMeta>,
    /// Ids of the chunks that have a meta file of their own (not yet compacted).
    pub loose: std::collections::HashSet<String>,
    /// The (tenant, day) of every day index file.
    pub days: std::collections::HashSet<(String, String)>,
}

impl ChunkStore {
    /// Chunks under `<root>/logs/chunks` of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, root: &Path) -> Self {
        ChunkStore {
            store,
            prefix: root.clone().join("logs").join("chunks"),
            index_prefix: root.clone().join("logs").join("index"),
        }
    }

    fn day_index_path(&self, tenant: &str, day: &str) -> Path {
        self.index_prefix
            .clone()
            .join(tenant)
            .join(format!("{day}{DAY_INDEX_SUFFIX}"))
    }

    /// Writes the day index of `tenant` and `day` (`YYYY-MM-DD`) listing `chunks`,
    /// replacing the one there.
    pub async fn write_day_index(
        &self,
        tenant: &str,
        day: &str,
        chunks: Vec<ChunkMeta>,
    ) -> Result<(), ChunkStoreError> {
        let path = self.day_index_path(tenant, day);
        let failed = |reason: String| ChunkStoreError {
            action: "encode",
            path: path.to_string(),
            reason,
        };
        let index = DayIndex {
            format_version: DAY_INDEX_FORMAT_VERSION,
            tenant: tenant.to_owned(),
            day: day.to_owned(),
            chunks,
        };
        let json = serde_json::to_vec(&index).map_err(|error| failed(error.to_string()))?;
        let compressed =
            zstd::bulk::compress(&json, 3).map_err(|error| failed(error.to_string()))?;
        self.put(&path, compressed).await
    }

    /// Deletes the day index of `tenant` and `day`. Deleting one already gone is not an
    /// error.
    pub async fn delete_day_index(&self, tenant: &str, day: &str) -> Result<(), ChunkStoreError> {
        self.delete(&self.day_index_path(tenant, day)).await
    }

    fn path(&self, tenant: &str, file: &str) -> Path {
        self.prefix.clone().join(tenant).join(file)
    }

    /// Writes a chunk then its meta. After `Ok` both are durable (the local backend
    /// fsyncs every file).
    pub async fn write(&self, meta: &ChunkMeta, chunk: Vec<u8>) -> Result<(), ChunkStoreError> {
        let chunk_path = self.path(&meta.tenant, &format!("{}.chunk", meta.id));
        self.put(&chunk_path, chunk).await?;
        let meta_json = serde_json::to_vec(meta).map_err(|error| ChunkStoreError {
            action: "encode",
            path: meta.id.clone(),
            reason: error.to_string(),
        })?;
        let meta_path = self.path(&meta.tenant, &format!("{}{META_SUFFIX}", meta.id));
        self.put(&meta_path, meta_json).await
    }

    async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<(), ChunkStoreError> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|error| ChunkStoreError {
                action: "write",
                path: path.to_string(),
                reason: error.to_string(),
            })
    }

    /// Reads a chunk file.
    pub async fn read(&self, meta: &ChunkMeta) -> Result<Bytes, ChunkStoreError> {
        self.get(&self.path(&meta.tenant, &format!("{}.chunk", meta.id)))
            .await
    }

    /// Deletes a chunk's meta file: the chunk is no longer listed by
    /// [`ChunkStore::load_index`]. Deleting one already gone is not an error.
    pub async fn delete_meta(&self, meta: &ChunkMeta) -> Result<(), ChunkStoreError> {
        self.delete(&self.path(&meta.tenant, &format!("{}{META_SUFFIX}", meta.id)))
            .await
    }

    /// Deletes a chunk file. Deleting one already gone is not an error.
    pub async fn delete_chunk(&self, meta: &ChunkMeta) -> Result<(), ChunkStoreError> {
        self.delete(&self.path(&meta.tenant, &format!("{}.chunk", meta.id)))
            .await
    }

    async fn delete(&self, path: &Path) -> Result<(), ChunkStoreError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(ChunkStoreError {
                action: "delete",
                path: path.to_string(),
                reason: error.to_string(),
            }),
        }
    }

    /// Deletes chunk files that neither `index` (day indexes and meta files, as
    /// [`ChunkStore::load`] read them) nor a meta file written since lists, and that
    /// were last written more than `older_than` ago: left by a crash between writing a
    /// chunk and its meta (its entries are still in the WAL), or by a restart between
    /// retention deleting a meta and its chunk. The age keeps it off a chunk another
    /// process sharing the bucket is writing right now. Returns how many were deleted.
    pub async fn delete_orphan_chunks(
        &self,
        older_than: std::time::Duration,
        index: &LoadedIndex,
    ) -> Result<usize, ChunkStoreError> {
        let cutoff = cutoff_unix_millis(older_than);
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|error| ChunkStoreError {
                action: "list",
                path: self.prefix.to_string(),
                reason: error.to_string(),
            })?;
        let mut listed: std::collections::HashSet<String> = objects
            .iter()
            .filter_map(|object| object.location.as_ref().strip_suffix(META_SUFFIX))
            .map(str::to_owned)
            .collect();
        listed.extend(
            index
                .chunks
                .iter()
                .map(|meta| self.path(&meta.tenant, &meta.id).to_string()),
        );
        let mut deleted = 0;
        for object in &objects {
            let Some(stem) = object.location.as_ref().strip_suffix(".chunk") else {
                continue;
            };
            if !listed.contains(stem) && object.last_modified.timestamp_millis() < cutoff {
                self.delete(&object.location).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Reads bytes `range` (start inclusive, end exclusive) of a chunk file; the range
    /// must lie inside the file.
    pub async fn read_range(
        &self,
        meta: &ChunkMeta,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, ChunkStoreError> {
        let path = self.path(&meta.tenant, &format!("{}.chunk", meta.id));
        self.store
            .get_range(&path, range)
            .await
            .map_err(|error| ChunkStoreError {
                action: "read",
                path: path.to_string(),
                reason: error.to_string(),
            })
    }

    /// Every chunk (day index files and meta files), each once.
    pub async fn load_index(&self) -> Result<Vec<ChunkMeta>, ChunkStoreError> {
        Ok(self.load().await?.chunks)
    }

    async fn list(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>, ChunkStoreError> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|error| ChunkStoreError {
                action: "list",
                path: prefix.to_string(),
                reason: error.to_string(),
            })
    }

    async fn get(&self, path: &Path) -> Result<Bytes, ChunkStoreError> {
        let failed = |error: object_store::Error| ChunkStoreError {
            action: "read",
            path: path.to_string(),
            reason: error.to_string(),
        };
        self.store
            .get(path)
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)
    }

    /// Reads the day index files and the meta files (several at a time). A file that
    /// does not parse is skipped with a warning; a chunk in a day index and in a meta
    /// file of its own is loaded once and counted loose.
    pub async fn load(&self) -> Result<LoadedIndex, ChunkStoreError> {
        use futures::StreamExt;
        let mut loaded = LoadedIndex::default();
        let mut seen = std::collections::HashSet::new();
        let day_files: Vec<Path> = self
            .list(&self.index_prefix)
            .await?
            .into_iter()
            .map(|object| object.location)
            .filter(|path| path.as_ref().ends_with(DAY_INDEX_SUFFIX))
            .collect();
        let mut days = futures::stream::iter(day_files.into_iter().map(|path| async move {
            let bytes = self.get(&path).await;
            (path, bytes)
        }))
        .buffer_unordered(LOAD_CONCURRENCY);
        while let Some((path, bytes)) = days.next().await {
            let decoded = zstd::stream::decode_all(&bytes?[..])
                .map_err(|error| error.to_string())
                .and_then(|json| {
                    serde_json::from_slice::<DayIndex>(&json).map_err(|error| error.to_string())
                });
            match decoded {
                Ok(index) if index.format_version == DAY_INDEX_FORMAT_VERSION => {
                    loaded
                        .days
                        .insert((index.tenant.clone(), index.day.clone()));
                    for meta in index.chunks {
                        if seen.insert(meta.id.clone()) {
                            loaded.chunks.push(meta);
                        }
                    }
                }
                Ok(index) => {
                    tracing::warn!(path = %path, version = index.format_version, "skipping a day index of an unknown format version")
                }
                Err(error) => {
                    tracing::warn!(path = %path, %error, "skipping an unreadable day index")
                }
            }
        }
        let meta_files: Vec<Path> = self
            .list(&self.prefix)
            .await?
            .into_iter()
            .map(|object| object.location)
            .filter(|path| path.as_ref().ends_with(META_SUFFIX))
            .collect();
        let mut metas = futures::stream::iter(meta_files.into_iter().map(|path| async move {
            let bytes = self.get(&path).await;
            (path, bytes)
        }))
        .buffer_unordered(LOAD_CONCURRENCY);
        while let Some((path, bytes)) = metas.next().await {
            match serde_json::from_slice::<ChunkMeta>(&bytes?) {
                Ok(meta) => {
                    loaded.loose.insert(meta.id.clone());
                    if seen.insert(meta.id.clone()) {
                        loaded.chunks.push(meta);
                    }
                }
                Err(error) => {
                    tracing::warn!(path = %path, %error, "skipping an unreadable chunk meta");
                }
            }
        }
        Ok(loaded)
    }
}

/// Unix milliseconds `older_than` before now.
fn cutoff_unix_millis(older_than: std::time::Duration) -> i64 {
    let now = crate::time::now_unix_nanos() / 1_000_000;
    now.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX))
}
