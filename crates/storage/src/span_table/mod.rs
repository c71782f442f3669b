//! The stored form of a list of spans, shared by WAL records and block chunks.
//!
//! Spans of one batch share their `Arc<Resource>` and `Arc<InstrumentationScope>`; the
//! stored form keeps each distinct resource and scope once in a table and gives every
//! span an index into it. Distinct means distinct by value: pointers are deduplicated
//! first (cheap), then equal values behind different pointers (spans from different
//! batches of the same service). Decoding gives spans that share one `Arc` per table
//! entry again.
//!
//! Layout: `u32 LE` length of the header, the header (postcard: resource table, scope
//! table), then one or more span groups (each a postcard sequence of spans). A block
//! chunk has one group per trace so a lookup decodes only that trace's spans; a WAL
//! record has one group.
//!
//! The encoding is postcard (serde); field order is the format, so the borrowed
//! (encoding) and owned (decoding) structs below must list the same fields in the same
//! order. `docs/format/wal-v0.md` describes the layout.

use std::borrow::Borrow;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use weft_model::{
    Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind, Status, TraceId,
};

use crate::error::StorageError;

mod encode;
mod writer;

pub use writer::{
    LocatedSpans, SpanLocation, SpanTableWriter, StoredSpanBytes, StoredValues,
    encode_spans_located,
};

/// One span as stored, borrowing from a [`Span`]. Must mirror [`StoredSpan`]. Spans are
/// written by the hand-written encoder in `encode.rs`; this serde form is the reference
/// the tests hold it to.
#[cfg(test)]
#[derive(Serialize)]
struct StoredSpanRef<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    trace_state: &'a str,
    name: &'a str,
    kind: SpanKind,
    start_unix_nanos: u64,
    duration_nanos: u64,
    status: &'a Status,
    attributes: &'a [KeyValue],
    events: &'a [Event],
    links: &'a [Link],
    resource_index: u32,
    scope_index: u32,
    flags: u32,
    dropped_attributes_count: u32,
    dropped_events_count: u32,
    dropped_links_count: u32,
    shared: bool,
    debug: bool,
}

/// One span as decoded. Must mirror [`StoredSpanRef`].
#[derive(Deserialize)]
struct StoredSpan {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    trace_state: String,
    name: String,
    kind: SpanKind,
    start_unix_nanos: u64,
    duration_nanos: u64,
    status: Status,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    links: Vec<Link>,
    resource_index: u32,
    scope_index: u32,
    flags: u32,
    dropped_attributes_count: u32,
    dropped_events_count: u32,
    dropped_links_count: u32,
    shared: bool,
    debug: bool,
}

#[derive(Deserialize)]
struct Tables {
    resources: Vec<Resource>,
    scopes: Vec<InstrumentationScope>,
}

/// Serializes one group through serde (the reference for the hand-written encoder).
#[cfg(test)]
struct StoredSpans<'a, S> {
    spans: &'a [S],
    indexes: &'a [(u32, u32)],
}

#[cfg(test)]
impl<S: Borrow<Span>> Serialize for StoredSpans<'_, S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.collect_seq(self.spans.iter().zip(self.indexes).map(
            |(span, &(resource_index, scope_index))| {
                let span = span.borrow();
                StoredSpanRef {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    trace_state: &span.trace_state,
                    name: &span.name,
                    kind: span.kind,
                    start_unix_nanos: span.start_unix_nanos,
                    duration_nanos: span.duration_nanos,
                    status: &span.status,
                    attributes: &span.attributes,
                    events: &span.events,
                    links: &span.links,
                    resource_index,
                    scope_index,
                    flags: span.flags,
                    dropped_attributes_count: span.dropped_attributes_count,
                    dropped_events_count: span.dropped_events_count,
                    dropped_links_count: span.dropped_links_count,
                    shared: span.shared,
                    debug: span.debug,
                }
            },
        ))
    }
}

/// Appends the stored form of `spans` (one group) to `out`, keeping each distinct
/// resource and scope once. Spans keep their order. Works on owned spans (`&[Span]`)
/// and references (`&[&Span]`).
pub fn encode_spans<S: Borrow<Span>>(spans: &[S], out: &mut Vec<u8>) -> Result<(), StorageError> {
    let mut writer = SpanTableWriter::new();
    writer.add_group(spans)?;
    writer.finish(out)
}

/// Decodes a table of exactly one group, as [`encode_spans`] writes it. `what` names
/// the source in errors. Malformed, truncated or over-long input is
/// [`StorageError::Corrupt`].
pub fn decode_spans(bytes: &[u8], what: &str) -> Result<Vec<Span>, StorageError> {
    let table = SpanTableReader::open(bytes, what)?;
    table.group(0..table.groups.len() as u64)
}

/// A decoded header over an encoded table; decodes groups on demand.
pub struct SpanTableReader<'a> {
    resources: Vec<Arc<Resource>>,
    scopes: Vec<Arc<InstrumentationScope>>,
    groups: &'a [u8],
    what: &'a str,
}

