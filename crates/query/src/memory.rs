//! A [`TraceReader`] over spans held in memory, for tests and examples.
//!
//! It answers every method exactly (no pruning, no sampling), so it doubles as the
//! reference behaviour a real store's reader should show. It scans all spans on every
//! call: fine for tests, not for production.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use weft_model::{
    DependencyLink, DependencyLinker, NameIndex, ReadError, Span, SpanFilter, TenantId, TimeWindow,
    TraceId, TraceReader, TraceSummary, group_by_low_half,
};

/// Spans by tenant, in arrival order.
#[derive(Debug, Default)]
pub struct MemoryTraceReader {
    spans: Mutex<HashMap<TenantId, Vec<Span>>>,
    indexed_keys: Vec<String>,
}

impl MemoryTraceReader {
    /// An empty reader whose [`TraceReader::names`] indexes the values of `indexed_keys`.
    pub fn new(indexed_keys: Vec<String>) -> Self {
        MemoryTraceReader {
            spans: Mutex::new(HashMap::new()),
            indexed_keys,
        }
    }

    /// Stores `spans` for `tenant` (duplicates are kept, as a real store may keep them).
    pub fn push(&self, tenant: &TenantId, spans: impl IntoIterator<Item = Span>) {
        let mut guard = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        guard.entry(tenant.clone()).or_default().extend(spans);
    }

    fn with_spans<T>(&self, tenant: &TenantId, read: impl FnOnce(&[Span]) -> T) -> T {
        let guard = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        read(guard.get(tenant).map(Vec::as_slice).unwrap_or(&[]))
    }
}

pub(crate) fn summarize(trace_id: TraceId, spans: &[&Span]) -> TraceSummary {
    let root = spans
        .iter()
        .find(|span| span.parent_span_id.is_none() && span.start_unix_nanos != 0);
    let earliest = spans
        .iter()
        .map(|span| span.start_unix_nanos)
        .filter(|&start| start != 0)
        .min()
        .unwrap_or(0);
    let latest_end = spans
        .iter()
        .map(|span| span.end_unix_nanos())
        .max()
        .unwrap_or(0);
    TraceSummary {
        trace_id,
        timestamp_unix_nanos: root.map_or(earliest, |root| root.start_unix_nanos),
        start_unix_nanos: earliest,
        end_unix_nanos: latest_end,
        span_count: u32::try_from(spans.len()).unwrap_or(u32::MAX),
        root_service_name: root
            .and_then(|root| root.service_name())
            .unwrap_or_default()
            .to_owned(),
        root_span_name: root.map(|root| root.name.clone()).unwrap_or_default(),
    }
}

#[async_trait]
impl TraceReader for MemoryTraceReader {
    async fn trace(&self, tenant: &TenantId, trace_id: TraceId) -> Result<Vec<Span>, ReadError> {
        Ok(self.with_spans(tenant, |spans| {
            spans
                .iter()
                .filter(|span| span.trace_id == trace_id)
                .cloned()
                .collect()
        }))
    }

    async fn summaries(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        filter: &SpanFilter,
        max_traces: usize,
    ) -> Result<Vec<TraceSummary>, ReadError> {
        let full_mask = filter.full_mask();
        Ok(self.with_spans(tenant, |spans| {
            let mut by_trace: BTreeMap<TraceId, Vec<&Span>> = BTreeMap::new();
            for span in spans {
                by_trace.entry(span.trace_id).or_default().push(span);
            }
            let mut summaries: Vec<TraceSummary> = by_trace
                .into_iter()
                .filter(|(_, spans)| filter.spans_mask(spans.iter().copied()) == full_mask)
                .map(|(trace_id, spans)| summarize(trace_id, &spans))
                .filter(|summary| {
                    summary.timestamp_unix_nanos != 0
                        && window.contains(summary.timestamp_unix_nanos)
                })
                .collect();
            summaries.sort_by_key(|summary| std::cmp::Reverse(summary.timestamp_unix_nanos));
            summaries.truncate(max_traces);
            summaries
        }))
    }

    /// Exact: every trace in the window is linked (`max_traces` is ignored), traces whose
    /// ids share the low 64 bits as one.
    async fn dependencies(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        _max_traces: usize,
    ) -> Result<Vec<DependencyLink>, ReadError> {
        Ok(self.with_spans(tenant, |spans| {
            let mut by_trace: BTreeMap<TraceId, Vec<&Span>> = BTreeMap::new();
            for span in spans {
                by_trace.entry(span.trace_id).or_default().push(span);
            }
            let in_window: Vec<TraceId> = by_trace
                .iter()
                .map(|(trace_id, spans)| summarize(*trace_id, spans))
                .filter(|summary| {
                    summary.timestamp_unix_nanos != 0
                        && window.contains(summary.timestamp_unix_nanos)
                })
                .map(|summary| summary.trace_id)
                .collect();
            let mut linker = DependencyLinker::new();
            for group in group_by_low_half(&in_window) {
                let trace: Vec<Span> = group
                    .iter()
                    .filter_map(|trace_id| by_trace.get(trace_id))
                    .flat_map(|spans| spans.iter().map(|&span| span.clone()))
                    .collect();
                linker.put_trace(&trace);
            }
            linker.links()
        }))
    }

    async fn names(&self, tenant: &TenantId) -> Result<NameIndex, ReadError> {
        Ok(self.with_spans(tenant, |spans| {
            let mut index = NameIndex::default();
            for span in spans {
                index.add_span(span, &self.indexed_keys);
            }
            index
        }))
    }
}
