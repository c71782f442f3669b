//! `TraceReader` over the head, the heads being written, and blocks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::task::JoinError;
use weft_model::{
    DependencyLink, DependencyLinker, LinkSpan, NameIndex, ReadError, ScanBatch, ScanRequest, Span,
    SpanFilter, TenantId, TimeWindow, TraceId, TraceReader, TraceSummary, link_traces_in_window,
};
use weft_storage::{BlockReader, FilterMatch, StorageError, TraceDigest, split_window};

use crate::head::TenantHead;
use crate::ingester::{Ingester, Snapshot};

/// How far outside the search window a trace part's own timestamp may lie and still be
/// searched: a part cut into a different block than its root (a trace in flight during
/// a cut) has the timestamp of its own earliest span, and may be the part that meets a
/// criterion. Parts in this margin become candidates; the merged trace timestamp decides.
pub(crate) const PART_SKEW_NANOS: u64 = 5 * 60 * 1_000_000_000;

/// Split traces (stored in parts that are not all self-contained) linked whole by one
/// dependency query; past it the rest are left out of the whole buckets and
/// `weft_dependency_split_traces_truncated_total` counts the query.
const MAX_SPLIT_TRACES: usize = 10_000;

/// Split traces loaded at once while linking them whole (bounds the spans in memory).
const SPLIT_TRACES_PER_BATCH: usize = 256;

/// Reads of a trace or of summaries, each after refreshing the block list when the
/// previous one met a block compacted away.
const READ_ATTEMPTS: usize = 3;

/// Blocks searched at once by one search.
const CONCURRENT_BLOCK_SEARCHES: usize = 2;

fn read_error(error: StorageError) -> ReadError {
    match error {
        StorageError::Corrupt { .. } | StorageError::UnsupportedVersion { .. } => {
            ReadError::Corrupt(error.to_string())
        }
        other => ReadError::Unavailable(other.to_string()),
    }
}

fn is_not_found(error: &StorageError) -> bool {
    error.is_not_found()
}

#[async_trait]
impl TraceReader for Ingester {
    async fn trace(&self, tenant: &TenantId, trace_id: TraceId) -> Result<Vec<Span>, ReadError> {
        let mut attempt = 1;
        loop {
            match self.trace_once(tenant, trace_id).await {
                // A block was compacted away since the snapshot: its spans are in the
                // block that replaced it, which a refresh makes visible (and that block
                // may itself be compacted away meanwhile, hence a few attempts).
                Err(error) if is_not_found(&error) && attempt < READ_ATTEMPTS => {
                    self.refresh_for_retry().await?;
                    attempt += 1;
                }
                other => return other.map_err(read_error),
            }
        }
    }

