//! Go's duration text, the one parser and formatter of every read API: Tempo's
//! `minDuration`/`maxDuration`, TraceQL duration literals and values, Jaeger's duration
//! parameters.
//!
//! [`parse_go_duration`] is Go's `time.ParseDuration` and [`format_go_duration`] is Go's
//! `time.Duration.String`, to the nanosecond and the error text. Callers turn the error
//! into their own API's message.

use thiserror::Error;

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;

/// 2^63: the magnitude of `i64::MIN`, the largest a negative duration may reach.
const MAGNITUDE_LIMIT: u64 = 1 << 63;

/// Why a text is not a Go duration. `Display` is Go's message, with the text quoted as Go
/// quotes it (bytes outside printable ASCII as `\xNN`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GoDurationError {
    /// Empty, no digits where a number must be, or beyond ±2^63 nanoseconds.
    #[error("time: invalid duration {}", go_quote(text))]
    Invalid {
        /// The whole text parsed.
        text: String,
    },
    /// A number without a unit (`10`; only `0` alone needs none).
    #[error("time: missing unit in duration {}", go_quote(text))]
    MissingUnit {
        /// The whole text parsed.
        text: String,
    },
    /// A unit other than `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`.
    #[error("time: unknown unit {} in duration {}", go_quote(unit), go_quote(text))]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole text parsed.
        text: String,
    },
}

/// Parses a Go duration as `time.ParseDuration` does, to signed nanoseconds: an optional
/// `-` or `+`, then one or more numbers (digits with an optional fraction, `1.5`, `.5`,
/// `1.`) each followed by a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), e.g.
/// `1h30m`, `-1.5s`, `250ms`; `0` alone (with an optional sign) needs no unit.
///
/// Fractions are scaled with Go's `float64` arithmetic and truncated, so results agree
/// with Go to the nanosecond. No white space is allowed. Errors when the text is not one,
/// or its magnitude exceeds 2^63 - 1 nanoseconds (2^63 when negative).
pub fn parse_go_duration(text: &str) -> Result<i64, GoDurationError> {
    let invalid = || GoDurationError::Invalid {
        text: text.to_owned(),
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, after_whole, whole_digits) = leading_int(rest).ok_or_else(invalid)?;
        rest = after_whole;
        let mut fraction = (0, 1.0, 0);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (numerator, scale, after_fraction, digits) = leading_fraction(after_dot);
            fraction = (numerator, scale, digits);
            rest = after_fraction;
        }
        let (numerator, scale, fraction_digits) = fraction;
        if whole_digits == 0 && fraction_digits == 0 {
            return Err(invalid());
        }
        let unit_length = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_length];
        rest = &rest[unit_length..];
        let nanos_per_unit = match unit {
            "" => {
                return Err(GoDurationError::MissingUnit {
                    text: text.to_owned(),
                });
            }
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            _ => {
                return Err(GoDurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        if whole > MAGNITUDE_LIMIT / nanos_per_unit {
            return Err(invalid());
        }
        let mut nanos = whole * nanos_per_unit;
        if numerator > 0 {
            // Go's arithmetic: at most 3.6e12 (an hour), exact enough in f64 and in range.
            nanos += (numerator as f64 * (nanos_per_unit as f64 / scale)) as u64;
            if nanos > MAGNITUDE_LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > MAGNITUDE_LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63, so its negation fits.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `leadingInt`: the leading digits of `text` as a number, the rest, and how many
/// digits there were; `None` beyond 2^63.
fn leading_int(text: &str) -> Option<(u64, &str, usize)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let mut value: u64 = 0;
    for byte in text[..digits].bytes() {
        if value > MAGNITUDE_LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(byte - b'0');
        if value > MAGNITUDE_LIMIT {
            return None;
        }
    }
    Some((value, &text[digits..], digits))
}

/// Go's `leadingFraction`: the leading digits of `text` as a numerator and its scale (a
/// power of ten), the rest, and how many digits there were. Digits beyond what fits are
/// consumed and ignored.
fn leading_fraction(text: &str) -> (u64, f64, &str, usize) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let mut numerator: u64 = 0;
    let mut scale = 1.0;
    for byte in text[..digits].bytes() {
        if numerator > (MAGNITUDE_LIMIT - 1) / 10 {
            break;
        }
        let next = numerator * 10 + u64::from(byte - b'0');
        if next > MAGNITUDE_LIMIT {
            break;
        }
        numerator = next;
        scale *= 10.0;
    }
    (numerator, scale, &text[digits..], digits)
}

/// Go's `time.quote`: double quotes around `text`, `"` and `\` escaped, and every byte of
/// a character outside printable ASCII written as `\xNN`.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        if (' '..='\u{7f}').contains(&character) {
            if character == '"' || character == '\\' {
                quoted.push('\\');
            }
            quoted.push(character);
        } else {
            let mut buffer = [0u8; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                quoted.push_str(&format!("\\x{byte:02x}"));
            }
        }
    }
    quoted.push('"');
    quoted
}

