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
//! order. `docs/format/blocks-v0.md` describes the layout.

use std::borrow::Borrow;
use std::ops::Range;
use std::sync::Arc;

use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use weft_model::{
    Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind, Status, TraceId,
};

use crate::error::StorageError;

mod encode;

use encode::{write_span, write_varint};

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
    /// Value id -> index in the table being built (`u32::MAX` when absent).
    table_index: Vec<u32>,
    /// Value ids of the table being built, in table order.
    table_values: Vec<u32>,
}

impl<T: Serialize> SharedValues<T> {
    fn new() -> Self {
        SharedValues {
            by_pointer: HashMap::default(),
            by_encoding: HashMap::default(),
            encodings: Vec::new(),
            table_index: Vec::new(),
            table_values: Vec::new(),
        }
    }

    /// The index of `value` in the table being built, adding it when new.
    fn table_index_of(&mut self, value: &Arc<T>) -> Result<u32, StorageError> {
        let pointer = Arc::as_ptr(value) as usize;
        let value_id = match self.by_pointer.get(&pointer) {
            Some(&(value_id, _)) => value_id,
            None => {
                let value_id = self.value_id_of(value)?;
                self.by_pointer.insert(pointer, (value_id, value.clone()));
                value_id
            }
        };
        let slot = &mut self.table_index[value_id as usize];
        if *slot == u32::MAX {
            *slot = self.table_values.len() as u32;
            self.table_values.push(value_id);
        }
        Ok(*slot)
    }

