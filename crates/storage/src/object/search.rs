//! Evaluating a [`SpanFilter`] on the columns of `data.parquet`, without building spans.

use std::net::IpAddr;
use std::sync::Arc;

use arrow_array::{
    Array, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray, StructArray, UInt8Array,
    UInt64Array,
};
use futures::TryStreamExt;
use parquet::arrow::ProjectionMask;
use parquet::schema::types::SchemaDescriptor;
use weft_model::{Span, SpanKind, TraceId};

use super::DATA_FILE;
use super::reader::{ObjectBlockReader, group_trace_range};
use crate::columns::access::{DedicatedValues, DictionaryColumn};
use crate::columns::attributes::{AttributeListColumn, check_offsets, int_text_equals, list_range};
use crate::columns::decode::{SpanDecoder, trace_id_at};
use crate::columns::schema::{DEDICATED, data_columns, dedicated_index};
use crate::columns::{batch_column, column, downcast};
use crate::digest::TraceDigest;
use crate::error::StorageError;
use crate::store::{FilterMatch, SCAN_UNITS_PER_GROUP, ScanPlan, ScannedPart, SpanFilter};

const PEER_SERVICE: usize = 17;
const SERVER_ADDRESS: usize = 14;
const NET_PEER_NAME: usize = 16;

/// Trace parts among `digests` (sorted by trace id, all in the window) that meet at
/// least one criterion of `filter`, each with the mask of criteria it met.
pub(crate) async fn search(
    reader: &ObjectBlockReader,
    digests: Vec<TraceDigest>,
    filter: &SpanFilter,
) -> Result<Vec<FilterMatch>, StorageError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    if filter.criteria_count() == 0 {
        return Ok(digests
            .into_iter()
            .map(|digest| FilterMatch { digest, met: 0 })
            .collect());
    }
    let ids: Vec<TraceId> = digests.iter().map(|digest| digest.trace_id).collect();
    let mut masks = vec![0u64; ids.len()];
    let footer = reader.data_footer().await?;
    let metadata = footer.metadata().clone();
    let generic_dedicated = crate::store::BlockReader::meta(reader)
        .generic_dedicated_keys
        .as_deref();
    let projection = projection(
        metadata.file_metadata().schema_descr(),
        filter,
        generic_dedicated,
    );
    let what = reader.what(DATA_FILE);
    for group in 0..metadata.num_row_groups() {
        // Skip groups whose trace-id range holds none of the traces in the window.
        let (min, max) = group_trace_range(&metadata, group);
        let first = min.map_or(0, |min| ids.partition_point(|id| id.0.as_slice() < min));
        if ids
            .get(first)
            .is_none_or(|id| max.is_some_and(|max| id.0.as_slice() > max))
        {
            continue;
        }
        let mut stream =
            reader.data_stream(&footer, group, Some(projection.clone()), None, None)?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(StorageError::parquet(&what))?
        {
            evaluate(&batch, filter, &ids, &mut masks, &what)?;
        }
    }
    Ok(digests
        .into_iter()
        .zip(masks)
        .filter(|(_, met)| *met != 0)
        .map(|(digest, met)| FilterMatch { digest, met })
        .collect())
}

