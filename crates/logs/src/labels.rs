//! Label sets: the identity of a stream, parsed from Loki's text form and validated.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stream's labels, sorted by name, names unique. The text form is Prometheus'
/// `{a="b", c="d"}` with Go string escapes in the values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct LabelSet(Vec<(String, String)>);

/// Why a label set was rejected. Messages follow Loki's wording where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The text is not `{name="value", ...}`.
    #[error("1:{column}: parse error: {message}")]
    Syntax {
        /// 1-based column of the problem.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A stream without labels.
    #[error("error at least one label pair is required per stream")]
    Empty,
    /// A name that is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    InvalidName(String),
    /// The same name twice.
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
}

/// True for a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

impl LabelSet {
    /// Builds a set from pairs in any order. Names are validated; an empty set, an
    /// invalid name or a repeated name is an error. Pairs with an empty value are
    /// dropped (an empty value means "no such label", as in Prometheus).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, LabelError> {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (name, _) in &pairs {
            if !is_valid_label_name(name) {
                return Err(LabelError::InvalidName(name.clone()));
            }
        }
        pairs.sort();
        for window in pairs.windows(2) {
            if window[0].0 == window[1].0 {
                return Err(LabelError::Duplicate(window[0].0.clone()));
            }
        }
        if pairs.is_empty() {
            return Err(LabelError::Empty);
        }
        Ok(LabelSet(pairs))
    }

    /// Parses the text form `{a="b", c="d"}` (whitespace allowed around tokens).
    pub fn parse(text: &str) -> Result<Self, LabelError> {
        let mut cursor = Cursor { text, position: 0 };
        cursor.skip_space();
        cursor.expect('{')?;
        let mut pairs = Vec::new();
        loop {
            cursor.skip_space();
            if cursor.eat('}') {
                break;
            }
            let name = cursor.identifier()?;
            cursor.skip_space();
            cursor.expect('=')?;
            cursor.skip_space();
            let value = cursor.quoted()?;
            pairs.push((name, value));
            cursor.skip_space();
            if cursor.eat(',') {
                continue;
            }
            cursor.skip_space();
            cursor.expect('}')?;
            break;
        }
        cursor.skip_space();
        if cursor.position != text.len() {
            return Err(cursor.error("unexpected text after the closing brace"));
        }
        LabelSet::from_pairs(pairs)
    }

    /// A set from pairs already sorted by name with unique names, kept as given (empty
    /// values included): the labels a LogQL pipeline produced.
    pub(crate) fn from_sorted_unique(pairs: Vec<(String, String)>) -> Self {
        debug_assert!(pairs.windows(2).all(|pair| pair[0].0 < pair[1].0));
        LabelSet(pairs)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(candidate, _)| candidate.as_str().cmp(name))
            .ok()
            .map(|index| self.0[index].1.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no label (never for a set built by [`LabelSet::from_pairs`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for LabelSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("{")?;
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            write!(formatter, "{name}={}", quote(value))?;
        }
        formatter.write_str("}")
    }
}

/// `value` as a double-quoted string with `\\`, `\"`, `\n`, `\t`, `\r` escaped.
pub fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl Cursor<'_> {
    fn error(&self, message: &str) -> LabelError {
        LabelError::Syntax {
            column: self.position + 1,
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(character) = self.peek().filter(|c| c.is_whitespace()) {
            self.position += character.len_utf8();
        }
    }

    fn eat(&mut self, wanted: char) -> bool {
        if self.peek() == Some(wanted) {
            self.position += wanted.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), LabelError> {
        if self.eat(wanted) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {wanted:?}")))
        }
    }

    fn identifier(&mut self) -> Result<String, LabelError> {
        let start = self.position;
        while let Some(character) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.position += character.len_utf8();
        }
        if start == self.position {
            return Err(self.error("expected a label name"));
        }
        Ok(self.text[start..self.position].to_owned())
    }

    fn quoted(&mut self) -> Result<String, LabelError> {
        let (value, consumed) = unquote(&self.text[self.position..])
            .map_err(|offset| self.error_at(self.position + offset, "bad quoted string"))?;
        self.position += consumed;
        Ok(value)
    }

    fn error_at(&self, position: usize, message: &str) -> LabelError {
        LabelError::Syntax {
            column: position + 1,
            message: message.to_owned(),
        }
    }
}

/// Reads a Go-style quoted string (`"..."` with escapes, or a backquoted raw string) at
/// the start of `text`: the value and the bytes consumed, or the byte offset of the
/// problem.
pub fn unquote(text: &str) -> Result<(String, usize), usize> {
    let mut characters = text.char_indices();
    let quote = match characters.next() {
        Some((_, character @ ('"' | '`'))) => character,
        _ => return Err(0),
    };
    let mut value = String::new();
    while let Some((index, character)) = characters.next() {
        if character == quote {
            return Ok((value, index + 1));
        }
        if character != '\\' || quote == '`' {
            value.push(character);
            continue;
        }
        let Some((escape_index, escape)) = characters.next() else {
            return Err(index);
        };
        match escape {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            '\\' => value.push('\\'),
            '"' => value.push('"'),
            '\'' => value.push('\''),
            '0' => value.push('\0'),
            'u' => {
                let digits = text.get(escape_index + 1..escape_index + 5).ok_or(index)?;
                let code = u32::from_str_radix(digits, 16).map_err(|_| index)?;
                value.push(char::from_u32(code).ok_or(index)?);
                for _ in 0..4 {
                    characters.next();
                }
            }
            _ => return Err(index),
        }
    }
    Err(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorts_and_prints_the_text_form() {
        let labels = LabelSet::parse(r#"{job="api", app = "x\"y", a_1="\u00e9"}"#).expect("valid");
        assert_eq!(labels.get("app"), Some("x\"y"));
        assert_eq!(labels.get("a_1"), Some("é"));
        assert_eq!(labels.to_string(), r#"{a_1="é", app="x\"y", job="api"}"#);
        assert_eq!(LabelSet::parse(&labels.to_string()), Ok(labels));
    }

    #[test]
    fn rejects_bad_label_sets_naming_the_problem() {
        assert_eq!(LabelSet::parse("{}"), Err(LabelError::Empty));
        assert_eq!(LabelSet::parse(r#"{a=""}"#), Err(LabelError::Empty));
        assert!(matches!(
            LabelSet::parse(r#"{1a="x"}"#),
            Err(LabelError::InvalidName(_))
        ));
        assert_eq!(
            LabelSet::parse(r#"{a="x", a="y"}"#),
            Err(LabelError::Duplicate(String::from("a")))
        );
        assert!(matches!(
            LabelSet::parse(r#"{a="x""#),
            Err(LabelError::Syntax { .. })
        ));
        assert!(matches!(
            LabelSet::parse(r#"{a="x"} tail"#),
            Err(LabelError::Syntax { column: 9, .. })
        ));
        assert!(matches!(
            LabelSet::parse(r#"a="x""#),
            Err(LabelError::Syntax { column: 1, .. })
        ));
        assert!(!is_valid_label_name("a-b"));
        assert!(is_valid_label_name("_a9"));
    }
}
