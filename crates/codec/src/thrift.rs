//! A bounded reader for the Thrift binary and compact protocols: just what decoding
//! Zipkin v1 and Jaeger Thrift needs, with every length checked against the input so
//! garbage cannot make it allocate or recurse without bound.
//!
//! One [`Reader`] type serves both protocols ([`Reader::binary`], [`Reader::compact`]);
//! decoders are written once against it. Reading follows Thrift's generated code:
//!
//! ```text
//! reader.read_struct_begin()?;
//! while let Some((field_type, field_id)) = reader.read_field_begin()? {
//!     match (field_id, field_type) {
//!         (1, FieldType::I64) => trace_id_low = reader.read_i64()?,
//!         (2, FieldType::List) => {
//!             let (element_type, length) = reader.read_list_begin()?;
//!             for _ in 0..length { /* read or skip one element_type */ }
//!         }
//!         _ => reader.skip(field_type)?, // unknown field or unexpected type
//!     }
//! }
//! reader.read_struct_end()?;
//! ```
//!
//! Guarantees, whatever the input:
//! - no panic; every read past the end is [`ThriftError::UnexpectedEnd`];
//! - strings and binaries borrow from the input (no copy, no allocation);
//! - a container length is checked against the bytes left before it is returned: a
//!   `length` of `n` means at least `n` bytes remain (each element needs at least one),
//!   so a loop over it is linear in the input size. Callers that pre-allocate per element
//!   should still cap the capacity (`Vec::with_capacity(length.min(1024))`) when an
//!   element's in-memory size is much larger than its minimum wire size;
//! - nesting of structs and containers (by [`Reader::read_struct_begin`] and inside
//!   [`Reader::skip`]) is limited to [`MAX_DEPTH`] levels.

mod binary;
mod compact;
#[cfg(test)]
pub(crate) mod writer;

/// The deepest nesting of structs and containers a [`Reader`] accepts.
pub const MAX_DEPTH: u32 = 64;

/// A Thrift value type, independent of the protocol's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `bool`.
    Bool,
    /// `byte` (`i8`).
    Byte,
    /// `i16`.
    I16,
    /// `i32`, also enums.
    I32,
    /// `i64`.
    I64,
    /// `double`.
    Double,
    /// `string` or `binary`.
    Binary,
    /// A struct (also exceptions and unions).
    Struct,
    /// `map<K, V>`.
    Map,
    /// `set<T>`.
    Set,
    /// `list<T>`.
    List,
    /// `uuid` (16 bytes).
    Uuid,
}

/// A message's kind, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A call that expects a reply.
    Call,
    /// A reply.
    Reply,
    /// An exception reply.
    Exception,
    /// A call without a reply (Jaeger's `emitBatch`).
    Oneway,
}

impl MessageType {
    fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(MessageType::Call),
            2 => Some(MessageType::Reply),
            3 => Some(MessageType::Exception),
            4 => Some(MessageType::Oneway),
            _ => None,
        }
    }
}

/// A message header: the method name, the kind and the sequence id. The arguments
/// struct follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader<'a> {
    /// The method name, e.g. `emitBatch`.
    pub name: &'a str,
    /// Call, reply, exception or oneway.
    pub message_type: MessageType,
    /// The sender's sequence id.
    pub sequence_id: i32,
}