/// The parts of `plan` in scan unit `unit` that meet some criterion of `filter` (all of
/// them for a filter without criteria), decoded whole: see
/// [`crate::BlockReader::scan_group`].
pub(crate) async fn scan_group(
    reader: &ObjectBlockReader,
    plan: &ScanPlan,
    unit: usize,
    filter: &SpanFilter,
) -> Result<Vec<ScannedPart>, StorageError> {
    let (group, share) = (unit / SCAN_UNITS_PER_GROUP, unit % SCAN_UNITS_PER_GROUP);
    let footer = reader.data_footer().await?;
    let metadata = footer.metadata().clone();
    let groups = metadata.num_row_groups();
    if group >= groups || plan.digests.is_empty() {
        return Ok(Vec::new());
    }
    let (min, max) = group_trace_range(&metadata, group);
    let digests = plan.digests.as_slice();
    let first = min.map_or(0, |min| {
        digests.partition_point(|digest| digest.trace_id.0.as_slice() < min)
    });
    let end = max.map_or(digests.len(), |max| {
        digests.partition_point(|digest| digest.trace_id.0.as_slice() <= max)
    });
    let mut digests = &digests[first.min(end)..end];
    // A trace whose rows began in the previous row group belongs to that group's call.
    if group > 0
        && let Some(min) = min
        && group_trace_range(&metadata, group - 1).1 == Some(min)
        && digests
            .first()
            .is_some_and(|digest| digest.trace_id.0.as_slice() == min)
    {
        digests = &digests[1..];
    }
    // The last trace may continue into the next row groups.
    let continuing = digests.last().map(|digest| digest.trace_id).filter(|id| {
        group + 1 < groups && group_trace_range(&metadata, group + 1).0 == Some(id.0.as_slice())
    });
    let count = digests.len();
    let digests =
        &digests[count * share / SCAN_UNITS_PER_GROUP..count * (share + 1) / SCAN_UNITS_PER_GROUP];
    let continuing =
        continuing.filter(|id| digests.last().is_some_and(|last| last.trace_id == *id));
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<TraceId> = digests.iter().map(|digest| digest.trace_id).collect();
    let what = reader.what(DATA_FILE);

    let criteria = filter.criteria_count() > 0;
    let mut masks = vec![0u64; ids.len()];
    if criteria {
        let generic_dedicated = crate::store::BlockReader::meta(reader)
            .generic_dedicated_keys
            .as_deref();
        let projection = projection(
            metadata.file_metadata().schema_descr(),
            filter,
            generic_dedicated,
        );
        let mut stream = reader.data_stream(&footer, group, Some(projection), None, None)?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(StorageError::parquet(&what))?
        {
            evaluate(&batch, filter, &ids, &mut masks, &what)?;
        }
    }
    // Only a part meeting every criterion can be a whole matching trace: a part meeting
    // some is returned without spans (the caller loads its trace whole if it is stored
    // in parts, and drops it otherwise).
    let full = filter.full_mask();
    let mut parts = Vec::new();
    let mut wanted: Vec<TraceId> = Vec::new();
    for (index, (id, met)) in ids.iter().zip(&masks).enumerate() {
        if !criteria || *met & full == full || continuing == Some(*id) {
            wanted.push(*id);
        } else if *met != 0 {
            parts.push(ScannedPart {
                digest: digests[index].clone(),
                met: *met,
                spans: Vec::new(),
            });
        }
    }
    if wanted.is_empty() {
        return Ok(parts);
    }

    let mut decoder = SpanDecoder::new(what.clone());
    let mut spans: Vec<Span> = Vec::new();
    let mut stream = reader.data_stream(&footer, group, None, None, Some(Arc::new(wanted)))?;
    decoder.start_row_group();
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(StorageError::parquet(&what))?
    {
        decoder.decode(&batch, None, &mut spans)?;
    }
    if let Some(trace_id) = continuing {
        for next in group + 1..groups {
            if group_trace_range(&metadata, next).0 != Some(trace_id.0.as_slice()) {
                break;
            }
            let selection = ObjectBlockReader::page_selection(&metadata, next, &trace_id.0);
            let mut stream = reader.data_stream(
                &footer,
                next,
                None,
                selection,
                Some(Arc::new(vec![trace_id])),
            )?;
            decoder.start_row_group();
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(StorageError::parquet(&what))?
            {
                decoder.decode(&batch, Some(trace_id), &mut spans)?;
            }
        }
    }

    // Spans come in trace-id order: cut them into parts, from the back so that no span
    // is copied.
    let mut starts = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        if index == 0 || spans[index - 1].trace_id != span.trace_id {
            starts.push(index);
        }
    }
    parts.reserve(starts.len());
    for start in starts.into_iter().rev() {
        let part = spans.split_off(start);
        let trace_id = part[0].trace_id;
        let Ok(index) = ids.binary_search(&trace_id) else {
            return Err(StorageError::corrupt(
                &what,
                "a scan decoded rows of a trace it did not ask for",
            ));
        };
        let met = if continuing == Some(trace_id) && criteria {
            filter.spans_mask(&part)
        } else {
            masks[index]
        };
        if criteria && met == 0 {
            continue;
        }
        parts.push(ScannedPart {
            digest: digests[index].clone(),
            met,
            spans: part,
        });
    }
    Ok(parts)
}

/// The leaf columns the filter needs. The generic attribute list (the costliest column
/// to decode) is read for an attribute criterion only when its key is not dedicated, or
/// when the block says some span kept that dedicated key in the generic list
/// (`generic_dedicated`, `None` = unknown).
fn projection(
    schema: &SchemaDescriptor,
    filter: &SpanFilter,
    generic_dedicated: Option<&[String]>,
) -> ProjectionMask {
    use data_columns::*;
    let mut roots: Vec<&str> = vec![TRACE_ID];
    if filter.service_name.is_some() {
        roots.push(SERVICE_NAME);
    }
    if filter.remote_service_name.is_some() {
        roots.extend([KIND, ATTRIBUTES]);
        roots.extend(
            [PEER_SERVICE, SERVER_ADDRESS, NET_PEER_NAME].map(|index| DEDICATED[index].column),
        );
    }
    if filter.span_name.is_some() {
        roots.push(NAME);
    }
    if !filter.attributes.is_empty() {
        for (key, value) in &filter.attributes {
            let dedicated = dedicated_index(key);
            if let Some(index) = dedicated {
                roots.push(DEDICATED[index].column);
            }
            let only_dedicated = dedicated.is_some()
                && generic_dedicated.is_some_and(|keys| !keys.iter().any(|known| known == key));
            if !only_dedicated {
                roots.push(ATTRIBUTES);
            }
            if value.is_none() {
                roots.push(EVENTS);
            }
        }
    }
    if filter.min_duration_nanos.is_some() || filter.max_duration_nanos.is_some() {
        roots.push(DURATION);
    }
    let leaves = schema
        .columns()
        .iter()
        .enumerate()
        .filter_map(|(index, column)| {
            let parts = column.path().parts();
            let root = parts.first()?;
            if !roots.contains(&root.as_str()) {
                return None;
            }
            // Of the events, only their names are needed.
            if root == EVENTS && parts.last().is_none_or(|leaf| leaf != "name") {
                return None;
            }
            Some(index)
        });
    ProjectionMask::leaves(schema, leaves)
}

