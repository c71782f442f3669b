//! Typed read access to dictionary and dedicated attribute columns.

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use weft_model::AttributeValue;

use super::schema::{DEDICATED, DedicatedType};
use super::{batch_column, downcast};
use crate::error::StorageError;

/// A dictionary-encoded column with `Int32` keys, read by row.
pub struct DictionaryColumn<'a, V: Array> {
    keys: &'a Int32Array,
    /// The dictionary values.
    pub values: &'a V,
}

impl<'a, V: Array + 'static> DictionaryColumn<'a, V> {
    /// Reads `array` as `Dictionary(Int32, V)`.
    pub fn new(array: &'a ArrayRef, what: &str) -> Result<Self, StorageError> {
        let dictionary: &DictionaryArray<Int32Type> = downcast(array, what)?;
        let values = dictionary
            .values()
            .as_any()
            .downcast_ref::<V>()
            .ok_or_else(|| StorageError::corrupt(what, "dictionary values have another type"))?;
        Ok(DictionaryColumn {
            keys: dictionary.keys(),
            values,
        })
    }

    /// The dictionary index of row `row`; `None` for a null row.
    pub fn key(&self, row: usize, what: &str) -> Result<Option<usize>, StorageError> {
        if self.keys.is_null(row) {
            return Ok(None);
        }
        let key = self.keys.value(row);
        match usize::try_from(key) {
            Ok(index) if index < self.values.len() => Ok(Some(index)),
            _ => Err(StorageError::corrupt(
                what,
                format!("dictionary key {key} out of range"),
            )),
        }
    }
}

impl<'a> DictionaryColumn<'a, StringArray> {
    /// The string of row `row`; `None` for a null row.
    pub fn string(&self, row: usize, what: &str) -> Result<Option<&'a str>, StorageError> {
        Ok(self.key(row, what)?.map(|index| self.values.value(index)))
    }
}

impl<'a> DictionaryColumn<'a, BinaryArray> {
    /// The bytes of row `row`; `None` for a null row.
    pub fn bytes(&self, row: usize, what: &str) -> Result<Option<&'a [u8]>, StorageError> {
        Ok(self.key(row, what)?.map(|index| self.values.value(index)))
    }
}

/// A dedicated attribute column, read by row.
pub enum DedicatedValues<'a> {
    /// Dictionary strings.
    Dictionary(DictionaryColumn<'a, StringArray>),
    /// Plain strings.
    Plain(&'a StringArray),
    /// Integers.
    Int(&'a Int64Array),
}

impl<'a> DedicatedValues<'a> {
    /// Reads dedicated column `index` of `DEDICATED` from `batch`.
    pub fn new(batch: &'a RecordBatch, index: usize, what: &str) -> Result<Self, StorageError> {
        let spec = &DEDICATED[index.min(DEDICATED.len() - 1)];
        let array = batch_column(batch, spec.column, what)?;
        Ok(match spec.value_type {
            DedicatedType::String => {
                DedicatedValues::Dictionary(DictionaryColumn::new(array, what)?)
            }
            DedicatedType::PlainString => DedicatedValues::Plain(downcast(array, what)?),
            DedicatedType::Int => DedicatedValues::Int(downcast(array, what)?),
        })
    }

    /// The string value of row `row` (string columns only).
    pub fn string(&self, row: usize, what: &str) -> Result<Option<&'a str>, StorageError> {
        match self {
            DedicatedValues::Dictionary(column) => column.string(row, what),
            DedicatedValues::Plain(column) => Ok(column.is_valid(row).then(|| column.value(row))),
            DedicatedValues::Int(_) => Ok(None),
        }
    }

    /// The value of row `row` as a model value; `None` for a null row.
    pub fn value(&self, row: usize, what: &str) -> Result<Option<AttributeValue>, StorageError> {
        Ok(match self {
            DedicatedValues::Int(column) => column
                .is_valid(row)
                .then(|| AttributeValue::Int(column.value(row))),
            _ => self
                .string(row, what)?
                .map(|text| AttributeValue::String(text.to_owned())),
        })
    }
}
