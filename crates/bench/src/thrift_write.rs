//! Minimal Thrift writers for the load driver's classic-protocol requests: the compact
//! protocol (Jaeger agent datagrams) and the binary protocol (Zipkin v1 bodies). Only
//! what the encoders need: structs, lists, integers, doubles, strings, booleans.

/// Thrift type ids of the binary protocol.
pub(crate) mod binary_type {
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const I16: u8 = 6;
    pub(crate) const I32: u8 = 8;
    pub(crate) const I64: u8 = 10;
    pub(crate) const STRING: u8 = 11;
    pub(crate) const STRUCT: u8 = 12;
    pub(crate) const LIST: u8 = 15;
}

/// TBinaryProtocol: big-endian fixed-width integers, `i32` length prefixes.
#[derive(Debug, Default)]
pub(crate) struct BinaryWriter {
    pub(crate) out: Vec<u8>,
}

impl BinaryWriter {
    pub(crate) fn field(&mut self, type_id: u8, field_id: i16) {
        self.out.push(type_id);
        self.out.extend_from_slice(&field_id.to_be_bytes());
    }

    pub(crate) fn stop(&mut self) {
        self.out.push(0);
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.out.push(u8::from(value));
    }

    pub(crate) fn i16(&mut self, value: i16) {
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, value: i32) {
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.i32(i32::try_from(value.len()).unwrap_or(i32::MAX));
        self.out.extend_from_slice(value);
    }

    pub(crate) fn list(&mut self, element_type: u8, count: usize) {
        self.out.push(element_type);
        self.i32(i32::try_from(count).unwrap_or(i32::MAX));
    }
}

/// Thrift type ids of the compact protocol.
pub(crate) mod compact_type {
    pub(crate) const BOOL_TRUE: u8 = 1;
    pub(crate) const BOOL_FALSE: u8 = 2;
    pub(crate) const I32: u8 = 5;
    pub(crate) const I64: u8 = 6;
    pub(crate) const DOUBLE: u8 = 7;
    pub(crate) const BINARY: u8 = 8;
    pub(crate) const LIST: u8 = 9;
    pub(crate) const STRUCT: u8 = 12;
}

/// TCompactProtocol: zigzag varints, field ids as deltas, little-endian doubles.
/// Structs must be opened with [`CompactWriter::struct_begin`] and closed with
/// [`CompactWriter::struct_end`] so field deltas are relative to the right struct.
#[derive(Debug, Default)]
pub(crate) struct CompactWriter {
    pub(crate) out: Vec<u8>,
    last_field_id: i16,
    outer_field_ids: Vec<i16>,
}

impl CompactWriter {
    pub(crate) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn zigzag(value: i64) -> u64 {
        ((value << 1) ^ (value >> 63)) as u64
    }

    pub(crate) fn struct_begin(&mut self) {
        self.outer_field_ids.push(self.last_field_id);
        self.last_field_id = 0;
    }

    pub(crate) fn struct_end(&mut self) {
        self.out.push(0);
        self.last_field_id = self.outer_field_ids.pop().unwrap_or(0);
    }

    /// A field header; for booleans use [`CompactWriter::bool_field`].
    pub(crate) fn field(&mut self, type_id: u8, field_id: i16) {
        let delta = field_id.wrapping_sub(self.last_field_id);
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | type_id);
        } else {
            self.out.push(type_id);
            self.varint(Self::zigzag(i64::from(field_id)));
        }
        self.last_field_id = field_id;
    }

    /// A boolean field: the value is the field header's type.
    pub(crate) fn bool_field(&mut self, field_id: i16, value: bool) {
        let type_id = if value {
            compact_type::BOOL_TRUE
        } else {
            compact_type::BOOL_FALSE
        };
        self.field(type_id, field_id);
    }

    pub(crate) fn i32(&mut self, value: i32) {
        self.varint(Self::zigzag(i64::from(value)));
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.varint(Self::zigzag(value));
    }

    pub(crate) fn double(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.varint(value.len() as u64);
        self.out.extend_from_slice(value);
    }

    pub(crate) fn list(&mut self, element_type: u8, count: usize) {
        if count < 15 {
            self.out.push(((count as u8) << 4) | element_type);
        } else {
            self.out.push(0xf0 | element_type);
            self.varint(count as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_field_headers_use_deltas_and_long_form() {
        let mut writer = CompactWriter::default();
        writer.struct_begin();
        writer.field(compact_type::I64, 1);
        writer.i64(-1);
        writer.field(compact_type::I64, 3);
        writer.i64(150);
        writer.field(compact_type::I32, 20);
        writer.i32(1);
        writer.bool_field(21, true);
        writer.struct_end();
        assert_eq!(
            writer.out,
            [0x16, 0x01, 0x26, 0xac, 0x02, 0x05, 0x28, 0x02, 0x11, 0x00]
        );
    }

    #[test]
    fn compact_nested_struct_restores_the_outer_delta() {
        let mut writer = CompactWriter::default();
        writer.struct_begin();
        writer.field(compact_type::STRUCT, 1);
        writer.struct_begin();
        writer.field(compact_type::I32, 5);
        writer.i32(0);
        writer.struct_end();
        writer.field(compact_type::I32, 2);
        writer.i32(0);
        writer.struct_end();
        assert_eq!(writer.out, [0x1c, 0x55, 0x00, 0x00, 0x15, 0x00, 0x00]);
    }

    #[test]
    fn compact_long_lists_carry_a_varint_size() {
        let mut writer = CompactWriter::default();
        writer.list(compact_type::STRUCT, 3);
        writer.list(compact_type::STRUCT, 300);
        assert_eq!(writer.out, [0x3c, 0xfc, 0xac, 0x02]);
    }

    #[test]
    fn binary_fields_and_strings_are_big_endian() {
        let mut writer = BinaryWriter::default();
        writer.field(binary_type::STRING, 3);
        writer.bytes(b"ab");
        writer.list(binary_type::STRUCT, 2);
        assert_eq!(
            writer.out,
            [11, 0, 3, 0, 0, 0, 2, b'a', b'b', 12, 0, 0, 0, 2]
        );
    }
}
