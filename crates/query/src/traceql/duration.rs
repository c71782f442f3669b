//! Duration literals: parsed like Tempo (Prometheus units first, then Go's
//! `time.ParseDuration`) and printed like Go's `time.Duration.String`.

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: u128 = 24 * NANOS_PER_HOUR;

/// Nanoseconds of `text`, or `None` when neither Prometheus nor Go accepts it or it does
/// not fit an `i64`.
pub(crate) fn parse(text: &str) -> Option<i64> {
    parse_prometheus(text).or_else(|| parse_go(text))
}

/// `[0-9]+y`, `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and in this order.
fn parse_prometheus(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let units: [(&str, u128); 7] = [
        ("y", 365 * NANOS_PER_DAY),
        ("w", 7 * NANOS_PER_DAY),
        ("d", NANOS_PER_DAY),
        ("h", NANOS_PER_HOUR),
        ("m", NANOS_PER_MINUTE),
        ("s", NANOS_PER_SECOND),
        ("ms", NANOS_PER_MILLI),
    ];
    let mut rest = text;
    let mut total: u128 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: u128 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &after[..unit_len];
        let index = units[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)?
            + next_unit;
        total = total.checked_add(value.checked_mul(units[index].1)?)?;
        next_unit = index + 1;
        rest = &after[unit_len..];
    }
    i64::try_from(total).ok()
}

/// Go's `time.ParseDuration` without a sign (the lexer never passes one).
fn parse_go(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let integer = &rest[..int_len];
        rest = &rest[int_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if integer.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let whole: u128 = if integer.is_empty() {
            0
        } else {
            integer.parse().ok()?
        };
        total = total.checked_add(whole.checked_mul(unit)?)?;
        if !fraction.is_empty() {
            // Go keeps at most enough digits to matter; 30 digits keeps u128 safe.
            let digits = &fraction[..fraction.len().min(30)];
            let numerator: u128 = digits.parse().ok()?;
            let scale = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
            total = total.checked_add(numerator.checked_mul(unit)? / scale)?;
        }
        if total > i64::MAX as u128 {
            return None;
        }
    }
    i64::try_from(total).ok()
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`, `-2s`.
pub(crate) fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let negative = nanos < 0;
    let magnitude = nanos.unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if magnitude < 1_000_000_000 {
        let (unit, divisor) = if magnitude < 1_000 {
            ("ns", 1)
        } else if magnitude < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(magnitude, divisor));
        out.push_str(unit);
        return out;
    }
    let hours = magnitude / 3_600_000_000_000;
    let minutes = (magnitude / 60_000_000_000) % 60;
    let seconds_nanos = magnitude % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fraction(seconds_nanos, 1_000_000_000));
    out.push('s');
    out
}

/// `value / divisor` with the fraction's trailing zeros removed.
fn fraction(value: u64, divisor: u64) -> String {
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

    #[test]
    fn parses_prometheus_and_go_forms() {
        assert_eq!(parse("1s"), Some(1_000_000_000));
        assert_eq!(parse("100ms"), Some(100_000_000));
        assert_eq!(parse("1.5s"), Some(1_500_000_000));
        assert_eq!(parse("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse("2d"), Some(172_800_000_000_000));
        assert_eq!(parse("10us"), Some(10_000));
        assert_eq!(parse("10µs"), Some(10_000));
        assert_eq!(parse("3ns"), Some(3));
        assert_eq!(parse("1"), None);
        assert_eq!(parse("1x"), None);
        assert_eq!(parse("99999999999999999999h"), None);
        assert_eq!(parse("300y"), None, "overflows i64 nanoseconds");
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(100_000_000), "100ms");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(5_400_000_000_000), "1h30m0s");
        assert_eq!(format(61_000_000_000), "1m1s");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(7), "7ns");
        assert_eq!(format(-2_000_000_000), "-2s");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }
}
