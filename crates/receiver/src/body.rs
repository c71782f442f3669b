//! Reading request bodies within a size limit, content negotiation helpers and tenant
//! resolution, shared by every HTTP listener (and the tenant part by gRPC).

use std::io::Read;

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;
use weft_model::{TenantError, TenantId};

use crate::error::ReceiveError;
use crate::inflight::{DECODE_EXPANSION, Reservation};
use crate::ingest::INLINE_WORK_BYTES;

/// The tenant header (Tempo and Loki convention). HTTP header names are
/// case-insensitive; gRPC metadata keys are lowercase.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// Resolves the tenant of a request from the raw `X-Scope-OrgID` value.
/// With multi-tenancy off the value is ignored and the single tenant is returned; with
/// it on, a missing, empty, over-long or non-ASCII value (or one with a character outside
/// the safe set) is an error naming the problem.
pub fn resolve_tenant(
    multitenancy_enabled: bool,
    header_value: Option<&[u8]>,
) -> Result<TenantId, TenantError> {
    if !multitenancy_enabled {
        return Ok(TenantId::single());
    }
    match header_value.map(std::str::from_utf8) {
        None => TenantId::from_header(true, None),
        Some(Ok(text)) => TenantId::from_header(true, Some(text)),
        Some(Err(_)) => Err(TenantError::BadCharacter(
            String::from_utf8_lossy(header_value.unwrap_or_default()).into_owned(),
        )),
    }
}

/// The tenant of an HTTP request, from its headers; see [`resolve_tenant`].
pub fn tenant_from_headers(
    multitenancy_enabled: bool,
    headers: &HeaderMap,
) -> Result<TenantId, ReceiveError> {
    let value = headers.get(TENANT_HEADER).map(|value| value.as_bytes());
    Ok(resolve_tenant(multitenancy_enabled, value)?)
}

/// The media type of `Content-Type` without parameters, trimmed and lowercased
/// (`Application/JSON; charset=utf-8` gives `application/json`); `None` when absent.
/// A value that is not visible ASCII is returned as `"<invalid>"` so it can be named in
/// a 415 message without failing here.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?;
    let Ok(text) = value.to_str() else {
        return Some(String::from("<invalid>"));
    };
    let essence = text.split(';').next().unwrap_or_default();
    Some(essence.trim().to_ascii_lowercase())
}

/// A request body encoding this crate can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No `Content-Encoding`, or `identity`.
    Identity,
    /// `gzip` (or its old alias `x-gzip`).
    Gzip,
}

impl ContentEncoding {
    /// Reads `Content-Encoding`. Anything but gzip or identity is
    /// [`ReceiveError::UnsupportedMediaType`] naming the encoding.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ReceiveError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(ContentEncoding::Identity);
        };
        let text = value.to_str().unwrap_or("<invalid>").trim();
        if text.is_empty() || text.eq_ignore_ascii_case("identity") {
            Ok(ContentEncoding::Identity)
        } else if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
            Ok(ContentEncoding::Gzip)
        } else {
            Err(ReceiveError::UnsupportedMediaType(format!(
                "unsupported content encoding {text:?}; accepted: gzip, identity"
            )))
        }
    }
}

/// Reads a whole body of at most `limit_bytes` bytes, charging `reservation`
/// [`DECODE_EXPANSION`] times the body's bytes before they are held: the whole
/// `Content-Length` before reading, or each chunk as it arrives without one. A
/// `Content-Length` over the limit fails before anything is read or charged; a body that
/// turns out longer fails as soon as it passes the limit, so no more than `limit_bytes`
/// are ever buffered. Fails with [`ReceiveError::Overloaded`] when the budget has no room
/// in time.
pub async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    limit_bytes: usize,
    reservation: &Reservation,
) -> Result<Bytes, ReceiveError> {
    let too_large = || ReceiveError::BodyTooLarge {
        limit_bytes: limit_bytes as u64,
    };
    let declared_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit_bytes as u64) {
        return Err(too_large());
    }
    let mut capacity = 0;
    if let Some(length) = declared_length {
        reservation
            .grow_to(length.saturating_mul(DECODE_EXPANSION))
            .await?;
        capacity = usize::try_from(length)
            .unwrap_or(limit_bytes)
            .min(limit_bytes);
    }
    let mut body = body;
    let mut buffer = BytesMut::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| ReceiveError::BodyRead(error.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let length = buffer.len().saturating_add(data.len());
        if length > limit_bytes {
            return Err(too_large());
        }
        reservation
            .grow_to((length as u64).saturating_mul(DECODE_EXPANSION))
            .await?;
        buffer.extend_from_slice(&data);
    }
    Ok(buffer.freeze())
}

