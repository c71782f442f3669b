//! Zipkin v1 JSON: parsed into borrowed structs (like v2 JSON), checked, and turned into
//! [`V1Span`]s for conversion.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::convert::{V1Annotation, V1BinaryAnnotation, V1Span, V1Value, is_empty_endpoint};
use crate::DecodeError;
use crate::zipkin::{Micros, Present, RawEndpoint, RawId, Text, describe_json_error};

/// Zipkin's answer when v2 JSON is posted to the v1 endpoint, in Zipkin's words.
const V2_REJECTION: &str = "Expected a JSON_V1 encoded list, but received: JSON_V2";

#[derive(Deserialize)]
struct JsonSpan<'a> {
    #[serde(rename = "traceId", borrow, default)]
    trace_id: Option<RawId<'a>>,
    #[serde(borrow, default)]
    id: Option<RawId<'a>>,
    #[serde(rename = "parentId", borrow, default)]
    parent_id: Option<RawId<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(default)]
    timestamp: Option<Micros>,
    #[serde(default)]
    duration: Option<Micros>,
    #[serde(default)]
    debug: Option<bool>,
    #[serde(borrow, default)]
    annotations: Option<Vec<JsonAnnotation<'a>>>,
    #[serde(rename = "binaryAnnotations", borrow, default)]
    binary_annotations: Option<Vec<JsonBinaryAnnotation<'a>>>,
    // Zipkin v2 fields: a v2 body on the v1 endpoint is rejected.
    #[serde(default)]
    kind: Present,
    #[serde(rename = "localEndpoint", default)]
    local_endpoint: Present,
    #[serde(rename = "remoteEndpoint", default)]
    remote_endpoint: Present,
    #[serde(default)]
    tags: Present,
    #[serde(default)]
    shared: Present,
}

impl JsonSpan<'_> {
    fn looks_like_v2(&self) -> bool {
        self.kind.0
            || self.local_endpoint.0
            || self.remote_endpoint.0
            || self.tags.0
            || self.shared.0
    }
}

#[derive(Deserialize)]
struct JsonAnnotation<'a> {
    #[serde(default)]
    timestamp: Option<Micros>,
    #[serde(borrow, default)]
    value: Option<Text<'a>>,
    #[serde(borrow, default)]
    endpoint: Option<RawEndpoint<'a>>,
}

#[derive(Deserialize)]
struct JsonBinaryAnnotation<'a> {
    #[serde(borrow, default)]
    key: Option<Text<'a>>,
    #[serde(borrow, default)]
    value: Option<JsonValue<'a>>,
    #[serde(rename = "type", borrow, default)]
    value_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    endpoint: Option<RawEndpoint<'a>>,
}

/// A binary annotation's value: a string, a boolean, or anything else (kept as
/// `Other`, then dropped).
enum JsonValue<'a> {
    String(Cow<'a, str>),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = JsonValue<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a binary annotation value")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(JsonValue::String(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(JsonValue::String(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(JsonValue::String(Cow::Owned(text)))
            }

            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
                Ok(JsonValue::Bool(flag))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(JsonValue::Other)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(JsonValue::Other)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(JsonValue::Other)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonValue::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Parses a v1 JSON body into v1 spans. An empty body (or only whitespace) is no spans.
pub(super) fn read_spans(body: &[u8]) -> Result<Vec<V1Span<'_>>, DecodeError> {
    let Some(&first) = body.iter().find(|byte| !byte.is_ascii_whitespace()) else {
        return Ok(Vec::new());
    };
    if first == b'{' {
        return Err(DecodeError::new(
            "expected a JSON_V1 encoded list of spans, but received a JSON object",
        ));
    }
    let json_spans: Vec<JsonSpan<'_>> = serde_json::from_slice(body)
        .map_err(|error| describe_json_error::<JsonSpan<'_>>(body, error))?;
    if json_spans.iter().any(JsonSpan::looks_like_v2) {
        return Err(DecodeError::new(V2_REJECTION));
    }
    json_spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| {
            v1_span(span).map_err(|reason| DecodeError::new(format!("span {index}: {reason}")))
        })
        .collect()
}

fn v1_span(span: JsonSpan<'_>) -> Result<V1Span<'_>, String> {
    let annotations = span.annotations.unwrap_or_default();
    let mut v1_annotations = Vec::with_capacity(annotations.len());
    for (index, annotation) in annotations.into_iter().enumerate() {
        let Some(timestamp) = annotation.timestamp else {
            return Err(format!("annotations[{index}].timestamp is missing"));
        };
        let Some(value) = annotation.value else {
            return Err(format!("annotations[{index}].value is missing"));
        };
        v1_annotations.push(V1Annotation {
            timestamp: timestamp.0,
            value: value.0,
            endpoint: annotation
                .endpoint
                .filter(|endpoint| !is_empty_endpoint(endpoint)),
        });
    }
    let binary_annotations = span.binary_annotations.unwrap_or_default();
    let mut v1_binary_annotations = Vec::with_capacity(binary_annotations.len());
    for (index, binary) in binary_annotations.into_iter().enumerate() {
        let Some(key) = binary.key else {
            return Err(format!("binaryAnnotations[{index}].key is missing"));
        };
        // An explicit type other than STRING or BOOL (I16, I32, I64, DOUBLE, BYTES) is
        // dropped, whatever the value looks like, as Thrift values of those types are.
        let typed = binary
            .value_type
            .as_deref()
            .is_none_or(|value_type| matches!(value_type, "STRING" | "BOOL"));
        let value = match binary.value {
            Some(JsonValue::String(text)) if typed => V1Value::String(text),
            Some(JsonValue::Bool(true)) if typed => V1Value::True,
            _ => V1Value::Other,
        };
        v1_binary_annotations.push(V1BinaryAnnotation {
            key: key.0,
            value,
            endpoint: binary
                .endpoint
                .filter(|endpoint| !is_empty_endpoint(endpoint)),
        });
    }
    Ok(V1Span {
        trace_id: span.trace_id,
        id: span.id,
        parent_id: span.parent_id,
        name: span.name.map(|name| name.0),
        timestamp: span.timestamp.map_or(0, |micros| micros.0),
        duration: span.duration.map_or(0, |micros| micros.0),
        debug: span.debug.unwrap_or(false),
        annotations: v1_annotations,
        binary_annotations: v1_binary_annotations,
    })
}
