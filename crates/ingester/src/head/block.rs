//! The head as a block's input: its records' span bytes, in block order.

use std::sync::PoisonError;

use weft_model::TraceId;
use weft_storage::span_table::{StoredSpanBytes, StoredValues};
use weft_storage::{StorageError, StoredBlock, StoredTrace};

use super::{HeadTrace, TenantHead, read};

impl TenantHead {
    /// Calls `write` with the head as a [`StoredBlock`]: traces sorted by id, each
    /// trace's spans sorted by start (ties in arrival order), pointing into the head's
    /// records, with the head's digests, resources, scopes and names. Holds the head's
    /// locks for reading meanwhile (inserts into this head wait; reads proceed). A span
    /// reference that points nowhere (a bug, never expected) is an error, not a panic.
    pub fn with_stored_block<R>(
        &self,
        write: impl FnOnce(&StoredBlock<'_>) -> R,
    ) -> Result<R, StorageError> {
        let shards: Vec<_> = self.shards.iter().map(read).collect();
        let records = read(&self.records);
        let values = read(&self.values);
        let names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let mut traces: Vec<(&TraceId, &HeadTrace)> =
            shards.iter().flat_map(|shard| shard.iter()).collect();
        traces.sort_unstable_by_key(|&(trace_id, _)| *trace_id);
        let total_spans = traces.iter().map(|(_, trace)| trace.spans.len()).sum();

        let mut spans: Vec<StoredSpanBytes<'_>> = Vec::with_capacity(total_spans);
        let mut stored_traces: Vec<StoredTrace<'_>> = Vec::with_capacity(traces.len());
        let mut ordered: Vec<(u64, usize, StoredSpanBytes<'_>)> = Vec::new();
        for (trace_id, trace) in traces {
            let damaged = || {
                StorageError::corrupt(
                    format!("head trace {trace_id}"),
                    "a span reference points nowhere",
                )
            };
            ordered.clear();
            for (arrival, reference) in trace.spans.iter().enumerate() {
                let record = records.get(reference.record as usize).ok_or_else(damaged)?;
                let (location, resource_id, scope_id) =
                    record.span(reference.span).ok_or_else(damaged)?;
                let bytes = location
                    .span_bytes(&record.encoded.bytes)
                    .ok_or_else(damaged)?;
                ordered.push((
                    location.start_unix_nanos,
                    arrival,
                    StoredSpanBytes {
                        bytes,
                        indexes_at: location.indexes_at as usize,
                        resource_id,
                        scope_id,
                    },
                ));
            }
            ordered.sort_unstable_by_key(|&(start, arrival, _)| (start, arrival));
            let first = spans.len();
            spans.extend(ordered.drain(..).map(|(_, _, span)| span));
            stored_traces.push(StoredTrace {
                digest: &trace.digest,
                spans: first..spans.len(),
            });
        }
        let resources = values.encoded_resources();
        let scopes = values.encoded_scopes();
        let block = StoredBlock {
            traces: &stored_traces,
            spans: &spans,
            values: StoredValues {
                resources: &resources,
                scopes: &scopes,
            },
            names: &names,
        };
        Ok(write(&block))
    }
}
