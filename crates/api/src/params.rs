//! Query-string access without a failure mode: every pair is percent-decoded (invalid
//! sequences become U+FFFD), so handlers decide what is missing or invalid and answer
//! with their own messages. Also the clock that time parameters default to.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in nanoseconds since the Unix epoch, what every API's window defaults
/// to; 0 when the clock is before the epoch, `u64::MAX` past 2554.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The decoded `key=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses a raw query string (`None` when the URI has none).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|text| {
                form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        QueryParams(pairs)
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// All pairs as borrowed strings.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}
