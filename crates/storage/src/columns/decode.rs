//! Record batches of `data.parquet` -> spans.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Int32Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray, UInt8Array, UInt32Array, UInt64Array,
};
use weft_model::{
    Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanId, SpanKind, Status,
    StatusCode, TraceId,
};

use super::access::{DedicatedValues, DictionaryColumn};
use super::attributes::{AttributeListColumn, check_offsets, list_range};
use super::schema::{DEDICATED, data_columns};
use super::{batch_column, column, downcast};
use crate::error::StorageError;

/// Distinct encoded resources or scopes remembered across batches before starting over.
const MAX_CACHED_VALUES: usize = 16_384;

/// A scope's name, version and encoded attributes: the cache key of decoded scopes.
type ScopeKey = (String, String, Option<Box<[u8]>>);

/// The columns of one `data.parquet` record batch.
struct DataColumns<'a> {
    trace_ids: &'a FixedSizeBinaryArray,
    span_ids: &'a FixedSizeBinaryArray,
    parent_rows: &'a Int32Array,
    parent_ids: &'a FixedSizeBinaryArray,
    starts: &'a UInt64Array,
    durations: &'a UInt64Array,
    names: DictionaryColumn<'a, StringArray>,
    kinds: &'a UInt8Array,
    status_codes: &'a UInt8Array,
    status_messages: DictionaryColumn<'a, StringArray>,
    trace_states: DictionaryColumn<'a, StringArray>,
    flags: &'a UInt32Array,
    dropped_attributes: &'a UInt32Array,
    dropped_events: &'a UInt32Array,
    dropped_links: &'a UInt32Array,
    shared: &'a BooleanArray,
    debug: &'a BooleanArray,
    resources: DictionaryColumn<'a, BinaryArray>,
    scope_names: DictionaryColumn<'a, StringArray>,
    scope_versions: DictionaryColumn<'a, StringArray>,
    scope_attributes: DictionaryColumn<'a, BinaryArray>,
    layouts: DictionaryColumn<'a, BinaryArray>,
    dedicated: Vec<DedicatedValues<'a>>,
    attributes: AttributeListColumn<'a>,
    events: EventColumns<'a>,
    links: LinkColumns<'a>,
}

struct EventColumns<'a> {
    offsets: &'a [i32],
    time_offsets: &'a Int64Array,
    names: &'a StringArray,
    attributes: AttributeListColumn<'a>,
    dropped: &'a UInt32Array,
}

struct LinkColumns<'a> {
    offsets: &'a [i32],
    trace_ids: &'a FixedSizeBinaryArray,
    span_ids: &'a FixedSizeBinaryArray,
    trace_states: &'a StringArray,
    flags: &'a UInt32Array,
    attributes: AttributeListColumn<'a>,
    dropped: &'a UInt32Array,
}

fn list_struct<'a>(
    array: &'a ArrayRef,
    what: &str,
) -> Result<(&'a [i32], &'a StructArray), StorageError> {
    let list: &ListArray = downcast(array, what)?;
    let values: &StructArray = downcast(list.values(), what)?;
    let offsets = list.value_offsets();
    check_offsets(offsets, values.len(), what)?;
    Ok((offsets, values))
}

