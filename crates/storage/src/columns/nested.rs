//! The nested list columns of `data.parquet`: events and links.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, FixedSizeBinaryArray, StructArray, UInt32Array};
use weft_model::Span;

use super::attributes::{AttributeListBuilder, encode_error, list_array};
use super::schema::{event_struct_fields, link_struct_fields};
use crate::error::StorageError;

/// Builds the `events` column.
#[derive(Default)]
pub struct EventListBuilder {
    offsets: Vec<i32>,
    time_offsets: Vec<i64>,
    names: StringBuilder,
    attributes: AttributeListBuilder,
    dropped: Vec<u32>,
}

impl EventListBuilder {
    /// Appends the span's list as one row.
    pub fn append(&mut self, span: &Span) -> Result<(), StorageError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for event in &span.events {
            // Wrapping arithmetic keeps every (time, start) pair exact, including events
            // before the start and spans without a start.
            let offset = (event.time_unix_nanos as i64).wrapping_sub(span.start_unix_nanos as i64);
            self.time_offsets.push(offset);
            self.names.append_value(&event.name);
            self.attributes.append_list(&event.attributes)?;
            self.dropped.push(event.dropped_attributes_count);
        }
        self.offsets
            .push(count_i32(self.time_offsets.len(), "events")?);
        Ok(())
    }

    /// The column built so far; the builder starts over.
    pub fn finish(&mut self) -> Result<arrow_array::ListArray, StorageError> {
        let fields = event_struct_fields();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(arrow_array::Int64Array::from(std::mem::take(
                &mut self.time_offsets,
            ))),
            Arc::new(self.names.finish()),
            Arc::new(self.attributes.finish()?),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.dropped))),
        ];
        let values = StructArray::try_new(fields.clone(), arrays, None)
            .map_err(|error| encode_error("events struct", error))?;
        let mut offsets = std::mem::take(&mut self.offsets);
        if offsets.is_empty() {
            offsets.push(0);
        }
        list_array(fields, offsets, Arc::new(values))
    }
}

/// Builds the `links` column.
#[derive(Default)]
pub struct LinkListBuilder {
    offsets: Vec<i32>,
    trace_ids: Vec<u8>,
    span_ids: Vec<u8>,
    count: usize,
    trace_states: StringBuilder,
    flags: Vec<u32>,
    attributes: AttributeListBuilder,
    dropped: Vec<u32>,
}

impl LinkListBuilder {
    /// Appends the span's list as one row.
    pub fn append(&mut self, span: &Span) -> Result<(), StorageError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for link in &span.links {
            self.trace_ids.extend_from_slice(&link.trace_id.0);
            self.span_ids.extend_from_slice(&link.span_id.0);
            self.count += 1;
            self.trace_states.append_value(&link.trace_state);
            self.flags.push(link.flags);
            self.attributes.append_list(&link.attributes)?;
            self.dropped.push(link.dropped_attributes_count);
        }
        self.offsets.push(count_i32(self.count, "links")?);
        Ok(())
    }

    /// The column built so far; the builder starts over.
    pub fn finish(&mut self) -> Result<arrow_array::ListArray, StorageError> {
        let fields = link_struct_fields();
        self.count = 0;
        let trace_ids = fixed_size_binary(std::mem::take(&mut self.trace_ids), 16)?;
        let span_ids = fixed_size_binary(std::mem::take(&mut self.span_ids), 8)?;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(trace_ids),
            Arc::new(span_ids),
            Arc::new(self.trace_states.finish()),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.flags))),
            Arc::new(self.attributes.finish()?),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.dropped))),
        ];
        let values = StructArray::try_new(fields.clone(), arrays, None)
            .map_err(|error| encode_error("links struct", error))?;
        let mut offsets = std::mem::take(&mut self.offsets);
        if offsets.is_empty() {
            offsets.push(0);
        }
        list_array(fields, offsets, Arc::new(values))
    }
}

fn count_i32(count: usize, what: &'static str) -> Result<i32, StorageError> {
    i32::try_from(count).map_err(|_| StorageError::Encode {
        what,
        reason: String::from("more than 2^31 entries in one batch"),
    })
}

/// A non-null FixedSizeBinary array from `size`-byte values back to back.
pub fn fixed_size_binary(bytes: Vec<u8>, size: i32) -> Result<FixedSizeBinaryArray, StorageError> {
    FixedSizeBinaryArray::try_new(size, arrow_buffer::Buffer::from_vec(bytes), None)
        .map_err(|error| encode_error("fixed size binary column", error))
}