/// Why Thrift input could not be read. Each message names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThriftError {
    /// The input ended inside a value.
    #[error("thrift: unexpected end of input at byte {0}")]
    UnexpectedEnd(usize),
    /// A type id that the protocol does not define.
    #[error("thrift: unknown type id {type_id} at byte {offset}")]
    UnknownType {
        /// The type id as found on the wire.
        type_id: u8,
        /// Where it was found.
        offset: usize,
    },
    /// A negative length, or a container or string longer than the input left.
    #[error("thrift: length {length} at byte {offset} exceeds the {remaining} bytes left")]
    BadLength {
        /// The length as found on the wire.
        length: i64,
        /// Where it was found.
        offset: usize,
        /// Bytes left after the length.
        remaining: usize,
    },
    /// Structs or containers nested deeper than [`MAX_DEPTH`].
    #[error("thrift: nesting deeper than {MAX_DEPTH} levels at byte {0}")]
    TooDeep(usize),
    /// A varint longer than its type allows.
    #[error("thrift: varint too long at byte {0}")]
    VarintTooLong(usize),
    /// A string that is not UTF-8 (from [`Reader::read_string`]).
    #[error("thrift: string at byte {0} is not valid utf-8")]
    NotUtf8(usize),
    /// A message header that is not a valid header of the protocol.
    #[error("thrift: bad message header at byte {offset}: {reason}")]
    BadMessageHeader {
        /// Where the header starts.
        offset: usize,
        /// What is wrong, e.g. `protocol id 0x12, expected 0x82`.
        reason: String,
    },
    /// A compact-protocol field header whose id does not fit an `i16`.
    #[error("thrift: field id {0} out of range")]
    BadFieldId(i64),
    /// [`Reader::read_struct_end`] without a matching [`Reader::read_struct_begin`].
    #[error("thrift: struct end without a struct begin")]
    UnbalancedStruct,
}

impl From<ThriftError> for crate::DecodeError {
    fn from(error: ThriftError) -> Self {
        crate::DecodeError::new(error.to_string())
    }
}

/// Which Thrift protocol a [`Reader`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `TBinaryProtocol`: big-endian fixed-width integers.
    Binary,
    /// `TCompactProtocol`: zigzag varints, field id deltas.
    Compact,
}

/// A bounded, non-allocating (except a small stack of field ids for the compact
/// protocol, at most [`MAX_DEPTH`] deep) pull reader over Thrift bytes. See the module
/// docs for the guarantees.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    position: usize,
    protocol: Protocol,
    depth: u32,
    /// Compact protocol: the last field id read in the current struct.
    last_field_id: i16,
    /// Compact protocol: the enclosing structs' last field ids.
    field_id_stack: Vec<i16>,
    /// Compact protocol: the value of a bool field, carried in its field header.
    pending_bool: Option<bool>,
}

impl<'a> Reader<'a> {
    /// A reader of the binary protocol over `input`.
    pub fn binary(input: &'a [u8]) -> Self {
        Reader::new(input, Protocol::Binary)
    }

    /// A reader of the compact protocol over `input`.
    pub fn compact(input: &'a [u8]) -> Self {
        Reader::new(input, Protocol::Compact)
    }

    /// A reader of `protocol` over `input`.
    pub fn new(input: &'a [u8], protocol: Protocol) -> Self {
        Reader {
            input,
            position: 0,
            protocol,
            depth: 0,
            last_field_id: 0,
            field_id_stack: Vec::new(),
            pending_bool: None,
        }
    }