impl<'a> DataColumns<'a> {
    fn new(batch: &'a RecordBatch, what: &str) -> Result<Self, StorageError> {
        use data_columns::*;
        let get = |name: &str| batch_column(batch, name, what);
        let (event_offsets, events) = list_struct(get(EVENTS)?, what)?;
        let (link_offsets, links) = list_struct(get(LINKS)?, what)?;
        let fixed =
            |array: &'a ArrayRef, size: i32| -> Result<&'a FixedSizeBinaryArray, StorageError> {
                let array: &FixedSizeBinaryArray = downcast(array, what)?;
                if array.value_length() != size {
                    return Err(StorageError::corrupt(
                        what,
                        "an id column has the wrong width",
                    ));
                }
                Ok(array)
            };
        Ok(DataColumns {
            trace_ids: fixed(get(TRACE_ID)?, 16)?,
            span_ids: fixed(get(SPAN_ID)?, 8)?,
            parent_rows: downcast(get(PARENT_ROW)?, what)?,
            parent_ids: fixed(get(PARENT_SPAN_ID)?, 8)?,
            starts: downcast(get(START)?, what)?,
            durations: downcast(get(DURATION)?, what)?,
            names: DictionaryColumn::new(get(NAME)?, what)?,
            kinds: downcast(get(KIND)?, what)?,
            status_codes: downcast(get(STATUS_CODE)?, what)?,
            status_messages: DictionaryColumn::new(get(STATUS_MESSAGE)?, what)?,
            trace_states: DictionaryColumn::new(get(TRACE_STATE)?, what)?,
            flags: downcast(get(FLAGS)?, what)?,
            dropped_attributes: downcast(get(DROPPED_ATTRIBUTES)?, what)?,
            dropped_events: downcast(get(DROPPED_EVENTS)?, what)?,
            dropped_links: downcast(get(DROPPED_LINKS)?, what)?,
            shared: downcast(get(SHARED)?, what)?,
            debug: downcast(get(DEBUG)?, what)?,
            resources: DictionaryColumn::new(get(RESOURCE)?, what)?,
            scope_names: DictionaryColumn::new(get(SCOPE_NAME)?, what)?,
            scope_versions: DictionaryColumn::new(get(SCOPE_VERSION)?, what)?,
            scope_attributes: DictionaryColumn::new(get(SCOPE_ATTRIBUTES)?, what)?,
            layouts: DictionaryColumn::new(get(ATTR_LAYOUT)?, what)?,
            dedicated: (0..DEDICATED.len())
                .map(|index| DedicatedValues::new(batch, index, what))
                .collect::<Result<_, _>>()?,
            attributes: AttributeListColumn::new(downcast(get(ATTRIBUTES)?, what)?, what)?,
            events: EventColumns {
                offsets: event_offsets,
                time_offsets: downcast(column(events, "time_offset_nanos", what)?, what)?,
                names: downcast(column(events, "name", what)?, what)?,
                attributes: AttributeListColumn::new(
                    downcast(column(events, "attributes", what)?, what)?,
                    what,
                )?,
                dropped: downcast(column(events, "dropped_attributes_count", what)?, what)?,
            },
            links: LinkColumns {
                offsets: link_offsets,
                trace_ids: fixed(column(links, "trace_id", what)?, 16)?,
                span_ids: fixed(column(links, "span_id", what)?, 8)?,
                trace_states: downcast(column(links, "trace_state", what)?, what)?,
                flags: downcast(column(links, "flags", what)?, what)?,
                attributes: AttributeListColumn::new(
                    downcast(column(links, "attributes", what)?, what)?,
                    what,
                )?,
                dropped: downcast(column(links, "dropped_attributes_count", what)?, what)?,
            },
        })
    }
}

/// Reads a 16-byte id (the column width was checked).
pub fn trace_id_at(column: &FixedSizeBinaryArray, row: usize) -> TraceId {
    let mut id = [0u8; 16];
    id.copy_from_slice(&column.value(row)[..16]);
    TraceId(id)
}

fn span_id_at(column: &FixedSizeBinaryArray, row: usize) -> SpanId {
    let mut id = [0u8; 8];
    id.copy_from_slice(&column.value(row)[..8]);
    SpanId(id)
}

/// Turns record batches of `data.parquet` back into spans, sharing one `Arc` per
/// distinct resource and scope.
///
/// Batches must be given in file order, and [`SpanDecoder::start_row_group`] called
/// before the first batch of every row group, so that parent offsets resolve.
pub struct SpanDecoder {
    what: String,
    resources: HashMap<Box<[u8]>, Arc<Resource>>,
    scopes: HashMap<ScopeKey, Arc<InstrumentationScope>>,
    run_trace: Option<TraceId>,
    run_span_ids: Vec<SpanId>,
}

impl SpanDecoder {
    /// A decoder whose errors name `what` (the file).
    pub fn new(what: impl Into<String>) -> Self {
        SpanDecoder {
            what: what.into(),
            resources: HashMap::new(),
            scopes: HashMap::new(),
            run_trace: None,
            run_span_ids: Vec::new(),
        }
    }

    /// Marks the start of a row group.
    pub fn start_row_group(&mut self) {
        self.run_trace = None;
        self.run_span_ids.clear();
    }

