//! The in-memory head: recent spans per tenant, indexed by trace id, kept as the WAL
//! records they arrived in.
//!
//! A [`Head`] holds everything written to the WAL since the last cut. Each tenant's part
//! ([`TenantHead`]) keeps the encoded records (the very buffers the WAL wrote, shared,
//! with every span located in them) and, per trace, where its spans are plus an
//! incrementally maintained [`TraceDigest`]; per tenant a [`NameIndex`] and one copy of
//! each distinct resource and scope ([`HeadValues`]). Traces are split into shards by
//! trace id so that concurrent pushes of different traces rarely contend.
//!
//! Keeping spans encoded rather than decoded means a span costs its ~200 stored bytes
//! plus 8 bytes of reference instead of a dozen allocations (~850 bytes), pushes free
//! their decoded spans on the thread that decoded them, a cut head is freed record by
//! record, and block writing copies bytes instead of encoding spans again
//! ([`TenantHead::with_stored_block`]). Reading a trace from the head decodes its spans.
//!
//! Memory is counted as the allocator sees it ([`crate::memory`]).
//!
//! A span equal to one the head already has under its trace (same stored bytes, same
//! resource and scope) is not added again: scrapers that pull the same targets for high
//! availability, and clients that retry a push the server had stored, send such copies.
//! Each span reference carries a 32-bit fingerprint of the span's bytes so that the check
//! compares bytes only on a fingerprint match. Traces with more than
//! [`DEDUPE_MAX_TRACE_SPANS`] spans are not checked (reads and compaction remove their
//! copies), which keeps an insert linear in the spans it adds.

use std::mem::size_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use foldhash::HashMap;
use weft_model::{CatalogLimits, NameIndex, Span, TenantId, TimeWindow, TraceId};
use weft_storage::span_table::{LocatedSpans, SpanLocation, decode_stored_span};
use weft_storage::{NameCollector, StorageError, TraceDigest};

use crate::memory;
use crate::values::{HeadValues, RecordValueIds};

/// Number of trace shards per tenant.
pub const HEAD_SHARDS: usize = 16;

/// Traces with more spans than this in the head are not checked for copies of spans
/// at insert.
pub const DEDUPE_MAX_TRACE_SPANS: usize = 4096;

fn shard_of(trace_id: &TraceId) -> usize {
    ((trace_id.low_u64() ^ trace_id.high_u64()) % HEAD_SHARDS as u64) as usize
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// One WAL record kept by the head.
#[derive(Debug)]
struct HeadRecord {
    encoded: Arc<LocatedSpans>,
    value_ids: RecordValueIds,
}

impl HeadRecord {
    /// The location of span `span` and the head's ids of its resource and scope.
    fn span(&self, span: u32) -> Option<(&SpanLocation, u32, u32)> {
        let location = self.encoded.spans.get(span as usize)?;
        let resource = *self.value_ids.resources.get(location.resource as usize)?;
        let scope = *self.value_ids.scopes.get(location.scope as usize)?;
        Some((location, resource, scope))
    }

    fn bytes(&self) -> usize {
        let encoded = &self.encoded;
        memory::allocation_bytes(encoded.bytes.capacity())
            + memory::allocation_bytes(encoded.spans.capacity() * size_of::<SpanLocation>())
            + memory::allocation_bytes((encoded.resources.len() + encoded.scopes.len()) * 8)
            + memory::allocation_bytes(size_of::<LocatedSpans>() + 16)
            + memory::allocation_bytes(
                (self.value_ids.resources.len() + self.value_ids.scopes.len()) * 4,
            )
            + size_of::<HeadRecord>()
    }
}

/// Where a span of the head is: its record and its position in the record, with the
/// fingerprint of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpanRef {
    record: u32,
    span: u32,
    fingerprint: u32,
}

/// A hash of span `span` of `record` without its resource and scope indexes (those
/// differ between records for equal values); 0 when the location is damaged.
fn fingerprint(record: &LocatedSpans, span: usize) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let Some((before, after)) = record
        .spans
        .get(span)
        .and_then(|location| location.content(&record.bytes))
    else {
        return 0;
    };
    let mut hasher = foldhash::fast::FixedState::with_seed(0x7765_6674).build_hasher();
    hasher.write(before);
    hasher.write(after);
    hasher.finish() as u32
}

