//! The parser stages: `json`, `logfmt`, `regexp`, `pattern` and `unpack`, with Loki's
//! label naming (sanitised names, `_extracted` on collisions, first parser wins) and
//! error labels.

use std::borrow::Cow;

use super::json::{self, JsonValue};
use super::pipeline::{Labels, PatternPart};
use super::{JsonExtraction, ParserStage};

/// Loki's label-name sanitising: trimmed; a leading digit gets a `_` prefix; every
/// character outside `[a-zA-Z0-9_]` becomes `_`. Empty when the key is blank.
pub(crate) fn sanitize_label_key(key: &str) -> String {
    let key = key.trim();
    let mut sanitized = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        sanitized.push('_');
    }
    sanitized.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    sanitized
}

/// Runs a parser over `line`; `Some(line)` when the stage replaces the line (`unpack`
/// with an `_entry`).
pub(crate) fn run(parser: &ParserStage, line: &str, labels: &mut Labels) -> Option<String> {
    match parser {
        ParserStage::Json { extractions } if extractions.is_empty() => {
            json_all(line, labels);
            None
        }
        ParserStage::Json { extractions } => {
            json_extract(extractions, line, labels);
            None
        }
        ParserStage::Logfmt {
            strict,
            keep_empty,
            extractions,
        } => {
            logfmt(line, labels, *strict, *keep_empty, extractions);
            None
        }
        ParserStage::Regexp(parser) => {
            if let Some(captures) = parser.regex.captures(line) {
                for name in parser.regex.capture_names().flatten() {
                    if let Some(found) = captures.name(name) {
                        let key = labels.extracted_name(sanitize_label_key(name));
                        labels.set_extracted(key, found.as_str().to_owned());
                    }
                }
            }
            None
        }
        ParserStage::Pattern(parser) => {
            for (name, value) in pattern_matches(&parser.parts, line) {
                let key = labels.extracted_name(name.to_owned());
                labels.set_extracted(key, value.to_owned());
            }
            None
        }
        ParserStage::Unpack => unpack(line, labels),
    }
}

fn json_error(labels: &mut Labels, details: String) {
    labels.set_error("JSONParserErr", Some(details));
}

/// The label a JSON member at `path` gets: the sanitised non-blank parts joined with
/// `_` (empty when every part is blank).
pub(crate) fn json_label_name(path: &[Cow<'_, str>]) -> String {
    let mut name = String::new();
    for part in path {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if name.is_empty() {
            name = sanitize_label_key(part);
        } else {
            name.push('_');
            name.extend(part.chars().map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            }));
        }
    }
    name
}

fn json_all(line: &str, labels: &mut Labels) {
    let mut found: Vec<(String, String)> = Vec::new();
    let result = json::for_each_leaf(line, &mut |path: &[Cow<'_, str>], value: JsonValue<'_>| {
        let text = match value {
            JsonValue::String(text) => text.into_owned(),
            JsonValue::Number(raw) => raw.to_owned(),
            JsonValue::Bool(true) => String::from("true"),
            JsonValue::Bool(false) => String::from("false"),
            JsonValue::Null | JsonValue::Array(_) | JsonValue::Object(_) => return,
        };
        let name = json_label_name(path);
        if !name.is_empty() {
            found.push((name, text));
        }
    });
    // Keys read before a syntax error are kept, as Loki's streaming parser keeps them.
    for (name, value) in found {
        let name = labels.extracted_name(name);
        labels.set_extracted(name, value);
    }
    if let Err(error) = result {
        json_error(labels, error);
    }
}

fn json_extract(extractions: &[JsonExtraction], line: &str, labels: &mut Labels) {
    if line.is_empty() {
        return;
    }
    if !line.starts_with(['{', '[', '"']) {
        // Loki's expression parser sets the error without details.
        labels.set_error("JSONParserErr", None);
        return;
    }
    for extraction in extractions {
        let value = match json::get(line, &extraction.path) {
            Ok(Some(JsonValue::String(text))) => text.into_owned(),
            Ok(Some(JsonValue::Number(raw))) => raw.to_owned(),
            Ok(Some(JsonValue::Bool(value))) => value.to_string(),
            Ok(Some(JsonValue::Object(raw) | JsonValue::Array(raw))) => raw.to_owned(),
            Ok(Some(JsonValue::Null)) | Ok(None) => String::new(),
            Err(_) => {
                labels.set_error("JSONParserErr", None);
                String::new()
            }
        };
        let key = labels.extracted_name(extraction.label.clone());
        labels.set_parsed(key, value);
    }
}

fn unpack(line: &str, labels: &mut Labels) -> Option<String> {
    if line.is_empty() {
        return None;
    }
    if !line.starts_with('{') {
        json_error(
            labels,
            String::from("expecting json object(6), but it is not"),
        );
        return None;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut entry = None;
    let result = json::for_each_leaf(line, &mut |path: &[Cow<'_, str>], value: JsonValue<'_>| {
        if path.len() != 1 {
            return;
        }
        if let JsonValue::String(text) = value {
            if path[0] == "_entry" {
                entry = Some(text.into_owned());
            } else {
                pairs.push((path[0].to_string(), text.into_owned()));
            }
        }
    });
    if let Err(error) = result {
        json_error(labels, error);
        return None;
    }
    let entry = entry?;
    for (key, value) in pairs {
        let key = sanitize_label_key(&labels.extracted_name(key));
        labels.set_extracted(key, value);
    }
    Some(entry)
}

/// A logfmt key/value, or the reason the text at that point is not one.
struct LogfmtPair<'l> {
    key: &'l str,
    value: std::borrow::Cow<'l, str>,
}

/// Reads the next pair at `*position`; `None` at the end, `Some(Err)` for a malformed
/// pair (the position then moves past it).
fn next_logfmt_pair<'l>(
    line: &'l str,
    position: &mut usize,
) -> Option<Result<LogfmtPair<'l>, String>> {
    let bytes = line.as_bytes();
    while *position < bytes.len() && bytes[*position] <= b' ' {
        *position += 1;
    }
    if *position >= bytes.len() {
        return None;
    }
    let start = *position;
    let skip_garbage = |position: &mut usize| {
        while *position < bytes.len() && bytes[*position] > b' ' {
            *position += 1;
        }
    };
    while *position < bytes.len()
        && bytes[*position] > b' '
        && bytes[*position] != b'='
        && bytes[*position] != b'"'
    {
        *position += 1;
    }
    let key = &line[start..*position];
    if *position < bytes.len() && bytes[*position] == b'"' {
        let at = *position + 1;
        skip_garbage(position);
        return Some(Err(format!(
            "logfmt syntax error at pos {at} : unexpected '\"'"
        )));
    }
    if key.is_empty() {
        let at = *position + 1;
        skip_garbage(position);
        return Some(Err(format!(
            "logfmt syntax error at pos {at} : unexpected '='"
        )));
    }
    if *position >= bytes.len() || bytes[*position] != b'=' {
        return Some(Ok(LogfmtPair {
            key,
            value: std::borrow::Cow::Borrowed(""),
        }));
    }
    *position += 1;
    if *position < bytes.len() && bytes[*position] == b'"' {
        let value_start = *position;
        *position += 1;
        let mut escaped = false;
        while *position < bytes.len() {
            let byte = bytes[*position];
            *position += 1;
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                let quoted = &line[value_start..*position];
                return Some(match serde_json::from_str::<String>(quoted) {
                    Ok(value) => Ok(LogfmtPair {
                        key,
                        value: std::borrow::Cow::Owned(value),
                    }),
                    Err(_) => Ok(LogfmtPair {
                        key,
                        value: std::borrow::Cow::Borrowed(&line[value_start + 1..*position - 1]),
                    }),
                });
            }
        }
        return Some(Err(format!(
            "logfmt syntax error at pos {} : unterminated quoted value",
            *position + 1
        )));
    }
    let value_start = *position;
    while *position < bytes.len() && bytes[*position] > b' ' {
        if bytes[*position] == b'=' || bytes[*position] == b'"' {
            let at = *position + 1;
            let found = bytes[*position] as char;
            skip_garbage(position);
            return Some(Err(format!(
                "logfmt syntax error at pos {at} : unexpected '{found}'"
            )));
        }
        *position += 1;
    }
    Some(Ok(LogfmtPair {
        key,
        value: std::borrow::Cow::Borrowed(&line[value_start..*position]),
    }))
}

