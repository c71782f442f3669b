//! Spans in block order -> record batches of `data.parquet`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, DictionaryArray, FixedSizeBinaryArray, Int32Array,
    RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
};
use weft_model::{AttributeValue, InstrumentationScope, Resource, Span, SpanId, TraceId};

use super::attributes::{AttributeListBuilder, encode_error};
use super::nested::{EventListBuilder, LinkListBuilder, fixed_size_binary};
use super::schema::{DEDICATED, DedicatedType, data_schema, dedicated_index};
use crate::error::StorageError;

/// Distinct resource or scope `Arc`s remembered across batches before the cache starts
/// over (only ever at a batch boundary, see [`SpanBatchBuilder::finish`]).
const MAX_CACHED_VALUES: usize = 16_384;

/// Runs longer than this index their span ids in a hash map instead of scanning.
const LINEAR_RUN_LOOKUP: usize = 32;

/// A dictionary column whose keys the caller chooses (values added once per batch).
#[derive(Default)]
struct KeyedDictionary {
    keys: Vec<Option<i32>>,
    values: Vec<Arc<[u8]>>,
}

impl KeyedDictionary {
    fn add_value(&mut self, value: Arc<[u8]>) -> Result<i32, StorageError> {
        let key = i32::try_from(self.values.len()).map_err(|_| StorageError::Encode {
            what: "dictionary column",
            reason: String::from("more than 2^31 distinct values in one batch"),
        })?;
        self.values.push(value);
        Ok(key)
    }

    fn finish_binary(&mut self) -> Result<ArrayRef, StorageError> {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let values = BinaryArray::from_iter_values(self.values.drain(..));
        DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
            .map(|array| Arc::new(array) as ArrayRef)
            .map_err(|error| encode_error("dictionary column", error))
    }

    fn finish_string(&mut self) -> Result<ArrayRef, StorageError> {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let mut values = Vec::with_capacity(self.values.len());
        for value in self.values.drain(..) {
            // Values were added from `&str`s, so they are UTF-8.
            let text = String::from_utf8(value.to_vec()).map_err(|_| StorageError::Encode {
                what: "dictionary column",
                reason: String::from("string value is not utf-8"),
            })?;
            values.push(text);
        }
        DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(values)))
            .map(|array| Arc::new(array) as ArrayRef)
            .map_err(|error| encode_error("dictionary column", error))
    }
}

/// A string dictionary column keyed by value, for per-span strings.
#[derive(Default)]
struct StringDictionary {
    column: KeyedDictionary,
    index: HashMap<Arc<str>, i32, foldhash::fast::RandomState>,
}

impl StringDictionary {
    fn key(&mut self, text: &str) -> Result<i32, StorageError> {
        if let Some(key) = self.index.get(text) {
            return Ok(*key);
        }
        let key = self.column.add_value(Arc::from(text.as_bytes()))?;
        self.index.insert(Arc::from(text), key);
        Ok(key)
    }

    fn append(&mut self, text: &str) -> Result<(), StorageError> {
        let key = self.key(text)?;
        self.column.keys.push(Some(key));
        Ok(())
    }

    fn append_null(&mut self) {
        self.column.keys.push(None);
    }

    fn finish(&mut self) -> Result<ArrayRef, StorageError> {
        self.index.clear();
        self.column.finish_string()
    }
}

/// A binary dictionary column keyed by value.
#[derive(Default)]
struct BinaryDictionary {
    column: KeyedDictionary,
    index: HashMap<Arc<[u8]>, i32, foldhash::fast::RandomState>,
}

impl BinaryDictionary {
    fn key(&mut self, bytes: &Arc<[u8]>) -> Result<i32, StorageError> {
        if let Some(key) = self.index.get(bytes) {
            return Ok(*key);
        }
        let key = self.column.add_value(bytes.clone())?;
        self.index.insert(bytes.clone(), key);
        Ok(key)
    }

    fn finish(&mut self) -> Result<ArrayRef, StorageError> {
        self.index.clear();
        self.column.finish_binary()
    }
}

/// The encoded form of one resource `Arc`, computed once per `Arc`.
struct EncodedResource {
    /// Keeps the resource alive so that its address is not reused while cached.
    _resource: Arc<Resource>,
    encoded: Arc<[u8]>,
    service_name: Option<Arc<str>>,
}

/// The encoded form of one scope `Arc`.
struct EncodedScope {
    _scope: Arc<InstrumentationScope>,
    attributes: Option<Arc<[u8]>>,
}

enum DedicatedColumn {
    Dictionary(StringDictionary),
    Plain(StringBuilder),
    Int(Int64Builder),
}

