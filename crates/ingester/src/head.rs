//! The in-memory head: recent spans per tenant, indexed by trace id.
//!
//! A [`Head`] holds everything written to the WAL since the last cut. Each tenant's part
//! ([`TenantHead`]) is split into shards by trace id so that concurrent pushes of
//! different traces rarely contend. Every trace keeps its spans and an incrementally
//! maintained [`TraceDigest`]; every tenant keeps a [`NameIndex`] and one canonical copy
//! of each distinct resource and scope ([`SharedValues`]).
//!
//! Memory is counted as the allocator sees it ([`crate::memory`]): span structs in their
//! trace vectors (capacity included), every string and vector they own, trace digests,
//! hash table slots, canonical resources and names.

use std::mem::size_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use foldhash::HashMap;
use weft_model::{NameIndex, Span, TenantId, TimeWindow, TraceId};
use weft_storage::{NameCollector, TraceDigest};

use crate::memory;
use crate::shared::SharedValues;

/// Number of trace shards per tenant.
pub const HEAD_SHARDS: usize = 16;

fn shard_of(trace_id: &TraceId) -> usize {
    ((trace_id.low_u64() ^ trace_id.high_u64()) % HEAD_SHARDS as u64) as usize
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// The spans of one trace in the head.
#[derive(Debug)]
struct HeadTrace {
    spans: Vec<Span>,
    digest: TraceDigest,
    /// What the vector's buffer and the digest were last counted as, in bytes.
    counted_bytes: usize,
}

impl HeadTrace {
    /// Bytes of the spans' vector buffer and the digest's strings.
    fn owned_bytes(&self) -> usize {
        memory::allocation_bytes(self.spans.capacity() * size_of::<Span>())
            + memory::digest_heap_bytes(&self.digest)
    }
}

/// Bytes of one hash table slot of a shard.
const TRACE_ENTRY_BYTES: usize = size_of::<(TraceId, HeadTrace)>();

/// What an insert added, for the ingester's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InsertStats {
    /// Spans added.
    pub spans: u64,
    /// Traces that were not in the head before.
    pub new_traces: u64,
    /// Estimated memory added, in bytes (see [`crate::memory`]).
    pub bytes: u64,
}

impl InsertStats {
    /// Adds another insert's numbers.
    pub fn add(&mut self, other: InsertStats) {
        self.spans += other.spans;
        self.new_traces += other.new_traces;
        self.bytes += other.bytes;
    }
}

/// One tenant's part of a head. Safe to share between threads.
#[derive(Debug)]
pub struct TenantHead {
    shards: Vec<RwLock<HashMap<TraceId, HeadTrace>>>,
    names: Mutex<NameIndex>,
    shared: SharedValues,
    spans: AtomicU64,
    traces: AtomicU64,
    bytes: AtomicU64,
    largest_trace_spans: AtomicU64,
}

impl Default for TenantHead {
    fn default() -> Self {
        TenantHead {
            shards: (0..HEAD_SHARDS).map(|_| RwLock::default()).collect(),
            names: Mutex::default(),
            shared: SharedValues::default(),
            spans: AtomicU64::new(0),
            traces: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            largest_trace_spans: AtomicU64::new(0),
        }
    }
}

impl TenantHead {
    /// Spans of `trace_id` in this head.
    pub fn span_count(&self, trace_id: TraceId) -> u64 {
        read(&self.shards[shard_of(&trace_id)])
            .get(&trace_id)
            .map_or(0, |trace| trace.spans.len() as u64)
    }

    /// The most spans any trace of this head has (an upper bound, never too small).
    pub fn largest_trace_spans(&self) -> u64 {
        self.largest_trace_spans.load(Ordering::Relaxed)
    }

