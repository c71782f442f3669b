//! A small JSON scanner for the `json` and `unpack` stages: it walks an object without
//! building a tree, keeps numbers as written (`1.50` stays `1.50`, as in Loki) and
//! bounds nesting depth.

use std::borrow::Cow;

use super::JsonPathPart;

/// Deepest nesting read; deeper input is a parse error (bounded recursion).
const MAX_DEPTH: usize = 64;

/// A JSON value as found in the text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonValue<'t> {
    /// A string, unescaped.
    String(Cow<'t, str>),
    /// A number as written.
    Number(&'t str),
    /// `true`/`false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array's raw text.
    Array(&'t str),
    /// An object's raw text (only from [`get`]).
    Object(&'t str),
}

struct Scanner<'t> {
    text: &'t str,
    position: usize,
}

type Result<T> = std::result::Result<T, String>;

/// The callback of [`Scanner::members`]: reads one member's value.
type OnMember<'m, 't> = dyn FnMut(&mut Scanner<'t>, Cow<'t, str>, usize) -> Result<()> + 'm;

impl<'t> Scanner<'t> {
    fn error(&self, message: &str) -> String {
        format!("{message} at offset {}", self.position)
    }

    fn skip_space(&mut self) {
        let bytes = self.text.as_bytes();
        while self.position < bytes.len()
            && matches!(bytes[self.position], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn string(&mut self) -> Result<Cow<'t, str>> {
        self.expect(b'"')?;
        let start = self.position;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        while self.position < bytes.len() {
            match bytes[self.position] {
                b'"' => {
                    let raw = &self.text[start..self.position];
                    self.position += 1;
                    if !escaped {
                        return Ok(Cow::Borrowed(raw));
                    }
                    let quoted = &self.text[start - 1..self.position];
                    return serde_json::from_str::<String>(quoted)
                        .map(Cow::Owned)
                        .map_err(|_| self.error("invalid escape in string"));
                }
                b'\\' => {
                    escaped = true;
                    self.position += 2;
                }
                byte if byte < 0x20 => return Err(self.error("control character in string")),
                _ => self.position += 1,
            }
        }
        Err(self.error("unterminated string"))
    }

    /// Reads any value; objects are walked with `on_member` when given, else skipped.
    fn value(&mut self, depth: usize) -> Result<JsonValue<'t>> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_space();
        let start = self.position;
        match self.peek() {
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'{') => {
                self.skip_object(depth)?;
                Ok(JsonValue::Object(&self.text[start..self.position]))
            }
            Some(b'[') => {
                self.position += 1;
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.position += 1;
                } else {
                    loop {
                        self.value(depth + 1)?;
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.position += 1,
                            Some(b']') => {
                                self.position += 1;
                                break;
                            }
                            _ => return Err(self.error("expected ',' or ']' in array")),
                        }
                    }
                }
                Ok(JsonValue::Array(&self.text[start..self.position]))
            }
            Some(b't') if self.text[start..].starts_with("true") => {
                self.position += 4;
                Ok(JsonValue::Bool(true))
            }
            Some(b'f') if self.text[start..].starts_with("false") => {
                self.position += 5;
                Ok(JsonValue::Bool(false))
            }
            Some(b'n') if self.text[start..].starts_with("null") => {
                self.position += 4;
                Ok(JsonValue::Null)
            }
            Some(b'-' | b'0'..=b'9') => {
                let bytes = self.text.as_bytes();
                self.position += 1;
                while self.position < bytes.len()
                    && matches!(
                        bytes[self.position],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.position += 1;
                }
                let raw = &self.text[start..self.position];
                if raw.parse::<f64>().is_err() {
                    return Err(self.error("invalid number"));
                }
                Ok(JsonValue::Number(raw))
            }
            _ => Err(self.error("unexpected character")),
        }
    }

    fn skip_object(&mut self, depth: usize) -> Result<()> {
        self.members(depth, &mut |scanner, _, depth| {
            scanner.value(depth + 1).map(|_| ())
        })
    }

    /// Walks an object's members: `on_member(scanner, key, depth)` must read the value.
    fn members(&mut self, depth: usize, on_member: &mut OnMember<'_, 't>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.expect(b'{')?;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.expect(b':')?;
            on_member(self, key, depth)?;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}' in object")),
            }
        }
    }
}

/// Calls `visit(path, value)` for every member of the object in `text`, descending into
/// nested objects (arrays are passed whole as [`JsonValue::Array`]). Members before a
/// syntax error are visited; the error is returned after.
pub(crate) fn for_each_leaf<'t>(
    text: &'t str,
    visit: &mut dyn FnMut(&[Cow<'t, str>], JsonValue<'t>),
) -> Result<()> {
    let mut scanner = Scanner { text, position: 0 };
    scanner.skip_space();
    if scanner.peek() != Some(b'{') {
        return Err(String::from(
            "Value looks like object, but can't find closing '}' symbol",
        ));
    }
    let mut path: Vec<Cow<'t, str>> = Vec::new();
    walk(&mut scanner, &mut path, visit, 0)?;
    scanner.skip_space();
    Ok(())
}

fn walk<'t>(
    scanner: &mut Scanner<'t>,
    path: &mut Vec<Cow<'t, str>>,
    visit: &mut dyn FnMut(&[Cow<'t, str>], JsonValue<'t>),
    depth: usize,
) -> Result<()> {
    scanner.members(depth, &mut |scanner, key, depth| {
        scanner.skip_space();
        path.push(key);
        let result = if scanner.peek() == Some(b'{') {
            walk(scanner, path, visit, depth + 1)
        } else {
            scanner.value(depth + 1).map(|value| visit(path, value))
        };
        path.pop();
        result
    })
}

/// The value at `path` in `text`, `None` when absent.
pub(crate) fn get<'t>(text: &'t str, path: &[JsonPathPart]) -> Result<Option<JsonValue<'t>>> {
    let mut scanner = Scanner { text, position: 0 };
    let mut value = scanner.value(0)?;
    for part in path {
        let raw = match (&value, part) {
            (JsonValue::Object(raw), JsonPathPart::Field(_))
            | (JsonValue::Array(raw), JsonPathPart::Index(_)) => *raw,
            _ => return Ok(None),
        };
        let mut inner = Scanner {
            text: raw,
            position: 0,
        };
        let mut found = None;
        match part {
            JsonPathPart::Field(wanted) => {
                inner.members(0, &mut |scanner, key, depth| {
                    let member = scanner.value(depth + 1)?;
                    if found.is_none() && key == wanted.as_str() {
                        found = Some(member);
                    }
                    Ok(())
                })?;
            }
            JsonPathPart::Index(wanted) => {
                inner.expect(b'[')?;
                inner.skip_space();
                let mut index = 0;
                if inner.peek() != Some(b']') {
                    loop {
                        let element = inner.value(1)?;
                        if index == *wanted {
                            found = Some(element);
                            break;
                        }
                        index += 1;
                        inner.skip_space();
                        match inner.peek() {
                            Some(b',') => inner.position += 1,
                            _ => break,
                        }
                    }
                }
            }
        }
        match found {
            Some(next) => value = next,
            None => return Ok(None),
        }
    }
    Ok(Some(value))
}