    fn value_id_of(&mut self, value: &Arc<T>) -> Result<u32, StorageError> {
        let encoded = postcard::to_allocvec(value.as_ref()).map_err(encode_error)?;
        if let Some(&value_id) = self.by_encoding.get(&encoded) {
            return Ok(value_id);
        }
        let value_id = u32::try_from(self.encodings.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .ok_or_else(|| StorageError::Encode {
                what: "span table",
                reason: String::from("more than 2^32 - 1 distinct resources or scopes"),
            })?;
        self.encodings.push(encoded.clone());
        self.by_encoding.insert(encoded, value_id);
        self.table_index.push(u32::MAX);
        Ok(value_id)
    }

    /// Appends the table as postcard `Vec<T>` (varint length, then each value).
    fn write_table(&self, out: &mut Vec<u8>) {
        write_varint(self.table_values.len() as u64, out);
        for &value_id in &self.table_values {
            out.extend_from_slice(&self.encodings[value_id as usize]);
        }
    }

    /// Forgets the table being built; the encodings stay cached.
    fn reset_table(&mut self) {
        for &value_id in &self.table_values {
            self.table_index[value_id as usize] = u32::MAX;
        }
        self.table_values.clear();
    }
}

fn encode_error(error: postcard::Error) -> StorageError {
    StorageError::Encode {
        what: "span table",
        reason: error.to_string(),
    }
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

/// Builds span tables from groups of spans (a block chunk has one group per trace, a
/// WAL record one group). Resources and scopes are shared by all groups of a table.
///
/// One writer can build many tables in turn ([`SpanTableWriter::finish`] starts the
/// next): resources and scopes are encoded once per distinct `Arc` for the writer's
/// whole life and buffers keep their capacity, so a block's chunks share that work.
pub struct SpanTableWriter {
    resources: SharedValues<Resource>,
    scopes: SharedValues<InstrumentationScope>,
    groups: Vec<u8>,
}

impl Default for SpanTableWriter {
    fn default() -> Self {
        SpanTableWriter {
            resources: SharedValues::new(),
            scopes: SharedValues::new(),
            groups: Vec::new(),
        }
    }
}

impl SpanTableWriter {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a group of spans (kept in order). Returns the group's byte range within
    /// the groups section, for [`SpanTableReader::group`].
    pub fn add_group<S: Borrow<Span>>(&mut self, spans: &[S]) -> Result<Range<u64>, StorageError> {
        let start = self.groups.len() as u64;
        write_varint(spans.len() as u64, &mut self.groups);
        for span in spans {
            let span: &Span = span.borrow();
            let resource = self.resources.table_index_of(&span.resource)?;
            let scope = self.scopes.table_index_of(&span.scope)?;
            write_span(span, resource, scope, &mut self.groups);
        }
        Ok(start..self.groups.len() as u64)
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
        let header_start = out.len();
        out.extend_from_slice(&[0u8; 4]);
        self.resources.write_table(out);
        self.scopes.write_table(out);
        let header_bytes =
            u32::try_from(out.len() - header_start - 4).map_err(|_| StorageError::Encode {
                what: "span table",
                reason: String::from("resource and scope tables over 4 GiB"),
            })?;
        out[header_start..header_start + 4].copy_from_slice(&header_bytes.to_le_bytes());
        out.extend_from_slice(&self.groups);
        self.groups.clear();
        self.resources.reset_table();
        self.scopes.reset_table();
        Ok(())
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
        Ok(Span {
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
            resource: resource.clone(),
            scope: scope.clone(),
            flags: stored.flags,
            dropped_attributes_count: stored.dropped_attributes_count,
            dropped_events_count: stored.dropped_events_count,
            dropped_links_count: stored.dropped_links_count,
            shared: stored.shared,
            debug: stored.debug,
        })
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{AttributeValue, StatusCode};

    use super::*;

    fn full_span(index: u64, resource: &Arc<Resource>) -> Span {
        let mut span = Span::new(
            TraceId::from_halves(7, index),
            SpanId::from_u64(index + 1),
            format!("op-{index}"),
        );
        span.parent_span_id = Some(SpanId::from_u64(99));
        span.trace_state = String::from("k=v");
        span.kind = SpanKind::Client;
        span.start_unix_nanos = 1_700_000_000_000_000_000 + index;
        span.duration_nanos = 1234;
        span.status = Status {
            code: StatusCode::Error,
            message: String::from("boom"),
        };
        span.attributes = vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("n", 3i64),
            KeyValue::new("f", AttributeValue::Double(1.5)),
            KeyValue::new(
                "list",
                AttributeValue::Array(vec![AttributeValue::Bool(true)]),
            ),
        ];
        span.events = vec![Event {
            time_unix_nanos: 5,
            name: String::from("cs"),
            attributes: vec![KeyValue::new("a", AttributeValue::Bytes(vec![1, 2]))],
            dropped_attributes_count: 1,
        }];
        span.links = vec![Link {
            trace_id: TraceId::from_halves(1, 2),
            span_id: SpanId::from_u64(3),
            trace_state: String::new(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            flags: 1,
        }];
        span.resource = resource.clone();
        span.flags = 1;
        span.dropped_attributes_count = 2;
        span.dropped_events_count = 3;
        span.dropped_links_count = 4;
        span.shared = true;
        span.debug = true;
        span
    }

    /// A span that uses every field, every attribute value variant (nested too), and
    /// values at the edges of their varint widths.
    fn unusual_span(resource: &Arc<Resource>) -> Span {
        let mut span = full_span(7, resource);
        span.trace_id = TraceId::from_halves(u64::MAX, u64::MAX);
        span.parent_span_id = None;
        span.name = String::from("naïve ✓ span");
        span.kind = SpanKind::Consumer;
        span.start_unix_nanos = u64::MAX;
        span.duration_nanos = 0;
        span.status = Status {
            code: StatusCode::Ok,
            message: String::new(),
        };
        span.attributes = vec![
            KeyValue::new("min", AttributeValue::Int(i64::MIN)),
            KeyValue::new("max", AttributeValue::Int(i64::MAX)),
            KeyValue::new("minus one", AttributeValue::Int(-1)),
            KeyValue::new("nan", AttributeValue::Double(f64::NAN)),
            KeyValue::new("negative", AttributeValue::Double(-0.0)),
            KeyValue::new("false", AttributeValue::Bool(false)),
            KeyValue::new("bytes", AttributeValue::Bytes(vec![0; 200])),
            KeyValue::new("empty", AttributeValue::Empty),
            KeyValue::new(
                "nested",
                AttributeValue::KeyValueList(vec![KeyValue::new(
                    "inner",
                    AttributeValue::Array(vec![
                        AttributeValue::Empty,
                        AttributeValue::KeyValueList(Vec::new()),
                        AttributeValue::String("x".repeat(300)),
                    ]),
                )]),
            ),
        ];
        span.events.push(Event {
            time_unix_nanos: 0,
            name: String::new(),
            attributes: Vec::new(),
            dropped_attributes_count: u32::MAX,
        });
        span.links[0].trace_state = String::from("a=b");
        span.links[0].flags = u32::MAX;
        span.flags = u32::MAX;
        span.dropped_attributes_count = 128;
        span.dropped_events_count = 127;
        span.dropped_links_count = 16_384;
        span.shared = false;
        span
    }

    #[test]
    fn hand_written_encoder_matches_serde_postcard_byte_for_byte() {
        let resource = Arc::new(Resource::for_service("frontend"));
        let mut spans: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
        spans.push(unusual_span(&resource));
        spans.push(Span::new(
            TraceId::from_halves(0, 1),
            SpanId::from_u64(1),
            "",
        ));
        for kind in [
            SpanKind::Unspecified,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
        ] {
            let mut span = full_span(9, &resource);
            span.kind = kind;
            span.status.code = StatusCode::Unset;
            spans.push(span);
        }
        let indexes: Vec<(u32, u32)> = (0..spans.len() as u32)
            .map(|i| (i * 1000, u32::MAX - i))
            .collect();
        let reference = postcard::to_allocvec(&StoredSpans {
            spans: &spans,
            indexes: &indexes,
        })
        .expect("serde encodes");
        let mut hand_written = Vec::new();
        write_varint(spans.len() as u64, &mut hand_written);
        for (span, &(resource_index, scope_index)) in spans.iter().zip(&indexes) {
            write_span(span, resource_index, scope_index, &mut hand_written);
        }
        assert_eq!(hand_written, reference);
    }

    #[test]
    fn table_header_matches_serde_postcard_and_writers_can_be_reused() {
        #[derive(Serialize)]
        struct TablesRef<'a> {
            resources: &'a [&'a Resource],
            scopes: &'a [&'a InstrumentationScope],
        }
        let frontend = Arc::new(Resource::for_service("frontend"));
        let backend = Arc::new(Resource::for_service("backend"));
        let scope = Arc::new(InstrumentationScope {
            name: String::from("lib"),
            version: String::from("1.0"),
            attributes: vec![KeyValue::new("k", "v")],
        });
        let mut first = full_span(1, &backend);
        first.scope = scope.clone();
        let second = full_span(2, &frontend);
        let mut reused = SpanTableWriter::new();
        let mut bytes = Vec::new();
        for spans in [vec![first.clone(), second.clone()], vec![second.clone()]] {
            reused.add_group(&spans).expect("encodes");
            bytes.clear();
            reused.finish(&mut bytes).expect("finishes");
            let mut fresh = Vec::new();
            encode_spans(&spans, &mut fresh).expect("encodes");
            assert_eq!(bytes, fresh, "a reused writer writes what a fresh one does");
            assert_eq!(decode_spans(&bytes, "test").expect("decodes"), spans);
        }
        // The last table holds only `second`'s resource and scope.
        let header = postcard::to_allocvec(&TablesRef {
            resources: &[&frontend],
            scopes: &[&InstrumentationScope::default()],
        })
        .expect("serde encodes");
        assert_eq!(&bytes[..4], &(header.len() as u32).to_le_bytes());
        assert_eq!(&bytes[4..4 + header.len()], &header[..]);
    }

