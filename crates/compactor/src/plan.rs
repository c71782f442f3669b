//! Which blocks readers use, and which blocks a pass merges.
//!
//! # Visibility
//! A merged block lists its inputs in `compacted_from`. Its `meta.json` is written last,
//! so until it exists the inputs are the truth; from then on the merged block is, and
//! the inputs are *superseded* whether or not they were deleted yet (a crash between the
//! two steps). [`visible_blocks`] applies that rule for readers.
//!
//! A block whose own inputs still exist is *pinned*: it is neither merged again nor
//! deleted by retention until they are gone, because dropping it would make them
//! visible again (and merging it into a third block would leave them visible once that
//! third block's inputs are deleted).
//!
//! # Planning
//! Per tenant, the visible, unpinned blocks of level `L < level_windows.len()` are
//! grouped by level and by the window of `level_windows[L]` (aligned on the Unix
//! epoch) that holds their newest ingest time. Ingest time rather than span time: it is
//! what retention judges, so blocks merged together expire together (a span outlives
//! its retention by at most the window it was merged in), and late or clock-skewed
//! spans cannot drag old blocks into new merges.
//!
//! Within a group, blocks are taken oldest ingest first into jobs of at most
//! `max_inputs` blocks whose span counts and data sizes add up to at most
//! `max_output_spans` and `max_output_bytes`; one job writes exactly one block, so a
//! block never exceeds the bounds by more than its inputs did, and no output has peers
//! that must appear together. A block already over a bound on its own stays as it is.
//! Jobs with fewer than `min_inputs` blocks are dropped. While a window may still
//! receive blocks (it ended less than `window_settle_delay` ago) only jobs closed by a
//! bound are kept, so an open window is merged in full-size batches, not pass by pass.
//! Jobs come out oldest window first.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use weft_storage::{BlockId, BlockMeta};

use crate::config::CompactorConfig;

/// The blocks readers should use, in the order of `metas`: every complete block except
/// those named in the `compacted_from` of another complete block. `metas` holds the
/// metas of all complete blocks of one tenant; a block listing itself is ignored.
pub fn visible_blocks(metas: &[BlockMeta]) -> Vec<BlockId> {
    let superseded = superseded_ids(
        metas
            .iter()
            .map(|meta| (meta.block_id, meta.compacted_from.as_slice())),
    );
    metas
        .iter()
        .map(|meta| meta.block_id)
        .filter(|block_id| !superseded.contains(block_id))
        .collect()
}

/// Ids named in the `compacted_from` of some block other than themselves.
pub(crate) fn superseded_ids<'a>(
    blocks: impl Iterator<Item = (BlockId, &'a [BlockId])>,
) -> HashSet<BlockId> {
    let mut superseded = HashSet::new();
    for (block_id, compacted_from) in blocks {
        superseded.extend(compacted_from.iter().filter(|input| **input != block_id));
    }
    superseded
}

/// What planning needs to know about one complete block (taken from its meta).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// The block.
    pub block_id: BlockId,
    /// Its compaction level (0 = cut by the ingester).
    pub compaction_level: u32,
    /// The blocks it replaces.
    pub compacted_from: Vec<BlockId>,
    /// Newest ingest time of its spans, in nanoseconds since the Unix epoch.
    pub ingested_max_unix_nanos: u64,
    /// Spans it holds.
    pub span_count: u64,
    /// Size of its span data in bytes.
    pub data_bytes: u64,
}

impl BlockSummary {
    /// The summary of a block's meta.
    pub fn from_meta(meta: &BlockMeta) -> Self {
        BlockSummary {
            block_id: meta.block_id,
            compaction_level: meta.compaction_level,
            compacted_from: meta.compacted_from.clone(),
            ingested_max_unix_nanos: meta.ingested_max_unix_nanos,
            span_count: meta.span_count,
            data_bytes: meta.data_bytes,
        }
    }
}

/// One planned merge: its inputs become one block of `output_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionJob {
    /// Level of the merged block: the inputs' level + 1.
    pub output_level: u32,
    /// Start of the inputs' window, in nanoseconds since the Unix epoch (inclusive).
    pub window_start_unix_nanos: u64,
    /// End of the inputs' window (exclusive).
    pub window_end_unix_nanos: u64,
    /// The inputs, oldest ingest first; between `min_inputs` and `max_inputs` of them.
    pub inputs: Vec<BlockId>,
    /// Sum of the inputs' span counts.
    pub input_spans: u64,
    /// Sum of the inputs' data sizes in bytes.
    pub input_bytes: u64,
}

