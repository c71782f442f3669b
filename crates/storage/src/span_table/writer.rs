//! Building span tables: from decoded spans, or by copying stored spans.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use foldhash::HashMap;
use serde::Serialize;
use weft_model::{InstrumentationScope, Resource, Span};

use super::encode::{u32_varint_length, write_span, write_varint};
use crate::error::StorageError;

fn encode_error(error: postcard::Error) -> StorageError {
    StorageError::Encode {
        what: "span table",
        reason: error.to_string(),
    }
}

fn too_large(what: &'static str) -> StorageError {
    StorageError::Encode {
        what,
        reason: String::from("more than 4 GiB or 2^32 - 1 entries"),
    }
}

/// The resource or scope table of the table being built: value ids (in whatever id
/// space the writer uses) in table order, and the reverse map.
#[derive(Default)]
struct TableEntries {
    /// Value id -> index in the table (`u32::MAX` when absent).
    index_of_value: Vec<u32>,
    /// Value ids, in table order.
    values: Vec<u32>,
}

impl TableEntries {
    /// The table index of `value_id`, adding it when new. `true` when it was added.
    fn index_of(&mut self, value_id: u32) -> Result<(u32, bool), StorageError> {
        let slot = value_id as usize;
        if slot >= self.index_of_value.len() {
            self.index_of_value.resize(slot + 1, u32::MAX);
        }
        let index = self.index_of_value[slot];
        if index != u32::MAX {
            return Ok((index, false));
        }
        let index = u32::try_from(self.values.len())
            .ok()
            .filter(|&index| index < u32::MAX)
            .ok_or_else(|| too_large("span table"))?;
        self.index_of_value[slot] = index;
        self.values.push(value_id);
        Ok((index, true))
    }

    fn reset(&mut self) {
        for &value_id in &self.values {
            self.index_of_value[value_id as usize] = u32::MAX;
        }
        self.values.clear();
    }
}

/// Deduplicates one kind of shared value (resources or scopes) for the whole life of a
/// writer: by `Arc` pointer first (cheap), then by encoded value. Each value is encoded
/// once per distinct pointer, not once per span or per table. The writer keeps a clone
/// of every `Arc` it has seen, so an address cannot be freed and reused by a different
/// value while the pointer map still names it.
struct SharedValues<T> {
    /// Pointer address -> value id, with the `Arc` that keeps the address taken.
    by_pointer: HashMap<usize, (u32, Arc<T>)>,
    /// Encoded value -> value id.
    by_encoding: HashMap<Vec<u8>, u32>,
    /// Encoded bytes by value id.
    encodings: Vec<Vec<u8>>,
}

impl<T: Serialize> SharedValues<T> {
    fn new() -> Self {
        SharedValues {
            by_pointer: HashMap::default(),
            by_encoding: HashMap::default(),
            encodings: Vec::new(),
        }
    }

    fn value_id(&mut self, value: &Arc<T>) -> Result<u32, StorageError> {
        let pointer = Arc::as_ptr(value) as usize;
        if let Some(&(value_id, _)) = self.by_pointer.get(&pointer) {
            return Ok(value_id);
        }
        let encoded = postcard::to_allocvec(value.as_ref()).map_err(encode_error)?;
        let value_id = match self.by_encoding.get(&encoded) {
            Some(&value_id) => value_id,
            None => {
                let value_id = u32::try_from(self.encodings.len())
                    .ok()
                    .filter(|&id| id < u32::MAX)
                    .ok_or_else(|| too_large("span table"))?;
                self.encodings.push(encoded.clone());
                self.by_encoding.insert(encoded, value_id);
                value_id
            }
        };
        self.by_pointer.insert(pointer, (value_id, value.clone()));
        Ok(value_id)
    }
}

/// A span already in stored form, to be copied into a table without decoding: its
/// bytes (one `StoredSpan` exactly, as [`LocatedSpans`] locates them), where its resource
/// and scope index fields start, and its resource and scope as ids into the caller's
/// [`StoredValues`].
#[derive(Debug, Clone, Copy)]
pub struct StoredSpanBytes<'a> {
    /// The stored span.
    pub bytes: &'a [u8],
    /// Offset of the resource index field within `bytes`.
    pub indexes_at: usize,
    /// Index into [`StoredValues::resources`].
    pub resource_id: u32,
    /// Index into [`StoredValues::scopes`].
    pub scope_id: u32,
}

