//! The compact protocol (`TCompactProtocol`): zigzag varints, field id deltas packed with
//! the type in one byte, bool values carried in field headers, little-endian doubles.

use super::{FieldType, MessageHeader, MessageType, Reader, ThriftError};

const PROTOCOL_ID: u8 = 0x82;
const VERSION: u8 = 1;
const VERSION_MASK: u8 = 0x1f;
const TYPE_SHIFT: u8 = 5;

/// Compact type ids 1 and 2 are `bool` (true and false in a field header).
fn field_type(type_id: u8, offset: usize) -> Result<FieldType, ThriftError> {
    Ok(match type_id {
        1 | 2 => FieldType::Bool,
        3 => FieldType::Byte,
        4 => FieldType::I16,
        5 => FieldType::I32,
        6 => FieldType::I64,
        7 => FieldType::Double,
        8 => FieldType::Binary,
        9 => FieldType::List,
        10 => FieldType::Set,
        11 => FieldType::Map,
        12 => FieldType::Struct,
        13 => FieldType::Uuid,
        _ => return Err(ThriftError::UnknownType { type_id, offset }),
    })
}

impl<'a> Reader<'a> {
    pub(super) fn compact_message_begin(&mut self) -> Result<MessageHeader<'a>, ThriftError> {
        let offset = self.position;
        let bad = |reason: String| ThriftError::BadMessageHeader { offset, reason };
        let protocol_id = self.read_u8()?;
        if protocol_id != PROTOCOL_ID {
            return Err(bad(format!(
                "protocol id 0x{protocol_id:02x}, expected 0x{PROTOCOL_ID:02x}"
            )));
        }
        let version_and_type = self.read_u8()?;
        let version = version_and_type & VERSION_MASK;
        if version != VERSION {
            return Err(bad(format!("version {version}, expected {VERSION}")));
        }
        let type_number = version_and_type >> TYPE_SHIFT;
        let message_type = MessageType::from_number(type_number)
            .ok_or_else(|| bad(format!("message type {type_number}")))?;
        // The sequence id is a plain (not zigzag) varint of the i32's bits.
        let sequence_id = self.read_varint_u64(5)? as u32 as i32;
        let name = self.read_string()?;
        Ok(MessageHeader {
            name,
            message_type,
            sequence_id,
        })
    }

    pub(super) fn compact_field_begin(&mut self) -> Result<Option<(FieldType, i16)>, ThriftError> {
        self.pending_bool = None;
        let offset = self.position;
        let header = self.read_u8()?;
        if header == 0 {
            return Ok(None);
        }
        let type_id = header & 0x0f;
        let field_type = field_type(type_id, offset)?;
        let delta = header >> 4;
        let id = if delta == 0 {
            self.read_i16()?
        } else {
            let id = i64::from(self.last_field_id) + i64::from(delta);
            i16::try_from(id).map_err(|_| ThriftError::BadFieldId(id))?
        };
        if field_type == FieldType::Bool {
            self.pending_bool = Some(type_id == 1);
        }
        self.last_field_id = id;
        Ok(Some((field_type, id)))
    }

    pub(super) fn compact_list_begin(&mut self) -> Result<(FieldType, usize), ThriftError> {
        let offset = self.position;
        let header = self.read_u8()?;
        let element_type = field_type(header & 0x0f, offset)?;
        let short_length = header >> 4;
        let length = if short_length == 15 {
            self.read_varint_u64(5)? as i64
        } else {
            i64::from(short_length)
        };
        let length = self.checked_length(length, self.min_element_bytes(element_type), offset)?;
        Ok((element_type, length))
    }

    pub(super) fn compact_map_begin(
        &mut self,
    ) -> Result<(FieldType, FieldType, usize), ThriftError> {
        let offset = self.position;
        let length = self.read_varint_u64(5)? as i64;
        if length == 0 {
            return Ok((FieldType::Binary, FieldType::Binary, 0));
        }
        let types_offset = self.position;
        let types = self.read_u8()?;
        let key_type = field_type(types >> 4, types_offset)?;
        let value_type = field_type(types & 0x0f, types_offset)?;
        let entry_bytes = self.min_element_bytes(key_type) + self.min_element_bytes(value_type);
        let length = self.checked_length(length, entry_bytes, offset)?;
        Ok((key_type, value_type, length))
    }
}
