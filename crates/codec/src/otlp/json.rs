//! OTLP/JSON decoding with our own serde structs (opentelemetry-proto's `with-serde`
//! rejects `{}` values and bodies without `resourceSpans`).
//!
//! Leniency beyond the OTLP/JSON spec, all of it additive: `null` anywhere reads as the
//! field's default; enums may be their proto names (`"SPAN_KIND_SERVER"`); 64-bit
//! integers may be numbers or strings, 32-bit ones strings too; ids that are not hex
//! but are base64 of the right length (Tempo's JSON) are accepted; an empty body is an
//! empty request.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use weft_model::{
    AttributeValue, Event, InstrumentationScope, KeyValue, Link, Resource, Span, SpanKind, Status,
    StatusCode,
};

use super::OtlpDecoded;
use super::json_scalars::{
    EnumNumber, HexId, KindNames, LenientF64, LenientI64, StatusNames, decode_base64, lenient_u32,
    lenient_u64,
};
use super::proto::{Rejections, duration_nanos, span_id_8, span_path, trace_id_16, validate_ids};
use crate::DecodeError;

pub(super) fn decode_json(body: &[u8]) -> Result<OtlpDecoded, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(OtlpDecoded::default());
    }
    let request: JsonRequest =
        serde_json::from_slice(body).map_err(|error| describe_error(body, error))?;
    let span_count = request
        .resource_spans
        .iter()
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .map(|scope_spans| scope_spans.spans.len())
        .sum();
    let mut spans = Vec::with_capacity(span_count);
    let mut rejections = Rejections::default();
    for (resource_index, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(Resource {
            attributes: resource_spans.resource.attributes,
            dropped_attributes_count: resource_spans.resource.dropped_attributes_count,
        });
        for (scope_index, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let scope = Arc::new(InstrumentationScope {
                name: scope_spans.scope.name,
                version: scope_spans.scope.version,
                attributes: scope_spans.scope.attributes,
            });
            for (span_index, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource, &scope) {
                    Ok(span) => spans.push(span),
                    Err(reason) => rejections
                        .reject(|| span_path(resource_index, scope_index, span_index, &reason)),
                }
            }
        }
    }
    Ok(rejections.finish(spans))
}

/// Re-reads a body that failed, this time tracking the JSON path, so that the error
/// names where it went wrong. Errors are rare, so the fast path pays nothing for this.
fn describe_error(body: &[u8], error: serde_json::Error) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, JsonRequest>(&mut deserializer) {
        Err(tracked) => {
            let path = tracked.path().to_string();
            let inner = tracked.into_inner();
            if path.is_empty() || path == "." {
                DecodeError::new(format!("invalid json: {inner}"))
            } else {
                DecodeError::new(format!("invalid json at {path}: {inner}"))
            }
        }
        Ok(_) => DecodeError::new(format!("invalid json: {error}")),
    }
}

fn convert_span(
    span: JsonSpan,
    resource: &Arc<Resource>,
    scope: &Arc<InstrumentationScope>,
) -> Result<Span, String> {
    let (trace_id, span_id, parent_span_id) = validate_ids(
        span.trace_id.required_bytes("traceId")?,
        span.span_id.required_bytes("spanId")?,
        span.parent_span_id.optional_bytes("parentSpanId")?,
    )?;
    let mut dropped_links_count = span.dropped_links_count;
    let mut links = Vec::with_capacity(span.links.len());
    for link in span.links {
        match convert_link(link) {
            Some(link) => links.push(link),
            None => dropped_links_count = dropped_links_count.saturating_add(1),
        }
    }
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        name: span.name,
        kind: SpanKind::from_otlp(span.kind.0),
        start_unix_nanos: span.start_time_unix_nano,
        duration_nanos: duration_nanos(span.start_time_unix_nano, span.end_time_unix_nano),
        status: Status {
            code: StatusCode::from_otlp(span.status.code.0),
            message: span.status.message,
        },
        attributes: span.attributes,
        events: span
            .events
            .into_iter()
            .map(|event| Event {
                time_unix_nanos: event.time_unix_nano,
                name: event.name,
                attributes: event.attributes,
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        links,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
        flags: span.flags,
        dropped_attributes_count: span.dropped_attributes_count,
        dropped_events_count: span.dropped_events_count,
        dropped_links_count,
        shared: false,
        debug: false,
    })
}

