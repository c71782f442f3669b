//! Reading request bodies within a size limit, content negotiation helpers and tenant
//! resolution, shared by every HTTP listener (and the tenant part by gRPC).

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use weft_model::{TenantError, TenantId};

use crate::error::ReceiveError;

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

/// Reads a whole body of at most `limit_bytes` bytes. A `Content-Length` over the limit
/// fails before anything is read; a body that turns out longer fails as soon as it
/// passes the limit, so no more than `limit_bytes` are ever buffered.
pub async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    limit_bytes: usize,
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
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => Err(ReceiveError::BodyRead(error.to_string())),
    }
}

/// Undoes `encoding`. A gzip body is inflated through a reader capped at `limit_bytes`
/// (so a gzip bomb costs at most that much memory and fails with
/// [`ReceiveError::BodyTooLarge`]); invalid gzip fails with [`ReceiveError::Gunzip`].
/// Concatenated gzip members are all inflated. An empty body stays empty.
pub fn decode_content_encoding(
    encoding: ContentEncoding,
    body: Bytes,
    limit_bytes: usize,
) -> Result<Bytes, ReceiveError> {
    match encoding {
        ContentEncoding::Identity => Ok(body),
        ContentEncoding::Gzip if body.is_empty() => Ok(body),
        ContentEncoding::Gzip => gunzip_limited(&body, limit_bytes).map(Bytes::from),
    }
}

fn gunzip_limited(compressed: &[u8], limit_bytes: usize) -> Result<Vec<u8>, ReceiveError> {
    // Guess from the compressed size, never from the gzip trailer (which a bomb controls).
    let capacity = compressed.len().saturating_mul(4).min(limit_bytes);
    let mut inflated = Vec::with_capacity(capacity);
    let read_cap = (limit_bytes as u64).saturating_add(1);
    flate2::read::MultiGzDecoder::new(compressed)
        .take(read_cap)
        .read_to_end(&mut inflated)
        .map_err(|error| ReceiveError::Gunzip(error.to_string()))?;
    if inflated.len() > limit_bytes {
        return Err(ReceiveError::BodyTooLarge {
            limit_bytes: limit_bytes as u64,
        });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::HeaderValue;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("in-memory write");
        encoder.finish().expect("in-memory finish")
    }

    #[test]
    fn gzip_round_trips_within_the_limit() {
        let body = Bytes::from(gzip(b"hello spans"));
        let plain = decode_content_encoding(ContentEncoding::Gzip, body, 11).expect("inflates");
        assert_eq!(&plain[..], b"hello spans");
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let bomb = Bytes::from(gzip(&vec![0u8; 10 * 1024 * 1024]));
        assert!(bomb.len() < 64 * 1024);
        let error = decode_content_encoding(ContentEncoding::Gzip, bomb, 1024 * 1024)
            .expect_err("over the limit");
        assert_eq!(
            error,
            ReceiveError::BodyTooLarge {
                limit_bytes: 1024 * 1024
            }
        );
    }

    #[test]
    fn invalid_gzip_is_a_gunzip_error() {
        let error =
            decode_content_encoding(ContentEncoding::Gzip, Bytes::from_static(b"not gzip"), 100)
                .expect_err("invalid");
        assert!(matches!(error, ReceiveError::Gunzip(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("cannot gunzip request body: ")
        );
    }

    #[test]
    fn concatenated_gzip_members_are_all_inflated() {
        let mut body = gzip(b"first ");
        body.extend(gzip(b"second"));
        let plain = decode_content_encoding(ContentEncoding::Gzip, Bytes::from(body), 100)
            .expect("inflates");
        assert_eq!(&plain[..], b"first second");
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

    #[tokio::test]
    async fn declared_or_actual_length_over_the_limit_is_too_large() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("11"));
        let declared = read_body_limited(&headers, Body::from("hello world"), 10).await;
        assert_eq!(
            declared,
            Err(ReceiveError::BodyTooLarge { limit_bytes: 10 })
        );
        let actual = read_body_limited(&HeaderMap::new(), Body::from("hello world"), 10).await;
        assert_eq!(actual, Err(ReceiveError::BodyTooLarge { limit_bytes: 10 }));
        let fits = read_body_limited(&HeaderMap::new(), Body::from("hello"), 10).await;
        assert_eq!(fits.as_deref().ok(), Some(&b"hello"[..]));
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