/// Encoded resources and scopes (postcard, as in a span table header) that
/// [`StoredSpanBytes`] refer to by position. Each should be distinct by value: equal
/// values under two ids are stored twice.
#[derive(Debug, Clone, Copy)]
pub struct StoredValues<'a> {
    /// Encoded resources.
    pub resources: &'a [&'a [u8]],
    /// Encoded scopes.
    pub scopes: &'a [&'a [u8]],
}

/// How the current writer numbers its values. A table is built either from decoded
/// spans or from stored spans, never both: the id spaces differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Unused,
    Spans,
    Stored,
}

/// Builds span tables from groups of spans (a block chunk has one group per trace, a
/// WAL record one group). Resources and scopes are shared by all groups of a table.
///
/// One writer can build many tables in turn ([`SpanTableWriter::finish`] starts the
/// next): resources and scopes are encoded once per distinct `Arc` for the writer's
/// whole life and buffers keep their capacity, so a block's chunks share that work.
/// Groups come either from decoded spans ([`SpanTableWriter::add_group`]) or from stored
/// span bytes ([`SpanTableWriter::add_stored_group`]), one kind per writer.
pub struct SpanTableWriter {
    source: Source,
    resources: SharedValues<Resource>,
    scopes: SharedValues<InstrumentationScope>,
    resource_table: TableEntries,
    scope_table: TableEntries,
    /// Encoded resources and scopes of the current table (stored spans only).
    stored_resources: Vec<u8>,
    stored_scopes: Vec<u8>,
    groups: Vec<u8>,
}

