//! Generic attribute lists: `List<Struct<key, str, int, double, bool, bytes, composite>>`.
//!
//! Exactly one value field of an entry is set, chosen by the value's type; none is set
//! for `AttributeValue::Empty`. Arrays and key-value lists go to `composite` as the
//! postcard encoding of the whole `AttributeValue` (the serde derive of weft-model, the
//! same encoding the WAL uses).

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, StringArray,
    StructArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;
use weft_model::{AttributeValue, KeyValue};

use super::schema::{LIST_ITEM, attribute_fields, attribute_struct_fields};
use super::{column, downcast};
use crate::error::StorageError;

/// Builds one `List<attribute>` column.
pub struct AttributeListBuilder {
    offsets: Vec<i32>,
    keys: StringBuilder,
    strings: StringBuilder,
    ints: Int64Builder,
    doubles: Float64Builder,
    bools: BooleanBuilder,
    bytes: BinaryBuilder,
    composites: BinaryBuilder,
}

impl Default for AttributeListBuilder {
    fn default() -> Self {
        AttributeListBuilder {
            offsets: vec![0],
            keys: StringBuilder::new(),
            strings: StringBuilder::new(),
            ints: Int64Builder::new(),
            doubles: Float64Builder::new(),
            bools: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
            composites: BinaryBuilder::new(),
        }
    }
}

impl AttributeListBuilder {
    /// Appends one entry to the current list.
    pub fn append_entry(&mut self, attribute: &KeyValue) -> Result<(), StorageError> {
        self.keys.append_value(&attribute.key);
        let (mut string, mut int, mut double, mut boolean, mut bytes, mut composite) =
            (false, false, false, false, false, false);
        match &attribute.value {
            AttributeValue::String(text) => {
                self.strings.append_value(text);
                string = true;
            }
            AttributeValue::Int(value) => {
                self.ints.append_value(*value);
                int = true;
            }
            AttributeValue::Double(value) => {
                self.doubles.append_value(*value);
                double = true;
            }
            AttributeValue::Bool(value) => {
                self.bools.append_value(*value);
                boolean = true;
            }
            AttributeValue::Bytes(value) => {
                self.bytes.append_value(value);
                bytes = true;
            }
            value @ (AttributeValue::Array(_) | AttributeValue::KeyValueList(_)) => {
                let encoded =
                    postcard::to_allocvec(value).map_err(|error| StorageError::Encode {
                        what: "attribute value",
                        reason: error.to_string(),
                    })?;
                self.composites.append_value(encoded);
                composite = true;
            }
            AttributeValue::Empty => {}
        }
        if !string {
            self.strings.append_null();
        }
        if !int {
            self.ints.append_null();
        }
        if !double {
            self.doubles.append_null();
        }
        if !boolean {
            self.bools.append_null();
        }
        if !bytes {
            self.bytes.append_null();
        }
        if !composite {
            self.composites.append_null();
        }
        Ok(())
    }

    /// Closes the current list (one row of the list column).
    pub fn close_list(&mut self) -> Result<(), StorageError> {
        let entries = i32::try_from(self.keys.len()).map_err(|_| StorageError::Encode {
            what: "attribute list",
            reason: String::from("more than 2^31 attributes in one batch"),
        })?;
        self.offsets.push(entries);
        Ok(())
    }

    /// Appends a whole list as one row.
    pub fn append_list<'a>(
        &mut self,
        attributes: impl IntoIterator<Item = &'a KeyValue>,
    ) -> Result<(), StorageError> {
        for attribute in attributes {
            self.append_entry(attribute)?;
        }
        self.close_list()
    }

    /// The list column built so far; the builder starts over.
    pub fn finish(&mut self) -> Result<ListArray, StorageError> {
        let fields = attribute_struct_fields();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.keys.finish()),
            Arc::new(self.strings.finish()),
            Arc::new(self.ints.finish()),
            Arc::new(self.doubles.finish()),
            Arc::new(self.bools.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.composites.finish()),
        ];
        let values = StructArray::try_new(fields.clone(), arrays, None)
            .map_err(|error| encode_error("attribute struct", error))?;
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        list_array(fields, offsets, Arc::new(values))
    }
}