impl<'a> SpanTableReader<'a> {
    /// Decodes the header of `bytes`. `what` names the source in errors.
    pub fn open(bytes: &'a [u8], what: &'a str) -> Result<SpanTableReader<'a>, StorageError> {
        let corrupt = |reason: String| StorageError::corrupt(what, reason);
        let length: [u8; 4] = bytes
            .get(..4)
            .and_then(|prefix| prefix.try_into().ok())
            .ok_or_else(|| corrupt(String::from("span table header is truncated")))?;
        let header_end = 4usize.saturating_add(u32::from_le_bytes(length) as usize);
        let header = bytes
            .get(4..header_end)
            .ok_or_else(|| corrupt(String::from("span table header is truncated")))?;
        let tables: Tables = postcard::from_bytes(header)
            .map_err(|error| corrupt(format!("span table header does not decode: {error}")))?;
        Ok(SpanTableReader {
            resources: tables.resources.into_iter().map(Arc::new).collect(),
            scopes: tables.scopes.into_iter().map(Arc::new).collect(),
            groups: &bytes[header_end..],
            what,
        })
    }

    /// Decodes the group at `range` (as returned by [`SpanTableWriter::add_group`]).
    pub fn group(&self, range: Range<u64>) -> Result<Vec<Span>, StorageError> {
        let bytes = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| self.groups.get(start..end))
            .ok_or_else(|| StorageError::corrupt(self.what, "span group lies outside the table"))?;
        let (spans, rest) = self.decode_group(bytes)?;
        if !rest.is_empty() {
            return Err(StorageError::corrupt(
                self.what,
                "span group has trailing bytes",
            ));
        }
        Ok(spans)
    }

    /// Decodes every group, in order (an empty groups section gives no spans).
    pub fn all(&self) -> Result<Vec<Span>, StorageError> {
        let mut spans = Vec::new();
        let mut rest = self.groups;
        while !rest.is_empty() {
            let (group, after) = self.decode_group(rest)?;
            if spans.is_empty() {
                spans = group;
            } else {
                spans.extend(group);
            }
            rest = after;
        }
        Ok(spans)
    }

    fn decode_group<'b>(&self, bytes: &'b [u8]) -> Result<(Vec<Span>, &'b [u8]), StorageError> {
        let (stored, rest) =
            postcard::take_from_bytes::<Vec<StoredSpan>>(bytes).map_err(|error| {
                StorageError::corrupt(self.what, format!("span group does not decode: {error}"))
            })?;
        let mut spans = Vec::with_capacity(stored.len());
        for stored in stored {
            spans.push(self.resolve(stored)?);
        }
        Ok((spans, rest))
    }

    fn resolve(&self, stored: StoredSpan) -> Result<Span, StorageError> {
        let resource = self
            .resources
            .get(stored.resource_index as usize)
            .ok_or_else(|| {
                StorageError::corrupt(
                    self.what,
                    format!("resource index {} out of range", stored.resource_index),
                )
            })?;
        let scope = self
            .scopes
            .get(stored.scope_index as usize)
            .ok_or_else(|| {
                StorageError::corrupt(
                    self.what,
                    format!("scope index {} out of range", stored.scope_index),
                )
            })?;
        Ok(stored.into_span(resource.clone(), scope.clone()))
    }
}

/// Decodes one stored span (the bytes a [`SpanLocation`] locates, exactly one span) and
/// gives it `resource` and `scope` in place of the table entries its index fields name.
/// `what` names the source in errors; malformed or over-long input is
/// [`StorageError::Corrupt`].
pub fn decode_stored_span(
    bytes: &[u8],
    resource: Arc<Resource>,
    scope: Arc<InstrumentationScope>,
    what: &str,
) -> Result<Span, StorageError> {
    let (stored, rest) = postcard::take_from_bytes::<StoredSpan>(bytes)
        .map_err(|error| StorageError::corrupt(what, format!("span does not decode: {error}")))?;
    if !rest.is_empty() {
        return Err(StorageError::corrupt(what, "span has trailing bytes"));
    }
    Ok(stored.into_span(resource, scope))
}

impl StoredSpan {
    fn into_span(self, resource: Arc<Resource>, scope: Arc<InstrumentationScope>) -> Span {
        let stored = self;
        Span {
            trace_id: stored.trace_id,
            span_id: stored.span_id,
            parent_span_id: stored.parent_span_id,
            trace_state: stored.trace_state,
            name: stored.name,
            kind: stored.kind,
            start_unix_nanos: stored.start_unix_nanos,
            duration_nanos: stored.duration_nanos,
            status: stored.status,
            attributes: stored.attributes,
            events: stored.events,
            links: stored.links,
            resource,
            scope,
            flags: stored.flags,
            dropped_attributes_count: stored.dropped_attributes_count,
            dropped_events_count: stored.dropped_events_count,
            dropped_links_count: stored.dropped_links_count,
            shared: stored.shared,
            debug: stored.debug,
        }
    }
}

#[cfg(test)]
mod tests;
