//! Chunk files and their meta files in the object store, under `<root>/logs/chunks/`.
//!
//! Layout: `logs/chunks/<tenant>/<chunk id>.chunk` and `<chunk id>.meta.json`. The meta
//! is written after the chunk, so a chunk is visible (listed by [`ChunkStore::load_index`])
//! only once both are durable.

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
}

const META_SUFFIX: &str = ".meta.json";

impl ChunkStore {
    /// Chunks under `<root>/logs/chunks` of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, root: &Path) -> Self {
        ChunkStore {
            store,
            prefix: root.clone().join("logs").join("chunks"),
        }
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
        let path = self.path(&meta.tenant, &format!("{}.chunk", meta.id));
        let failed = |error: object_store::Error| ChunkStoreError {
            action: "read",
            path: path.to_string(),
            reason: error.to_string(),
        };
        self.store
            .get(&path)
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)
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

    /// Deletes chunk files that have no meta file and were last written more than
    /// `older_than` ago: left by a crash between writing a chunk and its meta (its
    /// entries are still in the WAL), or by a restart between retention deleting a meta
    /// and its chunk. The age keeps it off a chunk another process sharing the bucket is
    /// writing right now. Returns how many were deleted.
    pub async fn delete_orphan_chunks(
        &self,
        older_than: std::time::Duration,
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
        let metas: std::collections::HashSet<&str> = objects
            .iter()
            .filter_map(|object| object.location.as_ref().strip_suffix(META_SUFFIX))
            .collect();
        let mut deleted = 0;
        for object in &objects {
            let Some(stem) = object.location.as_ref().strip_suffix(".chunk") else {
                continue;
            };
            if !metas.contains(stem) && object.last_modified.timestamp_millis() < cutoff {
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

    /// Reads every meta file. A meta that does not parse is skipped with a warning.
    pub async fn load_index(&self) -> Result<Vec<ChunkMeta>, ChunkStoreError> {
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
        let mut metas = Vec::new();
        for object in objects {
            if !object.location.as_ref().ends_with(META_SUFFIX) {
                continue;
            }
            let bytes = self
                .store
                .get(&object.location)
                .await
                .map_err(|error| ChunkStoreError {
                    action: "read",
                    path: object.location.to_string(),
                    reason: error.to_string(),
                })?
                .bytes()
                .await
                .map_err(|error| ChunkStoreError {
                    action: "read",
                    path: object.location.to_string(),
                    reason: error.to_string(),
                })?;
            match serde_json::from_slice::<ChunkMeta>(&bytes) {
                Ok(meta) => metas.push(meta),
                Err(error) => {
                    tracing::warn!(path = %object.location, %error, "skipping an unreadable chunk meta");
                }
            }
        }
        Ok(metas)
    }
}

/// Unix milliseconds `older_than` before now.
fn cutoff_unix_millis(older_than: std::time::Duration) -> i64 {
    let now = crate::time::now_unix_nanos() / 1_000_000;
    now.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX))
}