/// Builds a non-null `List<Struct<fields>>` from offsets that start at 0 and never
/// decrease (the builders guarantee that).
pub fn list_array(
    fields: arrow_schema::Fields,
    offsets: Vec<i32>,
    values: ArrayRef,
) -> Result<ListArray, StorageError> {
    let item = Arc::new(Field::new(
        LIST_ITEM,
        arrow_schema::DataType::Struct(fields),
        false,
    ));
    ListArray::try_new(
        item,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
    .map_err(|error| encode_error("list column", error))
}

/// Converts an Arrow error raised while assembling arrays.
pub fn encode_error(what: &'static str, error: arrow_schema::ArrowError) -> StorageError {
    StorageError::Encode {
        what,
        reason: error.to_string(),
    }
}

/// Read access to a decoded `List<attribute>` column.
pub struct AttributeListColumn<'a> {
    /// Offsets of each row's entries.
    pub offsets: &'a [i32],
    /// The entries.
    pub entries: AttributeEntries<'a>,
}

/// The struct fields of attribute entries.
pub struct AttributeEntries<'a> {
    /// Keys.
    pub keys: &'a StringArray,
    strings: &'a StringArray,
    ints: &'a Int64Array,
    doubles: &'a Float64Array,
    bools: &'a BooleanArray,
    bytes: &'a BinaryArray,
    composites: &'a BinaryArray,
}

/// A borrowed attribute value, for comparisons without building an `AttributeValue`.
pub enum ValueRef<'a> {
    /// A string.
    String(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A postcard-encoded array or key-value list.
    Composite(&'a [u8]),
    /// No value.
    Empty,
}

impl ValueRef<'_> {
    /// True when the value's text form (`AttributeValue::to_text`) equals `wanted`.
    pub fn text_equals(&self, wanted: &str) -> bool {
        match self {
            ValueRef::String(text) => *text == wanted,
            ValueRef::Int(value) => int_text_equals(*value, wanted),
            ValueRef::Bool(value) => wanted == if *value { "true" } else { "false" },
            ValueRef::Double(value) => AttributeValue::Double(*value).to_text() == wanted,
            ValueRef::Bytes(bytes) => {
                wanted.len() == bytes.len() * 2
                    && AttributeValue::Bytes(bytes.to_vec()).to_text() == wanted
            }
            ValueRef::Composite(encoded) => postcard::from_bytes::<AttributeValue>(encoded)
                .is_ok_and(|value| value.to_text() == wanted),
            ValueRef::Empty => wanted.is_empty(),
        }
    }
}

/// True when `value.to_string() == wanted`, without allocating.
pub fn int_text_equals(value: i64, wanted: &str) -> bool {
    // The canonical text has no sign but '-', no leading zeros and no '+'.
    match wanted.parse::<i64>() {
        Ok(parsed) => {
            parsed == value
                && !wanted.starts_with('+')
                && !(wanted.len() > 1 && wanted.trim_start_matches('-').starts_with('0'))
                && wanted != "-0"
        }
        Err(_) => false,
    }
}