    async fn summaries(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        filter: &SpanFilter,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, ReadError> {
        if max_traces == 0 {
            return Ok(Vec::new());
        }
        let mut attempt = 1;
        loop {
            match self.search_once(tenant, window, filter, max_traces).await {
                Err(error) if is_not_found(&error) && attempt < READ_ATTEMPTS => {
                    self.refresh_for_retry().await?;
                    attempt += 1;
                }
                other => return other.map_err(read_error),
            }
        }
    }

    /// The window's whole minutes are summed from the blocks' precomputed links and the
    /// heads' traces, with traces split into parts linked whole
    /// ([`Ingester::whole_bucket_links`], at most [`MAX_SPLIT_TRACES`]), and its edges
    /// (under a minute each) are linked trace by trace, at most `max_traces` traces per
    /// edge.
    async fn dependencies(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        max_traces: usize,
    ) -> Result<Vec<DependencyLink>, ReadError> {
        let (whole, edges) = split_window(window);
        let mut linker = match whole {
            None => DependencyLinker::new(),
            Some(whole) => match self.whole_bucket_links(tenant, whole).await {
                // A block was compacted away since the snapshot; its replacement holds
                // the same parts.
                Err(error) if is_not_found(&error) => {
                    self.refresh_blocks().await.map_err(|error| {
                        ReadError::Unavailable(format!("cannot refresh the block list: {error}"))
                    })?;
                    self.whole_bucket_links(tenant, whole)
                        .await
                        .map_err(read_error)?
                }
                other => other.map_err(read_error)?,
            },
        };
        for edge in edges {
            let found = link_traces_in_window(self, tenant, edge, max_traces, &mut linker).await?;
            if found > max_traces {
                metrics::counter!("weft_dependency_edge_traces_truncated_total").increment(1);
            }
        }
        Ok(linker.links())
    }

    /// A block compacted away during the scan (its spans now in the block that replaced
    /// it) makes the reader refresh its block list and scan again once, leaving out the
    /// whole traces it already gave.
    fn scan(&self, request: ScanRequest) -> BoxStream<'_, Result<ScanBatch, ReadError>> {
        struct State<'a> {
            ingester: &'a Ingester,
            request: ScanRequest,
            steps: BoxStream<'static, Result<ScanBatch, StorageError>>,
            given: HashSet<TraceId>,
            restarted: bool,
            done: bool,
        }
        let state = State {
            ingester: self,
            steps: crate::scan::scan(self.snapshot(&request.tenant), request.clone()),
            request,
            given: HashSet::new(),
            restarted: false,
            done: false,
        };
        stream::unfold(state, |mut state| async move {
            if state.done {
                return None;
            }
            loop {
                match state.steps.next().await {
                    None => return None,
                    Some(Ok(mut step)) => {
                        if state.restarted {
                            step.traces.retain(|trace| {
                                !trace.whole || !state.given.contains(&trace.summary.trace_id)
                            });
                        }
                        for trace in step.traces.iter().filter(|trace| trace.whole) {
                            state.given.insert(trace.summary.trace_id);
                        }
                        return Some((Ok(step), state));
                    }
                    Some(Err(error)) if is_not_found(&error) && !state.restarted => {
                        if let Err(error) = state.ingester.refresh_blocks().await {
                            state.done = true;
                            let error = ReadError::Unavailable(format!(
                                "cannot refresh the block list: {error}"
                            ));
                            return Some((Err(error), state));
                        }
                        state.restarted = true;
                        state.steps = crate::scan::scan(
                            state.ingester.snapshot(&state.request.tenant),
                            state.request.clone(),
                        );
                    }
                    Some(Err(error)) => {
                        state.done = true;
                        return Some((Err(read_error(error)), state));
                    }
                }
            }
        })
        .boxed()
    }

    async fn names(&self, tenant: &TenantId) -> Result<NameIndex, ReadError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        let mut names = NameIndex::default();
        names.attributes.limits = self.config.attribute_catalog;
        for head in heads {
            names.merge(&head.names());
        }
        for block in blocks {
            names.merge(&block.meta().names);
        }
        Ok(names)
    }
}

impl Ingester {
    /// Refreshes the block list after a read met a block compacted away.
    async fn refresh_for_retry(&self) -> Result<(), ReadError> {
        self.refresh_blocks().await.map_err(|error| {
            ReadError::Unavailable(format!("cannot refresh the block list: {error}"))
        })
    }

