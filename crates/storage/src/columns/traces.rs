//! Trace digests <-> record batches of `traces.parquet` (one row per trace part).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder, UInt64Builder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use weft_model::TraceId;

use super::access::DictionaryColumn;
use super::attributes::{check_offsets, encode_error, list_range};
use super::decode::trace_id_at;
use super::schema::{LIST_ITEM, trace_columns, trace_schema};
use super::{batch_column, downcast};
use crate::digest::{RootSpan, TraceDigest};
use crate::error::StorageError;

/// Accumulates digests into the columns of one `traces.parquet` record batch.
#[derive(Default)]
pub struct TraceTableBuilder {
    trace_ids: Vec<u8>,
    starts: Vec<u64>,
    ends: Vec<u64>,
    span_counts: Vec<u32>,
    error_counts: Vec<u32>,
    root_services: Vec<Option<String>>,
    root_names: StringBuilder,
    root_starts: UInt64Builder,
    root_shared: BooleanBuilder,
    service_offsets: Vec<i32>,
    services: StringBuilder,
    service_count: usize,
}

impl TraceTableBuilder {
    /// Rows appended since the last finish.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when no row was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Appends one digest (digests must come in trace-id order).
    pub fn append(&mut self, digest: &TraceDigest) -> Result<(), StorageError> {
        if self.service_offsets.is_empty() {
            self.service_offsets.push(0);
        }
        self.trace_ids.extend_from_slice(&digest.trace_id.0);
        self.starts.push(digest.start_unix_nanos);
        self.ends.push(digest.end_unix_nanos);
        self.span_counts.push(digest.span_count);
        self.error_counts.push(digest.error_count);
        match &digest.root {
            Some(root) => {
                self.root_services.push(Some(root.service_name.clone()));
                self.root_names.append_value(&root.span_name);
                self.root_starts.append_value(root.start_unix_nanos);
                self.root_shared.append_value(root.shared);
            }
            None => {
                self.root_services.push(None);
                self.root_names.append_null();
                self.root_starts.append_null();
                self.root_shared.append_null();
            }
        }
        for service in &digest.services {
            self.services.append_value(service);
        }
        self.service_count += digest.services.len();
        let offset = i32::try_from(self.service_count).map_err(|_| StorageError::Encode {
            what: "trace services",
            reason: String::from("more than 2^31 services in one batch"),
        })?;
        self.service_offsets.push(offset);
        Ok(())
    }

    /// The record batch of the rows appended so far; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch, StorageError> {
        let trace_ids = FixedSizeBinaryArray::try_new(
            16,
            arrow_buffer::Buffer::from_vec(std::mem::take(&mut self.trace_ids)),
            None,
        )
        .map_err(|error| encode_error("trace_id column", error))?;
        let root_services: arrow_array::DictionaryArray<arrow_array::types::Int32Type> =
            std::mem::take(&mut self.root_services)
                .iter()
                .map(|service| service.as_deref())
                .collect();
        let mut offsets = std::mem::take(&mut self.service_offsets);
        if offsets.is_empty() {
            offsets.push(0);
        }
        self.service_count = 0;
        let services = ListArray::try_new(
            Arc::new(Field::new(LIST_ITEM, DataType::Utf8, false)),
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(self.services.finish()),
            None,
        )
        .map_err(|error| encode_error("services column", error))?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(trace_ids),
            Arc::new(UInt64Array::from(std::mem::take(&mut self.starts))),
            Arc::new(UInt64Array::from(std::mem::take(&mut self.ends))),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.span_counts))),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.error_counts))),
            Arc::new(root_services),
            Arc::new(self.root_names.finish()),
            Arc::new(self.root_starts.finish()),
            Arc::new(self.root_shared.finish()),
            Arc::new(services),
        ];
        RecordBatch::try_new(trace_schema(), columns)
            .map_err(|error| encode_error("trace record batch", error))
    }
}

/// Read access to the columns of one `traces.parquet` record batch.
pub struct TraceTableColumns<'a> {
    /// The trace ids.
    pub trace_ids: &'a FixedSizeBinaryArray,
    starts: &'a UInt64Array,
    ends: &'a UInt64Array,
    span_counts: &'a UInt32Array,
    error_counts: &'a UInt32Array,
    root_services: DictionaryColumn<'a, StringArray>,
    root_names: &'a StringArray,
    root_starts: &'a UInt64Array,
    root_shared: &'a BooleanArray,
    service_offsets: &'a [i32],
    services: &'a StringArray,
}

impl<'a> TraceTableColumns<'a> {
    /// Reads the columns of `batch`; errors name `what`.
    pub fn new(batch: &'a RecordBatch, what: &str) -> Result<Self, StorageError> {
        use trace_columns::*;
        let get = |name: &str| batch_column(batch, name, what);
        let trace_ids: &FixedSizeBinaryArray = downcast(get(TRACE_ID)?, what)?;
        if trace_ids.value_length() != 16 {
            return Err(StorageError::corrupt(what, "trace_id has the wrong width"));
        }
        let services: &ListArray = downcast(get(SERVICES)?, what)?;
        let service_values: &StringArray = downcast(services.values(), what)?;
        check_offsets(services.value_offsets(), service_values.len(), what)?;
        Ok(TraceTableColumns {
            trace_ids,
            starts: downcast(get(START)?, what)?,
            ends: downcast(get(END)?, what)?,
            span_counts: downcast(get(SPAN_COUNT)?, what)?,
            error_counts: downcast(get(ERROR_COUNT)?, what)?,
            root_services: DictionaryColumn::new(get(ROOT_SERVICE)?, what)?,
            root_names: downcast(get(ROOT_NAME)?, what)?,
            root_starts: downcast(get(ROOT_START)?, what)?,
            root_shared: downcast(get(ROOT_SHARED)?, what)?,
            service_offsets: services.value_offsets(),
            services: service_values,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.trace_ids.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.trace_ids.is_empty()
    }

    /// The trace id of row `row` (in bounds).
    pub fn trace_id(&self, row: usize) -> TraceId {
        trace_id_at(self.trace_ids, row)
    }

    /// The digest's timestamp ([`TraceDigest::timestamp_unix_nanos`]) of row `row`
    /// without building the digest.
    pub fn timestamp_unix_nanos(&self, row: usize) -> u64 {
        if self.root_starts.is_valid(row) && self.root_starts.value(row) != 0 {
            self.root_starts.value(row)
        } else {
            self.starts.value(row)
        }
    }

    /// The digest of row `row`.
    pub fn digest(&self, row: usize, what: &str) -> Result<TraceDigest, StorageError> {
        let root = if self.root_names.is_valid(row) {
            Some(RootSpan {
                start_unix_nanos: if self.root_starts.is_valid(row) {
                    self.root_starts.value(row)
                } else {
                    0
                },
                shared: self.root_shared.is_valid(row) && self.root_shared.value(row),
                service_name: self
                    .root_services
                    .string(row, what)?
                    .unwrap_or_default()
                    .to_owned(),
                span_name: self.root_names.value(row).to_owned(),
            })
        } else {
            None
        };
        let services = list_range(self.service_offsets, row, what)?
            .map(|index| self.services.value(index).to_owned())
            .collect();
        Ok(TraceDigest {
            trace_id: self.trace_id(row),
            start_unix_nanos: self.starts.value(row),
            end_unix_nanos: self.ends.value(row),
            span_count: self.span_counts.value(row),
            error_count: self.error_counts.value(row),
            root,
            services,
        })
    }
}