impl<'a> AttributeEntries<'a> {
    /// Reads the entry struct's fields.
    pub fn new(entries: &'a StructArray, what: &str) -> Result<Self, StorageError> {
        use attribute_fields::*;
        Ok(AttributeEntries {
            keys: downcast(column(entries, KEY, what)?, what)?,
            strings: downcast(column(entries, STRING, what)?, what)?,
            ints: downcast(column(entries, INT, what)?, what)?,
            doubles: downcast(column(entries, DOUBLE, what)?, what)?,
            bools: downcast(column(entries, BOOL, what)?, what)?,
            bytes: downcast(column(entries, BYTES, what)?, what)?,
            composites: downcast(column(entries, COMPOSITE, what)?, what)?,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of entry `index` (in bounds: callers check against [`Self::len`]).
    pub fn key(&self, index: usize) -> &'a str {
        self.keys.value(index)
    }

    /// The value of entry `index` without copying.
    pub fn value_ref(&self, index: usize) -> ValueRef<'a> {
        if self.strings.is_valid(index) {
            ValueRef::String(self.strings.value(index))
        } else if self.ints.is_valid(index) {
            ValueRef::Int(self.ints.value(index))
        } else if self.doubles.is_valid(index) {
            ValueRef::Double(self.doubles.value(index))
        } else if self.bools.is_valid(index) {
            ValueRef::Bool(self.bools.value(index))
        } else if self.bytes.is_valid(index) {
            ValueRef::Bytes(self.bytes.value(index))
        } else if self.composites.is_valid(index) {
            ValueRef::Composite(self.composites.value(index))
        } else {
            ValueRef::Empty
        }
    }

    /// Entry `index` as a model attribute.
    pub fn key_value(&self, index: usize, what: &str) -> Result<KeyValue, StorageError> {
        let value = match self.value_ref(index) {
            ValueRef::String(text) => AttributeValue::String(text.to_owned()),
            ValueRef::Int(value) => AttributeValue::Int(value),
            ValueRef::Double(value) => AttributeValue::Double(value),
            ValueRef::Bool(value) => AttributeValue::Bool(value),
            ValueRef::Bytes(bytes) => AttributeValue::Bytes(bytes.to_vec()),
            ValueRef::Composite(encoded) => postcard::from_bytes(encoded).map_err(|error| {
                StorageError::corrupt(what, format!("composite attribute value: {error}"))
            })?,
            ValueRef::Empty => AttributeValue::Empty,
        };
        Ok(KeyValue {
            key: self.key(index).to_owned(),
            value,
        })
    }
}

impl<'a> AttributeListColumn<'a> {
    /// Reads a `List<attribute>` array.
    pub fn new(list: &'a ListArray, what: &str) -> Result<Self, StorageError> {
        let entries: &StructArray = downcast(list.values(), what)?;
        let entries = AttributeEntries::new(entries, what)?;
        let offsets = list.value_offsets();
        check_offsets(offsets, entries.len(), what)?;
        Ok(AttributeListColumn { offsets, entries })
    }

    /// The entry range of row `row`, or an error when the row is out of bounds.
    pub fn range(&self, row: usize, what: &str) -> Result<std::ops::Range<usize>, StorageError> {
        list_range(self.offsets, row, what)
    }

    /// The attributes of row `row`.
    pub fn row(&self, row: usize, what: &str) -> Result<Vec<KeyValue>, StorageError> {
        self.range(row, what)?
            .map(|index| self.entries.key_value(index, what))
            .collect()
    }
}

/// Checks that list offsets are non-decreasing, non-negative and end inside `values`.
pub fn check_offsets(offsets: &[i32], values: usize, what: &str) -> Result<(), StorageError> {
    let valid = offsets.first().is_none_or(|first| *first >= 0)
        && offsets.windows(2).all(|pair| pair[0] <= pair[1])
        && offsets
            .last()
            .is_none_or(|last| usize::try_from(*last).is_ok_and(|last| last <= values));
    if valid {
        Ok(())
    } else {
        Err(StorageError::corrupt(what, "list offsets out of range"))
    }
}

/// The value range of list row `row` (offsets already checked).
pub fn list_range(
    offsets: &[i32],
    row: usize,
    what: &str,
) -> Result<std::ops::Range<usize>, StorageError> {
    match (offsets.get(row), offsets.get(row + 1)) {
        (Some(&start), Some(&end)) => Ok(start.max(0) as usize..end.max(0) as usize),
        _ => Err(StorageError::corrupt(
            what,
            format!("list row {row} out of range"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_text_comparison_matches_to_text() {
        for (value, wanted, expected) in [
            (7, "7", true),
            (7, "07", false),
            (7, "+7", false),
            (-7, "-7", true),
            (0, "0", true),
            (0, "-0", false),
            (-5, "-05", false),
            (12, "12.0", false),
        ] {
            assert_eq!(
                int_text_equals(value, wanted),
                expected,
                "{value} vs {wanted}"
            );
            assert_eq!(AttributeValue::Int(value).to_text() == wanted, expected);
        }
    }
}