/// Writes nanoseconds as Go's `time.Duration.String` does: `1h2m3.5s`, `2m0s`, `1.5ms`,
/// `999ns`, `0s`, `-2s`; below a second in the largest of `ns`, `µs`, `ms` under it, with
/// the fraction's trailing zeros removed.
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return String::from("0s");
    }
    let magnitude = nanos.unsigned_abs();
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    if magnitude < NANOS_PER_SECOND {
        let (unit, divisor) = if magnitude < NANOS_PER_MICRO {
            ("ns", 1)
        } else if magnitude < NANOS_PER_MILLI {
            ("µs", NANOS_PER_MICRO)
        } else {
            ("ms", NANOS_PER_MILLI)
        };
        out.push_str(&decimal(magnitude, divisor));
        out.push_str(unit);
        return out;
    }
    let hours = magnitude / NANOS_PER_HOUR;
    let minutes = (magnitude / NANOS_PER_MINUTE) % 60;
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&decimal(magnitude % NANOS_PER_MINUTE, NANOS_PER_SECOND));
    out.push('s');
    out
}

/// `value / divisor` in decimal, the fraction's trailing zeros removed.
fn decimal(value: u64, divisor: u64) -> String {
    let whole = value / divisor;
    let rest = value % divisor;
    if rest == 0 {
        return whole.to_string();
    }
    let width = divisor.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of Go 1.x `time.ParseDuration` for each input (generated with Go).
    const GO_PARSE_VECTORS: &[(&str, Result<i64, &str>)] = &[
        ("0", Ok(0)),
        ("-0", Ok(0)),
        ("+0", Ok(0)),
        ("", Err(r#"time: invalid duration """#)),
        ("1s", Ok(1_000_000_000)),
        ("1.5s", Ok(1_500_000_000)),
        ("-1.5s", Ok(-1_500_000_000)),
        ("+2h", Ok(7_200_000_000_000)),
        ("1h30m", Ok(5_400_000_000_000)),
        ("2h45m", Ok(9_900_000_000_000)),
        ("250ms", Ok(250_000_000)),
        ("3us", Ok(3_000)),
        ("3µs", Ok(3_000)),
        ("3μs", Ok(3_000)),
        ("10ns", Ok(10)),
        (".5s", Ok(500_000_000)),
        ("1.s", Ok(1_000_000_000)),
        (".s", Err(r#"time: invalid duration ".s""#)),
        ("-.s", Err(r#"time: invalid duration "-.s""#)),
        ("1", Err(r#"time: missing unit in duration "1""#)),
        ("10d", Err(r#"time: unknown unit "d" in duration "10d""#)),
        ("abc", Err(r#"time: invalid duration "abc""#)),
        ("1e3s", Err(r#"time: unknown unit "e" in duration "1e3s""#)),
        ("1.2.3s", Err(r#"time: missing unit in duration "1.2.3s""#)),
        ("1h1", Err(r#"time: missing unit in duration "1h1""#)),
        ("1sx", Err(r#"time: unknown unit "sx" in duration "1sx""#)),
        ("9223372036854775807ns", Ok(i64::MAX)),
        (
            "9223372036854775808ns",
            Err(r#"time: invalid duration "9223372036854775808ns""#),
        ),
        ("-9223372036854775808ns", Ok(i64::MIN)),
        ("2562047h47m16.854775807s", Ok(i64::MAX)),
        (
            "2562047h47m16.854775808s",
            Err(r#"time: invalid duration "2562047h47m16.854775808s""#),
        ),
        ("2562048h", Err(r#"time: invalid duration "2562048h""#)),
        (
            "99999999999999999999h",
            Err(r#"time: invalid duration "99999999999999999999h""#),
        ),
        ("0.1234567891234567891234h", Ok(444_444_440_844)),
        ("1.0000000001h", Ok(3_600_000_000_360)),
        ("0.000000001s", Ok(1)),
        ("0.0000000019s", Ok(1)),
        ("1h1m1.1s", Ok(3_661_100_000_000)),
        (" 1s", Err(r#"time: invalid duration " 1s""#)),
        ("1s ", Err(r#"time: unknown unit "s " in duration "1s ""#)),
        (
            "1µ",
            Err(r#"time: unknown unit "\xc2\xb5" in duration "1\xc2\xb5""#),
        ),
        ("1 s", Err(r#"time: unknown unit " s" in duration "1 s""#)),
        ("5m0.5s", Ok(300_500_000_000)),
        ("15.000000000000000000000001s", Ok(15_000_000_000)),
    ];

    #[test]
    fn parses_exactly_as_go_time_parse_duration() {
        for (text, expected) in GO_PARSE_VECTORS {
            let parsed = parse_go_duration(text).map_err(|error| error.to_string());
            assert_eq!(
                parsed,
                expected.map_err(str::to_owned),
                "parse_go_duration({text:?})"
            );
        }
    }

    #[test]
    fn never_panics_on_odd_text() {
        for text in [
            "-", "+", ".", "µs", "1.", "-1", "1..s", "1μ", "\u{0}1s", "1s\u{7f}",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn formats_exactly_as_go_duration_string() {
        for (nanos, expected) in [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (999_999, "999.999µs"),
            (1_000_000, "1ms"),
            (100_000_000, "100ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (61_000_000_000, "1m1s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-2_000_000_000, "-2s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ] {
            assert_eq!(format_go_duration(nanos), expected, "{nanos}");
        }
    }

    #[test]
    fn formatted_durations_parse_back() {
        for nanos in [
            1,
            1_500,
            999_999,
            61_000_000_001,
            -3_723_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(parse_go_duration(&format_go_duration(nanos)), Ok(nanos));
        }
    }
}
