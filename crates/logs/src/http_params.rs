//! Query-string parameters of the Loki API, decoded once for every handler.

use axum::http::StatusCode;

use crate::logql::units::parse_query_duration;
use crate::logql::{LogQuery, Query, parse};
use crate::time::{now_unix_nanos, parse_time};

/// A status and message, answered by [`crate::http::error_response`].
pub(crate) type Failure = (StatusCode, String);

/// Decoded query-string parameters, repeated keys kept in order.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `raw` (`application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte).
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The first non-empty value of `key` (an empty value counts as absent, as in Loki).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(candidate, value)| candidate == key && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `key`, in order (`match[]=a&match[]=b`).
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(candidate, _)| candidate == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// A time parameter (Loki's forms: integer nanoseconds, seconds with a fraction,
    /// RFC 3339), `default` when absent; 400 naming it when invalid.
    pub(crate) fn time(&self, key: &str, default: i64) -> Result<i64, Failure> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => parse_time(text).ok_or_else(|| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("invalid {key} parameter: cannot parse {text:?} to a valid timestamp"),
                )
            }),
        }
    }

    /// The required `query` as a log query; 400 when absent, not a log query (`what`
    /// names the endpoint: "patterns need a log query, ...") or not parsed.
    pub(crate) fn log_query(&self, what: &str) -> Result<LogQuery, Failure> {
        let bad = |message: String| (StatusCode::BAD_REQUEST, message);
        let text = self.get("query").ok_or_else(|| {
            bad(String::from(
                "query parameter is required: a log query, e.g. {app=\"x\"}",
            ))
        })?;
        match parse(text) {
            Ok(Query::Log(query)) => Ok(query),
            Ok(Query::Metric(_)) => {
                Err(bad(format!("{what} need a log query, not a metric query")))
            }
            Err(error) => Err(bad(error.to_string())),
        }
    }

    /// The `step` of a range over `[start, end]` in nanoseconds (Loki's forms and
    /// default); 400 when it is not positive or gives too many points.
    pub(crate) fn step(&self, start: i64, end: i64) -> Result<i64, Failure> {
        let bad = |message: String| (StatusCode::BAD_REQUEST, message);
        let step = crate::metric::http::range_params(start, end, self.get("step"))
            .map_err(bad)?
            .step_nanos;
        if step <= 0 {
            return Err(bad(String::from(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            )));
        }
        Ok(step)
    }

    /// `start` and `end` (or `since`): `end` defaults to now, `start` to `end` minus
    /// `since` or `default_lookback` nanoseconds; 400 when `end` is before `start`.
    pub(crate) fn range(&self, default_lookback: i64) -> Result<(i64, i64), Failure> {
        let end = self.time("end", now_unix_nanos())?;
        let lookback = match self.get("since") {
            None => default_lookback,
            Some(text) => parse_query_duration(text)
                .and_then(|duration| i64::try_from(duration.as_nanos()).ok())
                .ok_or_else(|| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("invalid since parameter: {text:?}"),
                    )
                })?,
        };
        let start = self.time("start", end.saturating_sub(lookback))?;
        if end < start {
            return Err((
                StatusCode::BAD_REQUEST,
                String::from("end timestamp must not be before or equal to start time"),
            ));
        }
        Ok((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_decode_and_empty_values_count_as_absent() {
        let params = Params::parse(Some(
            "query=%7Bapp%3D%22a+b%22%7D&limit=&limit=5&match%5B%5D=x&match[]=y&since=1h30m",
        ));
        assert_eq!(params.get("query"), Some(r#"{app="a b"}"#));
        assert_eq!(params.get("limit"), Some("5"));
        assert_eq!(params.all("match[]"), ["x", "y"]);
        let filter = Params::parse(Some("query=%7Bjob%3D%22a%22%7D+%7C%3D+%22x%22&bad=%zz%41%"));
        assert_eq!(filter.get("query"), Some(r#"{job="a"} |= "x""#));
        assert_eq!(filter.get("bad"), Some("%zzA%"));
        let (start, end) = params.range(0).expect("range");
        assert_eq!(end - start, 90 * 60 * 1_000_000_000);
        let error = Params::parse(Some("start=yesterday")).time("start", 0);
        assert_eq!(
            error.expect_err("bad").1,
            r#"invalid start parameter: cannot parse "yesterday" to a valid timestamp"#
        );
        assert!(Params::parse(Some("since=soon")).range(0).is_err());
        assert!(Params::parse(Some("start=10&end=5")).range(0).is_err());
    }
}
