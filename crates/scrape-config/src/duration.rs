//! Prometheus durations (`prometheus/common/model.Duration`): `1m30s`, `5m`,
//! `1h`, `2w`, `1y`, `0`; parsed and printed exactly as Prometheus does.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Units from biggest to smallest; a duration must use them in this order, each at
/// most once.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000_000_000),
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// A non-negative duration written the Prometheus way; whole milliseconds when
/// parsed from text, at most `i64::MAX` nanoseconds (about 292 years).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrometheusDuration(Duration);

/// Why a Prometheus duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration string")]
    Empty,
    /// The text is not `<number><unit>...` with units in decreasing order.
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// A unit other than `y w d h m s ms`.
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration text.
        text: String,
    },
    /// More than `i64::MAX` nanoseconds.
    #[error("duration out of range")]
    OutOfRange,
}

impl PrometheusDuration {
    /// Wraps a standard duration.
    pub const fn new(duration: Duration) -> Self {
        Self(duration)
    }

    /// A duration of `seconds` seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }

    /// The standard duration.
    pub const fn as_std(self) -> Duration {
        self.0
    }

    /// Whether the duration is zero.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses Prometheus's `ParseDuration` syntax: `"0"`, or one or more
    /// `<digits><unit>` with units `y w d h m s ms`, biggest first, each once.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        match text {
            "0" => return Ok(Self::default()),
            "" => return Err(DurationError::Empty),
            _ => {}
        }
        let invalid = || DurationError::Invalid(text.to_owned());
        let mut rest = text;
        let mut total_nanos: u64 = 0;
        let mut last_unit_position = None;
        while !rest.is_empty() {
            let digits_end = rest
                .find(|character: char| !character.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(invalid());
            }
            let value: u64 = rest[..digits_end].parse().map_err(|_| invalid())?;
            rest = &rest[digits_end..];
            let unit_end = rest
                .find(|character: char| character.is_ascii_digit())
                .unwrap_or(rest.len());
            if unit_end == 0 {
                return Err(invalid());
            }
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    text: text.to_owned(),
                });
            };
            if last_unit_position.is_some_and(|last| position <= last) {
                return Err(invalid());
            }
            last_unit_position = Some(position);
            let unit_nanos = UNITS[position].1;
            if value > (1u64 << 63) / unit_nanos {
                return Err(DurationError::OutOfRange);
            }
            total_nanos = total_nanos
                .checked_add(value * unit_nanos)
                .filter(|total| *total <= i64::MAX as u64)
                .ok_or(DurationError::OutOfRange)?;
        }
        Ok(Self(Duration::from_nanos(total_nanos)))
    }
}

impl fmt::Display for PrometheusDuration {
    /// Prometheus's `Duration.String()`: whole milliseconds, years and weeks only
    /// when they divide exactly (`90d`, not `12w6d`), `0s` for zero.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return formatter.write_str("0s");
        }
        for (index, (unit, unit_nanos)) in UNITS.iter().enumerate() {
            let unit_millis = u128::from(unit_nanos / 1_000_000);
            let exact_only = index < 2;
            if exact_only && !millis.is_multiple_of(unit_millis) {
                continue;
            }
            let count = millis / unit_millis;
            if count > 0 {
                write!(formatter, "{count}{unit}")?;
                millis -= count * unit_millis;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for PrometheusDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<PrometheusDuration> for Duration {
    fn from(duration: PrometheusDuration) -> Self {
        duration.0
    }
}

impl Serialize for PrometheusDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PrometheusDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Duration, DurationError> {
        PrometheusDuration::parse(text).map(PrometheusDuration::as_std)
    }

    #[test]
    fn parses_like_prometheus_common() {
        // Vectors from prometheus/common model/time_test.go TestParseDuration.
        let cases: [(&str, u64); 14] = [
            ("0", 0),
            ("0s", 0),
            ("0w", 0),
            ("324ms", 324),
            ("3s", 3_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("4d", 4 * 86_400_000),
            ("4d1h", 4 * 86_400_000 + 3_600_000),
            ("14d", 14 * 86_400_000),
            ("3w", 21 * 86_400_000),
            ("2w2d", 16 * 86_400_000),
            ("10y", 3650 * 86_400_000),
            ("1m30s", 90_000),
        ];
        for (text, millis) in cases {
            assert_eq!(parsed(text), Ok(Duration::from_millis(millis)), "{text}");
        }
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        assert_eq!(parsed(""), Err(DurationError::Empty));
        for text in ["1", "-1s", "s", "1s1m", "1m1m", " 1h", "1h1"] {
            assert!(
                matches!(parsed(text), Err(DurationError::Invalid(_))),
                "{text}: {:?}",
                parsed(text)
            );
        }
        assert!(matches!(
            parsed("1x"),
            Err(DurationError::UnknownUnit { .. })
        ));
        // Everything up to the next digit is the unit, as in Go.
        for text in ["1us", "1.5h", "1h 1m", "1h-"] {
            assert!(
                matches!(parsed(text), Err(DurationError::UnknownUnit { .. })),
                "{text}"
            );
        }
        assert_eq!(parsed("300y"), Err(DurationError::OutOfRange));
        assert_eq!(
            parsed("292y").map(|duration| duration.as_secs()),
            Ok(292 * 365 * 86_400)
        );
        assert_eq!(
            parsed("99999999999999999999s"),
            Err(DurationError::Invalid("99999999999999999999s".into()))
        );
    }

    #[test]
    fn printing_then_parsing_gives_the_same_duration() {
        // A deterministic spread over 0 ms .. ~300 years, dense near small values.
        let mut millis: u64 = 0;
        let mut step: u64 = 1;
        while millis < 292 * 365 * 86_400_000 {
            let duration = PrometheusDuration::new(Duration::from_millis(millis));
            let text = duration.to_string();
            assert_eq!(PrometheusDuration::parse(&text), Ok(duration), "{text}");
            millis += step;
            step = step * 3 / 2 + 7;
        }
    }

    #[test]
    fn prints_like_prometheus_common() {
        let cases: [(u64, &str); 9] = [
            (0, "0s"),
            (324, "324ms"),
            (90_000, "1m30s"),
            (3_600_000, "1h"),
            (86_400_000 * 90, "90d"),
            (86_400_000 * 14, "2w"),
            (86_400_000 * 16, "16d"),
            (86_400_000 * 365, "1y"),
            (86_400_000 + 1, "1d1ms"),
        ];
        for (millis, text) in cases {
            assert_eq!(
                PrometheusDuration::new(Duration::from_millis(millis)).to_string(),
                text
            );
        }
        // Sub-millisecond precision is not printed.
        assert_eq!(
            PrometheusDuration::new(Duration::from_micros(1500)).to_string(),
            "1ms"
        );
    }
}