/// Per-trace state for parent resolution: the span ids of the trace's rows in the
/// current row group, in row order.
#[derive(Default)]
struct RunState {
    trace_id: Option<TraceId>,
    span_ids: Vec<SpanId>,
    /// First row offset of each span id; filled once the run outgrows a linear scan.
    index: HashMap<SpanId, i32, foldhash::fast::RandomState>,
}

impl RunState {
    fn reset(&mut self, trace_id: Option<TraceId>) {
        self.trace_id = trace_id;
        self.span_ids.clear();
        if self.index.capacity() > 4 * 1024 {
            self.index = HashMap::default();
        } else {
            self.index.clear();
        }
    }

    /// The row offset of the first earlier row of the run with span id `parent`.
    fn find(&mut self, parent: SpanId) -> Option<i32> {
        if self.span_ids.len() <= LINEAR_RUN_LOOKUP {
            return self
                .span_ids
                .iter()
                .position(|id| *id == parent)
                .and_then(|row| i32::try_from(row).ok());
        }
        if self.index.is_empty() {
            for (row, id) in self.span_ids.iter().enumerate() {
                if let Ok(row) = i32::try_from(row) {
                    self.index.entry(*id).or_insert(row);
                }
            }
        }
        self.index.get(&parent).copied()
    }

    fn push(&mut self, span_id: SpanId) {
        let row = self.span_ids.len();
        self.span_ids.push(span_id);
        if !self.index.is_empty()
            && let Ok(row) = i32::try_from(row)
        {
            self.index.entry(span_id).or_insert(row);
        }
    }
}

/// Accumulates spans (in block order) into the columns of one record batch.
///
/// Parent links: a span whose parent is an earlier row of the same trace in the same
/// row group stores that row's offset from the trace's first row in `parent_row`; any
/// other parent (a later row, another row group, a span not in the block) is stored as
/// an id in `parent_span_id`. [`SpanBatchBuilder::start_row_group`] must be called at
/// every row-group boundary.
pub struct SpanBatchBuilder {
    /// Trace ids, 16 bytes each, back to back.
    trace_ids: Vec<u8>,
    /// Span ids, 8 bytes each, back to back.
    span_ids: Vec<u8>,
    parent_rows: Vec<Option<i32>>,
    parent_ids: Vec<Option<[u8; 8]>>,
    starts: Vec<u64>,
    durations: Vec<u64>,
    names: StringDictionary,
    kinds: Vec<u8>,
    status_codes: Vec<u8>,
    status_messages: StringDictionary,
    trace_states: StringDictionary,
    flags: Vec<u32>,
    dropped_attributes: Vec<u32>,
    dropped_events: Vec<u32>,
    dropped_links: Vec<u32>,
    shared: Vec<bool>,
    debug: Vec<bool>,
    service_names: StringDictionary,
    resources: BinaryDictionary,
    scope_names: StringDictionary,
    scope_versions: StringDictionary,
    scope_attributes: BinaryDictionary,
    layouts: BinaryDictionary,
    dedicated: Vec<DedicatedColumn>,
    attributes: AttributeListBuilder,
    events: EventListBuilder,
    links: LinkListBuilder,
    resource_cache: HashMap<usize, EncodedResource, foldhash::fast::RandomState>,
    scope_cache: HashMap<usize, EncodedScope, foldhash::fast::RandomState>,
    run: RunState,
    layout: Vec<u8>,
    /// Bit i set once a span had dedicated key i in its generic list (a duplicate or a
    /// value of another type); kept across batches for the block's meta.
    generic_dedicated: u32,
}

impl Default for SpanBatchBuilder {
    fn default() -> Self {
        SpanBatchBuilder {
            trace_ids: Vec::new(),
            span_ids: Vec::new(),
            parent_rows: Vec::new(),
            parent_ids: Vec::new(),
            starts: Vec::new(),
            durations: Vec::new(),
            names: StringDictionary::default(),
            kinds: Vec::new(),
            status_codes: Vec::new(),
            status_messages: StringDictionary::default(),
            trace_states: StringDictionary::default(),
            flags: Vec::new(),
            dropped_attributes: Vec::new(),
            dropped_events: Vec::new(),
            dropped_links: Vec::new(),
            shared: Vec::new(),
            debug: Vec::new(),
            service_names: StringDictionary::default(),
            resources: BinaryDictionary::default(),
            scope_names: StringDictionary::default(),
            scope_versions: StringDictionary::default(),
            scope_attributes: BinaryDictionary::default(),
            layouts: BinaryDictionary::default(),
            dedicated: DEDICATED
                .iter()
                .map(|column| match column.value_type {
                    DedicatedType::String => {
                        DedicatedColumn::Dictionary(StringDictionary::default())
                    }
                    DedicatedType::PlainString => DedicatedColumn::Plain(StringBuilder::new()),
                    DedicatedType::Int => DedicatedColumn::Int(Int64Builder::new()),
                })
                .collect(),
            attributes: AttributeListBuilder::default(),
            events: EventListBuilder::default(),
            links: LinkListBuilder::default(),
            resource_cache: HashMap::default(),
            scope_cache: HashMap::default(),
            run: RunState::default(),
            layout: Vec::new(),
            generic_dedicated: 0,
        }
    }
}