/// True when a block must stay as it is for now: some block it replaces still exists
/// (`complete` holds the ids of all complete blocks of the tenant).
pub(crate) fn is_pinned(
    compacted_from: &[BlockId],
    own_id: BlockId,
    complete: &HashSet<BlockId>,
) -> bool {
    compacted_from
        .iter()
        .any(|input| *input != own_id && complete.contains(input))
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Plans the merges of one tenant (see the module documentation for the rules).
/// `blocks` are the summaries of all complete blocks of the tenant (superseded and
/// pinned ones are skipped here); `now_unix_nanos` decides which windows are settled.
/// Config bounds are taken as given (see [`CompactorConfig::validate`]); a zero window
/// makes its level final.
pub fn plan_jobs(
    blocks: &[BlockSummary],
    config: &CompactorConfig,
    now_unix_nanos: u64,
) -> Vec<CompactionJob> {
    let complete: HashSet<BlockId> = blocks.iter().map(|block| block.block_id).collect();
    let superseded = superseded_ids(
        blocks
            .iter()
            .map(|block| (block.block_id, block.compacted_from.as_slice())),
    );
    // (window start, level) -> blocks of the group.
    let mut groups: BTreeMap<(u64, u32), Vec<&BlockSummary>> = BTreeMap::new();
    for block in blocks {
        let Some(window) = config
            .level_windows
            .get(block.compaction_level as usize)
            .map(|window| nanos(*window))
            .filter(|window| *window > 0)
        else {
            continue;
        };
        if superseded.contains(&block.block_id)
            || is_pinned(&block.compacted_from, block.block_id, &complete)
        {
            continue;
        }
        let window_start = block.ingested_max_unix_nanos / window * window;
        groups
            .entry((window_start, block.compaction_level))
            .or_default()
            .push(block);
    }

    let mut jobs = Vec::new();
    for ((window_start, level), mut group) in groups {
        let window = config
            .level_windows
            .get(level as usize)
            .map(|window| nanos(*window))
            .unwrap_or(u64::MAX);
        let window_end = window_start.saturating_add(window);
        let settled =
            window_end.saturating_add(nanos(config.window_settle_delay)) <= now_unix_nanos;
        group.sort_by_key(|block| (block.ingested_max_unix_nanos, block.block_id));
        let mut builder = JobBuilder::new(level, window_start, window_end);
        for block in group {
            if !builder.fits(block, config) {
                builder.emit_into(&mut jobs, config, true);
                builder = JobBuilder::new(level, window_start, window_end);
            }
            builder.add(block);
        }
        let full = builder.job.inputs.len() >= config.max_inputs;
        builder.emit_into(&mut jobs, config, settled || full);
    }
    jobs.sort_by_key(|job| (job.window_start_unix_nanos, job.output_level));
    jobs
}

struct JobBuilder {
    job: CompactionJob,
}

impl JobBuilder {
    fn new(level: u32, window_start: u64, window_end: u64) -> Self {
        JobBuilder {
            job: CompactionJob {
                output_level: level.saturating_add(1),
                window_start_unix_nanos: window_start,
                window_end_unix_nanos: window_end,
                inputs: Vec::new(),
                input_spans: 0,
                input_bytes: 0,
            },
        }
    }

    fn fits(&self, block: &BlockSummary, config: &CompactorConfig) -> bool {
        self.job.inputs.len() < config.max_inputs
            && self.job.input_spans.saturating_add(block.span_count) <= config.max_output_spans
            && self.job.input_bytes.saturating_add(block.data_bytes) <= config.max_output_bytes
    }

    fn add(&mut self, block: &BlockSummary) {
        self.job.inputs.push(block.block_id);
        self.job.input_spans = self.job.input_spans.saturating_add(block.span_count);
        self.job.input_bytes = self.job.input_bytes.saturating_add(block.data_bytes);
    }

    fn emit_into(self, jobs: &mut Vec<CompactionJob>, config: &CompactorConfig, keep: bool) {
        if keep && self.job.inputs.len() >= config.min_inputs.max(2) {
            jobs.push(self.job);
        }
    }
}

#[cfg(test)]
mod tests;