    /// The links of the traces whose timestamp lies in `whole` (whole dependency
    /// buckets). Self-contained trace parts ([`LinkSpan::part_is_self_contained`]) are
    /// linked alone by the bucket of their own timestamp: heads link theirs on the fly,
    /// blocks sum their precomputed buckets (blocks written before `dependencies.json`
    /// existed link theirs from their spans). The other parts name split traces, which
    /// are linked once, whole ([`Ingester::link_split_traces`]).
    async fn whole_bucket_links(
        &self,
        tenant: &TenantId,
        whole: TimeWindow,
    ) -> Result<DependencyLinker, StorageError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        // A part of a split trace has its own timestamp, not the trace's: look for them
        // a margin around the window; the whole trace's timestamp decides.
        let around = TimeWindow {
            start_unix_nanos: whole.start_unix_nanos.saturating_sub(PART_SKEW_NANOS),
            end_unix_nanos: whole.end_unix_nanos.saturating_add(PART_SKEW_NANOS),
        };
        let linked_heads = heads.clone();
        let (mut linker, mut split_traces) = tokio::task::spawn_blocking(move || {
            let mut linker = DependencyLinker::new();
            let mut split_traces: BTreeSet<TraceId> = BTreeSet::new();
            for head in &linked_heads {
                for trace_id in head.trace_ids_in_window(around) {
                    let timestamp = head
                        .digest(trace_id)
                        .map_or(0, |digest| digest.timestamp_unix_nanos());
                    link_part(
                        &head.trace(trace_id)?,
                        timestamp,
                        whole,
                        &mut linker,
                        &mut split_traces,
                    );
                }
            }
            Ok::<_, StorageError>((linker, split_traces))
        })
        .await
        .map_err(|error| StorageError::corrupt("head dependency links", error.to_string()))??;
        let mut sums_every_part = vec![false; blocks.len()];
        for (index, block) in blocks.iter().enumerate() {
            let meta = block.meta();
            if meta.min_start_unix_nanos == 0
                || !around.overlaps(meta.min_start_unix_nanos, meta.max_end_unix_nanos)
            {
                continue;
            }
            match block.dependencies().await? {
                Some(buckets) => {
                    buckets.sum_whole_buckets(whole, &mut linker);
                    split_traces.extend(buckets.split_traces_in(around));
                    sums_every_part[index] = buckets.sums_every_part();
                }
                None => {
                    for digest in block.digests_in_window(around).await? {
                        link_part(
                            &block.trace(digest.trace_id).await?,
                            digest.timestamp_unix_nanos(),
                            whole,
                            &mut linker,
                            &mut split_traces,
                        );
                    }
                }
            }
        }
        let mut split_traces: Vec<TraceId> = split_traces.into_iter().collect();
        if split_traces.len() > MAX_SPLIT_TRACES {
            metrics::counter!("weft_dependency_split_traces_truncated_total").increment(1);
            split_traces.truncate(MAX_SPLIT_TRACES);
        }
        for batch in split_traces.chunks(SPLIT_TRACES_PER_BATCH) {
            link_split_traces(&heads, &blocks, &sums_every_part, whole, batch, &mut linker).await?;
        }
        Ok(linker)
    }

    async fn trace_once(
        &self,
        tenant: &TenantId,
        trace_id: TraceId,
    ) -> Result<Vec<Span>, StorageError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        let mut spans: Vec<Span> = Vec::new();
        for head in &heads {
            spans.extend(head.trace(trace_id)?);
        }
        // `trace` asks the block's bloom filter first (from the bloom cache, or read
        // once), so blocks without the trace cost no data read.
        let reads: Vec<BoxFuture<'static, Result<Vec<Span>, StorageError>>> = blocks
            .into_iter()
            .map(|block| -> BoxFuture<'static, _> {
                Box::pin(async move { block.trace(trace_id).await })
            })
            .collect();
        let parts: Vec<Vec<Span>> = stream::iter(reads)
            .buffer_unordered(CONCURRENT_BLOCK_SEARCHES)
            .try_collect()
            .await?;
        spans.extend(parts.into_iter().flatten());
        Ok(spans)
    }

    /// Finds traces whose merged timestamp lies in `window` and whose parts together
    /// meet every criterion of `filter`. Candidates are the trace parts in the window
    /// (heads evaluated on decoded spans, blocks on their columns); the parts of the
    /// winning traces elsewhere (other blocks, outside the window) are then merged in,
    /// so counts and roots describe whole traces.
    async fn search_once(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        filter: &SpanFilter,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, StorageError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        let outer = TimeWindow {
            start_unix_nanos: window.start_unix_nanos.saturating_sub(PART_SKEW_NANOS),
            end_unix_nanos: window.end_unix_nanos.saturating_add(PART_SKEW_NANOS),
        };
        let mut found: HashMap<TraceId, (TraceDigest, u64)> = HashMap::new();
        let mut merged_from: HashSet<(usize, TraceId)> = HashSet::new();
        let merge =
            |found: &mut HashMap<TraceId, (TraceDigest, u64)>, part: FilterMatch| match found
                .get_mut(&part.digest.trace_id)
            {
                Some((digest, met)) => {
                    digest.merge(&part.digest);
                    *met |= part.met;
                }
                None => {
                    found.insert(part.digest.trace_id, (part.digest, part.met));
                }
            };

        let head_filter = filter.clone();
        let searched_heads = heads.clone();
        let head_parts = tokio::task::spawn_blocking(move || {
            let mut parts = Vec::new();
            for (index, head) in searched_heads.iter().enumerate() {
                for part in search_head(head, outer, &head_filter)? {
                    parts.push((index, part));
                }
            }
            Ok::<_, StorageError>(parts)
        })
        .await
        .map_err(|error| StorageError::corrupt("head search", error.to_string()))??;
        let mut merged_from_head: HashSet<(usize, TraceId)> = HashSet::new();
        for (index, part) in head_parts {
            merged_from_head.insert((index, part.digest.trace_id));
            merge(&mut found, part);
        }

        let in_window: Vec<(usize, Arc<dyn BlockReader>)> = blocks
            .iter()
            .cloned()
            .enumerate()
            .filter(|(_, block)| {
                let meta = block.meta();
                meta.min_start_unix_nanos != 0
                    && outer.overlaps(meta.min_start_unix_nanos, meta.max_end_unix_nanos)
            })
            .collect();
        type Search = BoxFuture<'static, Result<(usize, Vec<FilterMatch>), StorageError>>;
        let mut pending: Vec<Search> = Vec::with_capacity(in_window.len());
        for (index, block) in in_window {
            let filter = filter.clone();
            pending.push(Box::pin(async move {
                let parts = if filter.is_empty() {
                    block
                        .digests_in_window(outer)
                        .await?
                        .into_iter()
                        .map(|digest| FilterMatch { digest, met: 0 })
                        .collect()
                } else {
                    block.search(outer, &filter).await?
                };
                Ok::<_, StorageError>((index, parts))
            }));
        }
        // Each block search is its own task, so decoding runs on every worker thread
        // (futures polled by one task would share one thread).
        type Spawned =
            BoxFuture<'static, Result<Result<(usize, Vec<FilterMatch>), StorageError>, JoinError>>;
        let mut spawned: Vec<Spawned> = Vec::with_capacity(pending.len());
        for search in pending {
            spawned.push(Box::pin(async move { tokio::spawn(search).await }));
        }
        let mut searches = stream::iter(spawned).buffer_unordered(CONCURRENT_BLOCK_SEARCHES);
        while let Some(searched) = searches.next().await {
            let (index, parts) = searched
                .map_err(|error| StorageError::corrupt("block search task", error.to_string()))??;
            for part in parts {
                merged_from.insert((index, part.digest.trace_id));
                merge(&mut found, part);
            }
        }

        let full_mask = filter.full_mask();
        let mut winners: Vec<(TraceId, TraceDigest)> = found
            .into_iter()
            .filter(|(_, (_, met))| *met & full_mask == full_mask)
            .map(|(trace_id, (digest, _))| (trace_id, digest))
            .collect();
        winners.sort_unstable_by(|(a_id, a), (b_id, b)| {
            b.timestamp_unix_nanos()
                .cmp(&a.timestamp_unix_nanos())
                .then(a_id.cmp(b_id))
        });
        // Keep the newest in the window with some slack (merging other parts can move a
        // trace's timestamp), and as many from the margins.
        let (inside, margin): (Vec<_>, Vec<_>) = winners
            .into_iter()
            .partition(|(_, digest)| window.contains(digest.timestamp_unix_nanos()));
        winners = inside;
        winners.truncate(max_traces.saturating_mul(2));
        winners.extend(margin.into_iter().take(max_traces));

        // Merge the winners' parts that the window search did not see.
        let mut winner_index: HashMap<TraceId, usize> = winners
            .iter()
            .enumerate()
            .map(|(index, (trace_id, _))| (*trace_id, index))
            .collect();
        for (index, block) in blocks.iter().enumerate() {
            // `digests` keeps only the ids the block's bloom filter admits.
            let mut wanted: Vec<TraceId> = winners
                .iter()
                .map(|(trace_id, _)| *trace_id)
                .filter(|trace_id| !merged_from.contains(&(index, *trace_id)))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            wanted.sort_unstable();
            for digest in block.digests(&wanted).await? {
                if let Some(&position) = winner_index.get(&digest.trace_id) {
                    winners[position].1.merge(&digest);
                }
            }
        }
        for (index, head) in heads.iter().enumerate() {
            for (trace_id, digest) in winners.iter_mut() {
                if !merged_from_head.contains(&(index, *trace_id))
                    && let Some(part) = head.digest(*trace_id)
                {
                    digest.merge(&part);
                }
            }
        }
        winner_index.clear();

        let mut summaries: Vec<TraceSummary> = winners
            .into_iter()
            .map(|(_, digest)| digest)
            .filter(|digest| {
                let timestamp = digest.timestamp_unix_nanos();
                timestamp != 0 && window.contains(timestamp)
            })
            .map(|digest| digest.to_summary())
            .collect();
        summaries.sort_unstable_by(|a, b| {
            b.timestamp_unix_nanos
                .cmp(&a.timestamp_unix_nanos)
                .then(a.trace_id.cmp(&b.trace_id))
        });
        summaries.truncate(max_traces);
        Ok(summaries)
    }
}

