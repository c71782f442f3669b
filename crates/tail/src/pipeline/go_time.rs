//! Go's `time.Parse` with reference layouts (`2006-01-02T15:04:05Z07:00`): the
//! layout elements, Go's named layouts (`RFC3339`, `RFC1123Z`, `Stamp`, ...), Go's
//! rule that a fraction may follow the seconds even when the layout has none, and
//! runs of spaces matching runs of spaces. A value without a year gets the current
//! year (as Promtail does); one without a zone is read in `location` (UTC when none).

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use weft_logs::time::MONTHS;

/// The layout of a Go named format, or `None` for a layout written out.
pub(crate) fn named_layout(name: &str) -> Option<&'static str> {
    Some(match name {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => "2006-01-02T15:04:05Z07:00",
        "RFC3339Nano" => "2006-01-02T15:04:05.999999999Z07:00",
        "Kitchen" => "3:04PM",
        "Stamp" => "Jan _2 15:04:05",
        "StampMilli" => "Jan _2 15:04:05.000",
        "StampMicro" => "Jan _2 15:04:05.000000",
        "StampNano" => "Jan _2 15:04:05.000000000",
        "DateTime" => "2006-01-02 15:04:05",
        "DateOnly" => "2006-01-02",
        "TimeOnly" => "15:04:05",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Element {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    ZeroYearDay,
    UnderYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TzAbbreviation,
    /// `Z` allowed for UTC; `colons` and `seconds` describe the numeric form.
    Offset {
        z_allowed: bool,
        minutes: bool,
        colons: bool,
        seconds: bool,
    },
    /// `.000` (exact digits) or `.999` (any digits, optional).
    Fraction {
        digits: usize,
        exact: bool,
    },
}

/// Splits a layout into literal text and elements, as Go's `nextStdChunk`.
fn tokenize(layout: &str) -> Vec<Result<Element, String>> {
    let bytes = layout.as_bytes();
    let mut chunks: Vec<Result<Element, String>> = Vec::new();
    let mut literal = String::new();
    let mut position = 0;
    let starts = |position: usize, text: &str| layout[position..].starts_with(text);
    while position < bytes.len() {
        let found: Option<(Element, usize)> = match bytes[position] {
            b'J' if starts(position, "January") => Some((Element::LongMonth, 7)),
            b'J' if starts(position, "Jan") => Some((Element::Month, 3)),
            b'M' if starts(position, "Monday") => Some((Element::LongWeekDay, 6)),
            b'M' if starts(position, "Mon") => Some((Element::WeekDay, 3)),
            b'M' if starts(position, "MST") => Some((Element::TzAbbreviation, 3)),
            b'0' if starts(position, "002") => Some((Element::ZeroYearDay, 3)),
            b'0' if position + 1 < bytes.len() && (b'1'..=b'6').contains(&bytes[position + 1]) => {
                Some((
                    match bytes[position + 1] {
                        b'1' => Element::ZeroMonth,
                        b'2' => Element::ZeroDay,
                        b'3' => Element::ZeroHour12,
                        b'4' => Element::ZeroMinute,
                        b'5' => Element::ZeroSecond,
                        _ => Element::Year,
                    },
                    2,
                ))
            }
            b'1' if starts(position, "15") => Some((Element::Hour, 2)),
            b'1' => Some((Element::NumMonth, 1)),
            b'2' if starts(position, "2006") => Some((Element::LongYear, 4)),
            b'2' => Some((Element::Day, 1)),
            b'_' if starts(position, "__2") => Some((Element::UnderYearDay, 3)),
            b'_' if starts(position, "_2") && !starts(position, "_2006") => {
                Some((Element::UnderDay, 2))
            }
            b'3' => Some((Element::Hour12, 1)),
            b'4' => Some((Element::Minute, 1)),
            b'5' => Some((Element::Second, 1)),
            b'P' if starts(position, "PM") => Some((Element::PM, 2)),
            b'p' if starts(position, "pm") => Some((Element::Pm, 2)),
            b'-' | b'Z' => {
                let z_allowed = bytes[position] == b'Z';
                let rest = &layout[position + 1..];
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("07:00:00", true, true, true),
                    ("070000", true, false, true),
                    ("07:00", true, true, false),
                    ("0700", true, false, false),
                    ("07", false, false, false),
                ];
                forms.iter().find(|(form, ..)| rest.starts_with(form)).map(
                    |(form, minutes, colons, seconds)| {
                        (
                            Element::Offset {
                                z_allowed,
                                minutes: *minutes,
                                colons: *colons,
                                seconds: *seconds,
                            },
                            1 + form.len(),
                        )
                    },
                )
            }
            b'.' | b','
                if position + 1 < bytes.len()
                    && (bytes[position + 1] == b'0' || bytes[position + 1] == b'9') =>
            {
                let digit = bytes[position + 1];
                let mut end = position + 1;
                while end < bytes.len() && bytes[end] == digit {
                    end += 1;
                }
                if end < bytes.len() && bytes[end].is_ascii_digit() {
                    None
                } else {
                    Some((
                        Element::Fraction {
                            digits: end - position - 1,
                            exact: digit == b'0',
                        },
                        end - position,
                    ))
                }
            }
            _ => None,
        };
        match found {
            Some((element, length)) => {
                if !literal.is_empty() {
                    chunks.push(Err(std::mem::take(&mut literal)));
                }
                chunks.push(Ok(element));
                position += length;
            }
            None => {
                let character = layout[position..].chars().next().unwrap_or('\u{fffd}');
                literal.push(character);
                position += character.len_utf8().max(1);
            }
        }
    }
    if !literal.is_empty() {
        chunks.push(Err(literal));
    }
    chunks
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Takes 1 or 2 digits (`fixed`: exactly 2).
fn number(value: &mut &str, fixed: bool) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_digit() {
        return None;
    }
    if bytes.len() < 2 || !bytes[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        let parsed = i64::from(bytes[0] - b'0');
        *value = &value[1..];
        return Some(parsed);
    }
    let parsed = i64::from(bytes[0] - b'0') * 10 + i64::from(bytes[1] - b'0');
    *value = &value[2..];
    Some(parsed)
}

fn digits(value: &mut &str, count: usize) -> Option<i64> {
    if value.len() < count || !value.as_bytes()[..count].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let parsed = value[..count].parse().ok()?;
    *value = &value[count..];
    Some(parsed)
}

fn name_index(value: &mut &str, names: &[&str], short: bool) -> Option<usize> {
    for (index, name) in names.iter().enumerate() {
        let candidate = if short { &name[..3] } else { name };
        if value.len() >= candidate.len()
            && value.is_char_boundary(candidate.len())
            && value[..candidate.len()].eq_ignore_ascii_case(candidate)
        {
            *value = &value[candidate.len()..];
            return Some(index);
        }
    }
    None
}

fn skip_literal<'a>(mut value: &'a str, mut literal: &str) -> Option<&'a str> {
    while let Some(expected) = literal.chars().next() {
        if expected == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            literal = literal.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        if !value.starts_with(expected) {
            return None;
        }
        value = &value[expected.len_utf8()..];
        literal = &literal[expected.len_utf8()..];
    }
    Some(value)
}