/// Bytes inflated per step once a body is past [`INLINE_WORK_BYTES`]; each step is
/// charged before it runs and runs on the blocking pool.
const INFLATE_STEP_BYTES: usize = 8 * 1024 * 1024;

/// Undoes `encoding` (HTTP `Content-Encoding`, or a gRPC message sent with
/// `grpc-encoding: gzip`), charging `reservation` as the body inflates so that a small
/// gzip body cannot inflate to memory no one accounted for: before each step of
/// inflating, the reservation grows to the compressed bytes plus [`DECODE_EXPANSION`]
/// times the bytes inflated so far and the step's. The first 256 KiB of output of a
/// small body are inflated inline; the rest, and everything of a larger body,
/// in steps of 8 MiB on the blocking pool.
///
/// Concatenated gzip members are all inflated; an empty body stays empty. Fails with
/// [`ReceiveError::BodyTooLarge`] as soon as the output passes `limit_bytes` (so at most
/// one byte more is ever inflated), [`ReceiveError::Overloaded`] when the budget has no
/// room for the next step in time, and [`ReceiveError::Gunzip`] on invalid gzip.
pub async fn inflate_charged(
    encoding: ContentEncoding,
    body: Bytes,
    limit_bytes: usize,
    reservation: &Reservation,
) -> Result<Bytes, ReceiveError> {
    if encoding == ContentEncoding::Identity || body.is_empty() {
        return Ok(body);
    }
    let compressed_bytes = body.len() as u64;
    let small_body = body.len() <= INLINE_WORK_BYTES;
    let mut decoder = flate2::read::MultiGzDecoder::new(body.reader());
    let mut inflated = Vec::new();
    loop {
        let step = if inflated.is_empty() && small_body {
            INLINE_WORK_BYTES
        } else {
            INFLATE_STEP_BYTES
        }
        // Never more than one byte past the limit, which is how going over is seen.
        .min(limit_bytes.saturating_add(1) - inflated.len());
        let charge = (inflated.len().saturating_add(step) as u64)
            .saturating_mul(DECODE_EXPANSION)
            .saturating_add(compressed_bytes);
        reservation.grow_to(charge).await?;
        let (read, returned_decoder, returned_inflated) = if inflated.is_empty() && small_body {
            inflate_step(decoder, inflated, step)
        } else {
            tokio::task::spawn_blocking(move || inflate_step(decoder, inflated, step))
                .await
                .map_err(|error| ReceiveError::Gunzip(format!("inflating task failed: {error}")))?
        };
        decoder = returned_decoder;
        inflated = returned_inflated;
        let read = read.map_err(|error| ReceiveError::Gunzip(error.to_string()))?;
        if inflated.len() > limit_bytes {
            return Err(ReceiveError::BodyTooLarge {
                limit_bytes: limit_bytes as u64,
            });
        }
        if read < step {
            return Ok(Bytes::from(inflated));
        }
    }
}

type GzipReader = flate2::read::MultiGzDecoder<bytes::buf::Reader<Bytes>>;