/// The columns a filter evaluation reads; each is present when the filter needs it.
struct FilterColumns<'a> {
    trace_ids: &'a FixedSizeBinaryArray,
    services: Option<DictionaryColumn<'a, StringArray>>,
    names: Option<DictionaryColumn<'a, StringArray>>,
    kinds: Option<&'a UInt8Array>,
    durations: Option<&'a UInt64Array>,
    dedicated: Vec<Option<DedicatedValues<'a>>>,
    attributes: Option<AttributeListColumn<'a>>,
    /// Event list offsets and names.
    events: Option<(&'a [i32], &'a StringArray)>,
}

impl<'a> FilterColumns<'a> {
    fn new(batch: &'a RecordBatch, what: &str) -> Result<Self, StorageError> {
        use data_columns::*;
        let has = |name: &str| batch.column_by_name(name).is_some();
        let trace_ids: &FixedSizeBinaryArray =
            downcast(batch_column(batch, TRACE_ID, what)?, what)?;
        if trace_ids.value_length() != 16 {
            return Err(StorageError::corrupt(what, "trace_id has the wrong width"));
        }
        let events = if has(EVENTS) {
            let list: &ListArray = downcast(batch_column(batch, EVENTS, what)?, what)?;
            let events: &StructArray = downcast(list.values(), what)?;
            let names: &StringArray = downcast(column(events, "name", what)?, what)?;
            check_offsets(list.value_offsets(), names.len(), what)?;
            Some((list.value_offsets(), names))
        } else {
            None
        };
        Ok(FilterColumns {
            trace_ids,
            services: if has(SERVICE_NAME) {
                Some(DictionaryColumn::new(
                    batch_column(batch, SERVICE_NAME, what)?,
                    what,
                )?)
            } else {
                None
            },
            names: if has(NAME) {
                Some(DictionaryColumn::new(
                    batch_column(batch, NAME, what)?,
                    what,
                )?)
            } else {
                None
            },
            kinds: if has(KIND) {
                Some(downcast(batch_column(batch, KIND, what)?, what)?)
            } else {
                None
            },
            durations: if has(DURATION) {
                Some(downcast(batch_column(batch, DURATION, what)?, what)?)
            } else {
                None
            },
            dedicated: (0..DEDICATED.len())
                .map(|index| {
                    if has(DEDICATED[index].column) {
                        DedicatedValues::new(batch, index, what).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect::<Result<_, _>>()?,
            attributes: if has(ATTRIBUTES) {
                Some(AttributeListColumn::new(
                    downcast(batch_column(batch, ATTRIBUTES, what)?, what)?,
                    what,
                )?)
            } else {
                None
            },
            events,
        })
    }

    /// The first attribute `key` (dedicated column `dedicated`) of `row`, as the model's
    /// `Span::attribute` finds it: `Some(Some(text))` for a string, `Some(None)` for
    /// another type, `None` when absent.
    fn first_string(
        &self,
        row: usize,
        dedicated: usize,
        what: &str,
    ) -> Result<Option<Option<&'a str>>, StorageError> {
        if let Some(Some(values)) = self.dedicated.get(dedicated)
            && let Some(text) = values.string(row, what)?
        {
            return Ok(Some(Some(text)));
        }
        let key = DEDICATED[dedicated].key;
        if let Some(attributes) = &self.attributes {
            for index in attributes.range(row, what)? {
                if attributes.entries.key(index) == key {
                    return Ok(Some(match attributes.entries.value_ref(index) {
                        crate::columns::attributes::ValueRef::String(text) => Some(text),
                        _ => None,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// `Span::remote_service_name` of `row`.
    fn remote_service(&self, row: usize, what: &str) -> Result<Option<&'a str>, StorageError> {
        if let Some(Some(name)) = self.first_string(row, PEER_SERVICE, what)?
            && !name.is_empty()
        {
            return Ok(Some(name));
        }
        let kind = self
            .kinds
            .map(|kinds| SpanKind::from_otlp(i32::from(kinds.value(row))));
        if !matches!(kind, Some(SpanKind::Client | SpanKind::Producer)) {
            return Ok(None);
        }
        for dedicated in [SERVER_ADDRESS, NET_PEER_NAME] {
            if let Some(Some(name)) = self.first_string(row, dedicated, what)?
                && !name.is_empty()
                && name.parse::<IpAddr>().is_err()
            {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Whether `row` has an attribute `key` whose text equals `value` (any attribute
    /// when `value` is `None`, or an event named `key`).
    fn has_attribute(
        &self,
        row: usize,
        key: &str,
        value: Option<&str>,
        what: &str,
    ) -> Result<bool, StorageError> {
        if let Some(index) = dedicated_index(key)
            && let Some(Some(values)) = self.dedicated.get(index)
        {
            let met = match values {
                DedicatedValues::Int(column) => {
                    column.is_valid(row)
                        && value.is_none_or(|wanted| int_text_equals(column.value(row), wanted))
                }
                _ => values
                    .string(row, what)?
                    .is_some_and(|text| value.is_none_or(|wanted| text == wanted)),
            };
            if met {
                return Ok(true);
            }
        }
        if let Some(attributes) = &self.attributes {
            for index in attributes.range(row, what)? {
                if attributes.entries.key(index) == key
                    && value.is_none_or(|wanted| {
                        attributes.entries.value_ref(index).text_equals(wanted)
                    })
                {
                    return Ok(true);
                }
            }
        }
        if value.is_none()
            && let Some((offsets, names)) = self.events
        {
            for index in list_range(offsets, row, what)? {
                if names.value(index) == key {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Per dictionary value: does it equal `wanted` ignoring ASCII case.
fn matching_values(column: &DictionaryColumn<'_, StringArray>, wanted: &str) -> Vec<bool> {
    (0..column.values.len())
        .map(|index| column.values.value(index).eq_ignore_ascii_case(wanted))
        .collect()
}

/// ORs the criteria each row of `batch` meets into the mask of its trace.
fn evaluate(
    batch: &RecordBatch,
    filter: &SpanFilter,
    ids: &[TraceId],
    masks: &mut [u64],
    what: &str,
) -> Result<(), StorageError> {
    let columns = FilterColumns::new(batch, what)?;
    let service_matches = match (&filter.service_name, &columns.services) {
        (Some(wanted), Some(services)) => Some(matching_values(services, wanted)),
        _ => None,
    };
    let name_matches = match (&filter.span_name, &columns.names) {
        (Some(wanted), Some(names)) => Some(matching_values(names, wanted)),
        _ => None,
    };
    let mut cursor = 0usize;
    for row in 0..batch.num_rows() {
        let trace_id = trace_id_at(columns.trace_ids, row);
        // Rows and ids are both in trace-id order: advance instead of searching.
        while ids.get(cursor).is_some_and(|id| *id < trace_id) {
            cursor += 1;
        }
        if ids.get(cursor) != Some(&trace_id) {
            continue;
        }
        let mut mask = 0u64;
        let mut bit = 0usize;
        let mut set = |met: bool| {
            if met && bit < 64 {
                mask |= 1u64 << bit;
            }
            bit += 1;
        };
        if filter.service_name.is_some() {
            let own = match (&columns.services, &service_matches) {
                (Some(services), Some(matches)) => services
                    .key(row, what)?
                    .is_some_and(|key| matches.get(key).copied().unwrap_or(false)),
                _ => false,
            };
            if !own {
                continue;
            }
            set(true);
        }
        if let Some(wanted) = &filter.remote_service_name {
            set(columns
                .remote_service(row, what)?
                .is_some_and(|remote| remote.eq_ignore_ascii_case(wanted)));
        }
        if filter.span_name.is_some() {
            let met = match (&columns.names, &name_matches) {
                (Some(names), Some(matches)) => names
                    .key(row, what)?
                    .is_some_and(|key| matches.get(key).copied().unwrap_or(false)),
                _ => false,
            };
            set(met);
        }
        for (key, value) in &filter.attributes {
            set(columns.has_attribute(row, key, value.as_deref(), what)?);
        }
        if filter.min_duration_nanos.is_some() || filter.max_duration_nanos.is_some() {
            let met = columns.durations.is_some_and(|durations| {
                let duration = durations.value(row);
                filter.min_duration_nanos.is_none_or(|min| duration >= min)
                    && filter.max_duration_nanos.is_none_or(|max| duration <= max)
            });
            set(met);
        }
        if let Some(slot) = masks.get_mut(cursor) {
            *slot |= mask;
        }
    }
    Ok(())
}