/// True when span `a_span` of `a` and span `b_span` of `b` are equal: same bytes, same
/// resource, same scope.
fn same_span(a: &LocatedSpans, a_span: usize, b: &LocatedSpans, b_span: usize) -> bool {
    let (Some(a_location), Some(b_location)) = (a.spans.get(a_span), b.spans.get(b_span)) else {
        return false;
    };
    let a_content = a_location.content(&a.bytes);
    a_content.is_some()
        && a_content == b_location.content(&b.bytes)
        && a.resource_bytes(a_location.resource) == b.resource_bytes(b_location.resource)
        && a.scope_bytes(a_location.scope) == b.scope_bytes(b_location.scope)
}

/// True when a span of `existing` with fingerprint `fingerprint` equals span `span` of
/// `incoming`; `records` is read-locked on the first fingerprint match only.
fn has_copy<'a>(
    existing: &[SpanRef],
    fingerprint: u32,
    incoming: &LocatedSpans,
    span: usize,
    records_lock: &'a RwLock<Vec<HeadRecord>>,
    records: &mut Option<RwLockReadGuard<'a, Vec<HeadRecord>>>,
) -> bool {
    existing
        .iter()
        .filter(|reference| reference.fingerprint == fingerprint)
        .any(|reference| {
            let records = records.get_or_insert_with(|| read(records_lock));
            records
                .get(reference.record as usize)
                .is_some_and(|record| {
                    same_span(&record.encoded, reference.span as usize, incoming, span)
                })
        })
}

/// The spans of one trace in the head.
#[derive(Debug)]
struct HeadTrace {
    spans: Vec<SpanRef>,
    digest: TraceDigest,
    /// What the vector's buffer and the digest were last counted as, in bytes.
    counted_bytes: usize,
    /// When its latest span arrived (for tail sampling's decision wait).
    last_arrival: Instant,
}

impl HeadTrace {
    /// Bytes of the references' buffer and the digest's strings.
    fn owned_bytes(&self) -> usize {
        memory::allocation_bytes(self.spans.capacity() * size_of::<SpanRef>())
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
    /// Spans not added because the head already had them.
    pub duplicates: u64,
}

impl InsertStats {
    /// Adds another insert's numbers.
    pub fn add(&mut self, other: InsertStats) {
        self.spans += other.spans;
        self.new_traces += other.new_traces;
        self.bytes += other.bytes;
        self.duplicates += other.duplicates;
    }
}

/// Why spans could not be added to the head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The record was not encoded from these spans.
    #[error("the encoded record does not match its {0} spans")]
    RecordMismatch(usize),
    /// The head already has 2^32 records.
    #[error("the head is full")]
    Full,
}

/// One tenant's part of a head. Safe to share between threads.
#[derive(Debug)]
pub struct TenantHead {
    shards: Vec<RwLock<HashMap<TraceId, HeadTrace>>>,
    records: RwLock<Vec<HeadRecord>>,
    values: RwLock<HeadValues>,
    names: Mutex<NameIndex>,
    spans: AtomicU64,
    traces: AtomicU64,
    bytes: AtomicU64,
    largest_trace_spans: AtomicU64,
}

