//! The framework-neutral scrape endpoint (`docs/pull-protocol.md`): query parsing and the
//! response (status, headers, body) for one scrape.

use std::sync::Arc;

use bytes::Bytes;

use crate::ring::RingBuffer;

/// Path the adapters mount the endpoint on unless told otherwise.
pub const DEFAULT_SCRAPE_PATH: &str = "/weft/spans";
/// Body budget when the scraper sends no `max_bytes`, and the default server cap: 4 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
/// Media type of a successful response body.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// `Weft-Cursor-First`: sequence number of the first span in the body.
pub const HEADER_CURSOR_FIRST: &str = "weft-cursor-first";
/// `Weft-Cursor-Next`: the cursor to send with the next scrape.
pub const HEADER_CURSOR_NEXT: &str = "weft-cursor-next";
/// `Weft-Dropped`: spans between the scraper's cursor and the first one it got that it
/// will never see.
pub const HEADER_DROPPED: &str = "weft-dropped";
/// `Weft-Dropped-Total`: spans lost by the buffer since the process started.
pub const HEADER_DROPPED_TOTAL: &str = "weft-dropped-total";
/// `Weft-Instance`: random id of the buffer; sequences restart when it changes.
pub const HEADER_INSTANCE: &str = "weft-instance";

/// A scrape request's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeQuery {
    /// `cursor`: the sequence number of the next span wanted; absent means the oldest.
    pub cursor: Option<u64>,
    /// `max_bytes`: upper bound on the response body the scraper accepts.
    pub max_bytes: Option<u64>,
}

/// Why a scrape query was rejected (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeQueryError {
    /// A parameter value is not a decimal unsigned 64-bit integer.
    #[error("query parameter `{name}` has value `{value}`, expected an unsigned 64-bit integer")]
    NotAnInteger {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
    },
    /// A parameter is given more than once.
    #[error("query parameter `{name}` is given more than once")]
    Repeated {
        /// The parameter.
        name: &'static str,
    },
}

impl ScrapeQuery {
    /// Parses a URL query string (with or without the leading `?`, percent-encoded or
    /// not). Unknown parameters are ignored so the protocol can grow.
    pub fn parse(query: &str) -> Result<Self, ScrapeQueryError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut parsed = Self::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, slot) = match name.as_ref() {
                "cursor" => ("cursor", &mut parsed.cursor),
                "max_bytes" => ("max_bytes", &mut parsed.max_bytes),
                _ => continue,
            };
            if slot.is_some() {
                return Err(ScrapeQueryError::Repeated { name });
            }
            // `u64::from_str` accepts a leading `+`; the protocol does not.
            let number = value
                .bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| ScrapeQueryError::NotAnInteger {
                    name,
                    value: value.clone().into_owned(),
                })?;
            *slot = Some(number);
        }
        Ok(parsed)
    }
}

/// One scrape's answer, for any HTTP framework to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// HTTP status: 200, or 400 for a bad query.
    pub status: u16,
    /// Header names (lowercase) and values, `content-type` included.
    pub headers: Vec<(&'static str, String)>,
    /// OTLP `ExportTraceServiceRequest` protobuf (200), or the error message (400).
    pub body: Bytes,
}

