//! Timestamps as Loki's API takes and prints them: Unix nanoseconds, float seconds and
//! RFC 3339 (UTC or with an offset), without a calendar library.

/// Nanoseconds since the Unix epoch now.
pub fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}

/// English month names, January first (Go's `time.Month` names).
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date (year, month 1-12, day 1-31) of a day counted from
/// 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    // Both fit: day 1..=31, month 1..=12.
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats Unix nanoseconds as RFC 3339 in UTC with nanoseconds
/// (`2024-05-01T10:00:00.000000001Z`).
pub fn format_rfc3339(unix_nanos: i64) -> String {
    let seconds = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Parses a query time as Loki does: an integer of at most 10 characters is Unix
/// seconds, a longer one Unix nanoseconds; a number with a fraction is Unix seconds
/// with the fraction rounded to milliseconds; otherwise RFC 3339. `None` when it is
/// none of those.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
    {
        if !seconds.is_finite() {
            return None;
        }
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        let nanos = (whole as i64).checked_mul(1_000_000_000)?;
        return nanos.checked_add(millis as i64 * 1_000_000);
    }
    if let Ok(number) = text.parse::<i64>() {
        if text.len() <= 10 {
            return number.checked_mul(1_000_000_000);
        }
        return Some(number);
    }
    parse_rfc3339(text)
}

/// Parses RFC 3339 (`2024-05-01T10:00:00Z`, fractions and `+hh:mm` offsets allowed).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut position = 19;
    let mut nanos = 0i64;
    if bytes.get(position) == Some(&b'.') {
        position += 1;
        let start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            position += 1;
        }
        let digits = &text[start..position];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        nanos = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset_seconds = match &text[position..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') => {
            let hours = number(position + 1..position + 3)?;
            let minutes = number(position + 4..position + 6)?;
            let sign = if zone.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Checked above: month 1..=12, day 1..=31.
    let seconds = days_from_civil(year, month as u32, day as u32) * 86_400
        + hour * 3600
        + minute * 60
        + second
        - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_format() {
        assert_eq!(
            parse_time("1700000000000000000"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        // Ten characters or fewer: seconds (Loki's rule); a fraction rounds to ms.
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time("17"), Some(17_000_000_000));
        assert_eq!(
            parse_time("1700000000.0004"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("1700000000.0126"),
            Some(1_700_000_000_013_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.000000007+01:00"),
            Some(1_700_000_000_000_000_007)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(
            format_rfc3339(1_700_000_000_000_000_007),
            "2023-11-14T22:13:20.000000007Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            parse_rfc3339(&format_rfc3339(951_782_400_123_000_000)),
            Some(951_782_400_123_000_000)
        );
    }
}