impl Default for TenantHead {
    fn default() -> Self {
        TenantHead {
            shards: (0..HEAD_SHARDS).map(|_| RwLock::default()).collect(),
            records: RwLock::default(),
            values: RwLock::default(),
            names: Mutex::default(),
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

    /// Adds `record`, the WAL record encoded from `spans` (same spans, same order): the
    /// head keeps the record and files every span under its trace, and adds the spans'
    /// names (with the values of `indexed_attribute_keys`, and the attribute catalog
    /// within `catalog_limits`). `spans` are only read; the caller frees them. Spans of
    /// one trace that arrive together are filed together, with one lookup and one
    /// reservation. Traces in `arrivals` count as arrived then (carried from an older
    /// head), or later if spans of theirs arrived here since; the rest arrived now.
    /// Spans equal to one the head has under their trace (or to an earlier one of the
    /// record) are left out, and counted in [`InsertStats::duplicates`].
    pub fn insert_arrived(
        &self,
        spans: &[Span],
        record: Arc<LocatedSpans>,
        indexed_attribute_keys: &[String],
        catalog_limits: CatalogLimits,
        arrivals: Option<&HashMap<TraceId, Instant>>,
    ) -> Result<InsertStats, InsertError> {
        let now = Instant::now();
        let fingerprints: Vec<u32> = (0..spans.len())
            .map(|position| fingerprint(&record, position))
            .collect();
        let incoming = record.clone();
        let (value_ids, value_bytes) = self
            .values
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .number(&record, spans)
            .ok_or(InsertError::RecordMismatch(spans.len()))?;
        let mut stats = InsertStats {
            bytes: value_bytes as u64,
            ..InsertStats::default()
        };
        let record = HeadRecord {
            encoded: record,
            value_ids,
        };
        stats.bytes += record.bytes() as u64;
        let record_index = {
            let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
            let index = u32::try_from(records.len()).map_err(|_| InsertError::Full)?;
            let capacity_before = records.capacity();
            records.push(record);
            if records.capacity() > capacity_before {
                stats.bytes +=
                    ((records.capacity() - capacity_before) * size_of::<HeadRecord>()) as u64;
            }
            index
        };
        stats.bytes += self.add_names(spans, indexed_attribute_keys, catalog_limits) as u64;

        // Positions of the spans, grouped by shard, input order kept within a shard.
        let mut by_shard: Vec<(u8, u32)> = spans
            .iter()
            .enumerate()
            .map(|(position, span)| (shard_of(&span.trace_id) as u8, position as u32))
            .collect();
        by_shard.sort_by_key(|&(shard, _)| shard);
        let mut largest = 0u64;
        let mut records_guard = None;
        for shard_positions in by_shard.chunk_by(|a, b| a.0 == b.0) {
            let shard = &self.shards[shard_positions[0].0 as usize];
            let mut traces = shard.write().unwrap_or_else(PoisonError::into_inner);
            let table_before = memory::hash_table_bytes(traces.capacity(), TRACE_ENTRY_BYTES);
            for run in shard_positions
                .chunk_by(|a, b| spans[a.1 as usize].trace_id == spans[b.1 as usize].trace_id)
            {
                let trace_id = spans[run[0].1 as usize].trace_id;
                let arrival = arrivals
                    .and_then(|arrivals| arrivals.get(&trace_id).copied())
                    .unwrap_or(now);
                let trace = traces.entry(trace_id).or_insert_with(|| {
                    stats.new_traces += 1;
                    HeadTrace {
                        spans: Vec::new(),
                        digest: TraceDigest::new(trace_id),
                        counted_bytes: 0,
                        last_arrival: arrival,
                    }
                });
                trace.last_arrival = trace.last_arrival.max(arrival);
                trace.spans.reserve(run.len());
                let check = trace.spans.len() + run.len() <= DEDUPE_MAX_TRACE_SPANS;
                let mut added = 0u64;
                for &(_, position) in run {
                    let fingerprint = fingerprints[position as usize];
                    if check
                        && has_copy(
                            &trace.spans,
                            fingerprint,
                            &incoming,
                            position as usize,
                            &self.records,
                            &mut records_guard,
                        )
                    {
                        stats.duplicates += 1;
                        continue;
                    }
                    trace.digest.add_span(&spans[position as usize]);
                    trace.spans.push(SpanRef {
                        record: record_index,
                        span: position,
                        fingerprint,
                    });
                    added += 1;
                }
                // Capacity and digest strings only grow (a better root may shorten a
                // name; the old count stands then), so the count never goes down.
                let owned = trace.owned_bytes();
                if owned > trace.counted_bytes {
                    stats.bytes += (owned - trace.counted_bytes) as u64;
                    trace.counted_bytes = owned;
                }
                stats.spans += added;
                largest = largest.max(trace.spans.len() as u64);
            }
            let table_after = memory::hash_table_bytes(traces.capacity(), TRACE_ENTRY_BYTES);
            stats.bytes += table_after.saturating_sub(table_before) as u64;
            // Not held while the next shard is locked.
            records_guard = None;
        }
        self.largest_trace_spans
            .fetch_max(largest, Ordering::Relaxed);
        self.spans.fetch_add(stats.spans, Ordering::Relaxed);
        self.traces.fetch_add(stats.new_traces, Ordering::Relaxed);
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        Ok(stats)
    }

    /// Positions of the spans of `record` (encoded from `spans`, same order) that equal a
    /// span this head already has under their trace, ascending. A push drops them before
    /// writing the WAL; the insert checks again, as another push may add copies between.
    pub fn duplicates(&self, spans: &[Span], record: &LocatedSpans) -> Vec<usize> {
        let mut found = Vec::new();
        let mut records_guard = None;
        for (position, span) in spans.iter().enumerate() {
            let shard = read(&self.shards[shard_of(&span.trace_id)]);
            let Some(trace) = shard.get(&span.trace_id) else {
                continue;
            };
            if trace.spans.len() > DEDUPE_MAX_TRACE_SPANS {
                continue;
            }
            if has_copy(
                &trace.spans,
                fingerprint(record, position),
                record,
                position,
                &self.records,
                &mut records_guard,
            ) {
                found.push(position);
            }
            // Released with the shard, so no record lock outlives a shard lock.
            records_guard = None;
        }
        found
    }

    /// Merges the names of `spans` into the tenant's index; returns the bytes it grew by.
    fn add_names(
        &self,
        spans: &[Span],
        indexed_attribute_keys: &[String],
        catalog_limits: CatalogLimits,
    ) -> usize {
        let mut collector = NameCollector::new(indexed_attribute_keys, catalog_limits);
        for span in spans {
            collector.add_span(span);
        }
        if collector.is_empty() {
            return 0;
        }
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        names.attributes.limits = catalog_limits;
        let copied = collector.merge_into(&mut names);
        // A non-string catalog value costs about a B-tree slot.
        copied.bytes + copied.strings * memory::name_bytes("") + copied.values * 16
    }

    /// The spans of `trace_id`, decoded; empty when the head does not have it.
    pub fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StorageError> {
        let references: Vec<SpanRef> = match read(&self.shards[shard_of(&trace_id)]).get(&trace_id)
        {
            Some(trace) => trace.spans.clone(),
            None => return Ok(Vec::new()),
        };
        let records = read(&self.records);
        let values = read(&self.values);
        let what = format!("head trace {trace_id}");
        let damaged = || StorageError::corrupt(&what, "a span reference points nowhere");
        references
            .iter()
            .map(|reference| {
                let record = records.get(reference.record as usize).ok_or_else(damaged)?;
                let (location, resource, scope) =
                    record.span(reference.span).ok_or_else(damaged)?;
                let bytes = location
                    .span_bytes(&record.encoded.bytes)
                    .ok_or_else(damaged)?;
                let resource = values.resource(resource).ok_or_else(damaged)?.clone();
                let scope = values.scope(scope).ok_or_else(damaged)?.clone();
                decode_stored_span(bytes, resource, scope, &what)
            })
            .collect()
    }

    /// Every trace with when its latest span arrived and its estimated share of the
    /// head's bytes.
    pub fn arrivals(&self) -> Vec<(TraceId, Instant, u64)> {
        let bytes_per_span = self.bytes() / self.span_total().max(1);
        let mut found = Vec::new();
        for shard in &self.shards {
            for (trace_id, trace) in read(shard).iter() {
                let bytes = trace.spans.len() as u64 * bytes_per_span;
                found.push((*trace_id, trace.last_arrival, bytes));
            }
        }
        found
    }

    /// Every trace id in the head, ascending (block order).
    pub fn sorted_trace_ids(&self) -> Vec<TraceId> {
        let mut ids: Vec<TraceId> = Vec::new();
        for shard in &self.shards {
            ids.extend(read(shard).keys().copied());
        }
        ids.sort_unstable();
        ids
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

    /// Spans held.
    pub fn span_total(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Traces held.
    pub fn trace_total(&self) -> u64 {
        self.traces.load(Ordering::Relaxed)
    }

    /// Estimated memory held, in bytes (see [`crate::memory`]).
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

    /// Adds a record of `tenant` whose spans arrived now; see
    /// [`TenantHead::insert_arrived`].
    pub fn insert(
        &self,
        tenant: &TenantId,
        spans: &[Span],
        record: Arc<LocatedSpans>,
        indexed_attribute_keys: &[String],
        catalog_limits: CatalogLimits,
    ) -> Result<InsertStats, InsertError> {
        self.insert_arrived(
            tenant,
            spans,
            record,
            indexed_attribute_keys,
            catalog_limits,
            None,
        )
    }

    /// Adds a record of `tenant` whose traces in `arrivals` arrived earlier; see
    /// [`TenantHead::insert_arrived`].
    pub fn insert_arrived(
        &self,
        tenant: &TenantId,
        spans: &[Span],
        record: Arc<LocatedSpans>,
        indexed_attribute_keys: &[String],
        catalog_limits: CatalogLimits,
        arrivals: Option<&HashMap<TraceId, Instant>>,
    ) -> Result<InsertStats, InsertError> {
        if spans.is_empty() {
            return Ok(InsertStats::default());
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
        let stats = tenant_head.insert_arrived(
            spans,
            record,
            indexed_attribute_keys,
            catalog_limits,
            arrivals,
        )?;
        self.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        self.first_insert.get_or_init(Instant::now);
        Ok(stats)
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

    /// Estimated memory of all tenants' parts, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// When the first span was inserted; `None` while empty.
    pub fn first_insert(&self) -> Option<Instant> {
        self.first_insert.get().copied()
    }
}

#[cfg(test)]
mod tests;