    /// Adds spans (any traces of this tenant): points them at the head's canonical
    /// resources and scopes, adds their names (with the values of
    /// `indexed_attribute_keys`), and files them under their traces. Spans of one trace
    /// that arrive together are added together, with one lookup and one reservation.
    pub fn insert(&self, mut spans: Vec<Span>, indexed_attribute_keys: &[String]) -> InsertStats {
        let mut stats = InsertStats {
            bytes: self.shared.canonicalize(&mut spans) as u64,
            ..InsertStats::default()
        };
        stats.bytes += self.add_names(&spans, indexed_attribute_keys) as u64;

        let mut counts = [0usize; HEAD_SHARDS];
        for span in &spans {
            counts[shard_of(&span.trace_id)] += 1;
        }
        let mut buckets: Vec<Vec<Span>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
        for span in spans {
            buckets[shard_of(&span.trace_id)].push(span);
        }
        let mut largest = 0u64;
        for (shard, bucket) in self.shards.iter().zip(buckets) {
            if bucket.is_empty() {
                continue;
            }
            let runs = trace_runs(&bucket);
            let mut bucket = bucket.into_iter();
            let mut traces = shard.write().unwrap_or_else(PoisonError::into_inner);
            let table_before = memory::hash_table_bytes(traces.capacity(), TRACE_ENTRY_BYTES);
            for (trace_id, run_length) in runs {
                let trace = traces.entry(trace_id).or_insert_with(|| {
                    stats.new_traces += 1;
                    HeadTrace {
                        spans: Vec::new(),
                        digest: TraceDigest::new(trace_id),
                        counted_bytes: 0,
                    }
                });
                trace.spans.reserve(run_length);
                for span in bucket.by_ref().take(run_length) {
                    stats.bytes += memory::span_heap_bytes(&span) as u64;
                    trace.digest.add_span(&span);
                    trace.spans.push(span);
                }
                // Capacity and digest strings only grow (a better root may shorten a
                // name; the old count stands then), so the count never goes down.
                let owned = trace.owned_bytes();
                if owned > trace.counted_bytes {
                    stats.bytes += (owned - trace.counted_bytes) as u64;
                    trace.counted_bytes = owned;
                }
                stats.spans += run_length as u64;
                largest = largest.max(trace.spans.len() as u64);
            }
            let table_after = memory::hash_table_bytes(traces.capacity(), TRACE_ENTRY_BYTES);
            stats.bytes += table_after.saturating_sub(table_before) as u64;
        }
        self.largest_trace_spans
            .fetch_max(largest, Ordering::Relaxed);
        self.spans.fetch_add(stats.spans, Ordering::Relaxed);
        self.traces.fetch_add(stats.new_traces, Ordering::Relaxed);
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        stats
    }

    /// Merges the names of `spans` into the tenant's index; returns the bytes it grew by.
    fn add_names(&self, spans: &[Span], indexed_attribute_keys: &[String]) -> usize {
        let mut collector = NameCollector::new(indexed_attribute_keys);
        for span in spans {
            collector.add_span(span);
        }
        if collector.is_empty() {
            return 0;
        }
        let copied =
            collector.merge_into(&mut self.names.lock().unwrap_or_else(PoisonError::into_inner));
        copied.bytes + copied.strings * memory::name_bytes("")
    }

    /// Copies of the spans of `trace_id`; empty when the head does not have it.
    pub fn trace(&self, trace_id: TraceId) -> Vec<Span> {
        read(&self.shards[shard_of(&trace_id)])
            .get(&trace_id)
            .map(|trace| trace.spans.clone())
            .unwrap_or_default()
    }

    /// Traces whose timestamp (as this head sees it) is non-zero and in `window`.
    pub fn trace_ids_in_window(&self, window: TimeWindow) -> Vec<TraceId> {
        let mut found = Vec::new();
        for shard in &self.shards {
            for (trace_id, trace) in read(shard).iter() {
                let timestamp = trace.digest.timestamp_unix_nanos();
                if timestamp != 0 && window.contains(timestamp) {
                    found.push(*trace_id);
                }
            }
        }
        found
    }

    /// The digest of `trace_id` in this head.
    pub fn digest(&self, trace_id: TraceId) -> Option<TraceDigest> {
        read(&self.shards[shard_of(&trace_id)])
            .get(&trace_id)
            .map(|trace| trace.digest.clone())
    }