/// Inflates up to `step` more bytes onto `inflated`; returns how many were read (fewer
/// than `step` only at the end of the stream).
fn inflate_step(
    mut decoder: GzipReader,
    mut inflated: Vec<u8>,
    step: usize,
) -> (std::io::Result<usize>, GzipReader, Vec<u8>) {
    let read = (&mut decoder).take(step as u64).read_to_end(&mut inflated);
    (read, decoder, inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use std::time::Duration;

    use http::HeaderValue;

    use super::*;
    use crate::inflight::InflightBudget;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("in-memory write");
        encoder.finish().expect("in-memory finish")
    }

    #[test]
    fn content_encoding_accepts_gzip_and_identity_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            ContentEncoding::from_headers(&headers),
            Ok(ContentEncoding::Identity)
        );
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert_eq!(
            ContentEncoding::from_headers(&headers),
            Ok(ContentEncoding::Gzip)
        );
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        let error = ContentEncoding::from_headers(&headers).expect_err("br");
        assert_eq!(
            error.to_string(),
            "unsupported content encoding \"br\"; accepted: gzip, identity"
        );
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(media_type(&headers), None);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON ; charset=utf-8"),
        );
        assert_eq!(media_type(&headers).as_deref(), Some("application/json"));
    }

    fn reservation(budget_bytes: u64) -> Reservation {
        InflightBudget::new(budget_bytes, Duration::from_millis(10)).reservation()
    }

    #[tokio::test]
    async fn declared_or_actual_length_over_the_limit_is_too_large() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("11"));
        let held = reservation(1 << 20);
        let declared = read_body_limited(&headers, Body::from("hello world"), 10, &held).await;
        assert_eq!(
            declared,
            Err(ReceiveError::BodyTooLarge { limit_bytes: 10 })
        );
        let actual =
            read_body_limited(&HeaderMap::new(), Body::from("hello world"), 10, &held).await;
        assert_eq!(actual, Err(ReceiveError::BodyTooLarge { limit_bytes: 10 }));
        let fits = read_body_limited(&HeaderMap::new(), Body::from("hello"), 10, &held).await;
        assert_eq!(fits.as_deref().ok(), Some(&b"hello"[..]));
    }

    #[tokio::test]
    async fn reading_charges_four_times_the_body_before_holding_it() {
        let held = reservation(1 << 20);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3000"));
        let body = read_body_limited(&headers, Body::from(vec![7u8; 3000]), 4096, &held)
            .await
            .expect("fits");
        assert_eq!(body.len(), 3000);
        assert_eq!(held.held_bytes(), 12 * 1024);
    }

    #[tokio::test]
    async fn reading_without_room_in_the_budget_is_overloaded() {
        let held = reservation(8 * 1024);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3000"));
        let other = held.budget().reservation();
        other.grow_to(8 * 1024).await.expect("room");
        let error = read_body_limited(&headers, Body::from(vec![7u8; 3000]), 4096, &held)
            .await
            .expect_err("no room");
        assert_eq!(error.class().reason, "overloaded");
        // Without Content-Length the first chunk is charged before it is kept.
        let error = read_body_limited(&HeaderMap::new(), Body::from(vec![7u8; 3000]), 4096, &held)
            .await
            .expect_err("no room");
        assert_eq!(error.class().reason, "overloaded");
    }

    #[tokio::test]
    async fn inflating_charges_what_the_body_inflates_to() {
        let plain = vec![b'x'; 3 * 1024 * 1024];
        let compressed = Bytes::from(gzip(&plain));
        assert!(compressed.len() < 64 * 1024);
        // Room for the compressed body but not for what it inflates to.
        let held = reservation(4 << 20);
        let other = held.budget().reservation();
        other.grow_to(3 << 20).await.expect("room");
        let error = inflate_charged(ContentEncoding::Gzip, compressed.clone(), 8 << 20, &held)
            .await
            .expect_err("inflated size is charged");
        assert_eq!(error.class().reason, "overloaded");
        let held = reservation(64 << 20);
        let inflated = inflate_charged(ContentEncoding::Gzip, compressed, 8 << 20, &held)
            .await
            .expect("room");
        assert_eq!(inflated.len(), plain.len());
        assert!(held.held_bytes() >= 4 * plain.len() as u64);
    }

    #[tokio::test]
    async fn inflating_stops_at_the_limit_and_reports_bad_gzip() {
        let held = reservation(256 << 20);
        let bomb = Bytes::from(gzip(&vec![0u8; 10 * 1024 * 1024]));
        let error = inflate_charged(ContentEncoding::Gzip, bomb, 1024 * 1024, &held)
            .await
            .expect_err("over the limit");
        assert_eq!(
            error,
            ReceiveError::BodyTooLarge {
                limit_bytes: 1024 * 1024
            }
        );
        let error = inflate_charged(
            ContentEncoding::Gzip,
            Bytes::from_static(b"not gzip"),
            100,
            &held,
        )
        .await
        .expect_err("invalid");
        assert!(matches!(error, ReceiveError::Gunzip(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("cannot gunzip request body: ")
        );
        let mut body = gzip(b"first ");
        body.extend(gzip(b"second"));
        let plain = inflate_charged(ContentEncoding::Gzip, Bytes::from(body), 12, &held)
            .await
            .expect("exactly at the limit");
        assert_eq!(&plain[..], b"first second");
    }

    #[test]
    fn tenant_is_required_only_with_multitenancy() {
        assert_eq!(resolve_tenant(false, None), Ok(TenantId::single()));
        assert_eq!(resolve_tenant(false, Some(b"../x")), Ok(TenantId::single()));
        assert_eq!(resolve_tenant(true, None), Err(TenantError::Missing));
        assert_eq!(
            resolve_tenant(true, Some(b" team-a ")).map(|t| t.to_string()),
            Ok("team-a".into())
        );
        assert!(matches!(
            resolve_tenant(true, Some(b"a/b")),
            Err(TenantError::BadCharacter(_))
        ));
        assert!(matches!(
            resolve_tenant(true, Some(&[0xff, 0x41])),
            Err(TenantError::BadCharacter(_))
        ));
    }
}
