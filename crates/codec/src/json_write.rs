//! Small helpers that write JSON text straight into a byte buffer, for the encoders on
//! the read hot path. Output is always valid UTF-8 JSON: strings are escaped per RFC 8259
//! (quote, backslash and every control character below U+0020).

use weft_model::{AttributeValue, KeyValue};

/// For each byte, the escape it needs: 0 = none, `u` = `\u00XX`, else the escape letter.
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `text` as a quoted, escaped JSON string.
pub(crate) fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    write_string_body(out, text);
    out.push(b'"');
}

/// Writes the escaped body of a JSON string, without quotes.
fn write_string_body(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPES[byte as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..index]);
        run_start = index + 1;
        out.push(b'\\');
        if escape == b'u' {
            out.extend_from_slice(b"u00");
            out.push(HEX_DIGITS[(byte >> 4) as usize]);
            out.push(HEX_DIGITS[(byte & 0x0f) as usize]);
        } else {
            out.push(escape);
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// Writes `text` lowercased (Unicode-aware) as a quoted, escaped JSON string. Zipkin
/// lowercases service and span names.
pub(crate) fn write_lowercase_string(out: &mut Vec<u8>, text: &str) {
    if !text
        .bytes()
        .any(|byte| byte.is_ascii_uppercase() || byte >= 0x80)
    {
        write_string(out, text);
        return;
    }
    write_string(out, &text.to_lowercase());
}

/// Writes `bytes` as a quoted string of lowercase hex digits.
pub(crate) fn write_hex_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &byte in bytes {
        out.push(HEX_DIGITS[(byte >> 4) as usize]);
        out.push(HEX_DIGITS[(byte & 0x0f) as usize]);
    }
    out.push(b'"');
}

/// Writes an unsigned integer as a JSON number.
pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    let mut buffer = [0u8; 20];
    let mut position = buffer.len();
    let mut rest = value;
    loop {
        position -= 1;
        buffer[position] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&buffer[position..]);
}

/// Writes an unsigned integer as a quoted decimal string (proto3 JSON's int64 form).
pub(crate) fn write_u64_string(out: &mut Vec<u8>, value: u64) {
    out.push(b'"');
    write_u64(out, value);
    out.push(b'"');
}

/// Writes a signed integer as a JSON number.
pub(crate) fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

/// Writes a finite float in the shortest form that reads back to the same value.
/// Non-finite values are written as proto3 JSON's strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"`.
pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value.is_infinite() {
        if value > 0.0 {
            out.extend_from_slice(b"\"Infinity\"");
        } else {
            out.extend_from_slice(b"\"-Infinity\"");
        }
    } else if serde_json::to_writer(&mut *out, &value).is_err() {
        // Writing a finite f64 into a Vec cannot fail; keep the output valid anyway.
        out.push(b'0');
    }
}

/// Writes an attribute value as plain JSON (strings as strings, numbers as numbers,
/// arrays as lists, key-value lists as objects, bytes as a hex string, empty as `null`),
/// the way OpenTelemetry's non-OTLP exporters render structured values.
pub(crate) fn write_plain_value(out: &mut Vec<u8>, value: &AttributeValue) {
    match value {
        AttributeValue::String(text) => write_string(out, text),
        AttributeValue::Bool(true) => out.extend_from_slice(b"true"),
        AttributeValue::Bool(false) => out.extend_from_slice(b"false"),
        AttributeValue::Int(number) => write_i64(out, *number),
        AttributeValue::Double(number) if number.is_finite() => write_f64(out, *number),
        AttributeValue::Double(_) | AttributeValue::Bytes(_) => write_string(out, &value.to_text()),
        AttributeValue::Array(values) => {
            out.push(b'[');
            for (index, item) in values.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_plain_value(out, item);
            }
            out.push(b']');
        }
        AttributeValue::KeyValueList(pairs) => write_plain_object(out, pairs),
        AttributeValue::Empty => out.extend_from_slice(b"null"),
    }
}

/// Writes key-value pairs as a plain JSON object (see [`write_plain_value`]).
pub(crate) fn write_plain_object(out: &mut Vec<u8>, pairs: &[KeyValue]) {
    out.push(b'{');
    for (index, pair) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, &pair.key);
        out.push(b':');
        write_plain_value(out, &pair.value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, text);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_control_character_and_unicode_round_trips_through_serde_json() {
        let mut text: String = (0u32..0x80).filter_map(char::from_u32).collect();
        text.push_str("é漢字🦀\u{2028}\u{7f}\"\\/");
        let json = written(&text);
        let back: String = serde_json::from_str(&json).expect("valid json");
        assert_eq!(back, text);
        assert_eq!(written("a\nb\u{1}"), r#""a\nb\u0001""#);
    }

    #[test]
    fn lowercasing_handles_non_ascii() {
        let mut out = Vec::new();
        write_lowercase_string(&mut out, "ÉCOLE Api");
        assert_eq!(out, "\"école api\"".as_bytes());
    }

    #[test]
    fn integers_and_floats_are_exact() {
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        out.push(b' ');
        write_i64(&mut out, i64::MIN);
        out.push(b' ');
        write_u64(&mut out, 0);
        out.push(b' ');
        write_f64(&mut out, 0.1);
        out.push(b' ');
        write_f64(&mut out, f64::NEG_INFINITY);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "18446744073709551615 -9223372036854775808 0 0.1 \"-Infinity\""
        );
    }
}