fn fraction(value: &mut &str, min_digits: usize, max_digits: Option<usize>) -> Option<i64> {
    let count = value.bytes().take_while(u8::is_ascii_digit).count();
    if count < min_digits || max_digits.is_some_and(|max| count != max) {
        return None;
    }
    let taken = &value[..count];
    let mut nanos: i64 = 0;
    for (index, byte) in taken.bytes().enumerate() {
        if index < 9 {
            nanos = nanos * 10 + i64::from(byte - b'0');
        }
    }
    for _ in count.min(9)..9 {
        nanos *= 10;
    }
    *value = &value[count..];
    Some(nanos)
}

/// Parses `value` with the Go `layout` (or a Go named format); a value without a zone
/// is read in `location` (UTC when `None`). Unix nanoseconds, or what did not match.
pub fn parse_go_time(
    value: &str,
    layout: &str,
    location: Option<&TimeZone>,
) -> Result<i64, String> {
    let layout = named_layout(layout).unwrap_or(layout);
    let bad = |what: &str| format!("cannot parse {value:?} as {layout:?}: {what}");
    let mut rest = value;
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut nanos) =
        (None::<i64>, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut year_day: Option<i64> = None;
    let mut pm: Option<bool> = None;
    let mut offset_seconds: Option<i32> = None;
    let chunks = tokenize(layout);
    for (index, chunk) in chunks.iter().enumerate() {
        let element = match chunk {
            Err(literal) => {
                rest = skip_literal(rest, literal)
                    .ok_or_else(|| bad(&format!("expected {literal:?}")))?;
                continue;
            }
            Ok(element) => *element,
        };
        let next_is_fraction = matches!(chunks.get(index + 1), Some(Ok(Element::Fraction { .. })));
        match element {
            Element::LongYear => year = Some(digits(&mut rest, 4).ok_or_else(|| bad("year"))?),
            Element::Year => {
                let short = digits(&mut rest, 2).ok_or_else(|| bad("year"))?;
                year = Some(if short >= 69 {
                    1900 + short
                } else {
                    2000 + short
                });
            }
            Element::LongMonth => {
                month =
                    name_index(&mut rest, &MONTHS, false).ok_or_else(|| bad("month"))? as i64 + 1
            }
            Element::Month => {
                month = name_index(&mut rest, &MONTHS, true).ok_or_else(|| bad("month"))? as i64 + 1
            }
            Element::NumMonth | Element::ZeroMonth => {
                month =
                    number(&mut rest, element == Element::ZeroMonth).ok_or_else(|| bad("month"))?
            }
            Element::LongWeekDay => {
                name_index(&mut rest, &DAYS, false).ok_or_else(|| bad("day of week"))?;
            }
            Element::WeekDay => {
                name_index(&mut rest, &DAYS, true).ok_or_else(|| bad("day of week"))?;
            }
            Element::Day | Element::UnderDay | Element::ZeroDay => {
                if element == Element::UnderDay && rest.starts_with(' ') {
                    rest = &rest[1..];
                }
                day = number(&mut rest, element == Element::ZeroDay).ok_or_else(|| bad("day"))?
            }
            Element::ZeroYearDay | Element::UnderYearDay => {
                if element == Element::UnderYearDay {
                    rest = rest.trim_start_matches(' ');
                }
                let count = rest.bytes().take_while(u8::is_ascii_digit).count().min(3);
                year_day = Some(digits(&mut rest, count.max(1)).ok_or_else(|| bad("day of year"))?);
            }
            Element::Hour => hour = number(&mut rest, false).ok_or_else(|| bad("hour"))?,
            Element::Hour12 | Element::ZeroHour12 => {
                hour =
                    number(&mut rest, element == Element::ZeroHour12).ok_or_else(|| bad("hour"))?;
                if !(0..=12).contains(&hour) {
                    return Err(bad("hour out of range"));
                }
            }
            Element::Minute | Element::ZeroMinute => {
                minute = number(&mut rest, element == Element::ZeroMinute)
                    .ok_or_else(|| bad("minute"))?
            }
            Element::Second | Element::ZeroSecond => {
                second = number(&mut rest, element == Element::ZeroSecond)
                    .ok_or_else(|| bad("second"))?;
                // Go: a fraction may follow the seconds even when the layout has none.
                if !next_is_fraction
                    && rest.len() >= 2
                    && (rest.starts_with('.') || rest.starts_with(','))
                    && rest.as_bytes()[1].is_ascii_digit()
                {
                    rest = &rest[1..];
                    nanos = fraction(&mut rest, 1, None).ok_or_else(|| bad("fraction"))?;
                }
            }
            Element::Fraction {
                digits: count,
                exact,
            } => {
                let separator_present = rest.starts_with('.') || rest.starts_with(',');
                if exact {
                    if !separator_present {
                        return Err(bad("fraction"));
                    }
                    rest = &rest[1..];
                    nanos =
                        fraction(&mut rest, count, Some(count)).ok_or_else(|| bad("fraction"))?;
                } else if separator_present
                    && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
                {
                    rest = &rest[1..];
                    nanos = fraction(&mut rest, 1, None).ok_or_else(|| bad("fraction"))?;
                }
            }
            Element::PM | Element::Pm => {
                let marker = rest.get(..2).ok_or_else(|| bad("AM/PM"))?;
                pm = Some(match marker.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return Err(bad("AM/PM")),
                });
                rest = &rest[2..];
            }
            Element::TzAbbreviation => {
                let length = rest.bytes().take_while(u8::is_ascii_uppercase).count();
                if length < 3 {
                    return Err(bad("time zone"));
                }
                let abbreviation = &rest[..length];
                if matches!(abbreviation, "UTC" | "GMT" | "Z") {
                    offset_seconds = Some(0);
                }
                rest = &rest[length..];
            }
            Element::Offset {
                z_allowed,
                minutes,
                colons,
                seconds,
            } => {
                if z_allowed && rest.starts_with('Z') {
                    rest = &rest[1..];
                    offset_seconds = Some(0);
                    continue;
                }
                let sign = match rest.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad("zone offset")),
                };
                rest = &rest[1..];
                let hours = digits(&mut rest, 2).ok_or_else(|| bad("zone offset"))?;
                let mut total = hours * 3600;
                if minutes {
                    if colons {
                        rest = rest.strip_prefix(':').ok_or_else(|| bad("zone offset"))?;
                    }
                    total += digits(&mut rest, 2).ok_or_else(|| bad("zone offset"))? * 60;
                }
                if seconds {
                    if colons {
                        rest = rest.strip_prefix(':').ok_or_else(|| bad("zone offset"))?;
                    }
                    total += digits(&mut rest, 2).ok_or_else(|| bad("zone offset"))?;
                }
                offset_seconds = Some(i32::try_from(sign * total).map_err(|_| bad("zone offset"))?);
            }
        }
    }
    if !rest.is_empty() {
        return Err(bad(&format!("extra text {rest:?}")));
    }
    if let Some(is_pm) = pm {
        if hour > 12 {
            return Err(bad("hour out of range"));
        }
        if is_pm && hour < 12 {
            hour += 12;
        } else if !is_pm && hour == 12 {
            hour = 0;
        }
    }
    let year = match year {
        Some(year) => year,
        None => i64::from(jiff::Zoned::now().year()),
    };
    let narrow = |number: i64, what: &str| i8::try_from(number).map_err(|_| bad(what));
    let year16 = i16::try_from(year).map_err(|_| bad("year"))?;
    let date = match year_day {
        Some(year_day) => jiff::civil::Date::new(year16, 1, 1)
            .and_then(|first| first.checked_add(jiff::Span::new().days(year_day - 1)))
            .map_err(|error| bad(&error.to_string()))?,
        None => jiff::civil::Date::new(year16, narrow(month, "month")?, narrow(day, "day")?)
            .map_err(|error| bad(&error.to_string()))?,
    };
    let civil = DateTime::from_parts(
        date,
        jiff::civil::Time::new(
            narrow(hour, "hour")?,
            narrow(minute, "minute")?,
            narrow(second, "second")?,
            i32::try_from(nanos).map_err(|_| bad("fraction"))?,
        )
        .map_err(|error| bad(&error.to_string()))?,
    );
    let timestamp = match offset_seconds {
        Some(seconds) => Offset::from_seconds(seconds)
            .map_err(|error| bad(&error.to_string()))?
            .to_timestamp(civil)
            .map_err(|error| bad(&error.to_string()))?,
        None => location
            .unwrap_or(&TimeZone::UTC)
            .to_ambiguous_timestamp(civil)
            .compatible()
            .map_err(|error| bad(&error.to_string()))?,
    };
    i64::try_from(timestamp.as_nanosecond()).map_err(|_| bad("out of range"))
}