fn convert_link(link: JsonLink) -> Option<Link> {
    let trace_id = trace_id_16(link.trace_id.required_bytes("traceId").ok()?, "traceId").ok()?;
    let span_id = span_id_8(link.span_id.required_bytes("spanId").ok()?, "spanId").ok()?;
    Some(Link {
        trace_id,
        span_id,
        trace_state: link.trace_state,
        attributes: link.attributes,
        dropped_attributes_count: link.dropped_attributes_count,
        flags: link.flags,
    })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonRequest {
    #[serde(deserialize_with = "null_as_default")]
    resource_spans: Vec<JsonResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonResourceSpans {
    #[serde(deserialize_with = "null_as_default")]
    resource: JsonResource,
    #[serde(deserialize_with = "null_as_default")]
    scope_spans: Vec<JsonScopeSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonResource {
    #[serde(deserialize_with = "attributes")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonScopeSpans {
    #[serde(deserialize_with = "null_as_default")]
    scope: JsonScope,
    #[serde(deserialize_with = "null_as_default")]
    spans: Vec<JsonSpan>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonScope {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    version: String,
    #[serde(deserialize_with = "attributes")]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonSpan {
    trace_id: HexId,
    span_id: HexId,
    parent_span_id: HexId,
    #[serde(deserialize_with = "null_as_default")]
    trace_state: String,
    #[serde(deserialize_with = "lenient_u32")]
    flags: u32,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    kind: EnumNumber<KindNames>,
    #[serde(deserialize_with = "lenient_u64")]
    start_time_unix_nano: u64,
    #[serde(deserialize_with = "lenient_u64")]
    end_time_unix_nano: u64,
    #[serde(deserialize_with = "attributes")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "null_as_default")]
    events: Vec<JsonEvent>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_events_count: u32,
    #[serde(deserialize_with = "null_as_default")]
    links: Vec<JsonLink>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_links_count: u32,
    #[serde(deserialize_with = "null_as_default")]
    status: JsonStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonEvent {
    #[serde(deserialize_with = "lenient_u64")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "attributes")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonLink {
    trace_id: HexId,
    span_id: HexId,
    #[serde(deserialize_with = "null_as_default")]
    trace_state: String,
    #[serde(deserialize_with = "attributes")]
    attributes: Vec<KeyValue>,
    #[serde(deserialize_with = "lenient_u32")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "lenient_u32")]
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonStatus {
    #[serde(deserialize_with = "null_as_default")]
    message: String,
    code: EnumNumber<StatusNames>,
}

/// `null` reads as the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An attribute list (`[{"key":..,"value":{..}}]`) straight into model pairs.
fn attributes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<KeyValue>, D::Error> {
    let pairs: Option<Vec<JsonKeyValue>> = Option::deserialize(deserializer)?;
    Ok(pairs
        .unwrap_or_default()
        .into_iter()
        .map(|pair| KeyValue {
            key: pair.key,
            value: pair.value.0,
        })
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonKeyValue {
    #[serde(deserialize_with = "null_as_default")]
    key: String,
    value: JsonAnyValue,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonArrayValue {
    #[serde(deserialize_with = "null_as_default")]
    values: Vec<JsonAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonKeyValueList {
    #[serde(deserialize_with = "attributes")]
    values: Vec<KeyValue>,
}

/// An OTLP/JSON `AnyValue`; `{}` and `null` are [`AttributeValue::Empty`].
struct JsonAnyValue(AttributeValue);

impl Default for JsonAnyValue {
    fn default() -> Self {
        JsonAnyValue(AttributeValue::Empty)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum AnyValueField {
    StringValue,
    BoolValue,
    IntValue,
    DoubleValue,
    BytesValue,
    ArrayValue,
    KvlistValue,
    #[serde(other)]
    Unknown,
}

impl<'de> Deserialize<'de> for JsonAnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyValueVisitor;
        impl<'de> Visitor<'de> for AnyValueVisitor {
            type Value = JsonAnyValue;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an OTLP AnyValue object")
            }

            fn visit_unit<E: de::Error>(self) -> Result<JsonAnyValue, E> {
                Ok(JsonAnyValue::default())
            }

            fn visit_none<E: de::Error>(self) -> Result<JsonAnyValue, E> {
                Ok(JsonAnyValue::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonAnyValue, A::Error> {
                let mut value = AttributeValue::Empty;
                while let Some(field) = map.next_key::<AnyValueField>()? {
                    let next = match field {
                        AnyValueField::StringValue => map
                            .next_value::<Option<String>>()?
                            .map(AttributeValue::String),
                        AnyValueField::BoolValue => {
                            map.next_value::<Option<bool>>()?.map(AttributeValue::Bool)
                        }
                        AnyValueField::IntValue => {
                            map.next_value::<LenientI64>()?.0.map(AttributeValue::Int)
                        }
                        AnyValueField::DoubleValue => map
                            .next_value::<LenientF64>()?
                            .0
                            .map(AttributeValue::Double),
                        AnyValueField::BytesValue => match map.next_value::<Option<String>>()? {
                            Some(text) => Some(AttributeValue::Bytes(
                                decode_base64(&text)
                                    .ok_or_else(|| de::Error::custom("bytesValue is not base64"))?,
                            )),
                            None => None,
                        },
                        AnyValueField::ArrayValue => {
                            map.next_value::<Option<JsonArrayValue>>()?.map(|array| {
                                AttributeValue::Array(
                                    array.values.into_iter().map(|item| item.0).collect(),
                                )
                            })
                        }
                        AnyValueField::KvlistValue => map
                            .next_value::<Option<JsonKeyValueList>>()?
                            .map(|list| AttributeValue::KeyValueList(list.values)),
                        AnyValueField::Unknown => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if let Some(next) = next {
                        value = next;
                    }
                }
                Ok(JsonAnyValue(value))
            }
        }
        deserializer.deserialize_any(AnyValueVisitor)
    }
}
