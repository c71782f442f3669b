//! The blocks this process reads: every complete block in the store, minus the blocks
//! that a compacted block replaces.
//!
//! Blocks change behind the ingester's back (the compactor merges and deletes them, in
//! this process or another), so the catalog is refreshed from the store periodically
//! and whenever a read finds a block gone. A refresh opens new blocks, drops deleted
//! ones, and hides blocks named in the `compacted_from` of another complete block: after
//! a crash between a compaction's commit and the deletion of its inputs, the inputs are
//! still in the store but their spans are never shown twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use weft_model::TenantId;
use weft_storage::{BlockId, BlockReader, BlockStore, StorageError, WalSegmentRange};

/// Open block readers per tenant, oldest first, and the WAL ranges every complete block
/// (visible or replaced) covers.
#[derive(Debug)]
pub(crate) struct Catalog {
    store: Arc<dyn BlockStore>,
    state: RwLock<CatalogState>,
    /// Serialises refreshes.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct CatalogState {
    visible: HashMap<TenantId, Vec<Arc<dyn BlockReader>>>,
    /// Readers of blocks that are replaced but not yet deleted, kept for their WAL
    /// coverage and so they need not be reopened on every refresh.
    replaced: HashMap<TenantId, Vec<Arc<dyn BlockReader>>>,
}

/// What one refresh changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshReport {
    pub opened: usize,
    pub dropped: usize,
    pub unreadable: usize,
}

impl Catalog {
    pub(crate) fn new(store: Arc<dyn BlockStore>) -> Catalog {
        Catalog {
            store,
            state: RwLock::new(CatalogState::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn BlockStore> {
        &self.store
    }

    /// The visible blocks of `tenant`, oldest first.
    pub(crate) fn blocks(&self, tenant: &TenantId) -> Vec<Arc<dyn BlockReader>> {
        self.read(|state| state.visible.get(tenant).cloned().unwrap_or_default())
    }

    /// Every visible block of every tenant.
    pub(crate) fn all_blocks(&self) -> Vec<Arc<dyn BlockReader>> {
        self.read(|state| state.visible.values().flatten().cloned().collect())
    }

    /// WAL segment ranges per tenant, over every complete block known (replaced ones
    /// too: their spans are in the block that replaced them), each block's own range and
    /// the ranges it inherited from compaction inputs (which may be deleted by now).
    pub(crate) fn wal_coverage(&self) -> HashMap<TenantId, Vec<WalSegmentRange>> {
        self.read(|state| {
            let mut coverage: HashMap<TenantId, Vec<WalSegmentRange>> = HashMap::new();
            for (tenant, readers) in state.visible.iter().chain(state.replaced.iter()) {
                coverage.entry(tenant.clone()).or_default().extend(
                    readers
                        .iter()
                        .flat_map(|reader| reader.meta().covered_wal_segments()),
                );
            }
            coverage
        })
    }

    /// Adds a block this process just wrote.
    pub(crate) fn add(&self, reader: Arc<dyn BlockReader>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let tenant = reader.meta().tenant.clone();
        let readers = state.visible.entry(tenant).or_default();
        if !readers
            .iter()
            .any(|known| known.meta().block_id == reader.meta().block_id)
        {
            readers.push(reader);
            readers.sort_by_key(|reader| reader.meta().block_id);
        }
    }

    fn read<R>(&self, read: impl FnOnce(&CatalogState) -> R) -> R {
        read(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Brings the catalog in line with the store. Blocks that cannot be opened are
    /// logged, counted in `weft_blocks_unreadable_total` and skipped (retried on the
    /// next refresh); a store that cannot be listed is an error and changes nothing.
    pub(crate) async fn refresh(&self) -> Result<RefreshReport, StorageError> {
        let _refreshing = self.refreshing.lock().await;
        let mut report = RefreshReport::default();
        let tenants = self.store.tenants().await?;
        let mut next = CatalogState::default();
        let known: HashMap<(TenantId, BlockId), Arc<dyn BlockReader>> = self.read(|state| {
            state
                .visible
                .iter()
                .chain(state.replaced.iter())
                .flat_map(|(tenant, readers)| {
                    readers.iter().map(move |reader| {
                        ((tenant.clone(), reader.meta().block_id), reader.clone())
                    })
                })
                .collect()
        });
        let mut kept = 0usize;
        for tenant in tenants {
            let listing = self.store.list_blocks(&tenant).await?;
            let mut readers: Vec<Arc<dyn BlockReader>> = Vec::with_capacity(listing.complete.len());
            for block_id in listing.complete {
                if let Some(reader) = known.get(&(tenant.clone(), block_id)) {
                    readers.push(reader.clone());
                    kept += 1;
                    continue;
                }
                match self.store.open_block(&tenant, block_id).await {
                    Ok(reader) => {
                        readers.push(reader);
                        report.opened += 1;
                    }
                    // Deleted between listing and opening (compaction): nothing to show.
                    Err(error) if error.is_not_found() => {}
                    Err(error) => {
                        report.unreadable += 1;
                        metrics::counter!("weft_blocks_unreadable_total").increment(1);
                        tracing::error!(%tenant, %block_id, %error, "skipping a block that cannot be opened");
                    }
                }
            }
            let replaced_ids: HashSet<BlockId> = readers
                .iter()
                .flat_map(|reader| reader.meta().compacted_from.iter().copied())
                .collect();
            let (replaced, visible): (Vec<_>, Vec<_>) = readers
                .into_iter()
                .partition(|reader| replaced_ids.contains(&reader.meta().block_id));
            if !visible.is_empty() {
                next.visible.insert(tenant.clone(), visible);
            }
            if !replaced.is_empty() {
                next.replaced.insert(tenant, replaced);
            }
        }
        report.dropped = known.len().saturating_sub(kept);
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // Blocks added by a cut while this refresh was listing are kept.
        for (tenant, readers) in &state.visible {
            for reader in readers {
                let key = (tenant.clone(), reader.meta().block_id);
                if !known.contains_key(&key) {
                    let visible = next.visible.entry(tenant.clone()).or_default();
                    if !visible.iter().any(|other| other.meta().block_id == key.1) {
                        visible.push(reader.clone());
                        visible.sort_by_key(|reader| reader.meta().block_id);
                    }
                }
            }
        }
        *state = next;
        Ok(report)
    }
}