/// RFC 3339 with an optional fraction (what Docker and CRI write).
pub(crate) fn parse_rfc3339(value: &str) -> Option<i64> {
    parse_go_time(value, "RFC3339Nano", None).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_562_708_916_000_000_000; // 2019-07-09T21:48:36Z

    #[test]
    fn named_and_written_layouts_parse_like_go() {
        let cases: &[(&str, &str, i64)] = &[
            ("2019-07-09T21:48:36Z", "RFC3339", T),
            ("2019-07-09T23:48:36+02:00", "RFC3339", T),
            (
                "2019-07-09T21:48:36.123456789Z",
                "RFC3339Nano",
                T + 123_456_789,
            ),
            ("2019-07-09T21:48:36.5Z", "RFC3339Nano", T + 500_000_000),
            // A fraction after seconds is accepted though RFC3339 has none (Go's rule).
            ("2019-07-09T21:48:36.25Z", "RFC3339", T + 250_000_000),
            ("Tue, 09 Jul 2019 21:48:36 GMT", "RFC1123", T),
            ("Tue, 09 Jul 2019 16:48:36 -0500", "RFC1123Z", T),
            (
                "09/Jul/2019:21:48:36 +0000",
                "02/Jan/2006:15:04:05 -0700",
                T,
            ),
            (
                "2019-07-09 21:48:36,123",
                "2006-01-02 15:04:05,000",
                T + 123_000_000,
            ),
            ("Tue Jul  9 21:48:36 2019", "ANSIC", T),
            ("2019-07-09 09:48:36 PM", "2006-01-02 03:04:05 PM", T),
            ("190709 21:48:36", "060102 15:04:05", T),
            (
                "2019-07-09T21:48:36.000Z",
                "2006-01-02T15:04:05.000Z07:00",
                T,
            ),
        ];
        for (value, layout, expected) in cases {
            assert_eq!(
                parse_go_time(value, layout, None),
                Ok(*expected),
                "{value} as {layout}"
            );
        }
    }

    #[test]
    fn location_applies_to_values_without_a_zone() {
        let berlin = TimeZone::get("Europe/Berlin").expect("zoneinfo has Europe/Berlin");
        assert_eq!(
            parse_go_time("2019-07-09 23:48:36", "2006-01-02 15:04:05", Some(&berlin)),
            Ok(T)
        );
        // An explicit offset wins over the location.
        assert_eq!(
            parse_go_time("2019-07-09T21:48:36Z", "RFC3339", Some(&berlin)),
            Ok(T)
        );
    }

    #[test]
    fn mismatches_are_errors_naming_the_part() {
        for (value, layout) in [
            ("2019-13-09T21:48:36Z", "RFC3339"),
            ("2019-07-09T21:48Z", "RFC3339"),
            ("2019-07-09T21:48:36Z trailing", "RFC3339"),
            ("not a time", "2006-01-02"),
            ("2019-07-09 21:48:36,12", "2006-01-02 15:04:05,000"),
        ] {
            let error = parse_go_time(value, layout, None).expect_err(value);
            assert!(error.contains(value), "{error}");
        }
    }

    #[test]
    fn a_missing_year_is_the_current_year() {
        let parsed = parse_go_time("Jul  9 21:48:36", "Stamp", None).expect("parses");
        let year = jiff::Timestamp::from_nanosecond(i128::from(parsed))
            .expect("in range")
            .to_zoned(TimeZone::UTC)
            .year();
        assert_eq!(year, jiff::Zoned::now().year());
    }
}