    #[test]
    fn every_span_field_round_trips() {
        let resource = Arc::new(Resource::for_service("frontend"));
        let spans: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
        let mut bytes = Vec::new();
        encode_spans(&spans, &mut bytes).expect("encodes");
        let decoded = decode_spans(&bytes, "test").expect("decodes");
        assert_eq!(decoded, spans);
    }

    #[test]
    fn equal_resources_are_stored_once_and_shared_after_decoding() {
        let first = Arc::new(Resource::for_service("frontend"));
        let second = Arc::new(Resource::for_service("frontend"));
        let other = Arc::new(Resource::for_service("backend"));
        let spans: Vec<Span> = (0..1000)
            .map(|i| full_span(i, [&first, &second, &other][i as usize % 3]))
            .collect();
        let mut bytes = Vec::new();
        encode_spans(&spans.iter().collect::<Vec<_>>(), &mut bytes).expect("encodes");
        let mentions = bytes.windows(8).filter(|w| w == b"frontend").count();
        assert_eq!(mentions, 1, "one stored copy of the frontend resource");
        let decoded = decode_spans(&bytes, "test").expect("decodes");
        assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[1].resource));
        assert!(!Arc::ptr_eq(&decoded[0].resource, &decoded[2].resource));
        assert_eq!(decoded, spans);
    }

    #[test]
    fn groups_share_one_resource_table_and_decode_alone() {
        let resource = Arc::new(Resource::for_service("frontend"));
        let first: Vec<Span> = (0..3).map(|i| full_span(i, &resource)).collect();
        let second: Vec<Span> = (3..5).map(|i| full_span(i, &resource)).collect();
        let mut writer = SpanTableWriter::new();
        let first_range = writer.add_group(&first).expect("encodes");
        let second_range = writer.add_group(&second).expect("encodes");
        assert_eq!(first_range.end, second_range.start);
        let mut bytes = Vec::new();
        writer.finish(&mut bytes).expect("finishes");
        let table = SpanTableReader::open(&bytes, "test").expect("opens");
        assert_eq!(table.group(second_range.clone()).expect("decodes"), second);
        assert_eq!(table.group(first_range).expect("decodes"), first);
        assert_eq!(table.all().expect("decodes").len(), 5);
        assert!(
            table
                .group(second_range.start..second_range.end + 1)
                .is_err()
        );
        assert!(table.group(1..second_range.end).is_err());
    }

    #[test]
    fn damaged_tables_are_errors_not_panics() {
        let resource = Arc::new(Resource::for_service("frontend"));
        let spans: Vec<Span> = (0..20).map(|i| full_span(i, &resource)).collect();
        let mut bytes = Vec::new();
        encode_spans(&spans, &mut bytes).expect("encodes");
        for cut in 0..bytes.len() {
            assert!(
                decode_spans(&bytes[..cut], "test").is_err(),
                "truncated at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_spans(&longer, "test").is_err());
        // Flipping bytes must never panic; it may or may not still decode.
        for position in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0xff;
            let _ = decode_spans(&flipped, "test");
        }
    }
}
