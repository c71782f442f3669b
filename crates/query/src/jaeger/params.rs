//! The value syntaxes of Jaeger's query parameters: trace ids, RFC 3339 times and the
//! JSON object of the `tags` parameter (Go durations are [`crate::duration`]'s).
//!
//! Each parser returns a reason without the parameter name; the request parsers wrap it
//! into Jaeger's message (`unable to parse param 'minDuration': ...`).

use weft_model::TraceId;

/// Parses a Jaeger trace id: 1 to 32 hex digits, any case, the high half not necessarily
/// zero-padded (Jaeger's `TraceIDFromString`).
///
/// Returns `Ok(None)` for an id of zeros only: Jaeger accepts it, and no trace has it.
/// Errors name the problem: `TraceID is empty`, `TraceID cannot be longer than 32 hex
/// characters: <id>`, `TraceID is not hex: <id>`.
pub fn parse_trace_id(text: &str) -> Result<Option<TraceId>, String> {
    if text.is_empty() {
        return Err(String::from("TraceID is empty"));
    }
    if text.len() > 32 {
        return Err(format!(
            "TraceID cannot be longer than 32 hex characters: {text}"
        ));
    }
    if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("TraceID is not hex: {text}"));
    }
    if text.bytes().all(|byte| byte == b'0') {
        return Ok(None);
    }
    TraceId::from_hex(text)
        .map(Some)
        .map_err(|error| error.to_string())
}

/// A trace id as Jaeger's v1 API writes it: the low half as 16 hex digits, preceded by the
/// high half without zero padding when it is not zero (so 17 to 32 digits for 128-bit
/// ids).
pub fn jaeger_trace_id_hex(trace_id: TraceId) -> String {
    match trace_id.high_u64() {
        0 => format!("{:016x}", trace_id.low_u64()),
        high => format!("{high:x}{:016x}", trace_id.low_u64()),
    }
}

