//! The binary protocol (`TBinaryProtocol`): big-endian integers, one type byte and an
//! `i16` id per field header, `i32` lengths.

use super::{FieldType, MessageHeader, MessageType, Reader, ThriftError};

/// The high half of a strict binary message header: `0x8001` (version 1).
const VERSION_1: u32 = 0x8001_0000;
const VERSION_MASK: u32 = 0xffff_0000;

fn field_type(type_id: u8, offset: usize) -> Result<FieldType, ThriftError> {
    Ok(match type_id {
        2 => FieldType::Bool,
        3 => FieldType::Byte,
        4 => FieldType::Double,
        6 => FieldType::I16,
        8 => FieldType::I32,
        10 => FieldType::I64,
        11 => FieldType::Binary,
        12 => FieldType::Struct,
        13 => FieldType::Map,
        14 => FieldType::Set,
        15 => FieldType::List,
        16 => FieldType::Uuid,
        _ => return Err(ThriftError::UnknownType { type_id, offset }),
    })
}

impl<'a> Reader<'a> {
    pub(super) fn binary_message_begin(&mut self) -> Result<MessageHeader<'a>, ThriftError> {
        let offset = self.position;
        let first = self.read_i32_be()?;
        let bad = |reason: String| ThriftError::BadMessageHeader { offset, reason };
        let (name, type_number, sequence_id) = if first < 0 {
            let word = first as u32;
            if word & VERSION_MASK != VERSION_1 {
                return Err(bad(format!(
                    "version 0x{:08x}, expected 0x8001",
                    word >> 16
                )));
            }
            let name = self.read_string()?;
            let sequence_id = self.read_i32_be()?;
            (name, (word & 0xff) as u8, sequence_id)
        } else {
            // Old non-strict form: the first word is the name's length.
            let length = self.checked_length(i64::from(first), 1, offset)?;
            let name = std::str::from_utf8(self.take(length)?)
                .map_err(|_| ThriftError::NotUtf8(offset))?;
            let type_number = self.read_u8()?;
            (name, type_number, self.read_i32_be()?)
        };
        let message_type = MessageType::from_number(type_number)
            .ok_or_else(|| bad(format!("message type {type_number}")))?;
        Ok(MessageHeader {
            name,
            message_type,
            sequence_id,
        })
    }

    pub(super) fn binary_field_begin(&mut self) -> Result<Option<(FieldType, i16)>, ThriftError> {
        let offset = self.position;
        let type_id = self.read_u8()?;
        if type_id == 0 {
            return Ok(None);
        }
        let field_type = field_type(type_id, offset)?;
        let id = i16::from_be_bytes(self.read_array()?);
        Ok(Some((field_type, id)))
    }

    pub(super) fn binary_list_begin(&mut self) -> Result<(FieldType, usize), ThriftError> {
        let offset = self.position;
        let element_type = field_type(self.read_u8()?, offset)?;
        let length_offset = self.position;
        let length = i64::from(self.read_i32_be()?);
        let length =
            self.checked_length(length, self.min_element_bytes(element_type), length_offset)?;
        Ok((element_type, length))
    }

    pub(super) fn binary_map_begin(
        &mut self,
    ) -> Result<(FieldType, FieldType, usize), ThriftError> {
        let offset = self.position;
        let key_type = field_type(self.read_u8()?, offset)?;
        let value_type = field_type(self.read_u8()?, offset + 1)?;
        let length_offset = self.position;
        let length = i64::from(self.read_i32_be()?);
        let entry_bytes = self.min_element_bytes(key_type) + self.min_element_bytes(value_type);
        let length = self.checked_length(length, entry_bytes, length_offset)?;
        Ok((key_type, value_type, length))
    }
}