impl ScrapeResponse {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header_name, _)| *header_name == name)
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(any(feature = "axum", feature = "hyper"))]
impl ScrapeResponse {
    /// Converts into an `http` response (for the axum and hyper adapters).
    pub fn into_http_response(self) -> http::Response<Bytes> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            // Names are lowercase constants and values are digits, hex or fixed media
            // types; a value that is not a valid header is left out rather than panicking.
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(http::HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// Answers scrapes from a [`RingBuffer`]. Cheap to clone (the ring is shared).
#[derive(Debug, Clone)]
pub struct ScrapeHandler {
    ring: Arc<RingBuffer>,
    max_response_bytes: u64,
}

impl ScrapeHandler {
    /// A handler over `ring` capping bodies at [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(ring: Arc<RingBuffer>) -> Self {
        Self {
            ring,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Caps every body at `max_response_bytes`, whatever the scraper asks for (a larger
    /// `max_bytes` is lowered to this). A single span larger than the cap is still sent
    /// alone, so scrapers always progress.
    pub fn with_max_response_bytes(mut self, max_response_bytes: u64) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// The ring scraped.
    pub fn ring(&self) -> &Arc<RingBuffer> {
        &self.ring
    }

    /// Answers one `GET` with URL query `query` (the part after `?`). Never removes
    /// spans; safe to call from any number of threads at once.
    pub fn scrape(&self, query: &str) -> ScrapeResponse {
        let query = match ScrapeQuery::parse(query) {
            Ok(query) => query,
            Err(error) => {
                return ScrapeResponse {
                    status: 400,
                    headers: vec![("content-type", "text/plain; charset=utf-8".to_owned())],
                    body: Bytes::from(error.to_string()),
                };
            }
        };
        let max_body_bytes = query
            .max_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
            .min(self.max_response_bytes);
        let batch = self.ring.read(query.cursor, max_body_bytes);
        let body = batch.encode_export_request();
        ScrapeResponse {
            status: 200,
            headers: vec![
                ("content-type", CONTENT_TYPE_PROTOBUF.to_owned()),
                ("cache-control", "no-store".to_owned()),
                (HEADER_CURSOR_FIRST, batch.first_sequence.to_string()),
                (HEADER_CURSOR_NEXT, batch.next_sequence.to_string()),
                (HEADER_DROPPED, batch.dropped_spans.to_string()),
                (HEADER_DROPPED_TOTAL, batch.dropped_spans_total.to_string()),
                (HEADER_INSTANCE, self.ring.instance_id().to_owned()),
            ],
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cursor_and_max_bytes() {
        assert_eq!(ScrapeQuery::parse(""), Ok(ScrapeQuery::default()));
        assert_eq!(
            ScrapeQuery::parse("?cursor=12&max_bytes=1024&future=x"),
            Ok(ScrapeQuery {
                cursor: Some(12),
                max_bytes: Some(1024)
            })
        );
        assert_eq!(
            ScrapeQuery::parse("cursor=%31%32"),
            Ok(ScrapeQuery {
                cursor: Some(12),
                max_bytes: None
            })
        );
        assert_eq!(
            ScrapeQuery::parse("cursor=18446744073709551615").map(|query| query.cursor),
            Ok(Some(u64::MAX))
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_parameter() {
        for (query, message) in [
            (
                "cursor=abc",
                "query parameter `cursor` has value `abc`, expected an unsigned 64-bit integer",
            ),
            (
                "cursor=",
                "query parameter `cursor` has value ``, expected an unsigned 64-bit integer",
            ),
            (
                "max_bytes=-1",
                "query parameter `max_bytes` has value `-1`, expected an unsigned 64-bit integer",
            ),
            (
                "cursor=%2B1",
                "query parameter `cursor` has value `+1`, expected an unsigned 64-bit integer",
            ),
            (
                "cursor=+1",
                "query parameter `cursor` has value ` 1`, expected an unsigned 64-bit integer",
            ),
            (
                "cursor=18446744073709551616",
                "query parameter `cursor` has value `18446744073709551616`, expected an unsigned 64-bit integer",
            ),
            (
                "cursor=1&cursor=2",
                "query parameter `cursor` is given more than once",
            ),
        ] {
            let error = ScrapeQuery::parse(query).expect_err(query);
            assert_eq!(error.to_string(), message);
        }
        let response = ScrapeHandler::new(Arc::new(RingBuffer::new(1024))).scrape("cursor=x");
        assert_eq!(response.status, 400);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert!(response.body.starts_with(b"query parameter `cursor`"));
    }
}
