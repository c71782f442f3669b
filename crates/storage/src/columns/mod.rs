//! The columnar form of spans and trace digests (block format v1).
//!
//! - [`schema`]: the Arrow schemas of `data.parquet` and `traces.parquet` and their
//!   writer properties.
//! - [`encode`]: spans in block order -> `data.parquet` record batches.
//! - [`decode`]: record batches -> spans, resolving parents within a trace.
//! - [`nested`]: the event and link list columns.
//! - [`access`]: typed row access to dictionary and dedicated columns.
//! - [`attributes`]: the generic attribute list shared by spans, events and links.
//! - [`traces`]: trace digests <-> `traces.parquet` record batches.

pub mod access;
pub mod attributes;
pub mod decode;
pub mod encode;
pub mod nested;
pub mod schema;
pub mod traces;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};

use crate::error::StorageError;

/// The column `name` of a record batch, or a corruption error naming `what`.
pub fn batch_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    what: &str,
) -> Result<&'a ArrayRef, StorageError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| StorageError::corrupt(what, format!("column {name} is missing")))
}

/// The field `name` of a struct array, or a corruption error naming `what`.
pub fn column<'a>(
    array: &'a StructArray,
    name: &str,
    what: &str,
) -> Result<&'a ArrayRef, StorageError> {
    array
        .column_by_name(name)
        .ok_or_else(|| StorageError::corrupt(what, format!("field {name} is missing")))
}

/// `array` as the concrete array type `T`, or a corruption error naming `what`.
pub fn downcast<'a, T: Array + 'static>(
    array: &'a ArrayRef,
    what: &str,
) -> Result<&'a T, StorageError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        StorageError::corrupt(
            what,
            format!("a column has type {}, expected another", array.data_type()),
        )
    })
}
