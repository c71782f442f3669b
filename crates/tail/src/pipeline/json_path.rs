//! The part of JMESPath Promtail's `json` stage is used with: field names (bare or
//! double-quoted for names with dots or dashes), `.` chains and `[n]` indexes
//! (negative from the end).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `expression`; the error says where it stops making sense.
    pub(crate) fn parse(expression: &str) -> Result<JsonPath, String> {
        let bytes = expression.as_bytes();
        let mut steps = Vec::new();
        let mut position = 0;
        let mut expect_field = true;
        while position < bytes.len() {
            match bytes[position] {
                b'.' if !expect_field => {
                    position += 1;
                    expect_field = true;
                }
                b'[' => {
                    let close = expression[position..]
                        .find(']')
                        .map(|offset| position + offset)
                        .ok_or_else(|| format!("unclosed [ at column {}", position + 1))?;
                    let index: i64 = expression[position + 1..close]
                        .trim()
                        .parse()
                        .map_err(|_| format!("index at column {} is not a number", position + 1))?;
                    steps.push(Step::Index(index));
                    position = close + 1;
                    expect_field = false;
                }
                b'"' if expect_field => {
                    let mut name = String::new();
                    let mut index = position + 1;
                    let mut closed = false;
                    while index < bytes.len() {
                        match bytes[index] {
                            b'\\' if index + 1 < bytes.len() => {
                                name.push(char::from(bytes[index + 1]));
                                index += 2;
                            }
                            b'"' => {
                                closed = true;
                                index += 1;
                                break;
                            }
                            _ => {
                                let character =
                                    expression[index..].chars().next().unwrap_or('\u{fffd}');
                                name.push(character);
                                index += character.len_utf8();
                            }
                        }
                    }
                    if !closed {
                        return Err(format!("unclosed quote at column {}", position + 1));
                    }
                    steps.push(Step::Field(name));
                    position = index;
                    expect_field = false;
                }
                character
                    if expect_field && (character.is_ascii_alphabetic() || character == b'_') =>
                {
                    let end = expression[position..]
                        .find(|found: char| !(found.is_ascii_alphanumeric() || found == '_'))
                        .map(|offset| position + offset)
                        .unwrap_or(bytes.len());
                    steps.push(Step::Field(expression[position..end].to_owned()));
                    position = end;
                    expect_field = false;
                }
                _ => {
                    return Err(format!(
                        "unexpected {:?} at column {} of {expression:?}",
                        char::from(bytes[position]),
                        position + 1
                    ));
                }
            }
        }
        if steps.is_empty() || expect_field && !steps.is_empty() && bytes.last() == Some(&b'.') {
            return Err(format!("{expression:?} is not a field expression"));
        }
        Ok(JsonPath { steps })
    }

    /// The value found as text: strings as they are, numbers and booleans printed,
    /// objects and arrays as JSON; `None` when missing or null.
    pub(crate) fn evaluate(&self, root: &Value) -> Option<String> {
        let mut current = root;
        for step in &self.steps {
            current = match step {
                Step::Field(name) => current.as_object()?.get(name)?,
                Step::Index(index) => {
                    let items = current.as_array()?;
                    let resolved = if *index < 0 {
                        items
                            .len()
                            .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                    } else {
                        usize::try_from(*index).ok()?
                    };
                    items.get(resolved)?
                }
            };
        }
        match current {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}