fn logfmt(
    line: &str,
    labels: &mut Labels,
    strict: bool,
    keep_empty: bool,
    extractions: &[(String, String)],
) {
    if !extractions.is_empty() {
        for (label, _) in extractions {
            if labels.extracted_name(label.clone()) == *label {
                labels.set_parsed(label.clone(), String::new());
            }
        }
    }
    let mut position = 0;
    let mut error = None;
    while let Some(pair) = next_logfmt_pair(line, &mut position) {
        let pair = match pair {
            Ok(pair) => pair,
            Err(details) => {
                if strict {
                    error = Some(details);
                    break;
                }
                continue;
            }
        };
        let key = sanitize_label_key(pair.key);
        if key.is_empty() {
            continue;
        }
        if !extractions.is_empty() {
            for (label, wanted) in extractions {
                if sanitize_label_key(wanted) == key {
                    let name = labels.extracted_name(label.clone());
                    labels.set_parsed(name, pair.value.to_string());
                }
            }
            continue;
        }
        let key = labels.extracted_name(key);
        if labels.was_extracted(&key) {
            continue;
        }
        if !keep_empty && pair.value.is_empty() {
            continue;
        }
        labels.set_extracted(key, pair.value.replace('\u{fffd}', " "));
    }
    if let Some(details) = error {
        labels.set_error("LogfmtParserErr", Some(details));
    }
}

/// Loki's pattern matching: anchored at the start; each capture takes text up to the
/// next literal; a capture at the end takes the rest; when a literal is missing the
/// capture takes the rest and matching stops.
pub(crate) fn pattern_matches<'p, 'l>(
    parts: &'p [PatternPart],
    line: &'l str,
) -> Vec<(&'p str, &'l str)> {
    let mut found = Vec::new();
    if line.is_empty() || parts.is_empty() {
        return found;
    }
    let mut rest = line;
    let mut index = 0;
    if let PatternPart::Literal(literal) = &parts[0] {
        match rest.strip_prefix(literal.as_str()) {
            Some(after) => rest = after,
            None => return found,
        }
        index = 1;
    }
    while index < parts.len() {
        let PatternPart::Capture(name) = &parts[index] else {
            index += 1;
            continue;
        };
        let Some(PatternPart::Literal(literal)) = parts.get(index + 1) else {
            if let Some(name) = name {
                found.push((name.as_str(), rest));
            }
            return found;
        };
        let Some(at) = rest.find(literal.as_str()) else {
            if let Some(name) = name {
                found.push((name.as_str(), rest));
            }
            return found;
        };
        if let Some(name) = name {
            found.push((name.as_str(), &rest[..at]));
        }
        rest = &rest[at + literal.len()..];
        index += 2;
    }
    found
}
