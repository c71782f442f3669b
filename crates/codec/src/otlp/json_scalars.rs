//! Scalar OTLP/JSON values read leniently: hex ids, proto enums, 64-bit integers as
//! numbers or strings, floats with proto3 JSON's special strings, base64.

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Standard or URL-safe base64, padded or not (what proto3 JSON parsers accept).
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

/// A hex id as sent: absent, decoded bytes (up to 16), or why it is invalid.
#[derive(Default)]
pub(super) enum HexId {
    #[default]
    Absent,
    Valid {
        bytes: [u8; 16],
        length: usize,
    },
    Invalid(String),
}

impl HexId {
    fn parse(text: &str) -> HexId {
        let digits = text.as_bytes();
        if digits.len() <= 32 && digits.len().is_multiple_of(2) {
            let mut bytes = [0u8; 16];
            let mut valid = true;
            for (index, pair) in digits.chunks_exact(2).enumerate() {
                match (hex_value(pair[0]), hex_value(pair[1])) {
                    (Some(high), Some(low)) => bytes[index] = (high << 4) | low,
                    _ => {
                        valid = false;
                        break;
                    }
                }
            }
            if valid {
                return HexId::Valid {
                    bytes,
                    length: digits.len() / 2,
                };
            }
        }
        // Tempo's JSON sends ids as base64; accept them when they have an id's length.
        if let Some(decoded) = decode_base64(text)
            && (decoded.len() == 16 || decoded.len() == 8)
        {
            let mut bytes = [0u8; 16];
            bytes[..decoded.len()].copy_from_slice(&decoded);
            return HexId::Valid {
                bytes,
                length: decoded.len(),
            };
        }
        let shown = truncate(text);
        let ellipsis = if shown.len() < text.len() { "..." } else { "" };
        let reason = if !digits.iter().all(u8::is_ascii_hexdigit) {
            "is not hex"
        } else if digits.len() > 32 {
            "is longer than 32 hex digits"
        } else {
            "has an odd number of hex digits"
        };
        HexId::Invalid(format!("\"{shown}{ellipsis}\" {reason}"))
    }

    /// The bytes; a missing id is an error naming `field`.
    pub(super) fn required_bytes(&self, field: &str) -> Result<&[u8], String> {
        match self {
            HexId::Absent => Err(format!("{field} is missing")),
            _ => self.optional_bytes(field),
        }
    }

    /// The bytes; a missing id is empty.
    pub(super) fn optional_bytes(&self, field: &str) -> Result<&[u8], String> {
        match self {
            HexId::Absent => Ok(&[]),
            HexId::Valid { bytes, length } => Ok(&bytes[..*length]),
            HexId::Invalid(reason) => Err(format!("{field} {reason}")),
        }
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexIdVisitor;
        impl<'de> Visitor<'de> for HexIdVisitor {
            type Value = HexId;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a hex id string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<HexId, E> {
                Ok(HexId::parse(text))
            }

            fn visit_unit<E: de::Error>(self) -> Result<HexId, E> {
                Ok(HexId::Absent)
            }

            fn visit_none<E: de::Error>(self) -> Result<HexId, E> {
                Ok(HexId::Absent)
            }
        }
        deserializer.deserialize_any(HexIdVisitor)
    }
}

/// Proto enum names accepted in place of numbers.
pub(super) trait EnumNames {
    /// The number for a name, if it is one of the enum's names.
    fn number(name: &str) -> Option<i32>;
}

pub(super) struct KindNames;

impl EnumNames for KindNames {
    fn number(name: &str) -> Option<i32> {
        Some(match name {
            "SPAN_KIND_UNSPECIFIED" => 0,
            "SPAN_KIND_INTERNAL" => 1,
            "SPAN_KIND_SERVER" => 2,
            "SPAN_KIND_CLIENT" => 3,
            "SPAN_KIND_PRODUCER" => 4,
            "SPAN_KIND_CONSUMER" => 5,
            _ => return None,
        })
    }
}

pub(super) struct StatusNames;

impl EnumNames for StatusNames {
    fn number(name: &str) -> Option<i32> {
        Some(match name {
            "STATUS_CODE_UNSET" => 0,
            "STATUS_CODE_OK" => 1,
            "STATUS_CODE_ERROR" => 2,
            _ => return None,
        })
    }
}

/// A proto enum: an integer, a decimal string or one of its names. Unknown names and
/// numbers outside `i32` read as 0 (the enum's unspecified value).
pub(super) struct EnumNumber<Names>(pub(super) i32, std::marker::PhantomData<Names>);

