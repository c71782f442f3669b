//! Trace and span identifiers.
//!
//! A [`TraceId`] is always 16 bytes: 64-bit ids (Zipkin, Jaeger without the high half)
//! are left-padded with zeros. A [`SpanId`] is 8 bytes. Hex input is case-insensitive;
//! hex output is lowercase.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a hex string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string was empty.
    #[error("id is empty")]
    Empty,
    /// The string had more hex digits than the id holds.
    #[error("id {0:?} is longer than {1} hex characters")]
    TooLong(String, usize),
    /// The string had a character that is not a hex digit.
    #[error("id {0:?} has a character that is not hex")]
    NotHex(String),
    /// Every byte was zero, which OpenTelemetry, Zipkin and Jaeger all treat as invalid.
    #[error("id {0:?} is all zeros")]
    AllZeros(String),
    /// A binary id had a length other than the ones allowed.
    #[error("binary id has {0} bytes, expected {1}")]
    WrongLength(usize, &'static str),
}

/// Parses up to `N * 2` hex digits into `N` bytes, left-padding short input with zeros.
fn parse_padded_hex<const N: usize>(text: &str) -> Result<[u8; N], IdError> {
    let digits = text.as_bytes();
    if digits.is_empty() {
        return Err(IdError::Empty);
    }
    if digits.len() > N * 2 {
        return Err(IdError::TooLong(text.to_owned(), N * 2));
    }
    let mut out = [0u8; N];
    // Walk from the least significant digit so that odd lengths pad on the left.
    for (position, &digit) in digits.iter().rev().enumerate() {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return Err(IdError::NotHex(text.to_owned())),
        };
        let byte_index = N - 1 - position / 2;
        if position % 2 == 0 {
            out[byte_index] |= nibble;
        } else {
            out[byte_index] |= nibble << 4;
        }
    }
    if out.iter().all(|&b| b == 0) {
        return Err(IdError::AllZeros(text.to_owned()));
    }
    Ok(out)
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buffer = [0u8; 32];
    for (i, byte) in bytes.iter().enumerate() {
        buffer[i * 2] = DIGITS[(byte >> 4) as usize];
        buffer[i * 2 + 1] = DIGITS[(byte & 0x0f) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buffer[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

/// A 128-bit trace id. 64-bit ids are stored left-padded with zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// Parses 1 to 32 hex digits (any case), left-padding to 128 bits.
    /// Errors on empty, non-hex, over-long or all-zero input.
    pub fn from_hex(text: &str) -> Result<Self, IdError> {
        parse_padded_hex::<16>(text).map(TraceId)
    }

    /// Accepts 8 bytes (a 64-bit id, left-padded) or 16 bytes. Errors on other lengths
    /// and on all zeros.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let mut out = [0u8; 16];
        match bytes.len() {
            16 => out.copy_from_slice(bytes),
            8 => out[8..].copy_from_slice(bytes),
            other => return Err(IdError::WrongLength(other, "8 or 16")),
        }
        if out == [0u8; 16] {
            return Err(IdError::AllZeros(String::from("<binary>")));
        }
        Ok(TraceId(out))
    }

    /// True when the high 64 bits are zero, i.e. the id fits Zipkin's 64-bit form.
    pub fn is_64_bit(&self) -> bool {
        self.0[..8] == [0u8; 8]
    }

    /// The low 64 bits, which is what Zipkin and Jaeger call the trace id when the high
    /// half is absent.
    pub fn low_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[8..].try_into().unwrap_or_default())
    }

    /// The high 64 bits.
    pub fn high_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().unwrap_or_default())
    }

    /// Builds an id from its high and low halves.
    pub fn from_halves(high: u64, low: u64) -> Self {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&high.to_be_bytes());
        out[8..].copy_from_slice(&low.to_be_bytes());
        TraceId(out)
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Zipkin's normalised form: 16 hex digits when the high half is zero, else 32.
    pub fn to_zipkin_hex(&self) -> String {
        if self.is_64_bit() {
            SpanId(self.0[8..].try_into().unwrap_or_default()).to_string()
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// A 64-bit span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    /// Parses 1 to 16 hex digits (any case), left-padding to 64 bits.
    /// Errors on empty, non-hex, over-long or all-zero input.
    pub fn from_hex(text: &str) -> Result<Self, IdError> {
        parse_padded_hex::<8>(text).map(SpanId)
    }

    /// Accepts exactly 8 bytes that are not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let array: [u8; 8] = bytes
            .try_into()
            .map_err(|_| IdError::WrongLength(bytes.len(), "8"))?;
        if array == [0u8; 8] {
            return Err(IdError::AllZeros(String::from("<binary>")));
        }
        Ok(SpanId(array))
    }

    /// The id as a big-endian integer (Jaeger's and Zipkin Thrift's form).
    pub fn as_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// Builds an id from a big-endian integer.
    pub fn from_u64(value: u64) -> Self {
        SpanId(value.to_be_bytes())
    }

    /// 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_trace_ids_are_left_padded() {
        let id = TraceId::from_hex("a03ee8fff1dcd9b9").expect("valid");
        assert!(id.is_64_bit());
        assert_eq!(id.to_hex(), "0000000000000000a03ee8fff1dcd9b9");
        assert_eq!(id.to_zipkin_hex(), "a03ee8fff1dcd9b9");
        assert_eq!(TraceId::from_hex("1").expect("valid").low_u64(), 1);
    }

    #[test]
    fn odd_length_jaeger_ids_pad_the_high_half() {
        let id = TraceId::from_hex("df84e36b9e2ee3815d07f0867a5be1f").expect("valid");
        assert_eq!(id.to_hex(), "0df84e36b9e2ee3815d07f0867a5be1f");
    }

    #[test]
    fn upper_case_is_accepted_and_lowered() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").expect("valid");
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            SpanId::from_hex("EEE19B7EC3C1B174")
                .expect("valid")
                .to_hex(),
            "eee19b7ec3c1b174"
        );
    }

    #[test]
    fn invalid_ids_are_rejected_with_a_reason() {
        assert_eq!(TraceId::from_hex(""), Err(IdError::Empty));
        assert!(matches!(TraceId::from_hex("zz"), Err(IdError::NotHex(_))));
        assert!(matches!(
            TraceId::from_hex(&"1".repeat(33)),
            Err(IdError::TooLong(_, 32))
        ));
        assert!(matches!(
            SpanId::from_hex("0000"),
            Err(IdError::AllZeros(_))
        ));
        assert!(matches!(
            SpanId::from_bytes(&[1, 2, 3]),
            Err(IdError::WrongLength(3, _))
        ));
    }

    #[test]
    fn binary_64_bit_trace_ids_are_padded() {
        let id = TraceId::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7]).expect("valid");
        assert_eq!(id.low_u64(), 7);
        assert_eq!(id.high_u64(), 0);
        assert_eq!(TraceId::from_halves(0, 7), id);
    }
}
