//! A test-only Thrift writer for both protocols, to build decoder inputs. It mirrors
//! [`super::Reader`]: the same calls in the same order produce bytes the reader reads
//! back. It does no validation.

use super::{FieldType, MessageType, Protocol};

/// Builds Thrift bytes in one protocol.
pub(crate) struct Writer {
    protocol: Protocol,
    out: Vec<u8>,
    last_field_id: i16,
    field_id_stack: Vec<i16>,
    /// Compact: a bool field whose header waits for its value.
    pending_bool_field: Option<i16>,
}

impl Writer {
    pub(crate) fn new(protocol: Protocol) -> Self {
        Writer {
            protocol,
            out: Vec::new(),
            last_field_id: 0,
            field_id_stack: Vec::new(),
            pending_bool_field: None,
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Strict binary header, or the compact header.
    pub(crate) fn message_begin(
        &mut self,
        name: &str,
        message_type: MessageType,
        sequence_id: i32,
    ) -> &mut Self {
        let type_number = match message_type {
            MessageType::Call => 1u8,
            MessageType::Reply => 2,
            MessageType::Exception => 3,
            MessageType::Oneway => 4,
        };
        match self.protocol {
            Protocol::Binary => {
                let word = 0x8001_0000u32 | u32::from(type_number);
                self.out.extend_from_slice(&word.to_be_bytes());
                self.string(name);
                self.out.extend_from_slice(&sequence_id.to_be_bytes());
            }
            Protocol::Compact => {
                self.out.push(0x82);
                self.out.push((type_number << 5) | 1);
                self.varint(u64::from(sequence_id as u32));
                self.string(name);
            }
        }
        self
    }

    /// The old non-strict binary header: name length, name, type byte, sequence id.
    pub(crate) fn message_begin_non_strict(&mut self, name: &str, sequence_id: i32) -> &mut Self {
        self.out
            .extend_from_slice(&(name.len() as i32).to_be_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(4);
        self.out.extend_from_slice(&sequence_id.to_be_bytes());
        self
    }

    pub(crate) fn struct_begin(&mut self) -> &mut Self {
        self.field_id_stack.push(self.last_field_id);
        self.last_field_id = 0;
        self
    }

    /// Writes the stop byte and ends the struct.
    pub(crate) fn struct_end(&mut self) -> &mut Self {
        self.out.push(0);
        self.last_field_id = self.field_id_stack.pop().unwrap_or(0);
        self
    }

    pub(crate) fn field(&mut self, field_type: FieldType, id: i16) -> &mut Self {
        match self.protocol {
            Protocol::Binary => {
                self.out.push(binary_type(field_type));
                self.out.extend_from_slice(&id.to_be_bytes());
            }
            Protocol::Compact if field_type == FieldType::Bool => {
                self.pending_bool_field = Some(id);
            }
            Protocol::Compact => self.compact_field_header(compact_type(field_type), id),
        }
        self
    }

    fn compact_field_header(&mut self, type_id: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last_field_id);
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | type_id);
        } else {
            self.out.push(type_id);
            self.zigzag(i64::from(id));
        }
        self.last_field_id = id;
    }

    pub(crate) fn bool(&mut self, value: bool) -> &mut Self {
        match (self.protocol, self.pending_bool_field.take()) {
            (Protocol::Compact, Some(id)) => {
                self.compact_field_header(if value { 1 } else { 2 }, id)
            }
            (Protocol::Compact, None) => self.out.push(if value { 1 } else { 2 }),
            (Protocol::Binary, _) => self.out.push(u8::from(value)),
        }
        self
    }

    pub(crate) fn byte(&mut self, value: i8) -> &mut Self {
        self.out.push(value as u8);
        self
    }

    pub(crate) fn i16(&mut self, value: i16) -> &mut Self {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&value.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(value)),
        }
        self
    }

    pub(crate) fn i32(&mut self, value: i32) -> &mut Self {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&value.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(value)),
        }
        self
    }

    pub(crate) fn i64(&mut self, value: i64) -> &mut Self {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&value.to_be_bytes()),
            Protocol::Compact => self.zigzag(value),
        }
        self
    }

    pub(crate) fn double(&mut self, value: f64) -> &mut Self {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&value.to_be_bytes()),
            Protocol::Compact => self.out.extend_from_slice(&value.to_le_bytes()),
        }
        self
    }

    pub(crate) fn binary(&mut self, bytes: &[u8]) -> &mut Self {
        match self.protocol {
            Protocol::Binary => self
                .out
                .extend_from_slice(&(bytes.len() as i32).to_be_bytes()),
            Protocol::Compact => self.varint(bytes.len() as u64),
        }
        self.out.extend_from_slice(bytes);
        self
    }

    pub(crate) fn string(&mut self, text: &str) -> &mut Self {
        self.binary(text.as_bytes())
    }

    pub(crate) fn list_begin(&mut self, element_type: FieldType, length: usize) -> &mut Self {
        match self.protocol {
            Protocol::Binary => {
                self.out.push(binary_type(element_type));
                self.out.extend_from_slice(&(length as i32).to_be_bytes());
            }
            Protocol::Compact => {
                let type_id = compact_type(element_type);
                if length < 15 {
                    self.out.push(((length as u8) << 4) | type_id);
                } else {
                    self.out.push(0xf0 | type_id);
                    self.varint(length as u64);
                }
            }
        }
        self
    }

    pub(crate) fn map_begin(
        &mut self,
        key_type: FieldType,
        value_type: FieldType,
        length: usize,
    ) -> &mut Self {
        match self.protocol {
            Protocol::Binary => {
                self.out.push(binary_type(key_type));
                self.out.push(binary_type(value_type));
                self.out.extend_from_slice(&(length as i32).to_be_bytes());
            }
            Protocol::Compact => {
                self.varint(length as u64);
                if length > 0 {
                    self.out
                        .push((compact_type(key_type) << 4) | compact_type(value_type));
                }
            }
        }
        self
    }

    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn zigzag(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }
}

fn binary_type(field_type: FieldType) -> u8 {
    match field_type {
        FieldType::Bool => 2,
        FieldType::Byte => 3,
        FieldType::Double => 4,
        FieldType::I16 => 6,
        FieldType::I32 => 8,
        FieldType::I64 => 10,
        FieldType::Binary => 11,
        FieldType::Struct => 12,
        FieldType::Map => 13,
        FieldType::Set => 14,
        FieldType::List => 15,
        FieldType::Uuid => 16,
    }
}

/// In lists and maps a bool element type is written as 1.
fn compact_type(field_type: FieldType) -> u8 {
    match field_type {
        FieldType::Bool => 1,
        FieldType::Byte => 3,
        FieldType::I16 => 4,
        FieldType::I32 => 5,
        FieldType::I64 => 6,
        FieldType::Double => 7,
        FieldType::Binary => 8,
        FieldType::List => 9,
        FieldType::Set => 10,
        FieldType::Map => 11,
        FieldType::Struct => 12,
        FieldType::Uuid => 13,
    }
}