/// Parses an RFC 3339 time with optional fractional seconds (up to nanoseconds) and a `Z`
/// or `±hh:mm` offset, as Go's `time.RFC3339Nano` layout does, e.g.
/// `2024-05-01T12:00:00.123456789Z`. Returns nanoseconds since the Unix epoch; times
/// before the epoch are clamped to 0.
///
/// Errors: `cannot parse "<text>" as RFC3339Nano`.
pub fn parse_rfc3339_nanos(text: &str) -> Result<u64, String> {
    let invalid = || format!("cannot parse \"{text}\" as RFC3339Nano");
    let bytes = text.as_bytes();
    if bytes.len() < 20 {
        return Err(invalid());
    }
    let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = text.get(range).ok_or_else(invalid)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<i64>().map_err(|_| invalid())
        } else {
            Err(invalid())
        }
    };
    let separators_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !separators_ok {
        return Err(invalid());
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(invalid());
    }
    let mut position = 19;
    let mut fraction_nanos: i64 = 0;
    if bytes.get(position) == Some(&b'.') {
        let start = position + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let fraction = &text[start..end];
        if fraction.is_empty() || fraction.len() > 9 {
            return Err(invalid());
        }
        fraction_nanos = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
        position = end;
    }
    let offset_seconds = match &text[position..] {
        "Z" | "z" => 0,
        offset if offset.len() == 6 && offset.as_bytes()[3] == b':' => {
            let sign = match offset.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(invalid()),
            };
            let hours = digits(position + 1..position + 3)?;
            let minutes = digits(position + 4..position + 6)?;
            if hours > 23 || minutes > 59 {
                return Err(invalid());
            }
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(invalid()),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    if seconds < 0 {
        return Ok(0);
    }
    Ok((seconds as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(fraction_nanos as u64))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a JSON object whose values are all strings, e.g. `{"http.status_code":"500"}`,
/// as Go's `json.Unmarshal` into `map[string]string` does: whitespace allowed, escapes
/// decoded, a repeated key keeps its last value (in the position of its first occurrence).
///
/// Errors describe the first problem with its byte offset, e.g. `expected a string value
/// at byte 12`.
pub fn parse_json_string_map(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut reader = JsonReader {
        bytes: text.as_bytes(),
        position: 0,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    reader.skip_whitespace();
    reader.expect(b'{', "expected '{'")?;
    reader.skip_whitespace();
    if reader.peek() == Some(b'}') {
        reader.position += 1;
    } else {
        loop {
            reader.skip_whitespace();
            let key = reader.string("expected a string key")?;
            reader.skip_whitespace();
            reader.expect(b':', "expected ':'")?;
            reader.skip_whitespace();
            let value = reader.string("expected a string value")?;
            match pairs.iter_mut().find(|(existing, _)| *existing == key) {
                Some(existing) => existing.1 = value,
                None => pairs.push((key, value)),
            }
            reader.skip_whitespace();
            match reader.next_byte() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(reader.error("expected ',' or '}'")),
            }
        }
    }
    reader.skip_whitespace();
    if reader.position != reader.bytes.len() {
        return Err(reader.error("unexpected data after the object"));
    }
    Ok(pairs)
}

struct JsonReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl JsonReader<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.position)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek();
        self.position += usize::from(byte.is_some());
        byte
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, wanted: u8, what: &str) -> Result<(), String> {
        if self.peek() == Some(wanted) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        self.expect(b'"', what)?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next_byte() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let escaped = match self.next_byte() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buffer = [0u8; 4];
                    out.extend_from_slice(escaped.encode_utf8(&mut buffer).as_bytes());
                }
                Some(byte) if byte < 0x20 => return Err(self.error("control character in string")),
                Some(byte) => out.push(byte),
            }
        }
        // The input is a &str and escapes add valid UTF-8, so this cannot fail.
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.position..self.position + 4)
            .and_then(|part| std::str::from_utf8(part).ok())
            .and_then(|part| u32::from_str_radix(part, 16).ok())
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.position += 4;
        Ok(digits)
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first)
            && self.bytes.get(self.position..self.position + 2) == Some(b"\\u")
        {
            let saved = self.position;
            self.position += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(combined).unwrap_or('\u{fffd}'));
            }
            self.position = saved;
        }
        Ok(char::from_u32(first).unwrap_or('\u{fffd}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_take_one_to_32_hex_digits_in_any_case() {
        let short = parse_trace_id("A").expect("valid").expect("non-zero");
        assert_eq!(short, TraceId::from_halves(0, 10));
        let fixture = parse_trace_id("df84e36b9e2ee3815d07f0867a5be1f")
            .expect("valid")
            .expect("non-zero");
        assert_eq!(
            jaeger_trace_id_hex(fixture),
            "df84e36b9e2ee3815d07f0867a5be1f"
        );
        assert_eq!(jaeger_trace_id_hex(short), "000000000000000a");
        assert_eq!(parse_trace_id("000"), Ok(None));
        assert_eq!(parse_trace_id("").expect_err("invalid"), "TraceID is empty");
        assert!(
            parse_trace_id(&"1".repeat(33))
                .expect_err("invalid")
                .contains("longer than 32")
        );
        assert_eq!(
            parse_trace_id("0x12").expect_err("invalid"),
            "TraceID is not hex: 0x12"
        );
    }

    #[test]
    fn rfc3339_times_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339_nanos("2023-11-14T22:13:20.5Z"),
            Ok(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2023-11-14T23:13:20.000000001+01:00"),
            Ok(1_700_000_000_000_000_001)
        );
        assert_eq!(
            parse_rfc3339_nanos("2024-02-29T00:00:00Z"),
            Ok(1_709_164_800_000_000_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-11-14 22:13:20Z",
            "yesterday",
            "2023-11-14T22:13:20",
        ] {
            assert!(parse_rfc3339_nanos(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_tags_are_an_object_of_strings() {
        assert_eq!(
            parse_json_string_map(r#" {"a":"1", "b\u00e9":"x\"y", "a":"2"} "#),
            Ok(vec![
                ("a".to_owned(), "2".to_owned()),
                ("bé".to_owned(), "x\"y".to_owned())
            ])
        );
        assert_eq!(parse_json_string_map("{}"), Ok(Vec::new()));
        assert_eq!(
            parse_json_string_map(r#"{"a":1}"#).expect_err("invalid"),
            "expected a string value at byte 5"
        );
        assert!(parse_json_string_map(r#"{"a":"1""#).is_err());
        assert!(parse_json_string_map("[]").is_err());
    }
}