fn encode_postcard<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<Arc<[u8]>, StorageError> {
    postcard::to_allocvec(value)
        .map(Arc::from)
        .map_err(|error| StorageError::Encode {
            what,
            reason: error.to_string(),
        })
}

impl SpanBatchBuilder {
    /// Rows appended since the last [`SpanBatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when no row was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Marks a row-group boundary: later rows never refer to earlier ones by offset.
    pub fn start_row_group(&mut self) {
        self.run.reset(None);
    }

    /// Appends one span. Spans must come in block order (the writer checks).
    pub fn append(&mut self, span: &Span) -> Result<(), StorageError> {
        if self.run.trace_id != Some(span.trace_id) {
            self.run.reset(Some(span.trace_id));
        }
        let (parent_row, parent_id) = match span.parent_span_id {
            None => (None, None),
            Some(parent) => match self.run.find(parent) {
                Some(row) => (Some(row), None),
                None => (None, Some(parent.0)),
            },
        };
        self.run.push(span.span_id);
        self.trace_ids.extend_from_slice(&span.trace_id.0);
        self.span_ids.extend_from_slice(&span.span_id.0);
        self.parent_rows.push(parent_row);
        self.parent_ids.push(parent_id);
        self.starts.push(span.start_unix_nanos);
        self.durations.push(span.duration_nanos);
        self.names.append(&span.name)?;
        // OTLP numbers are 0..=5 and 0..=2; the model enums cannot hold others.
        self.kinds
            .push(u8::try_from(span.kind.to_otlp()).unwrap_or(0));
        self.status_codes
            .push(u8::try_from(span.status.code.to_otlp()).unwrap_or(0));
        self.status_messages.append(&span.status.message)?;
        self.trace_states.append(&span.trace_state)?;
        self.flags.push(span.flags);
        self.dropped_attributes.push(span.dropped_attributes_count);
        self.dropped_events.push(span.dropped_events_count);
        self.dropped_links.push(span.dropped_links_count);
        self.shared.push(span.shared);
        self.debug.push(span.debug);
        self.append_resource(&span.resource)?;
        self.append_scope(&span.scope)?;
        self.append_attributes(span)?;
        self.events.append(span)?;
        self.links.append(span)?;
        Ok(())
    }

