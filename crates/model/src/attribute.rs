//! Attribute keys and values, as OpenTelemetry defines them.

use serde::{Deserialize, Serialize};

/// An attribute value: OpenTelemetry's `AnyValue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// A UTF-8 string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<AttributeValue>),
    /// A nested list of key-value pairs.
    KeyValueList(Vec<KeyValue>),
    /// No value (OTLP's empty `AnyValue`).
    Empty,
}

impl AttributeValue {
    /// The value as a string the way OpenTelemetry's non-OTLP exporters render it:
    /// strings as they are, scalars in their usual text form, arrays and maps as JSON.
    pub fn to_text(&self) -> String {
        match self {
            AttributeValue::String(text) => text.clone(),
            AttributeValue::Bool(value) => value.to_string(),
            AttributeValue::Int(value) => value.to_string(),
            AttributeValue::Double(value) => value.to_string(),
            AttributeValue::Bytes(bytes) => {
                // Hex keeps bytes printable without a base64 dependency in the model.
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
            AttributeValue::Array(values) => {
                let mut out = String::from("[");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    value.write_json(&mut out);
                }
                out.push(']');
                out
            }
            AttributeValue::KeyValueList(_) => {
                let mut out = String::new();
                self.write_json(&mut out);
                out
            }
            AttributeValue::Empty => String::new(),
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            AttributeValue::String(text) => write_json_string(text, out),
            AttributeValue::Bool(_) | AttributeValue::Int(_) => out.push_str(&self.to_text()),
            AttributeValue::Double(value) if value.is_finite() => out.push_str(&self.to_text()),
            AttributeValue::Double(_) | AttributeValue::Bytes(_) => {
                write_json_string(&self.to_text(), out)
            }
            AttributeValue::Array(_) => out.push_str(&self.to_text()),
            AttributeValue::KeyValueList(pairs) => {
                out.push('{');
                for (i, pair) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(&pair.key, out);
                    out.push(':');
                    pair.value.write_json(out);
                }
                out.push('}');
            }
            AttributeValue::Empty => out.push_str("null"),
        }
    }

    /// The string inside a `String` value, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttributeValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// Approximate heap bytes held by this value, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            AttributeValue::String(text) => text.len(),
            AttributeValue::Bytes(bytes) => bytes.len(),
            AttributeValue::Array(values) => values
                .iter()
                .map(|v| v.heap_bytes() + std::mem::size_of::<AttributeValue>())
                .sum(),
            AttributeValue::KeyValueList(pairs) => pairs.iter().map(KeyValue::heap_bytes).sum(),
            _ => 0,
        }
    }
}

fn write_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for AttributeValue {
    fn from(text: &str) -> Self {
        AttributeValue::String(text.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(text: String) -> Self {
        AttributeValue::String(text)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        AttributeValue::Int(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        AttributeValue::Bool(value)
    }
}

/// One attribute: a key and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The attribute key, e.g. `http.request.method`.
    pub key: String,
    /// The attribute value.
    pub value: AttributeValue,
}

impl KeyValue {
    /// Builds a pair.
    pub fn new(key: impl Into<String>, value: impl Into<AttributeValue>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Approximate heap bytes held by this pair, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.key.len() + self.value.heap_bytes() + std::mem::size_of::<KeyValue>()
    }
}

/// Finds the first attribute with `key` in a list.
pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AttributeValue> {
    attributes
        .iter()
        .find(|pair| pair.key == key)
        .map(|pair| &pair.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_string_values_render_like_opentelemetry_exporters() {
        assert_eq!(AttributeValue::Int(42).to_text(), "42");
        assert_eq!(AttributeValue::Bool(true).to_text(), "true");
        let array = AttributeValue::Array(vec!["a\"b".into(), AttributeValue::Int(1)]);
        assert_eq!(array.to_text(), r#"["a\"b",1]"#);
        let map = AttributeValue::KeyValueList(vec![KeyValue::new("k", "v")]);
        assert_eq!(map.to_text(), r#"{"k":"v"}"#);
    }
}