    /// Decodes the rows of `batch` (only those of trace `only` when given) and appends
    /// the spans to `out`. The rows of a trace must be complete from the trace's first
    /// row in the row group on (the reader selects whole traces).
    pub fn decode(
        &mut self,
        batch: &RecordBatch,
        only: Option<TraceId>,
        out: &mut Vec<Span>,
    ) -> Result<(), StorageError> {
        let what = self.what.clone();
        let what = what.as_str();
        let columns = DataColumns::new(batch, what)?;
        let mut resources: Vec<Option<Arc<Resource>>> = vec![None; columns.resources.values.len()];
        let mut scopes: HashMap<(usize, usize, Option<usize>), Arc<InstrumentationScope>> =
            HashMap::new();
        if self.resources.len() > MAX_CACHED_VALUES {
            self.resources.clear();
        }
        if self.scopes.len() > MAX_CACHED_VALUES {
            self.scopes.clear();
        }
        for row in 0..batch.num_rows() {
            let trace_id = trace_id_at(columns.trace_ids, row);
            if only.is_some_and(|wanted| wanted != trace_id) {
                continue;
            }
            if self.run_trace != Some(trace_id) {
                self.run_trace = Some(trace_id);
                self.run_span_ids.clear();
            }
            let span_id = span_id_at(columns.span_ids, row);
            let parent_span_id = if columns.parent_rows.is_valid(row) {
                let offset = columns.parent_rows.value(row);
                let parent = usize::try_from(offset)
                    .ok()
                    .and_then(|offset| self.run_span_ids.get(offset));
                match parent {
                    Some(parent) => Some(*parent),
                    None => {
                        return Err(StorageError::corrupt(
                            what,
                            format!(
                                "parent_row {offset} of row {row} is not an earlier row of its trace"
                            ),
                        ));
                    }
                }
            } else if columns.parent_ids.is_valid(row) {
                Some(span_id_at(columns.parent_ids, row))
            } else {
                None
            };
            self.run_span_ids.push(span_id);

            let resource = self.resource(&columns, &mut resources, row, what)?;
            let scope = self.scope(&columns, &mut scopes, row, what)?;
            let start_unix_nanos = columns.starts.value(row);
            out.push(Span {
                trace_id,
                span_id,
                parent_span_id,
                trace_state: required(columns.trace_states.string(row, what)?, what)?.to_owned(),
                name: required(columns.names.string(row, what)?, what)?.to_owned(),
                kind: SpanKind::from_otlp(i32::from(columns.kinds.value(row))),
                start_unix_nanos,
                duration_nanos: columns.durations.value(row),
                status: Status {
                    code: StatusCode::from_otlp(i32::from(columns.status_codes.value(row))),
                    message: required(columns.status_messages.string(row, what)?, what)?.to_owned(),
                },
                attributes: attributes(&columns, row, what)?,
                events: events(&columns.events, row, start_unix_nanos, what)?,
                links: links(&columns.links, row, what)?,
                resource,
                scope,
                flags: columns.flags.value(row),
                dropped_attributes_count: columns.dropped_attributes.value(row),
                dropped_events_count: columns.dropped_events.value(row),
                dropped_links_count: columns.dropped_links.value(row),
                shared: columns.shared.value(row),
                debug: columns.debug.value(row),
            });
        }
        Ok(())
    }

    fn resource(
        &mut self,
        columns: &DataColumns<'_>,
        batch_resources: &mut [Option<Arc<Resource>>],
        row: usize,
        what: &str,
    ) -> Result<Arc<Resource>, StorageError> {
        let key = columns
            .resources
            .key(row, what)?
            .ok_or_else(|| StorageError::corrupt(what, "resource is null"))?;
        if let Some(Some(resource)) = batch_resources.get(key) {
            return Ok(resource.clone());
        }
        let bytes = columns.resources.values.value(key);
        let resource = match self.resources.get(bytes) {
            Some(resource) => resource.clone(),
            None => {
                let resource: Resource = postcard::from_bytes(bytes).map_err(|error| {
                    StorageError::corrupt(what, format!("resource does not decode: {error}"))
                })?;
                let resource = Arc::new(resource);
                self.resources.insert(Box::from(bytes), resource.clone());
                resource
            }
        };
        if let Some(slot) = batch_resources.get_mut(key) {
            *slot = Some(resource.clone());
        }
        Ok(resource)
    }

