//! The answer to a pull scrape (`docs/pull-protocol.md`): a handful of `Weft-*` headers
//! and an OTLP `ExportTraceServiceRequest` protobuf body.
//!
//! [`decode_response`] reads both: the client buffer's identity, the cursors and the
//! drop counts from the headers, and the spans from the body. Like every decoder here it
//! is pure and never panics; a header that is missing or not what the protocol says is
//! an error naming the header, and the whole answer is then refused (its spans are asked
//! for again on the next scrape).

use std::sync::Arc;

use bytes::Bytes;

use crate::DecodeError;
use crate::otlp::{self, OtlpDecoded, ResolveResource};

/// Response header: the sequence number of the first span in the body.
pub const CURSOR_FIRST_HEADER: &str = "Weft-Cursor-First";
/// Response header: the cursor to send next time.
pub const CURSOR_NEXT_HEADER: &str = "Weft-Cursor-Next";
/// Response header: spans between the requested cursor and `Weft-Cursor-First` that
/// were evicted before this scrape and will never be seen.
pub const DROPPED_HEADER: &str = "Weft-Dropped";
/// Response header: spans the client's buffer has evicted unread since it started.
pub const DROPPED_TOTAL_HEADER: &str = "Weft-Dropped-Total";
/// Response header: random identity of the client's buffer; when it changes, sequence
/// numbers restarted and the scraper resets its cursor.
pub const INSTANCE_HEADER: &str = "Weft-Instance";

/// The longest `Weft-Instance` accepted, in bytes (clients send 32 hex digits).
pub const MAX_INSTANCE_BYTES: usize = 128;

/// What the headers of a scrape answer say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeResponseHead {
    /// `Weft-Instance`: the client buffer's identity (printable ASCII, at most
    /// [`MAX_INSTANCE_BYTES`]).
    pub client_instance: String,
    /// `Weft-Cursor-Next`: the cursor to send next time.
    pub next_cursor: u64,
    /// `Weft-Cursor-First`, when sent: the sequence number of the first span in the
    /// body; never above `next_cursor`.
    pub first_cursor: Option<u64>,
    /// `Weft-Dropped` (0 when absent): spans evicted unread between the requested cursor
    /// and the first one in the body.
    pub dropped_spans: u64,
    /// `Weft-Dropped-Total`, when sent: every span the buffer evicted unread.
    pub dropped_total: Option<u64>,
}

/// A decoded scrape answer.
#[derive(Debug)]
pub struct ScrapeResponse {
    /// The headers.
    pub head: ScrapeResponseHead,
    /// The spans of the body; invalid ones are counted, as for an OTLP push.
    pub spans: OtlpDecoded,
}

/// Reads the protocol headers through `header`, which returns a header's value by its
/// name (matched case-insensitively by the caller, as HTTP does).
pub fn decode_response_head<'a>(
    header: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<ScrapeResponseHead, DecodeError> {
    let client_instance = header(INSTANCE_HEADER)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| DecodeError::new(format!("missing or empty {INSTANCE_HEADER} header")))?;
    if client_instance.len() > MAX_INSTANCE_BYTES
        || !client_instance.iter().all(|byte| byte.is_ascii_graphic())
    {
        return Err(DecodeError::new(format!(
            "{INSTANCE_HEADER} header is not at most {MAX_INSTANCE_BYTES} printable ASCII characters"
        )));
    }
    let client_instance = String::from_utf8_lossy(client_instance).into_owned();
    let next_cursor = unsigned_header(&header, CURSOR_NEXT_HEADER)?
        .ok_or_else(|| DecodeError::new(format!("missing {CURSOR_NEXT_HEADER} header")))?;
    let first_cursor = unsigned_header(&header, CURSOR_FIRST_HEADER)?;
    if let Some(first) = first_cursor
        && first > next_cursor
    {
        return Err(DecodeError::new(format!(
            "{CURSOR_FIRST_HEADER} {first} is after {CURSOR_NEXT_HEADER} {next_cursor}"
        )));
    }
    let dropped_spans = unsigned_header(&header, DROPPED_HEADER)?.unwrap_or(0);
    let dropped_total = unsigned_header(&header, DROPPED_TOTAL_HEADER)?;
    Ok(ScrapeResponseHead {
        client_instance,
        next_cursor,
        first_cursor,
        dropped_spans,
        dropped_total,
    })
}

/// Decodes a whole scrape answer: the headers as [`decode_response_head`] and the body
/// as OTLP protobuf (an empty body holds no spans).
pub fn decode_response<'a>(
    header: impl Fn(&str) -> Option<&'a [u8]>,
    body: &[u8],
) -> Result<ScrapeResponse, DecodeError> {
    decode_response_resolving(header, Bytes::copy_from_slice(body), &mut |resource| {
        otlp::decode_resource(resource).map(Arc::new)
    })
}