impl Default for SpanTableWriter {
    fn default() -> Self {
        SpanTableWriter {
            source: Source::Unused,
            resources: SharedValues::new(),
            scopes: SharedValues::new(),
            resource_table: TableEntries::default(),
            scope_table: TableEntries::default(),
            stored_resources: Vec::new(),
            stored_scopes: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl SpanTableWriter {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn use_source(&mut self, source: Source) -> Result<(), StorageError> {
        match self.source {
            Source::Unused => {
                self.source = source;
                Ok(())
            }
            current if current == source => Ok(()),
            _ => Err(StorageError::Encode {
                what: "span table",
                reason: String::from("one writer cannot mix decoded and stored spans"),
            }),
        }
    }

    /// Appends a group of spans (kept in order). Returns the group's byte range within
    /// the groups section, for [`super::SpanTableReader::group`].
    pub fn add_group<S: Borrow<Span>>(&mut self, spans: &[S]) -> Result<Range<u64>, StorageError> {
        self.use_source(Source::Spans)?;
        let group_start = self.groups.len() as u64;
        write_varint(spans.len() as u64, &mut self.groups);
        for span in spans {
            let span: &Span = span.borrow();
            let (resource, scope) = self.table_indexes(span)?;
            write_span(span, resource, scope, &mut self.groups);
        }
        Ok(group_start..self.groups.len() as u64)
    }

    /// The indexes of the span's resource and scope in the current table, adding them.
    fn table_indexes(&mut self, span: &Span) -> Result<(u32, u32), StorageError> {
        let resource_id = self.resources.value_id(&span.resource)?;
        let (resource, _) = self.resource_table.index_of(resource_id)?;
        let scope_id = self.scopes.value_id(&span.scope)?;
        let (scope, _) = self.scope_table.index_of(scope_id)?;
        Ok((resource, scope))
    }

    /// Appends a group of stored spans (kept in order), copying their bytes and
    /// rewriting only their resource and scope indexes. Returns the group's byte range
    /// within the groups section. An id outside `values` or index fields that are not
    /// two `u32` varints is an error and leaves the table unusable (finish or drop it).
    pub fn add_stored_group<'a>(
        &mut self,
        spans: &[StoredSpanBytes<'a>],
        values: StoredValues<'a>,
    ) -> Result<Range<u64>, StorageError> {
        self.use_source(Source::Stored)?;
        let malformed = |reason: &str| StorageError::Encode {
            what: "stored span",
            reason: reason.to_owned(),
        };
        let group_start = self.groups.len() as u64;
        write_varint(spans.len() as u64, &mut self.groups);
        for span in spans {
            let (resource, added) = self.resource_table.index_of(span.resource_id)?;
            if added {
                let encoded = values
                    .resources
                    .get(span.resource_id as usize)
                    .ok_or_else(|| malformed("resource id out of range"))?;
                self.stored_resources.extend_from_slice(encoded);
            }
            let (scope, added) = self.scope_table.index_of(span.scope_id)?;
            if added {
                let encoded = values
                    .scopes
                    .get(span.scope_id as usize)
                    .ok_or_else(|| malformed("scope id out of range"))?;
                self.stored_scopes.extend_from_slice(encoded);
            }
            let before = span
                .bytes
                .get(..span.indexes_at)
                .ok_or_else(|| malformed("index fields lie outside the span"))?;
            let indexes = &span.bytes[span.indexes_at..];
            let resource_length = u32_varint_length(indexes)
                .ok_or_else(|| malformed("resource index is not a varint"))?;
            let scope_length = u32_varint_length(&indexes[resource_length..])
                .ok_or_else(|| malformed("scope index is not a varint"))?;
            self.groups.extend_from_slice(before);
            write_varint(u64::from(resource), &mut self.groups);
            write_varint(u64::from(scope), &mut self.groups);
            self.groups
                .extend_from_slice(&indexes[resource_length + scope_length..]);
        }
        Ok(group_start..self.groups.len() as u64)
    }

    /// Bytes of the encoded groups of the current table (the header is not counted).
    pub fn group_bytes(&self) -> usize {
        self.groups.len()
    }

    /// True when the current table has no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Appends the current table (header with the resource and scope tables, then the
    /// groups) to `out` and starts a new, empty table.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), StorageError> {
        self.write_header(out, None, None)?;
        out.extend_from_slice(&self.groups);
        self.groups.clear();
        self.resource_table.reset();
        self.scope_table.reset();
        self.stored_resources.clear();
        self.stored_scopes.clear();
        Ok(())
    }

    /// Appends the length-prefixed header (resource and scope tables) of the current
    /// table to `out`; with ranges given, records where each resource and scope went.
    fn write_header(
        &self,
        out: &mut Vec<u8>,
        resource_ranges: Option<&mut Vec<Range<usize>>>,
        scope_ranges: Option<&mut Vec<Range<usize>>>,
    ) -> Result<(), StorageError> {
        let header_start = out.len();
        out.extend_from_slice(&[0u8; 4]);
        match self.source {
            Source::Stored => {
                write_varint(self.resource_table.values.len() as u64, out);
                out.extend_from_slice(&self.stored_resources);
                write_varint(self.scope_table.values.len() as u64, out);
                out.extend_from_slice(&self.stored_scopes);
            }
            Source::Unused | Source::Spans => {
                write_entries(
                    &self.resource_table,
                    &self.resources.encodings,
                    out,
                    resource_ranges,
                );
                write_entries(&self.scope_table, &self.scopes.encodings, out, scope_ranges);
            }
        }
        let header_bytes = u32::try_from(out.len() - header_start - 4)
            .map_err(|_| too_large("span table header"))?;
        out[header_start..header_start + 4].copy_from_slice(&header_bytes.to_le_bytes());
        Ok(())
    }
}

/// Appends a postcard `Vec` of the table's values (varint count, then each encoding),
/// recording where each went when `ranges` is given.
fn write_entries(
    table: &TableEntries,
    encodings: &[Vec<u8>],
    out: &mut Vec<u8>,
    mut ranges: Option<&mut Vec<Range<usize>>>,
) {
    write_varint(table.values.len() as u64, out);
    for &value_id in &table.values {
        let start = out.len();
        out.extend_from_slice(&encodings[value_id as usize]);
        if let Some(ranges) = ranges.as_mut() {
            ranges.push(start..out.len());
        }
    }
}

/// Where one span lies in a [`LocatedSpans`] buffer and what it refers to, so that it
/// can be copied into another table ([`SpanTableWriter::add_stored_group`]) without
/// decoding. Offsets are bytes from the start of [`LocatedSpans::bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLocation {
    /// First byte of the stored span.
    pub start: u32,
    /// End (exclusive) of the stored span.
    pub end: u32,
    /// Offset of its resource index field, from `start`.
    pub indexes_at: u32,
    /// Its resource: an index into [`LocatedSpans::resources`].
    pub resource: u32,
    /// Its scope: an index into [`LocatedSpans::scopes`].
    pub scope: u32,
    /// The span's start time, for ordering without decoding.
    pub start_unix_nanos: u64,
}

impl SpanLocation {
    /// The stored span's bytes within `bytes` (the [`LocatedSpans::bytes`] it came from).
    pub fn span_bytes<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        bytes.get(self.start as usize..self.end as usize)
    }