/// The trace parts of one head with their own timestamp in `window` that meet some
/// criterion of `filter` (all of them for an empty filter). Only traces that have a span
/// of the filter's service are decoded.
fn search_head(
    head: &TenantHead,
    window: TimeWindow,
    filter: &SpanFilter,
) -> Result<Vec<FilterMatch>, StorageError> {
    let mut parts = Vec::new();
    for trace_id in head.trace_ids_in_window(window) {
        let Some(digest) = head.digest(trace_id) else {
            continue;
        };
        if filter.is_empty() {
            parts.push(FilterMatch { digest, met: 0 });
            continue;
        }
        if let Some(service) = &filter.service_name
            && !digest.has_service(service)
        {
            continue;
        }
        let met = filter.spans_mask(&head.trace(trace_id)?);
        if met != 0 {
            parts.push(FilterMatch { digest, met });
        }
    }
    Ok(parts)
}

/// Links a trace part found while summing whole buckets: a self-contained part with its
/// `timestamp_unix_nanos` in `whole` into `linker`; a part that is not self-contained
/// only names its trace in `split_traces`.
fn link_part(
    spans: &[Span],
    timestamp_unix_nanos: u64,
    whole: TimeWindow,
    linker: &mut DependencyLinker,
    split_traces: &mut BTreeSet<TraceId>,
) {
    let Some(trace_id) = spans.first().map(|span| span.trace_id) else {
        return;
    };
    let link_spans: Vec<LinkSpan> = spans.iter().map(LinkSpan::from_span).collect();
    if !LinkSpan::part_is_self_contained(&link_spans) {
        split_traces.insert(trace_id);
    } else if timestamp_unix_nanos != 0 && whole.contains(timestamp_unix_nanos) {
        linker.put_link_spans(link_spans);
    }
}

