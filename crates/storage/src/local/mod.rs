//! The v0 block engine on the local filesystem.
//!
//! Layout under the store's root (`<data>/blocks`):
//! ```text
//! <tenant>/<block-id>/data        zstd-compressed chunks of encoded spans
//! <tenant>/<block-id>/index       sorted trace ids -> chunk + digest
//! <tenant>/<block-id>/meta.json   counts, time range, names, WAL range
//! <tenant>/.tmp-<block-id>/       a block being written or deleted; never read
//! ```
//! See `docs/format/blocks-v0.md`.

mod files;
mod index;
mod reader;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_model::{Span, TenantId};

pub use files::sync_directory;
pub use reader::{LocalBlockReader, read_meta};
pub use writer::now_unix_nanos;

use crate::block_id::BlockId;
use crate::error::StorageError;
use crate::meta::BlockMeta;
use crate::store::{BlockReader, BlockStore, BlockWriteOptions, StoredBlock};

/// Prefix of directories that are not (or no longer) complete blocks.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// Blocks in a local directory tree. Safe to share between threads; several processes
/// must not write the same root.
#[derive(Debug, Clone)]
pub struct LocalBlockStore {
    root: PathBuf,
}

impl LocalBlockStore {
    /// A store rooted at `root` (created if missing). Leftovers of interrupted writes and
    /// deletes (`.tmp-*` directories) are removed.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalBlockStore, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(StorageError::io("create directory", &root))?;
        let store = LocalBlockStore { root };
        store.remove_temporary()?;
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tenant_directory(&self, tenant: &TenantId) -> PathBuf {
        // Tenant ids are validated to be safe path segments.
        self.root.join(tenant.as_str())
    }

    /// Writes a block's files with `write` into a temporary directory, then renames it
    /// into place and fsyncs the tenant directory: a crash at any point leaves either a
    /// complete block or a `.tmp-` directory that the next open removes.
    fn write_atomically(
        &self,
        tenant: &TenantId,
        write: impl FnOnce(&Path, BlockId) -> Result<BlockMeta, StorageError>,
    ) -> Result<BlockMeta, StorageError> {
        let tenant_directory = self.tenant_directory(tenant);
        if !tenant_directory.is_dir() {
            std::fs::create_dir_all(&tenant_directory)
                .map_err(StorageError::io("create directory", &tenant_directory))?;
            sync_directory(&self.root)?;
        }
        let block_id = BlockId::generate();
        let temporary = tenant_directory.join(format!("{TEMPORARY_PREFIX}{block_id}"));
        std::fs::create_dir(&temporary)
            .map_err(StorageError::io("create directory", &temporary))?;
        let meta = match write(&temporary, block_id) {
            Ok(meta) => meta,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&temporary);
                return Err(error);
            }
        };
        let final_path = tenant_directory.join(block_id.to_string());
        if let Err(error) = std::fs::rename(&temporary, &final_path) {
            let _ = std::fs::remove_dir_all(&temporary);
            return Err(StorageError::io("rename", &temporary)(error));
        }
        sync_directory(&tenant_directory)?;
        Ok(meta)
    }

    fn remove_temporary(&self) -> Result<(), StorageError> {
        for tenant in self.tenants()? {
            let directory = self.tenant_directory(&tenant);
            for entry in read_directory(&directory)? {
                if entry.starts_with(TEMPORARY_PREFIX) {
                    let path = directory.join(&entry);
                    tracing::info!(path = %path.display(), "removing an unfinished block");
                    std::fs::remove_dir_all(&path).map_err(StorageError::io("remove", &path))?;
                }
            }
        }
        Ok(())
    }
}

fn read_directory(directory: &Path) -> Result<Vec<String>, StorageError> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(StorageError::io("list", directory)(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io("list", directory))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

impl BlockStore for LocalBlockStore {
    fn write_block(
        &self,
        tenant: &TenantId,
        spans: &[&Span],
        options: &BlockWriteOptions,
    ) -> Result<Option<BlockMeta>, StorageError> {
        if spans.is_empty() {
            return Ok(None);
        }
        self.write_atomically(tenant, |directory, block_id| {
            writer::write_block_files(directory, tenant, block_id, spans, options)
        })
        .map(Some)
    }

    fn write_stored_block(
        &self,
        tenant: &TenantId,
        block: &StoredBlock<'_>,
        options: &BlockWriteOptions,
    ) -> Result<Option<BlockMeta>, StorageError> {
        if block.spans.is_empty() {
            return Ok(None);
        }
        self.write_atomically(tenant, |directory, block_id| {
            writer::write_stored_block_files(directory, tenant, block_id, block, options)
        })
        .map(Some)
    }

    fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        let mut tenants = Vec::new();
        for name in read_directory(&self.root)? {
            match TenantId::parse(&name) {
                Ok(tenant) if self.root.join(&name).is_dir() => tenants.push(tenant),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(directory = %name, %error, "skipping a directory that is not a tenant");
                }
            }
        }
        Ok(tenants)
    }

    fn list_blocks(&self, tenant: &TenantId) -> Result<Vec<BlockId>, StorageError> {
        let directory = self.tenant_directory(tenant);
        let mut blocks: Vec<BlockId> = read_directory(&directory)?
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect();
        blocks.sort();
        Ok(blocks)
    }

    fn open_block(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
    ) -> Result<Arc<dyn BlockReader>, StorageError> {
        let directory = self.tenant_directory(tenant).join(block_id.to_string());
        if !directory.is_dir() {
            return Err(StorageError::NotFound {
                tenant: tenant.to_string(),
                block_id: block_id.to_string(),
            });
        }
        let reader = LocalBlockReader::open(&directory)?;
        if reader.meta().block_id != block_id || &reader.meta().tenant != tenant {
            return Err(StorageError::corrupt(
                format!("block {block_id}"),
                "meta.json names another block or tenant",
            ));
        }
        Ok(Arc::new(reader))
    }

    fn delete_block(&self, tenant: &TenantId, block_id: BlockId) -> Result<(), StorageError> {
        let tenant_directory = self.tenant_directory(tenant);
        let directory = tenant_directory.join(block_id.to_string());
        if !directory.exists() {
            return Ok(());
        }
        // Renaming first makes the deletion atomic for listers; a crash leaves a .tmp-
        // directory that the next open removes.
        let doomed = tenant_directory.join(format!("{TEMPORARY_PREFIX}deleted-{block_id}"));
        std::fs::rename(&directory, &doomed).map_err(StorageError::io("rename", &directory))?;
        sync_directory(&tenant_directory)?;
        std::fs::remove_dir_all(&doomed).map_err(StorageError::io("remove", &doomed))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