    /// The stored span's bytes within `bytes` without its resource and scope index
    /// fields: what is before them and what is after them. Two spans of any two tables
    /// are equal when these parts are equal and their resources and scopes are.
    pub fn content<'a>(&self, bytes: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let span = self.span_bytes(bytes)?;
        let (before, indexes) = span.split_at_checked(self.indexes_at as usize)?;
        let resource_length = super::encode::u32_varint_length(indexes)?;
        let scope_length = super::encode::u32_varint_length(indexes.get(resource_length..)?)?;
        Some((before, indexes.get(resource_length + scope_length..)?))
    }
}

/// A span table of one group (the form [`super::encode_spans`] writes) after a caller's
/// prefix, with the location of every span, resource and scope in it.
#[derive(Debug, Clone, Default)]
pub struct LocatedSpans {
    /// The prefix, then the span table.
    pub bytes: Vec<u8>,
    /// One location per span, in input order.
    pub spans: Vec<SpanLocation>,
    /// Where each encoded resource of the table's header lies in `bytes`.
    pub resources: Vec<Range<u32>>,
    /// Where each encoded scope lies in `bytes`.
    pub scopes: Vec<Range<u32>>,
}

impl LocatedSpans {
    /// The encoded resource `index` (as [`SpanLocation::resource`] names it).
    pub fn resource_bytes(&self, index: u32) -> Option<&[u8]> {
        let range = self.resources.get(index as usize)?;
        self.bytes.get(range.start as usize..range.end as usize)
    }

    /// The encoded scope `index`.
    pub fn scope_bytes(&self, index: u32) -> Option<&[u8]> {
        let range = self.scopes.get(index as usize)?;
        self.bytes.get(range.start as usize..range.end as usize)
    }
}

thread_local! {
    /// Per-thread buffer that located encodings are built in, so that building one
    /// never grows (and copies) a fresh vector; the result is copied out at its exact
    /// size, which is also what the caller keeps in memory.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch buffers above this are freed after use rather than kept for the thread.
const MAX_KEPT_SCRATCH_BYTES: usize = 8 << 20;

/// Writes `prefix` and then the stored form of `spans` (one group, as
/// [`super::encode_spans`] writes it) into a buffer of exactly the right size, and
/// locates every span, resource and scope in it. Errors when the result would be over
/// 4 GiB (offsets are `u32`).
pub fn encode_spans_located<S: Borrow<Span>>(
    spans: &[S],
    prefix: &[u8],
) -> Result<LocatedSpans, StorageError> {
    // Tables first (a pass over pointers only), so the header can precede the spans.
    let mut writer = SpanTableWriter::new();
    writer.use_source(Source::Spans)?;
    let mut indexes = Vec::with_capacity(spans.len());
    for span in spans {
        indexes.push(writer.table_indexes(span.borrow())?);
    }
    SCRATCH.with(|scratch| {
        let mut out = scratch.borrow_mut();
        out.clear();
        out.extend_from_slice(prefix);
        let mut resources = Vec::new();
        let mut scopes = Vec::new();
        writer.write_header(&mut out, Some(&mut resources), Some(&mut scopes))?;
        let offset = |position: usize| u32::try_from(position).map_err(|_| too_large("span table"));
        write_varint(spans.len() as u64, &mut out);
        let mut locations = Vec::with_capacity(spans.len());
        for (span, &(resource, scope)) in spans.iter().zip(&indexes) {
            let span: &Span = span.borrow();
            let start = out.len();
            let indexes_at = write_span(span, resource, scope, &mut out);
            locations.push(SpanLocation {
                start: offset(start)?,
                end: offset(out.len())?,
                indexes_at: offset(indexes_at)?,
                resource,
                scope,
                start_unix_nanos: span.start_unix_nanos,
            });
        }
        let ranges = |ranges: Vec<Range<usize>>| -> Result<Vec<Range<u32>>, StorageError> {
            ranges
                .into_iter()
                .map(|range| Ok(offset(range.start)?..offset(range.end)?))
                .collect()
        };
        let located = LocatedSpans {
            bytes: out.as_slice().to_vec(),
            spans: locations,
            resources: ranges(resources)?,
            scopes: ranges(scopes)?,
        };
        if out.capacity() > MAX_KEPT_SCRATCH_BYTES {
            *out = Vec::new();
        }
        Ok(located)
    })
}