    fn append_resource(&mut self, resource: &Arc<Resource>) -> Result<(), StorageError> {
        let address = Arc::as_ptr(resource) as usize;
        let entry = match self.resource_cache.entry(address) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(vacant) => vacant.insert(EncodedResource {
                _resource: resource.clone(),
                encoded: encode_postcard("resource", resource.as_ref())?,
                service_name: resource.service_name().map(Arc::from),
            }),
        };
        let key = self.resources.key(&entry.encoded)?;
        self.resources.column.keys.push(Some(key));
        match &entry.service_name {
            Some(service) => self.service_names.append(service)?,
            None => self.service_names.append_null(),
        }
        Ok(())
    }

    fn append_scope(&mut self, scope: &Arc<InstrumentationScope>) -> Result<(), StorageError> {
        let address = Arc::as_ptr(scope) as usize;
        let entry = match self.scope_cache.entry(address) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(vacant) => {
                let attributes = if scope.attributes.is_empty() {
                    None
                } else {
                    Some(encode_postcard("scope attributes", &scope.attributes)?)
                };
                vacant.insert(EncodedScope {
                    _scope: scope.clone(),
                    attributes,
                })
            }
        };
        let attributes = entry.attributes.clone();
        self.scope_names.append(&scope.name)?;
        self.scope_versions.append(&scope.version)?;
        match attributes {
            Some(encoded) => {
                let key = self.scope_attributes.key(&encoded)?;
                self.scope_attributes.column.keys.push(Some(key));
            }
            None => self.scope_attributes.column.keys.push(None),
        }
        Ok(())
    }

    /// Splits the span's attributes into dedicated columns and the generic list. The
    /// first occurrence of a dedicated key goes to its column when it has the column's
    /// type; every other attribute (a later duplicate, another type) is generic.
    fn append_attributes(&mut self, span: &Span) -> Result<(), StorageError> {
        let mut taken = 0u32;
        let mut any_dedicated = false;
        self.layout.clear();
        let mut values: [Option<&AttributeValue>; DEDICATED.len()] = [None; DEDICATED.len()];
        for attribute in &span.attributes {
            let dedicated = dedicated_index(&attribute.key).filter(|index| {
                let first = taken & (1 << index) == 0;
                taken |= 1 << index;
                first
                    && matches!(
                        (DEDICATED[*index].value_type, &attribute.value),
                        (
                            DedicatedType::String | DedicatedType::PlainString,
                            AttributeValue::String(_)
                        ) | (DedicatedType::Int, AttributeValue::Int(_))
                    )
            });
            match dedicated {
                Some(index) => {
                    values[index] = Some(&attribute.value);
                    any_dedicated = true;
                    // DEDICATED has fewer than 255 entries.
                    self.layout.push(u8::try_from(index + 1).unwrap_or(u8::MAX));
                }
                None => {
                    if let Some(index) = dedicated_index(&attribute.key) {
                        self.generic_dedicated |= 1 << index;
                    }
                    self.attributes.append_entry(attribute)?;
                    self.layout.push(0);
                }
            }
        }
        self.attributes.close_list()?;
        for (column, value) in self.dedicated.iter_mut().zip(values) {
            match (column, value) {
                (DedicatedColumn::Dictionary(column), Some(AttributeValue::String(text))) => {
                    column.append(text)?
                }
                (DedicatedColumn::Plain(column), Some(AttributeValue::String(text))) => {
                    column.append_value(text)
                }
                (DedicatedColumn::Int(column), Some(AttributeValue::Int(value))) => {
                    column.append_value(*value)
                }
                (DedicatedColumn::Dictionary(column), _) => column.append_null(),
                (DedicatedColumn::Plain(column), _) => column.append_null(),
                (DedicatedColumn::Int(column), _) => column.append_null(),
            }
        }
        if any_dedicated {
            let layout: Arc<[u8]> = Arc::from(self.layout.as_slice());
            let key = self.layouts.key(&layout)?;
            self.layouts.column.keys.push(Some(key));
        } else {
            self.layouts.column.keys.push(None);
        }
        Ok(())
    }

    /// The dedicated keys that some span appended so far carried in the generic list
    /// (a second occurrence, or a value of another type than the column's).
    pub fn generic_dedicated_keys(&self) -> Vec<String> {
        DEDICATED
            .iter()
            .enumerate()
            .filter(|(index, _)| self.generic_dedicated & (1 << index) != 0)
            .map(|(_, dedicated)| dedicated.key.to_owned())
            .collect()
    }

    /// The record batch of the rows appended so far; the builder starts a new batch
    /// (the parent-resolution state of the current trace is kept).
    pub fn finish(&mut self) -> Result<RecordBatch, StorageError> {
        let trace_ids = fixed_size_binary(std::mem::take(&mut self.trace_ids), 16)?;
        let span_ids = fixed_size_binary(std::mem::take(&mut self.span_ids), 8)?;
        let parent_ids =
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(self.parent_ids.drain(..), 8)
                .map_err(|error| encode_error("parent_span_id column", error))?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(trace_ids),
            Arc::new(span_ids),
            Arc::new(Int32Array::from(std::mem::take(&mut self.parent_rows))),
            Arc::new(parent_ids),
            Arc::new(UInt64Array::from(std::mem::take(&mut self.starts))),
            Arc::new(UInt64Array::from(std::mem::take(&mut self.durations))),
            self.names.finish()?,
            Arc::new(UInt8Array::from(std::mem::take(&mut self.kinds))),
            Arc::new(UInt8Array::from(std::mem::take(&mut self.status_codes))),
            self.status_messages.finish()?,
            self.trace_states.finish()?,
            Arc::new(UInt32Array::from(std::mem::take(&mut self.flags))),
            Arc::new(UInt32Array::from(std::mem::take(
                &mut self.dropped_attributes,
            ))),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.dropped_events))),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.dropped_links))),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.shared))),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.debug))),
            self.service_names.finish()?,
            self.resources.finish()?,
            self.scope_names.finish()?,
            self.scope_versions.finish()?,
            self.scope_attributes.finish()?,
            self.layouts.finish()?,
        ];
        for column in &mut self.dedicated {
            columns.push(match column {
                DedicatedColumn::Dictionary(column) => column.finish()?,
                DedicatedColumn::Plain(column) => Arc::new(column.finish()),
                DedicatedColumn::Int(column) => Arc::new(column.finish()),
            });
        }
        columns.push(Arc::new(self.attributes.finish()?));
        columns.push(Arc::new(self.events.finish()?));
        columns.push(Arc::new(self.links.finish()?));
        if self.resource_cache.len() > MAX_CACHED_VALUES {
            self.resource_cache.clear();
        }
        if self.scope_cache.len() > MAX_CACHED_VALUES {
            self.scope_cache.clear();
        }
        RecordBatch::try_new(data_schema(), columns)
            .map_err(|error| encode_error("data record batch", error))
    }
}
