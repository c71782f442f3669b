//! Zipkin v1: JSON and Thrift (`zipkincore.Span` lists), converted to Zipkin v2 spans by
//! the rules of Zipkin's own `V1SpanConverter`, then mapped to the model exactly as
//! Zipkin v2 JSON is (see [`crate::zipkin`]: ids, endpoints, tags, `error` status, one
//! resource per service name; the same rejections of bad ids and ports).
//!
//! # Reading v1
//!
//! **JSON** ([`decode_json`]): a list of spans with `traceId` (1 to 32 hex digits; 17 or
//! more is a 128-bit id), `id`, `parentId`, `name`, `timestamp` and `duration` (µs),
//! `debug`, `annotations` (`{timestamp, value, endpoint}`) and `binaryAnnotations`
//! (`{key, value, type, endpoint}`); endpoints as in v2 (`serviceName`, `ipv4`, `ipv6`,
//! `port`). Binary annotation values: a JSON string is a `STRING`, `true` a `BOOL`;
//! other values (`false`, numbers, objects) and any value with an explicit `type` other
//! than `STRING` or `BOOL` (`I16`, `I32`, `I64`, `DOUBLE`, `BYTES`) are dropped.
//! Rejected: an annotation without `timestamp` or `value`, a binary annotation without
//! `key`, malformed JSON (naming the span index, field, line and column), a body that is
//! not a list, and v2 JSON (a span with `kind`, `localEndpoint`, `remoteEndpoint`, `tags`
//! or `shared`), with Zipkin's text `Expected a JSON_V1 encoded list, but received:
//! JSON_V2`. An empty body or `[]` is an empty batch.
//!
//! **Thrift** ([`decode_thrift`]): TBinaryProtocol, a `list<Span>` header (element type
//! 12 = struct, `i32` size) then the spans, as `zipkincore.thrift` defines them:
//! `trace_id` + `trace_id_high` (a 128-bit id when the high half is not 0), `id`,
//! `parent_id` (0 = root), `timestamp`/`duration` (µs, 0 or negative = absent), `debug`.
//! Endpoint `ipv4` is an `i32` (0 = absent), `port` an `i16` read as unsigned (0 =
//! absent), `ipv6` 16 bytes (other lengths dropped). Binary annotations keep only
//! `STRING` values and `BOOL` values of exactly `[1]`; `BYTES`, `I16`, `I32`, `I64`,
//! `DOUBLE` and `BOOL` false are dropped. Strings that are not UTF-8 get U+FFFD (as
//! Java's decoder does). Annotations without a value and binary annotations without a
//! key are dropped. Unknown fields and fields of an unexpected type are skipped; bytes
//! after the list are ignored. Rejected: a body that does not start with a list of
//! structs, and truncated or malformed Thrift (the message names the span index and the
//! byte offset). An empty body is an empty batch.
//!
//! An endpoint that carries nothing (no service name, address or port) counts as absent.
//!
//! # v1 -> v2 conversion (`V1SpanConverter`)
//!
//! One v1 span becomes one or more v2 spans with the v1 span's ids, name and `debug`:
//!
//! 1. **Splitting by endpoint.** Each annotation and binary annotation is assigned to a
//!    v2 span by its endpoint: no endpoint = the first v2 span; otherwise the first v2
//!    span whose local endpoint has the same service name (case-insensitive, absent =
//!    absent), or the first v2 span if it has no local endpoint yet (the endpoint becomes
//!    its local endpoint); otherwise a new v2 span with that local endpoint. So the local
//!    endpoint comes from the first annotation (or, without annotations, binary
//!    annotation) that has an endpoint, and client and server halves reported in one
//!    record (different services) come out as separate spans.
//! 2. **Core annotations** (`cs`, `sr`, `ss`, `cr`, `ms`, `mr`, `ws`, `wr`; only with an
//!    endpoint, otherwise they are plain annotations) are not kept as annotations. They
//!    set the kind of their v2 span: `cs`/`cr` CLIENT, `sr`/`ss` SERVER, `ms` PRODUCER,
//!    `mr` CONSUMER. All other annotations are kept as v2 annotations (events).
//! 3. **Missing start.** Without `cs` but with `cr` at exactly `timestamp + duration`,
//!    `cs` is taken to be at `timestamp` (likewise `sr` from `ss`).
//! 4. **Timestamp and duration.** When the v1 span has both `timestamp` and `duration`,
//!    they win for the span that owns them; otherwise they come from the annotations:
//!    - `cs` and `sr` together (a shared span): the client span gets `timestamp`/
//!      `duration` as above from `cs`/`cr` (no duration without `cr` and without the
//!      v1 `duration`); the server span is **a second span** with `shared` = true,
//!      timestamp `sr` and duration `ss - sr`. When `cs` and `sr` have the same service
//!      name (loopback) the server span is still split off;
//!    - `cs` + `cr`: timestamp `cs`, duration `cr - cs`; `sr` + `ss` likewise;
//!    - an incomplete RPC (only `cs`, only `sr`, only `cr` or only `ss`): timestamp from
//!      `cs`/`sr` when present, and `cr`/`ss` stay as annotations; the v1 span's own
//!      `timestamp`/`duration` (when set) go to the first v2 span;
//!    - `ms` and `mr` together: the consumer is a second span (`shared` = true) with
//!      timestamp `wr` and duration `mr - wr`, or timestamp `mr` without `wr`; the
//!      producer has timestamp `ms` and duration `ws - ms`; only `ms`: timestamp `ms`,
//!      duration `ws - ms`; only `mr`: from `wr` to `mr`, or timestamp `mr`;
//!    - `ws`/`wr` without `ms`/`mr` stay annotations;
//!    - no core annotations (a local span): the v1 `timestamp`/`duration`.
//!
//!    A negative difference leaves the duration absent.
//! 5. **Shared server spans.** v1 had no `shared` flag: a server side without `cs` whose
//!    v1 span has no `timestamp` (or has `ss` but no `duration`) was reported by a
//!    server joining its client's span, so it is marked `shared`.
//! 6. **Address annotations** `ca`, `sa`, `ma` (binary annotations with an endpoint; any
//!    value counts, as some tracers send `"1"` or `"True"` instead of `true`) become the
//!    remote endpoint: `sa` of the client span (the one with `cs`, else `cr`), `ca` of
//!    the server span (`sr`, else `ss`), `ma` of the producer and the consumer span;
//!    skipped where the address has the span's own service name. With no core
//!    annotations: `ca` and `sa` together make a span local to `ca` with remote `sa` (no
//!    kind); `sa` alone makes the first span CLIENT, `ca` alone SERVER.
//! 7. **Tags.** Every other kept binary annotation (a `STRING`) becomes a tag of the v2
//!    span its endpoint selects; for a repeated key the last wins. `lc` (local
//!    component) with an empty value is not a tag, but its endpoint still names the local
//!    service; with a value it is a tag `lc`. `error` becomes the `error` tag, which the
//!    v2 mapping turns into an error status. A `BOOL` true that is not an address, and
//!    every dropped type, is not a tag.
//! 8. **Ids.** `traceIdHigh` (Thrift) or a 32-digit `traceId` (JSON) gives a 128-bit
//!    trace id; `parentId` 0 is a root; `debug` is kept on every v2 span.
//!
//! Deviations from Zipkin: annotations are kept in the order sent (Zipkin's v2 model
//! sorts them by timestamp); names and service names are kept as sent (Zipkin
//! lowercases them; weft's readers lowercase), and IPv4-mapped IPv6 addresses are not
//! turned into IPv4. Errors name the v1 span's index in the request, also for the
//! second span of a split; a bad endpoint (a port above 65535) is named by the v2 field
//! it lands in (`span 0: localEndpoint.port 70000 is out of range`).

