//! Counting spans before decoding, so a receiver can refuse a request with too many spans
//! before it pays for them: an empty OTLP span is 2 bytes on the wire but a few hundred
//! once decoded, so a body within the byte limit can still decode to gigabytes.
//!
//! Both counters read the body once, allocate nothing that grows with it, and never
//! build a span.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::DecodeError;

/// `ExportTraceServiceRequest.resource_spans` (1) -> `ResourceSpans.scope_spans` (2) ->
/// `ScopeSpans.spans` (2).
pub(super) const OTLP_SPANS_PATH: [u32; 3] = [1, 2, 2];

/// Counts the occurrences of the field at the end of `path` in a protobuf message: each
/// element of `path` but the last is a length-delimited (message) field to descend into,
/// every occurrence (repeated or not) is visited; the last is counted, not entered.
/// Fields off the path are skipped by wire type (groups included), so any framing prost
/// accepts is accepted here; a field on the path with an unexpected wire type is skipped
/// too (prost will name that error). Errors (`invalid protobuf: ...`) only on broken
/// framing: a truncated varint or length, a length past the end of its message, wire type
/// 6 or 7, an unmatched group end, or field number 0. An empty body counts 0.
pub(super) fn count_protobuf_path(body: &[u8], path: &[u32]) -> Result<u64, DecodeError> {
    let mut count = 0u64;
    walk(body, path, &mut count)
        .map_err(|reason| DecodeError::new(format!("invalid protobuf: {reason}")))?;
    Ok(count)
}

/// Walks one message of `body` (already cut to its length).
fn walk(body: &[u8], path: &[u32], count: &mut u64) -> Result<(), &'static str> {
    let Some((&wanted, rest_of_path)) = path.split_first() else {
        return Ok(());
    };
    let mut position = 0usize;
    while position < body.len() {
        let key = read_varint(body, &mut position)?;
        let wire_type = (key & 7) as u8;
        let field_number = key >> 3;
        if field_number == 0 {
            return Err("field number 0");
        }
        if wire_type == 2 {
            let length = read_length(body, &mut position)?;
            let end = position + length;
            if field_number == u64::from(wanted) {
                if rest_of_path.is_empty() {
                    *count = count.saturating_add(1);
                } else {
                    walk(&body[position..end], rest_of_path, count)?;
                }
            }
            position = end;
        } else {
            skip_value(body, &mut position, wire_type, field_number)?;
        }
    }
    Ok(())
}

/// Skips a value that is not length-delimited (wire types 0, 1, 3, 5).
fn skip_value(
    body: &[u8],
    position: &mut usize,
    wire_type: u8,
    field_number: u64,
) -> Result<(), &'static str> {
    match wire_type {
        0 => read_varint(body, position).map(drop),
        1 => advance(body, position, 8),
        5 => advance(body, position, 4),
        3 => skip_group(body, position, field_number),
        4 => Err("unexpected end group"),
        _ => Err("invalid wire type"),
    }
}

/// Skips a (deprecated) group up to its matching end-group key, iteratively so that
/// nesting cannot exhaust the stack.
fn skip_group(body: &[u8], position: &mut usize, field_number: u64) -> Result<(), &'static str> {
    let mut open_groups: Vec<u64> = vec![field_number];
    while let Some(&innermost) = open_groups.last() {
        let key = read_varint(body, position)?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 {
            return Err("field number 0");
        }
        match wire_type {
            2 => {
                let length = read_length(body, position)?;
                *position += length;
            }
            3 => open_groups.push(number),
            4 if number == innermost => {
                open_groups.pop();
            }
            4 => return Err("unexpected end group"),
            other => skip_value(body, position, other, number)?,
        }
    }
    Ok(())
}

/// Reads a length prefix and checks that that many bytes follow.
fn read_length(body: &[u8], position: &mut usize) -> Result<usize, &'static str> {
    let length = read_varint(body, position)?;
    let remaining = body.len() - *position;
    match usize::try_from(length) {
        Ok(length) if length <= remaining => Ok(length),
        _ => Err("length past the end of the message"),
    }
}

fn advance(body: &[u8], position: &mut usize, bytes: usize) -> Result<(), &'static str> {
    if body.len() - *position < bytes {
        return Err("truncated fixed-width value");
    }
    *position += bytes;
    Ok(())
}

fn read_varint(body: &[u8], position: &mut usize) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = body.get(*position) else {
            return Err("truncated varint");
        };
        *position += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

/// Counts the spans of an OTLP/JSON body: the elements of every
/// `resourceSpans[].scopeSpans[].spans` array. Values of unexpected types count 0 (the
/// decoder names that error); a body that is not valid JSON counts the spans seen before
/// the error, which is as many as the decoder could build before failing there.
pub(super) fn count_json_spans(body: &[u8]) -> u64 {
    let count = Cell::new(0u64);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    // The result only says whether the body was valid; the count holds either way.
    let _ = JsonLevel {
        keys: &["resourceSpans", "scopeSpans", "spans"],
        count: &count,
    }
    .deserialize(&mut deserializer);
    count.get()
}

/// Counts the elements of a JSON body that is a top-level array (Zipkin's span lists).
/// Anything else counts 0; invalid JSON counts the elements seen before the error.
pub(super) fn count_json_array_elements(body: &[u8]) -> u64 {
    let count = Cell::new(0u64);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let _ = JsonList {
        keys: &[],
        count: &count,
    }
    .deserialize(&mut deserializer);
    count.get()
}

/// An object at some depth: the value of `keys[0]` is a list to descend into.
struct JsonLevel<'a> {
    keys: &'a [&'static str],
    count: &'a Cell<u64>,
}

/// A list at some depth: with no keys left its elements are counted, otherwise each
/// element is a [`JsonLevel`] for the remaining keys.
struct JsonList<'a> {
    keys: &'a [&'static str],
    count: &'a Cell<u64>,
}

/// A map key: true when it is the wanted one.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// Any JSON value is accepted (and counts nothing unless it is the expected shape).
macro_rules! accept_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

impl<'de> DeserializeSeed<'de> for JsonLevel<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonLevel<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any json value")
    }

    accept_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((&key, rest)) = self.keys.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(is_wanted) = map.next_key_seed(KeyIs(key))? {
            if is_wanted {
                map.next_value_seed(JsonList {
                    keys: rest,
                    count: self.count,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for JsonList<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonList<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any json value")
    }

    accept_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.keys.is_empty() {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                self.count.set(self.count.get().saturating_add(1));
            }
            return Ok(());
        }
        while seq
            .next_element_seed(JsonLevel {
                keys: self.keys,
                count: self.count,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
#[path = "span_count_tests.rs"]
mod tests;
