//! The scrape protocol between weft's scraper and a client's span buffer.
//!
//! `GET <scrape_url>?cursor=<u64>&max_bytes=<u64>`: `cursor` is the next sequence
//! number wanted (absent: the oldest the client holds), `max_bytes` bounds the body.
//! The answer is `200` with an OTLP `ExportTraceServiceRequest` protobuf body (possibly
//! empty) and the headers below. Scrapes do not remove spans: several scrapers each keep
//! their own cursor.

/// Query parameter: the next sequence number wanted.
pub const CURSOR_PARAMETER: &str = "cursor";
/// Query parameter: the most body bytes the scraper accepts.
pub const MAX_BYTES_PARAMETER: &str = "max_bytes";
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
/// The `Accept` header the scraper sends.
pub const ACCEPT_PROTOBUF: &str = "application/x-protobuf";