/// [`decode_response`] with the resources of the body resolved by `resolve`, as
/// [`otlp::decode_proto_resolving`] does: a scraper keeps each target's resources,
/// decoded and labelled, across scrapes.
pub fn decode_response_resolving<'a>(
    header: impl Fn(&str) -> Option<&'a [u8]>,
    body: Bytes,
    resolve: &mut ResolveResource<'_>,
) -> Result<ScrapeResponse, DecodeError> {
    let head = decode_response_head(header)?;
    let spans = otlp::decode_proto_resolving(body, resolve)
        .map_err(|error| DecodeError::new(format!("cannot decode the OTLP body: {error}")))?;
    Ok(ScrapeResponse { head, spans })
}

fn unsigned_header<'a>(
    header: &impl Fn(&str) -> Option<&'a [u8]>,
    name: &str,
) -> Result<Option<u64>, DecodeError> {
    let Some(value) = header(name) else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            DecodeError::new(format!(
                "{name} header {:?} is not an unsigned integer",
                String::from_utf8_lossy(value)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(headers: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<&'a [u8]> {
        move |name| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_bytes())
        }
    }

    #[test]
    fn every_header_is_read() {
        let headers = [
            ("weft-instance", "0123abcd"),
            ("Weft-Cursor-First", "10"),
            ("Weft-Cursor-Next", "15"),
            ("Weft-Dropped", "3"),
            ("Weft-Dropped-Total", " 7 "),
        ];
        let response = decode_response(lookup(&headers), &[]).expect("a valid answer");
        assert_eq!(
            response.head,
            ScrapeResponseHead {
                client_instance: "0123abcd".into(),
                next_cursor: 15,
                first_cursor: Some(10),
                dropped_spans: 3,
                dropped_total: Some(7),
            }
        );
        assert!(response.spans.batch.is_empty());
    }

    #[test]
    fn optional_headers_may_be_absent() {
        let headers = [("Weft-Instance", "a"), ("Weft-Cursor-Next", "0")];
        let head = decode_response_head(lookup(&headers)).expect("a valid head");
        assert_eq!(head.first_cursor, None);
        assert_eq!(head.dropped_spans, 0);
        assert_eq!(head.dropped_total, None);
    }

    #[test]
    fn bad_headers_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("Weft-Cursor-Next", "1")],
                "missing or empty Weft-Instance header",
            ),
            (
                &[("Weft-Instance", ""), ("Weft-Cursor-Next", "1")],
                "missing or empty Weft-Instance header",
            ),
            (
                &[("Weft-Instance", "a b"), ("Weft-Cursor-Next", "1")],
                "Weft-Instance header is not",
            ),
            (&[("Weft-Instance", "a")], "missing Weft-Cursor-Next header"),
            (
                &[("Weft-Instance", "a"), ("Weft-Cursor-Next", "-1")],
                "Weft-Cursor-Next header \"-1\" is not an unsigned integer",
            ),
            (
                &[
                    ("Weft-Instance", "a"),
                    ("Weft-Cursor-Next", "4"),
                    ("Weft-Cursor-First", "5"),
                ],
                "Weft-Cursor-First 5 is after Weft-Cursor-Next 4",
            ),
            (
                &[
                    ("Weft-Instance", "a"),
                    ("Weft-Cursor-Next", "4"),
                    ("Weft-Dropped", "x"),
                ],
                "Weft-Dropped header \"x\" is not an unsigned integer",
            ),
        ];
        for (headers, expected) in cases {
            let error = decode_response_head(lookup(headers)).expect_err("refused");
            assert!(error.message.contains(expected), "{headers:?}: {error}");
        }
    }

    #[test]
    fn a_body_that_is_not_otlp_is_refused() {
        let headers = [("Weft-Instance", "a"), ("Weft-Cursor-Next", "1")];
        let error = decode_response(lookup(&headers), &[0xff, 0xff, 0xff]).expect_err("refused");
        assert!(
            error.message.starts_with("cannot decode the OTLP body: "),
            "{error}"
        );
    }

    #[test]
    fn random_headers_and_bodies_never_panic() {
        let mut random = crate::robustness_tests::Random(7);
        let names = [
            INSTANCE_HEADER,
            CURSOR_NEXT_HEADER,
            CURSOR_FIRST_HEADER,
            DROPPED_HEADER,
            DROPPED_TOTAL_HEADER,
        ];
        let values = [
            "",
            "0",
            "1",
            "18446744073709551615",
            "18446744073709551616",
            " 5",
            "-0",
            "x",
            "a b",
            "\u{e9}",
        ];
        let mut accepted = 0;
        for _ in 0..5_000 {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            for name in names {
                if random.below(4) != 0 {
                    headers.push((name, values[random.below(values.len())]));
                }
            }
            let body: Vec<u8> = (0..random.below(64)).map(|_| random.next() as u8).collect();
            if let Ok(response) = decode_response(lookup(&headers), &body) {
                accepted += 1;
                assert!(
                    response
                        .head
                        .first_cursor
                        .is_none_or(|first| first <= response.head.next_cursor)
                );
            }
        }
        assert!(accepted > 0, "some combinations are valid");
    }
}
