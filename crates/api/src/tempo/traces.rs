//! Trace by id: `GET /api/traces/{id}` and `GET /api/v2/traces/{id}`.
//!
//! - JSON by default, in Tempo's dialect (gogo jsonpb: base64 ids, enum names, 64-bit
//!   integers as strings): v1 is `{"batches":[ResourceSpans...]}`, v2 is
//!   `{"trace":{"resourceSpans":[...]},"status":"PARTIAL","message":..,"metrics":{..}}`.
//! - Protobuf when `Accept` names `application/protobuf`: v1 is `tempopb.Trace` (wire-
//!   identical to OTLP `TracesData`), v2 is `tempopb.TraceByIDResponse`. This is what
//!   Grafana's Tempo data source requests.
//! - An unknown trace is a 404 with an empty body on v1 and a 200 with an empty trace
//!   on v2, as Tempo answers.
//! - The id is 1 to 32 hex digits (Tempo pads short ids); `start`/`end` (unix seconds)
//!   are validated and otherwise do not narrow the lookup: every store is asked.
//! - A trace with more spans than [`QueryConfig::max_spans_per_trace`] is cut to that
//!   many (the earliest by start) and answered as partial: v2 says `PARTIAL` with a
//!   message, v1 (which has no status) sets the `X-Weft-Partial` header.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use weft_codec::otlp::{JsonStyle, encode_json_styled, to_resource_spans};
use weft_model::{Span, TraceId};
use weft_query::dedupe_spans;

use super::TempoState;
use super::params::unsigned;
use crate::error::{ApiError, request_tenant};
use crate::params::QueryParams;
use crate::query_config::QueryConfig;

/// The header that marks a v1 answer cut by the per-trace span cap.
pub const PARTIAL_HEADER: &str = "X-Weft-Partial";

const PROTOBUF: &str = "application/protobuf";

/// `tempopb.TraceByIDResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<opentelemetry_proto::tonic::trace::v1::TracesData>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<TraceByIdMetrics>,
    /// 0 COMPLETE, 1 PARTIAL.
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

/// `tempopb.TraceByIDMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdMetrics {
    #[prost(uint64, tag = "1")]
    inspected_bytes: u64,
}

/// Which endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

pub(super) async fn trace_v1(
    state: State<TempoState>,
    headers: HeaderMap,
    path: Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    trace(state, headers, path, query, Version::V1).await
}

pub(super) async fn trace_v2(
    state: State<TempoState>,
    headers: HeaderMap,
    path: Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    trace(state, headers, path, query, Version::V2).await
}

async fn trace(
    State(state): State<TempoState>,
    headers: HeaderMap,
    Path(trace_id_text): Path<String>,
    RawQuery(raw): RawQuery,
    version: Version,
) -> Result<Response, ApiError> {
    let tenant = request_tenant(&headers, state.zipkin.multitenancy_enabled)?;
    let trace_id = parse_trace_id(&trace_id_text)?;
    let params = QueryParams::parse(raw.as_deref());
    let start = unsigned(&params, "start")?;
    let end = unsigned(&params, "end")?;
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        return Err(ApiError::BadRequest(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    let mut spans = state.reader.trace(&tenant, trace_id).await?;
    let protobuf = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains(PROTOBUF));
    if spans.is_empty() {
        return match version {
            // Tempo: v1 is a 404 with an empty body, v2 a 200 with an empty trace.
            Version::V1 => Err(ApiError::NotFound(String::new())),
            Version::V2 if protobuf => Ok(bytes_response(
                PROTOBUF,
                TraceByIdResponse {
                    trace: Some(Default::default()),
                    metrics: Some(TraceByIdMetrics { inspected_bytes: 0 }),
                    status: 0,
                    message: String::new(),
                }
                .encode_to_vec(),
            )),
            Version::V2 => Ok(bytes_response(
                "application/json",
                br#"{"trace":{},"metrics":{}}"#.to_vec(),
            )),
        };
    }
    dedupe_spans(&mut spans);
    let inspected_bytes: u64 = spans.iter().map(|span| span.heap_bytes() as u64).sum();
    let partial = cap_spans(&mut spans, &state.query);
    let (content_type, body) = match (version, protobuf) {
        (Version::V1, false) => (
            "application/json",
            encode_json_styled(&spans, JsonStyle::TempoV1),
        ),
        (Version::V1, true) => (PROTOBUF, weft_codec::otlp::encode_proto(&spans)),
        (Version::V2, false) => (
            "application/json",
            v2_json(&spans, partial.as_deref(), inspected_bytes),
        ),
        (Version::V2, true) => (
            PROTOBUF,
            TraceByIdResponse {
                trace: Some(opentelemetry_proto::tonic::trace::v1::TracesData {
                    resource_spans: to_resource_spans(&spans),
                }),
                metrics: Some(TraceByIdMetrics { inspected_bytes }),
                status: i32::from(partial.is_some()),
                message: partial.clone().unwrap_or_default(),
            }
            .encode_to_vec(),
        ),
    };
    let mut response = bytes_response(content_type, body);
    if partial.is_some() {
        response
            .headers_mut()
            .insert(PARTIAL_HEADER, HeaderValue::from_static("span-limit"));
    }
    Ok(response)
}

fn bytes_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// Tempo's trace id rule: 1 to 32 hex digits, padded on the left; Tempo's messages.
pub(crate) fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    if let Some((position, character)) = text
        .chars()
        .enumerate()
        .find(|(_, character)| !character.is_ascii_hexdigit())
    {
        return Err(ApiError::BadRequest(format!(
            "trace IDs can only contain hex characters: invalid character '{character}' at position {}",
            position + 1
        )));
    }
    if text.len() > 32 {
        return Err(ApiError::BadRequest(String::from(
            "trace IDs can't be larger than 128 bits",
        )));
    }
    TraceId::from_hex(text)
        .map_err(|error| ApiError::BadRequest(format!("invalid trace id: {error}")))
}

/// Cuts `spans` to the configured cap, keeping the earliest; the message when it did.
pub(crate) fn cap_spans(spans: &mut Vec<Span>, config: &QueryConfig) -> Option<String> {
    let cap = config.max_spans_per_trace.max(1);
    if spans.len() <= cap {
        return None;
    }
    let total = spans.len();
    spans.sort_by_key(|span| (span.start_unix_nanos, span.span_id));
    spans.truncate(cap);
    Some(format!(
        "trace has {total} spans, more than the read limit of {cap} (query.max_spans_per_trace); the earliest {cap} are returned"
    ))
}

fn v2_json(spans: &[Span], partial: Option<&str>, inspected_bytes: u64) -> Vec<u8> {
    let trace = encode_json_styled(spans, JsonStyle::TempoV2);
    let mut out = Vec::with_capacity(trace.len() + 128);
    out.extend_from_slice(b"{\"trace\":");
    out.extend_from_slice(&trace);
    if let Some(message) = partial {
        out.extend_from_slice(b",\"status\":\"PARTIAL\",\"message\":");
        out.extend_from_slice(
            serde_json::to_string(message)
                .unwrap_or_else(|_| String::from("\"\""))
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(",\"metrics\":{{\"inspectedBytes\":\"{inspected_bytes}\"}}}}").as_bytes(),
    );
    out
}