    /// A copy of the names seen.
    pub fn names(&self) -> NameIndex {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls `write` with references to every span, holding read locks on all shards
    /// meanwhile (pushes to this tenant head wait; reads proceed).
    pub fn with_all_spans<R>(&self, write: impl FnOnce(&[&Span]) -> R) -> R {
        let guards: Vec<_> = self.shards.iter().map(read).collect();
        let total: usize = guards
            .iter()
            .flat_map(|guard| guard.values())
            .map(|trace| trace.spans.len())
            .sum();
        let mut spans: Vec<&Span> = Vec::with_capacity(total);
        for guard in &guards {
            for trace in guard.values() {
                spans.extend(trace.spans.iter());
            }
        }
        write(&spans)
    }

    /// Spans held.
    pub fn span_total(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Traces held.
    pub fn trace_total(&self) -> u64 {
        self.traces.load(Ordering::Relaxed)
    }

    /// Approximate heap bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Everything written to the WAL since the last cut, for all tenants.
#[derive(Debug)]
pub struct Head {
    /// The first WAL segment whose records this head holds.
    pub first_wal_segment: u64,
    tenants: RwLock<HashMap<TenantId, Arc<TenantHead>>>,
    bytes: AtomicU64,
    first_insert: OnceLock<Instant>,
}

impl Head {
    /// An empty head whose records start in WAL segment `first_wal_segment`.
    pub fn new(first_wal_segment: u64) -> Head {
        Head {
            first_wal_segment,
            tenants: RwLock::default(),
            bytes: AtomicU64::new(0),
            first_insert: OnceLock::new(),
        }
    }

    /// The tenant's part, if it has spans here.
    pub fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantHead>> {
        read(&self.tenants).get(tenant).cloned()
    }

    /// Adds spans of `tenant`; see [`TenantHead::insert`].
    pub fn insert(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
        indexed_attribute_keys: &[String],
    ) -> InsertStats {
        if spans.is_empty() {
            return InsertStats::default();
        }
        let tenant_head = match self.tenant(tenant) {
            Some(existing) => existing,
            None => self
                .tenants
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(tenant.clone())
                .or_default()
                .clone(),
        };
        let stats = tenant_head.insert(spans, indexed_attribute_keys);
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        self.first_insert.get_or_init(Instant::now);
        stats
    }

    /// Every tenant's part.
    pub fn tenants(&self) -> Vec<(TenantId, Arc<TenantHead>)> {
        read(&self.tenants)
            .iter()
            .map(|(tenant, head)| (tenant.clone(), head.clone()))
            .collect()
    }

    /// True when no span was inserted.
    pub fn is_empty(&self) -> bool {
        read(&self.tenants).is_empty()
    }

    /// Approximate heap bytes of all spans.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// When the first span was inserted; `None` while empty.
    pub fn first_insert(&self) -> Option<Instant> {
        self.first_insert.get().copied()
    }
}

/// Consecutive spans of one trace in `spans`, as (trace, number of spans), in order.
fn trace_runs(spans: &[Span]) -> Vec<(TraceId, usize)> {
    let mut runs: Vec<(TraceId, usize)> = Vec::new();
    for span in spans {
        match runs.last_mut() {
            Some((trace_id, length)) if *trace_id == span.trace_id => *length += 1,
            _ => runs.push((span.trace_id, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::{Resource, SpanId};

    use super::*;

    fn span(trace: u64, id: u64, parent: Option<u64>, start: u64) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
        span.parent_span_id = parent.map(SpanId::from_u64);
        span.start_unix_nanos = start;
        span.resource = Arc::new(Resource::for_service("svc"));
        span
    }

    #[test]
    fn inserts_are_indexed_by_trace_with_running_digests() {
        let head = Head::new(3);
        assert!(head.is_empty());
        let tenant = TenantId::single();
        let stats = head.insert(
            &tenant,
            vec![
                span(1, 2, Some(1), 50),
                span(2, 1, None, 70),
                span(1, 1, None, 100),
            ],
            &[],
        );
        assert_eq!(stats.spans, 3);
        assert_eq!(stats.new_traces, 2);
        assert!(stats.bytes > 0);
        assert_eq!(head.bytes(), stats.bytes);
        assert!(head.first_insert().is_some());
        let tenant_head = head.tenant(&tenant).expect("tenant");
        assert_eq!(tenant_head.span_count(TraceId::from_halves(0, 1)), 2);
        assert_eq!(tenant_head.largest_trace_spans(), 2);
        let digest = tenant_head
            .digest(TraceId::from_halves(0, 1))
            .expect("digest");
        assert_eq!(
            digest.timestamp_unix_nanos(),
            100,
            "root start wins over the earlier child"
        );
        let window = TimeWindow {
            start_unix_nanos: 60,
            end_unix_nanos: 100,
        };
        let mut ids = tenant_head.trace_ids_in_window(window);
        ids.sort();
        assert_eq!(
            ids,
            vec![TraceId::from_halves(0, 1), TraceId::from_halves(0, 2)]
        );
        assert_eq!(tenant_head.with_all_spans(|spans| spans.len()), 3);
        assert!(
            head.tenant(&TenantId::parse("other").expect("tenant"))
                .is_none()
        );
    }
}