    /// The protocol this reader speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Bytes read so far (the offset of the next byte).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    /// Reads a message header. Binary: the strict form (`0x8001` version, type, name,
    /// sequence id) or the old non-strict form (name, type, sequence id). Compact:
    /// protocol id `0x82`, version 1 and type, sequence id, name.
    pub fn read_message_begin(&mut self) -> Result<MessageHeader<'a>, ThriftError> {
        match self.protocol {
            Protocol::Binary => self.binary_message_begin(),
            Protocol::Compact => self.compact_message_begin(),
        }
    }

    /// Starts reading a struct. Errors when structs nest deeper than [`MAX_DEPTH`].
    pub fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        self.enter()?;
        if self.protocol == Protocol::Compact {
            self.field_id_stack.push(self.last_field_id);
            self.last_field_id = 0;
        }
        Ok(())
    }

    /// Ends a struct started by [`Reader::read_struct_begin`], after
    /// [`Reader::read_field_begin`] returned `None`.
    pub fn read_struct_end(&mut self) -> Result<(), ThriftError> {
        if self.depth == 0 {
            return Err(ThriftError::UnbalancedStruct);
        }
        self.depth -= 1;
        if self.protocol == Protocol::Compact {
            self.last_field_id = self
                .field_id_stack
                .pop()
                .ok_or(ThriftError::UnbalancedStruct)?;
        }
        Ok(())
    }

    /// Reads the next field header: `Some((type, field id))`, or `None` at the struct's
    /// stop byte. The caller then reads the value (or [`Reader::skip`]s it).
    pub fn read_field_begin(&mut self) -> Result<Option<(FieldType, i16)>, ThriftError> {
        match self.protocol {
            Protocol::Binary => self.binary_field_begin(),
            Protocol::Compact => self.compact_field_begin(),
        }
    }

    /// Reads a `bool` (a field's value or a container element).
    pub fn read_bool(&mut self) -> Result<bool, ThriftError> {
        if let Some(value) = self.pending_bool.take() {
            return Ok(value);
        }
        let offset = self.position;
        match (self.protocol, self.read_u8()?) {
            (Protocol::Binary, byte) => Ok(byte != 0),
            // Compact containers hold 1 for true and 2 (some writers: 0) for false.
            (Protocol::Compact, 1) => Ok(true),
            (Protocol::Compact, 0 | 2) => Ok(false),
            (Protocol::Compact, other) => Err(ThriftError::UnknownType {
                type_id: other,
                offset,
            }),
        }
    }

    /// Reads a `byte`.
    pub fn read_byte(&mut self) -> Result<i8, ThriftError> {
        Ok(self.read_u8()? as i8)
    }

    /// Reads an `i16`.
    pub fn read_i16(&mut self) -> Result<i16, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i16::from_be_bytes(self.read_array()?)),
            Protocol::Compact => {
                let offset = self.position;
                let value = self.read_zigzag(3)?;
                i16::try_from(value).map_err(|_| ThriftError::VarintTooLong(offset))
            }
        }
    }

    /// Reads an `i32` (also enums).
    pub fn read_i32(&mut self) -> Result<i32, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i32::from_be_bytes(self.read_array()?)),
            Protocol::Compact => {
                let offset = self.position;
                let value = self.read_zigzag(5)?;
                i32::try_from(value).map_err(|_| ThriftError::VarintTooLong(offset))
            }
        }
    }

    /// Reads an `i64`.
    pub fn read_i64(&mut self) -> Result<i64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i64::from_be_bytes(self.read_array()?)),
            Protocol::Compact => self.read_zigzag(10),
        }
    }

    /// Reads a `double` (big-endian in the binary protocol, little-endian in compact).
    pub fn read_double(&mut self) -> Result<f64, ThriftError> {
        let bytes = self.read_array::<8>()?;
        Ok(match self.protocol {
            Protocol::Binary => f64::from_be_bytes(bytes),
            Protocol::Compact => f64::from_le_bytes(bytes),
        })
    }

    /// Reads a `binary`, borrowed from the input. Errors when the length is negative or
    /// longer than the input left.
    pub fn read_binary(&mut self) -> Result<&'a [u8], ThriftError> {
        let offset = self.position;
        let length = match self.protocol {
            Protocol::Binary => i64::from(self.read_i32_be()?),
            Protocol::Compact => self.read_varint_u64(5)? as i64,
        };
        let length = self.checked_length(length, 1, offset)?;
        self.take(length)
    }

    /// Reads a `string`, borrowed from the input. Errors when it is not UTF-8.
    pub fn read_string(&mut self) -> Result<&'a str, ThriftError> {
        let offset = self.position;
        let bytes = self.read_binary()?;
        std::str::from_utf8(bytes).map_err(|_| ThriftError::NotUtf8(offset))
    }

    /// Reads a `string`, replacing invalid UTF-8 with U+FFFD (borrowed when valid). For
    /// senders that put arbitrary bytes in string fields.
    pub fn read_string_lossy(&mut self) -> Result<std::borrow::Cow<'a, str>, ThriftError> {
        Ok(String::from_utf8_lossy(self.read_binary()?))
    }

    /// Reads a list header: the element type and the number of elements, which is at
    /// most the number of bytes left.
    pub fn read_list_begin(&mut self) -> Result<(FieldType, usize), ThriftError> {
        match self.protocol {
            Protocol::Binary => self.binary_list_begin(),
            Protocol::Compact => self.compact_list_begin(),
        }
    }

    /// Reads a set header; same wire form and bounds as [`Reader::read_list_begin`].
    pub fn read_set_begin(&mut self) -> Result<(FieldType, usize), ThriftError> {
        self.read_list_begin()
    }

    /// Reads a map header: key type, value type and the number of entries, which is at
    /// most the number of bytes left. An empty compact map has no types on the wire; it
    /// reports `Binary` for both.
    pub fn read_map_begin(&mut self) -> Result<(FieldType, FieldType, usize), ThriftError> {
        match self.protocol {
            Protocol::Binary => self.binary_map_begin(),
            Protocol::Compact => self.compact_map_begin(),
        }
    }

    /// Skips one value of `field_type`, including everything nested in it (bounded by
    /// [`MAX_DEPTH`]).
    pub fn skip(&mut self, field_type: FieldType) -> Result<(), ThriftError> {
        match field_type {
            FieldType::Bool => self.read_bool().map(drop),
            FieldType::Byte => self.read_u8().map(drop),
            FieldType::I16 => self.read_i16().map(drop),
            FieldType::I32 => self.read_i32().map(drop),
            FieldType::I64 => self.read_i64().map(drop),
            FieldType::Double => self.read_array::<8>().map(drop),
            FieldType::Binary => self.read_binary().map(drop),
            FieldType::Uuid => self.read_array::<16>().map(drop),
            FieldType::Struct => {
                self.read_struct_begin()?;
                while let Some((inner_type, _)) = self.read_field_begin()? {
                    self.skip(inner_type)?;
                }
                self.read_struct_end()
            }
            FieldType::List | FieldType::Set => {
                let (element_type, length) = self.read_list_begin()?;
                self.enter()?;
                for _ in 0..length {
                    self.skip(element_type)?;
                }
                self.depth -= 1;
                Ok(())
            }
            FieldType::Map => {
                let (key_type, value_type, length) = self.read_map_begin()?;
                self.enter()?;
                for _ in 0..length {
                    self.skip(key_type)?;
                    self.skip(value_type)?;
                }
                self.depth -= 1;
                Ok(())
            }
        }
    }

    fn enter(&mut self) -> Result<(), ThriftError> {
        if self.depth >= MAX_DEPTH {
            return Err(ThriftError::TooDeep(self.position));
        }
        self.depth += 1;
        Ok(())
    }

    /// Validates a container or string length read at `offset`: not negative, and
    /// `length * min_element_bytes` fits in what is left.
    fn checked_length(
        &self,
        length: i64,
        min_element_bytes: usize,
        offset: usize,
    ) -> Result<usize, ThriftError> {
        let remaining = self.remaining();
        let fits = usize::try_from(length).ok().filter(|&count| {
            count
                .checked_mul(min_element_bytes)
                .is_some_and(|bytes| bytes <= remaining)
        });
        fits.ok_or(ThriftError::BadLength {
            length,
            offset,
            remaining,
        })
    }

    /// The fewest bytes one element of `field_type` takes on the wire.
    fn min_element_bytes(&self, field_type: FieldType) -> usize {
        match (self.protocol, field_type) {
            (_, FieldType::Double) => 8,
            (_, FieldType::Uuid) => 16,
            (Protocol::Binary, FieldType::I16) => 2,
            (Protocol::Binary, FieldType::I32 | FieldType::Binary) => 4,
            (Protocol::Binary, FieldType::I64) => 8,
            (Protocol::Binary, FieldType::Map) => 6,
            (Protocol::Binary, FieldType::List | FieldType::Set) => 5,
            _ => 1,
        }
    }

    fn read_u8(&mut self) -> Result<u8, ThriftError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(ThriftError::UnexpectedEnd(self.position))?;
        self.position += 1;
        Ok(byte)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn read_i32_be(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.read_array()?))
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], ThriftError> {
        let end = self
            .position
            .checked_add(length)
            .filter(|&end| end <= self.input.len())
            .ok_or(ThriftError::UnexpectedEnd(self.input.len()))?;
        let bytes = &self.input[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    /// An unsigned LEB128 varint of at most `max_bytes` bytes.
    fn read_varint_u64(&mut self, max_bytes: usize) -> Result<u64, ThriftError> {
        let offset = self.position;
        let mut value = 0u64;
        for index in 0..max_bytes {
            let byte = self.read_u8()?;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ThriftError::VarintTooLong(offset))
    }

    fn read_zigzag(&mut self, max_bytes: usize) -> Result<i64, ThriftError> {
        let raw = self.read_varint_u64(max_bytes)?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }
}

#[cfg(test)]
mod tests;
