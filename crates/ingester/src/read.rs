//! `TraceReader` over the head, the heads being written, and blocks.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use weft_model::{
    NameIndex, ReadError, Span, TenantId, TimeWindow, TraceId, TraceReader, TraceSummary,
};
use weft_storage::{BlockReader, StorageError, TraceDigest};

use crate::head::TenantHead;
use crate::ingester::{Ingester, Snapshot};

fn read_error(error: StorageError) -> ReadError {
    match error {
        StorageError::Corrupt { .. } | StorageError::UnsupportedVersion { .. } => {
            ReadError::Corrupt(error.to_string())
        }
        other => ReadError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl TraceReader for Ingester {
    async fn trace(&self, tenant: &TenantId, trace_id: TraceId) -> Result<Vec<Span>, ReadError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        let mut spans: Vec<Span> = Vec::new();
        for head in &heads {
            spans.extend(head.trace(trace_id).map_err(read_error)?);
        }
        let blocks: Vec<Arc<dyn BlockReader>> = blocks
            .into_iter()
            .filter(|block| block.contains_trace(trace_id))
            .collect();
        if blocks.is_empty() {
            return Ok(spans);
        }
        let from_blocks = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for block in blocks {
                found.extend(block.trace(trace_id)?);
            }
            Ok::<_, StorageError>(found)
        })
        .await
        .map_err(|error| ReadError::Unavailable(format!("block read task failed: {error}")))?
        .map_err(read_error)?;
        spans.extend(from_blocks);
        Ok(spans)
    }

    async fn summaries(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        service_name: Option<&str>,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, ReadError> {
        let snapshot = self.snapshot(tenant);
        let service_name = service_name.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            search(
                &snapshot.heads,
                &snapshot.blocks,
                window,
                service_name.as_deref(),
                max_traces,
            )
        })
        .await
        .map_err(|error| ReadError::Unavailable(format!("search task failed: {error}")))
    }

    async fn names(&self, tenant: &TenantId) -> Result<NameIndex, ReadError> {
        let Snapshot { heads, blocks } = self.snapshot(tenant);
        let mut names = NameIndex::default();
        for head in heads {
            names.merge(&head.names());
        }
        for block in blocks {
            names.merge(&block.meta().names);
        }
        Ok(names)
    }
}

/// Finds traces whose merged timestamp lies in `window`. A trace's timestamp can only
/// come from a part whose own timestamp equals it (the part holding the earliest root,
/// or the earliest span), so the candidates are the traces with some part in the window;
/// their parts are then merged from every source and filtered again.
fn search(
    heads: &[Arc<TenantHead>],
    blocks: &[Arc<dyn BlockReader>],
    window: TimeWindow,
    service_name: Option<&str>,
    max_traces: usize,
) -> Vec<TraceSummary> {
    let mut candidates: Vec<TraceId> = Vec::new();
    for head in heads {
        candidates.extend(head.trace_ids_in_window(window));
    }
    for block in blocks {
        candidates.extend(block.trace_ids_in_window(window));
    }
    candidates.sort_unstable();
    candidates.dedup();
    if candidates.is_empty() || max_traces == 0 {
        return Vec::new();
    }
    let mut merged: HashMap<TraceId, TraceDigest> = HashMap::with_capacity(candidates.len());
    let mut merge = |digest: TraceDigest| match merged.get_mut(&digest.trace_id) {
        Some(existing) => existing.merge(&digest),
        None => {
            merged.insert(digest.trace_id, digest);
        }
    };
    for head in heads {
        for &trace_id in &candidates {
            if let Some(digest) = head.digest(trace_id) {
                merge(digest);
            }
        }
    }
    for block in blocks {
        for digest in block.digests(&candidates) {
            merge(digest);
        }
    }
    let mut found: Vec<TraceDigest> = merged
        .into_values()
        .filter(|digest| {
            let timestamp = digest.timestamp_unix_nanos();
            timestamp != 0
                && window.contains(timestamp)
                && service_name.is_none_or(|service| digest.has_service(service))
        })
        .collect();
    found.sort_unstable_by(|a, b| {
        b.timestamp_unix_nanos()
            .cmp(&a.timestamp_unix_nanos())
            .then(a.trace_id.cmp(&b.trace_id))
    });
    found.truncate(max_traces);
    found.iter().map(TraceDigest::to_summary).collect()
}
