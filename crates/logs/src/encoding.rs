//! Varint encoding shared by the logs WAL and chunks: unsigned LEB128 varints, signed
//! values zigzag-encoded, strings as a length varint then UTF-8 bytes.

use crate::{Entry, LabelSet};

/// Appends `value` as an unsigned varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` zigzag-encoded.
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a length-prefixed string.
pub fn put_str(out: &mut Vec<u8>, text: &str) {
    put_uvarint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends pairs: a count, then name and value of each.
pub fn put_pairs(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    put_uvarint(out, pairs.len() as u64);
    for (name, value) in pairs {
        put_str(out, name);
        put_str(out, value);
    }
}

/// Appends one entry: timestamp, line, structured metadata.
pub fn put_entry(out: &mut Vec<u8>, entry: &Entry) {
    put_varint(out, entry.timestamp_unix_nanos);
    put_str(out, &entry.line);
    put_pairs(out, &entry.structured_metadata);
}

/// Reads what the `put_*` functions wrote. Every read checks bounds; errors are static
/// descriptions of what was truncated or malformed.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.position).ok_or("truncated varint")?;
            self.position += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    /// Reads a zigzag varint.
    pub fn varint(&mut self) -> Result<i64, &'static str> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Reads a count that cannot exceed the bytes left (each item takes at least one).
    pub fn count(&mut self) -> Result<usize, &'static str> {
        let count = self.uvarint()?;
        usize::try_from(count)
            .ok()
            .filter(|&count| count <= self.bytes.len() - self.position)
            .ok_or("count larger than the bytes left")
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, &'static str> {
        let length = self.count()?;
        let bytes = &self.bytes[self.position..self.position + length];
        self.position += length;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8")
    }

    /// Reads pairs written by [`put_pairs`].
    pub fn pairs(&mut self) -> Result<Vec<(String, String)>, &'static str> {
        let count = self.count()?;
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(pairs)
    }

    /// Reads a label set written by [`put_pairs`].
    pub fn labels(&mut self) -> Result<LabelSet, &'static str> {
        LabelSet::from_pairs(self.pairs()?).map_err(|_| "invalid label set")
    }

    /// Reads an entry written by [`put_entry`].
    pub fn entry(&mut self) -> Result<Entry, &'static str> {
        Ok(Entry {
            timestamp_unix_nanos: self.varint()?,
            line: self.string()?,
            structured_metadata: self.pairs()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_entries_round_trip() {
        let mut out = Vec::new();
        for value in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_000_000_000] {
            put_varint(&mut out, value);
        }
        let entry = Entry {
            timestamp_unix_nanos: -5,
            line: String::from("héllo"),
            structured_metadata: vec![(String::from("k"), String::from("v"))],
        };
        put_entry(&mut out, &entry);
        let mut reader = Reader::new(&out);
        for value in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_000_000_000] {
            assert_eq!(reader.varint(), Ok(value));
        }
        assert_eq!(reader.entry(), Ok(entry));
        assert!(reader.is_empty());
        assert!(Reader::new(&[0x05, b'a']).string().is_err());
    }
}