    fn scope(
        &mut self,
        columns: &DataColumns<'_>,
        batch_scopes: &mut HashMap<(usize, usize, Option<usize>), Arc<InstrumentationScope>>,
        row: usize,
        what: &str,
    ) -> Result<Arc<InstrumentationScope>, StorageError> {
        let name = columns
            .scope_names
            .key(row, what)?
            .ok_or_else(|| StorageError::corrupt(what, "scope name is null"))?;
        let version = columns
            .scope_versions
            .key(row, what)?
            .ok_or_else(|| StorageError::corrupt(what, "scope version is null"))?;
        let attributes = columns.scope_attributes.key(row, what)?;
        if let Some(scope) = batch_scopes.get(&(name, version, attributes)) {
            return Ok(scope.clone());
        }
        let cache_key = (
            columns.scope_names.values.value(name).to_owned(),
            columns.scope_versions.values.value(version).to_owned(),
            attributes.map(|index| Box::from(columns.scope_attributes.values.value(index))),
        );
        let scope = match self.scopes.get(&cache_key) {
            Some(scope) => scope.clone(),
            None => {
                let decoded_attributes: Vec<KeyValue> = match &cache_key.2 {
                    Some(bytes) => postcard::from_bytes(bytes).map_err(|error| {
                        StorageError::corrupt(
                            what,
                            format!("scope attributes do not decode: {error}"),
                        )
                    })?,
                    None => Vec::new(),
                };
                let scope = Arc::new(InstrumentationScope {
                    name: cache_key.0.clone(),
                    version: cache_key.1.clone(),
                    attributes: decoded_attributes,
                });
                self.scopes.insert(cache_key, scope.clone());
                scope
            }
        };
        batch_scopes.insert((name, version, attributes), scope.clone());
        Ok(scope)
    }
}

fn required<'a>(value: Option<&'a str>, what: &str) -> Result<&'a str, StorageError> {
    value.ok_or_else(|| StorageError::corrupt(what, "a required string is null"))
}

/// The span's attributes in their original order: `attr_layout` says, per attribute,
/// whether it is the next generic entry (0) or dedicated column `n - 1` (n > 0).
fn attributes(
    columns: &DataColumns<'_>,
    row: usize,
    what: &str,
) -> Result<Vec<KeyValue>, StorageError> {
    let generic = columns.attributes.range(row, what)?;
    let Some(layout) = columns.layouts.bytes(row, what)? else {
        return columns.attributes.row(row, what);
    };
    let mut out = Vec::with_capacity(layout.len());
    let mut next_generic = generic.start;
    for &slot in layout {
        if slot == 0 {
            if next_generic >= generic.end {
                return Err(StorageError::corrupt(
                    what,
                    "attr_layout names more generic attributes than stored",
                ));
            }
            out.push(columns.attributes.entries.key_value(next_generic, what)?);
            next_generic += 1;
        } else {
            let index = usize::from(slot) - 1;
            let (Some(spec), Some(values)) = (DEDICATED.get(index), columns.dedicated.get(index))
            else {
                return Err(StorageError::corrupt(
                    what,
                    format!("attr_layout names unknown column {slot}"),
                ));
            };
            let value = values.value(row, what)?.ok_or_else(|| {
                StorageError::corrupt(
                    what,
                    format!("attr_layout names empty column {}", spec.column),
                )
            })?;
            out.push(KeyValue {
                key: spec.key.to_owned(),
                value,
            });
        }
    }
    if next_generic != generic.end {
        return Err(StorageError::corrupt(
            what,
            "attr_layout leaves generic attributes out",
        ));
    }
    Ok(out)
}

fn events(
    columns: &EventColumns<'_>,
    row: usize,
    start_unix_nanos: u64,
    what: &str,
) -> Result<Vec<Event>, StorageError> {
    let range = list_range(columns.offsets, row, what)?;
    let mut out = Vec::with_capacity(range.len());
    for index in range {
        let offset = columns.time_offsets.value(index);
        out.push(Event {
            time_unix_nanos: (start_unix_nanos as i64).wrapping_add(offset) as u64,
            name: columns.names.value(index).to_owned(),
            attributes: columns.attributes.row(index, what)?,
            dropped_attributes_count: columns.dropped.value(index),
        });
    }
    Ok(out)
}

fn links(columns: &LinkColumns<'_>, row: usize, what: &str) -> Result<Vec<Link>, StorageError> {
    let range = list_range(columns.offsets, row, what)?;
    let mut out = Vec::with_capacity(range.len());
    for index in range {
        out.push(Link {
            trace_id: trace_id_at(columns.trace_ids, index),
            span_id: span_id_at(columns.span_ids, index),
            trace_state: columns.trace_states.value(index).to_owned(),
            attributes: columns.attributes.row(index, what)?,
            dropped_attributes_count: columns.dropped.value(index),
            flags: columns.flags.value(index),
        });
    }
    Ok(out)
}