impl<Names> Default for EnumNumber<Names> {
    fn default() -> Self {
        EnumNumber(0, std::marker::PhantomData)
    }
}

impl<'de, Names: EnumNames> Deserialize<'de> for EnumNumber<Names> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnumVisitor<Names>(std::marker::PhantomData<Names>);
        impl<'de, Names: EnumNames> Visitor<'de> for EnumVisitor<Names> {
            type Value = EnumNumber<Names>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an enum number or name")
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(EnumNumber(
                    i32::try_from(number).unwrap_or(0),
                    std::marker::PhantomData,
                ))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(EnumNumber(
                    i32::try_from(number).unwrap_or(0),
                    std::marker::PhantomData,
                ))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                let number = Names::number(text)
                    .or_else(|| text.parse().ok())
                    .unwrap_or(0);
                Ok(EnumNumber(number, std::marker::PhantomData))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(EnumNumber::default())
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(EnumNumber::default())
            }
        }
        deserializer.deserialize_any(EnumVisitor(std::marker::PhantomData))
    }
}

/// An integer given as a JSON number (integral) or a decimal string; `null` is absent.
struct LenientInteger(Option<i128>);

impl<'de> Deserialize<'de> for LenientInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;
        impl<'de> Visitor<'de> for IntegerVisitor {
            type Value = LenientInteger;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an integer or a decimal string")
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<LenientInteger, E> {
                Ok(LenientInteger(Some(i128::from(number))))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<LenientInteger, E> {
                Ok(LenientInteger(Some(i128::from(number))))
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<LenientInteger, E> {
                // 2^64 is exactly representable; anything this side of it fits in i128.
                if number.fract() == 0.0 && number.abs() < 18_446_744_073_709_551_616.0 {
                    Ok(LenientInteger(Some(number as i128)))
                } else {
                    Err(E::custom(format!("{number} is not an integer")))
                }
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<LenientInteger, E> {
                text.trim()
                    .parse::<i128>()
                    .map(|number| LenientInteger(Some(number)))
                    .map_err(|_| {
                        E::custom(format!("{:?} is not a decimal integer", truncate(text)))
                    })
            }

            fn visit_unit<E: de::Error>(self) -> Result<LenientInteger, E> {
                Ok(LenientInteger(None))
            }

            fn visit_none<E: de::Error>(self) -> Result<LenientInteger, E> {
                Ok(LenientInteger(None))
            }
        }
        deserializer.deserialize_any(IntegerVisitor)
    }
}

pub(super) fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

pub(super) fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match LenientInteger::deserialize(deserializer)?.0 {
        None => Ok(0),
        Some(number) => u64::try_from(number).map_err(|_| {
            de::Error::custom(format!(
                "{number} is out of range for an unsigned 64-bit integer"
            ))
        }),
    }
}

pub(super) fn lenient_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    match LenientInteger::deserialize(deserializer)?.0 {
        None => Ok(0),
        Some(number) => u32::try_from(number).map_err(|_| {
            de::Error::custom(format!(
                "{number} is out of range for an unsigned 32-bit integer"
            ))
        }),
    }
}

/// `intValue`: a signed 64-bit integer as a number or a string.
pub(super) struct LenientI64(pub(super) Option<i64>);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match LenientInteger::deserialize(deserializer)?.0 {
            None => Ok(LenientI64(None)),
            Some(number) => i64::try_from(number)
                .map(|number| LenientI64(Some(number)))
                .map_err(|_| de::Error::custom(format!("{number} is out of range for intValue"))),
        }
    }
}

/// `doubleValue`: a number, or a string holding a number, `NaN`, `Infinity` or
/// `-Infinity`.
pub(super) struct LenientF64(pub(super) Option<f64>);

impl<'de> Deserialize<'de> for LenientF64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FloatVisitor;
        impl<'de> Visitor<'de> for FloatVisitor {
            type Value = LenientF64;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a number or a numeric string")
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<LenientF64, E> {
                Ok(LenientF64(Some(number)))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<LenientF64, E> {
                Ok(LenientF64(Some(number as f64)))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<LenientF64, E> {
                Ok(LenientF64(Some(number as f64)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<LenientF64, E> {
                let number = match text {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => text
                        .trim()
                        .parse()
                        .map_err(|_| E::custom(format!("{:?} is not a number", truncate(text))))?,
                };
                Ok(LenientF64(Some(number)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<LenientF64, E> {
                Ok(LenientF64(None))
            }

            fn visit_none<E: de::Error>(self) -> Result<LenientF64, E> {
                Ok(LenientF64(None))
            }
        }
        deserializer.deserialize_any(FloatVisitor)
    }
}
