//! Zipkin v2 spans as sent, before validation: the shape of Zipkin v2 JSON, borrowed from
//! the body where it has no escapes. The protobuf decoder (`proto`) and the Zipkin v1
//! converter (`crate::zipkin_v1`) build the same structs, so that validation and the
//! mapping to the model live in one place (`decode`).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

#[derive(Deserialize)]
pub(crate) struct RawSpan<'a> {
    #[serde(rename = "traceId", borrow, default)]
    pub(crate) trace_id: Option<RawId<'a>>,
    #[serde(borrow, default)]
    pub(crate) id: Option<RawId<'a>>,
    #[serde(rename = "parentId", borrow, default)]
    pub(crate) parent_id: Option<RawId<'a>>,
    #[serde(borrow, default)]
    pub(crate) kind: Option<Text<'a>>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) timestamp: Option<Micros>,
    #[serde(default)]
    pub(crate) duration: Option<Micros>,
    #[serde(rename = "localEndpoint", borrow, default)]
    pub(crate) local_endpoint: Option<RawEndpoint<'a>>,
    #[serde(rename = "remoteEndpoint", borrow, default)]
    pub(crate) remote_endpoint: Option<RawEndpoint<'a>>,
    #[serde(default)]
    pub(crate) annotations: Option<Vec<RawAnnotation>>,
    #[serde(default)]
    pub(crate) tags: Option<Tags>,
    #[serde(default)]
    pub(crate) debug: Option<bool>,
    #[serde(default)]
    pub(crate) shared: Option<bool>,
    #[serde(rename = "binaryAnnotations", default)]
    pub(crate) binary_annotations: Present,
}

impl RawSpan<'_> {
    /// Zipkin's v1 markers: `binaryAnnotations`, or annotations carrying an `endpoint`.
    pub(crate) fn looks_like_v1(&self) -> bool {
        self.binary_annotations.0
            || self
                .annotations
                .iter()
                .flatten()
                .any(|annotation| annotation.endpoint.0)
    }
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct RawEndpoint<'a> {
    #[serde(rename = "serviceName", borrow, default)]
    pub(crate) service_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) ipv4: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) ipv6: Option<Text<'a>>,
    #[serde(default)]
    pub(crate) port: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct RawAnnotation {
    #[serde(default)]
    pub(crate) timestamp: Option<Micros>,
    #[serde(default)]
    pub(crate) value: Option<String>,
    #[serde(default)]
    pub(crate) endpoint: Present,
}

/// A string borrowed from the body when it has no escapes.
#[derive(Clone)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A trace, span or parent id as sent, validated in `decode`.
#[derive(Clone)]
pub(crate) enum RawId<'a> {
    /// Hex digits (JSON): 1 to 32 for a trace id, 1 to 16 for a span id.
    Hex(Text<'a>),
    /// Big-endian bytes (protobuf): 8 or 16 for a trace id, 8 for a span id; empty for
    /// an absent parent id.
    Bytes(Vec<u8>),
    /// An unsigned integer (Thrift's `i64` ids, with `trace_id_high` in the high half).
    Integer(u128),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawId<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Text::deserialize(deserializer).map(RawId::Hex)
    }
}

/// Epoch or duration microseconds: an integer (a float is truncated); negative is 0.
pub(crate) struct Micros(pub(crate) u64);

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MicrosVisitor;
        impl Visitor<'_> for MicrosVisitor {
            type Value = Micros;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("microseconds as a number")
            }

            fn visit_u64<E: de::Error>(self, micros: u64) -> Result<Micros, E> {
                Ok(Micros(micros))
            }

            fn visit_i64<E: de::Error>(self, micros: i64) -> Result<Micros, E> {
                Ok(Micros(u64::try_from(micros).unwrap_or(0)))
            }

            fn visit_f64<E: de::Error>(self, micros: f64) -> Result<Micros, E> {
                // `as` saturates: negative and NaN become 0, huge values u64::MAX.
                Ok(Micros(micros as u64))
            }
        }
        deserializer.deserialize_any(MicrosVisitor)
    }
}

/// Whether a field was present at all, whatever its value.
#[derive(Default)]
pub(crate) struct Present(pub(crate) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Present(true))
    }
}

/// Zipkin tags in the order sent. Values must be strings; numbers and booleans are
/// accepted and kept as their JSON text; `null` is an error.
pub(crate) struct Tags(pub(crate) Vec<(String, String)>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object of string tags")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut tags = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<TagValue>()?;
                    tags.push((key, value.0));
                }
                Ok(Tags(tags))
            }
        }
        deserializer.deserialize_map(TagsVisitor)
    }
}

pub(crate) struct TagValue(String);

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagValueVisitor;
        impl Visitor<'_> for TagValueVisitor {
            type Value = TagValue;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string tag value")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<TagValue, E> {
                Ok(TagValue(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<TagValue, E> {
                Ok(TagValue(text))
            }

            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<TagValue, E> {
                Ok(TagValue(flag.to_string()))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<TagValue, E> {
                Ok(TagValue(number.to_string()))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<TagValue, E> {
                Ok(TagValue(number.to_string()))
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<TagValue, E> {
                Ok(TagValue(number.to_string()))
            }
        }
        deserializer.deserialize_any(TagValueVisitor)
    }
}
