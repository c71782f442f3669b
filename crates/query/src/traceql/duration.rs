//! Duration literals, parsed like Tempo: Prometheus units first, then Go's
//! `time.ParseDuration` ([`crate::duration::parse_go_duration`]). Values are printed by
//! [`crate::duration::format_go_duration`].

const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: u128 = 24 * NANOS_PER_HOUR;

/// Nanoseconds of `text`, or `None` when neither Prometheus nor Go accepts it or it does
/// not fit an `i64`.
pub(crate) fn parse(text: &str) -> Option<i64> {
    parse_prometheus(text).or_else(|| crate::duration::parse_go_duration(text).ok())
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
}