/// One split trace being put together from its parts.
struct SplitTrace {
    spans: Vec<Span>,
    digest: TraceDigest,
}

/// Links each trace of `sorted_trace_ids` once, whole (its parts from every head and
/// block), when the whole trace's timestamp lies in `whole`, and takes back out of
/// `linker` the links of its parts that the whole buckets already counted: its
/// self-contained parts with their own timestamp in `whole`, and in blocks that
/// `sums_every_part` marks (by index) all its parts with their timestamp in `whole`.
async fn link_split_traces(
    heads: &[Arc<TenantHead>],
    blocks: &[Arc<dyn BlockReader>],
    sums_every_part: &[bool],
    whole: TimeWindow,
    sorted_trace_ids: &[TraceId],
    linker: &mut DependencyLinker,
) -> Result<(), StorageError> {
    let mut traces: HashMap<TraceId, SplitTrace> = HashMap::new();
    let mut counted_parts = DependencyLinker::new();
    let mut add = |spans: Vec<Span>, digest: &TraceDigest, sums_every_part: bool| {
        if spans.is_empty() {
            return;
        }
        let timestamp = digest.timestamp_unix_nanos();
        if timestamp != 0 && whole.contains(timestamp) {
            let link_spans: Vec<LinkSpan> = spans.iter().map(LinkSpan::from_span).collect();
            if sums_every_part || LinkSpan::part_is_self_contained(&link_spans) {
                counted_parts.put_link_spans(link_spans);
            }
        }
        let trace = traces.entry(digest.trace_id).or_insert_with(|| SplitTrace {
            spans: Vec::new(),
            digest: TraceDigest::new(digest.trace_id),
        });
        trace.spans.extend(spans);
        trace.digest.merge(digest);
    };
    let searched_heads = heads.to_vec();
    let wanted = sorted_trace_ids.to_vec();
    let head_parts = tokio::task::spawn_blocking(move || {
        let mut parts = Vec::new();
        for head in &searched_heads {
            for &trace_id in &wanted {
                if let Some(digest) = head.digest(trace_id) {
                    parts.push((head.trace(trace_id)?, digest));
                }
            }
        }
        Ok::<_, StorageError>(parts)
    })
    .await
    .map_err(|error| StorageError::corrupt("head split traces", error.to_string()))??;
    for (spans, digest) in head_parts {
        add(spans, &digest, false);
    }
    for (index, block) in blocks.iter().enumerate() {
        // `digests` keeps only the ids the block's bloom filter admits.
        for digest in block.digests(sorted_trace_ids).await? {
            let spans = block.trace(digest.trace_id).await?;
            add(spans, &digest, sums_every_part[index]);
        }
    }
    linker.subtract_links(&counted_parts.links());
    for trace in traces.values() {
        let timestamp = trace.digest.timestamp_unix_nanos();
        if timestamp != 0 && whole.contains(timestamp) {
            linker.put_trace(&trace.spans);
        }
    }
    Ok(())
}
