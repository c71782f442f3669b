//! The scrape protocol between weft's scraper and a client's span buffer.
//!
//! `GET <scrape_url>?cursor=<u64>&max_bytes=<u64>`: `cursor` is the next sequence
//! number wanted (absent: the oldest the client holds), `max_bytes` bounds the body.
//! The answer is `200` with an OTLP `ExportTraceServiceRequest` protobuf body (possibly
//! empty) and the `Weft-*` headers re-exported below; [`weft_codec::pull`] decodes it.
//! Scrapes do not remove spans: several scrapers each keep their own cursor.

/// Query parameter: the next sequence number wanted.
pub const CURSOR_PARAMETER: &str = "cursor";
/// Query parameter: the most body bytes the scraper accepts.
pub const MAX_BYTES_PARAMETER: &str = "max_bytes";

pub use weft_codec::pull::{
    CURSOR_FIRST_HEADER, CURSOR_NEXT_HEADER, DROPPED_HEADER, DROPPED_TOTAL_HEADER, INSTANCE_HEADER,
};

/// The `Accept` header the scraper sends.
pub const ACCEPT_PROTOBUF: &str = "application/x-protobuf";
