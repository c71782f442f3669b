//! One tenant's part of a pass: cleanup, retention, planning, merging.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_model::TenantId;
use weft_storage::{
    BlockId, BlockMeta, BlockWriteOptions, MAX_INPUT_WAL_SEGMENT_RANGES, StorageError,
    WalSegmentRange,
};

use crate::compactor::{CompactionReport, Compactor, PassKind, TenantBlocks};
use crate::error::CompactorError;
use crate::merge::{MergeStats, merge_into};
use crate::metrics::{self, DeleteReason};
use crate::plan::{BlockSummary, CompactionJob, is_pinned, plan_jobs, superseded_ids};

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Compactor {
    /// Cleanup, retention and (for a full pass) merges of one tenant. `blocks` keeps
    /// what was learnt of the tenant's complete blocks across passes.
    pub(crate) async fn tenant_pass(
        &self,
        tenant: &TenantId,
        blocks: &mut TenantBlocks,
        now_unix_nanos: u64,
        orphan_grace: Duration,
        kind: PassKind,
        report: &mut CompactionReport,
    ) -> Result<(), CompactorError> {
        let listing = self
            .store
            .list_blocks(tenant)
            .await
            .inspect_err(|_| metrics::failure("list"))?;
        let mut complete: HashSet<BlockId> = listing.complete.iter().copied().collect();
        let TenantBlocks { metas, foreign } = blocks;
        metas.retain(|block_id, _| complete.contains(block_id));
        foreign.retain(|block_id| complete.contains(block_id));
        let mut unreadable_metas = 0usize;
        for block_id in &listing.complete {
            if metas.contains_key(block_id) || foreign.contains(block_id) {
                continue;
            }
            match self.store.read_meta(tenant, *block_id).await {
                Ok(meta) => {
                    metas.insert(*block_id, Arc::new(meta));
                }
                // Deleted since the listing (retention of another process, say).
                Err(StorageError::NotFound { .. }) => {
                    complete.remove(block_id);
                }
                Err(error @ StorageError::UnsupportedVersion { .. }) => {
                    tracing::warn!(%tenant, %block_id, %error, "ignoring a block of another format version");
                    foreign.insert(*block_id);
                    complete.remove(block_id);
                }
                Err(error) => {
                    unreadable_metas += 1;
                    report.failures += 1;
                    metrics::failure("meta");
                    tracing::warn!(%tenant, %block_id, %error, "cannot read a block's meta; the block is left alone");
                }
            }
        }
        let superseded = superseded_ids(
            metas
                .values()
                .map(|meta| (meta.block_id, meta.compacted_from.as_slice())),
        );

        // Incomplete blocks: interrupted writes past the grace, and inputs of a merge
        // whose deletion stopped after `meta.json`. Deleting one also aborts the
        // multipart uploads a killed writer left open (named by the block's upload
        // markers), so no bucket lifecycle rule is needed for them.
        let grace = nanos(orphan_grace);
        for (block_id, modified_unix_nanos) in &listing.incomplete {
            let expired = modified_unix_nanos.saturating_add(grace) <= now_unix_nanos;
            if !expired && !superseded.contains(block_id) {
                continue;
            }
            self.check_stop()?;
            if self
                .delete(tenant, *block_id, DeleteReason::Orphan, report)
                .await
            {
                report.orphans_deleted += 1;
            }
        }

        // Superseded inputs: their merged block is committed. One that itself still
        // hides existing blocks goes in a later pass, after them.
        for block_id in &listing.complete {
            let Some(meta) = metas.get(block_id) else {
                continue;
            };
            if !superseded.contains(block_id)
                || is_pinned(&meta.compacted_from, *block_id, &complete)
            {
                continue;
            }
            self.check_stop()?;
            if self
                .delete(tenant, *block_id, DeleteReason::Superseded, report)
                .await
            {
                report.superseded_deleted += 1;
                complete.remove(block_id);
                metas.remove(block_id);
            }
        }

        // Retention, by ingest time. A pinned block waits for its inputs to go first.
        let retention = self.retention_for(tenant);
        for block_id in listing.complete.iter().copied() {
            let Some(meta) = metas.get(&block_id) else {
                continue;
            };
            if superseded.contains(&block_id)
                || !meta.is_past_retention(now_unix_nanos, retention)
                || is_pinned(&meta.compacted_from, block_id, &complete)
            {
                continue;
            }
            self.check_stop()?;
            if self
                .delete(tenant, block_id, DeleteReason::Retention, report)
                .await
            {
                report.retention_deleted += 1;
                complete.remove(&block_id);
                metas.remove(&block_id);
            }
        }

        if kind == PassKind::CleanupOnly {
            return Ok(());
        }
        if unreadable_metas > 0 {
            // A block we cannot read may supersede blocks we can; merging those would
            // let their spans appear twice. Wait until the meta reads again.
            return Ok(());
        }
        // Every remaining complete block, superseded ones included: the planner skips
        // those itself and must see them to know which blocks are pinned.
        let summaries: Vec<BlockSummary> = listing
            .complete
            .iter()
            .filter_map(|block_id| metas.get(block_id))
            .map(|meta| BlockSummary::from_meta(meta))
            .collect();
        for job in plan_jobs(&summaries, &self.config, now_unix_nanos) {
            self.check_stop()?;
            let inputs: Option<Vec<Arc<BlockMeta>>> = job
                .inputs
                .iter()
                .map(|block_id| metas.get(block_id).cloned())
                .collect();
            let Some(inputs) = inputs else {
                continue;
            };
            match self.execute_job(tenant, &job, &inputs, report).await {
                Ok(()) => {
                    for block_id in &job.inputs {
                        metas.remove(block_id);
                    }
                }
                Err(CompactorError::Stopped) => return Err(CompactorError::Stopped),
                Err(error) => {
                    report.failures += 1;
                    metrics::failure("merge");
                    tracing::warn!(%tenant, inputs = job.inputs.len(), %error, "merging blocks failed; inputs kept");
                }
            }
        }
        Ok(())
    }

    /// Deletes one block; a failure is logged and counted (false), never fatal.
    async fn delete(
        &self,
        tenant: &TenantId,
        block_id: BlockId,
        reason: DeleteReason,
        report: &mut CompactionReport,
    ) -> bool {
        match self.store.delete_block(tenant, block_id).await {
            Ok(()) => {
                metrics::block_deleted(reason);
                tracing::debug!(%tenant, %block_id, ?reason, "deleted a block");
                true
            }
            Err(error) => {
                report.failures += 1;
                metrics::failure("delete");
                tracing::warn!(%tenant, %block_id, ?reason, %error, "cannot delete a block; will retry");
                false
            }
        }
    }

    /// Merges `inputs` (the metas of `job.inputs`, same order) into one block, commits
    /// it, then deletes the inputs. On any error before the commit the partial output
    /// is aborted and the inputs stay as they were.
    async fn execute_job(
        &self,
        tenant: &TenantId,
        job: &CompactionJob,
        inputs: &[Arc<BlockMeta>],
        report: &mut CompactionReport,
    ) -> Result<(), CompactorError> {
        let started = Instant::now();
        let expected_spans: u64 = inputs.iter().map(|meta| meta.span_count).sum();
        let ingested_min = inputs
            .iter()
            .map(|meta| meta.ingested_min_unix_nanos)
            .min()
            .unwrap_or(0);
        let ingested_max = inputs
            .iter()
            .map(|meta| meta.ingested_max_unix_nanos)
            .max()
            .unwrap_or(0);
        // The keys the inputs indexed for autocomplete, so the merged block indexes
        // the same ones.
        let indexed_attribute_keys: BTreeSet<&String> = inputs
            .iter()
            .flat_map(|meta| meta.names.attribute_values.keys())
            .collect();
        // The merged block holds every span of its inputs, so it covers their WAL
        // ranges: replay must keep skipping those records once the inputs are deleted.
        let input_wal_segments = WalSegmentRange::normalized_union(
            inputs.iter().flat_map(|meta| meta.covered_wal_segments()),
            MAX_INPUT_WAL_SEGMENT_RANGES,
        );
        let options = BlockWriteOptions {
            indexed_attribute_keys: indexed_attribute_keys.into_iter().cloned().collect(),
            wal_segments: None,
            input_wal_segments,
            compaction_level: job.output_level,
            compacted_from: job.inputs.clone(),
            ingested_unix_nanos: Some((ingested_min, ingested_max)),
            catalog_limits: self.config.attribute_catalog,
        };

        let mut readers = Vec::with_capacity(job.inputs.len());
        for block_id in &job.inputs {
            readers.push(self.store.open_block(tenant, *block_id).await?);
        }
        let mut writer = self.store.writer(tenant, &options).await?;
        let streams = job
            .inputs
            .iter()
            .zip(&readers)
            .map(|(block_id, reader)| (*block_id, reader.spans()))
            .collect();
        let merged = merge_into(tenant, streams, writer.as_mut(), &self.stop).await;
        let stats: MergeStats = match merged {
            Ok(stats) if stats.spans_read == expected_spans => stats,
            Ok(stats) => {
                abort(tenant, writer).await;
                return Err(CompactorError::SpanCountMismatch {
                    tenant: tenant.clone(),
                    read_spans: stats.spans_read,
                    expected_spans,
                });
            }
            Err(error) => {
                abort(tenant, writer).await;
                return Err(error);
            }
        };
        // The commit point: from here on the inputs are superseded.
        let output = writer.finish().await?;
        drop(readers);

        let (output_id, bytes_written) = output
            .as_ref()
            .map(|meta| (Some(meta.block_id), meta.data_bytes))
            .unwrap_or((None, 0));
        report.jobs += 1;
        report.blocks_compacted += job.inputs.len();
        report.spans_written += stats.spans_written;
        report.spans_deduplicated += stats.spans_deduplicated;
        report.bytes_written += bytes_written;
        metrics::job_committed(job.inputs.len(), stats.spans_deduplicated, bytes_written);
        tracing::info!(
            %tenant,
            output = ?output_id,
            level = job.output_level,
            inputs = job.inputs.len(),
            spans = stats.spans_written,
            duplicates = stats.spans_deduplicated,
            bytes = bytes_written,
            elapsed = ?started.elapsed(),
            "merged blocks"
        );
        // A failed delete leaves a superseded input, hidden from readers and deleted by
        // the next pass.
        for block_id in &job.inputs {
            self.delete(tenant, *block_id, DeleteReason::Compacted, report)
                .await;
        }
        Ok(())
    }
}

async fn abort(tenant: &TenantId, writer: Box<dyn weft_storage::BlockWriter>) {
    if let Err(error) = writer.abort().await {
        // The partial output stays incomplete (never visible) and is removed as an
        // orphan after the grace.
        tracing::warn!(%tenant, %error, "cannot remove a partial merged block");
    }
}