mod convert;
mod json;
mod thrift;

use weft_model::SpanBatch;

use crate::DecodeError;
use crate::zipkin::SpanConverter;

/// Decodes a Zipkin v1 JSON list of spans (`POST /api/v1/spans`, `application/json`).
/// A v1 span can become several model spans (the client and the shared server half of
/// one record); see the module docs for the conversion and for what is rejected. An
/// empty body or `[]` is an empty batch. Errors name the v1 span index and field.
pub fn decode_json(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    to_batch(json::read_spans(body)?)
}

/// Decodes a Zipkin v1 Thrift body: a TBinaryProtocol `list<zipkincore.Span>`
/// (`POST /api/v1/spans`, `application/x-thrift`), converted like [`decode_json`]. An
/// empty body is an empty batch. Errors name the v1 span index and the byte offset or
/// field.
pub fn decode_thrift(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    to_batch(thrift::read_spans(body)?)
}

fn to_batch(v1_spans: Vec<convert::V1Span<'_>>) -> Result<SpanBatch, DecodeError> {
    let mut converter = SpanConverter::default();
    let mut spans = Vec::with_capacity(v1_spans.len());
    let mut v2_spans = Vec::new();
    for (index, v1_span) in v1_spans.iter().enumerate() {
        convert::convert(v1_span, &mut v2_spans);
        for v2_span in v2_spans.drain(..) {
            spans.push(converter.convert(v2_span, index)?);
        }
    }
    Ok(SpanBatch { spans })
}

#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
