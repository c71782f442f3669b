//! The configuration error, with the place in the YAML it points at.

use std::fmt;

use serde_saphyr::Location;

/// A configuration that could not be loaded: which source, where in it, and what is wrong.
///
/// Displays as `source:line:column: message` (or `source: message` when the YAML parser
/// gave no position). Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The name the caller gave the text, usually a file path.
    pub source_name: String,
    /// 1-based line of the offending node, when known.
    pub line: Option<u64>,
    /// 1-based column of the offending node, when known.
    pub column: Option<u64>,
    /// What is wrong, naming the field or value; lowercase, no final period.
    pub message: String,
}

impl ConfigError {
    /// An error at `location` in `source_name`. An unknown location (line 0) is dropped.
    pub(crate) fn at(source_name: &str, location: Location, message: impl Into<String>) -> Self {
        let known = location.line() > 0;
        ConfigError {
            source_name: source_name.to_owned(),
            line: known.then(|| location.line()),
            column: known.then(|| location.column()),
            message: message.into(),
        }
    }

    /// An error about the whole source.
    pub(crate) fn whole(source_name: &str, message: impl Into<String>) -> Self {
        ConfigError {
            source_name: source_name.to_owned(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Wraps a YAML parse or type error from serde-saphyr for `text`, keeping its
    /// position and naming the key whose value it points at when the parser did not.
    pub(crate) fn from_yaml(source_name: &str, text: &str, error: &serde_saphyr::Error) -> Self {
        let message = yaml_message(error);
        match error.location() {
            Some(location) => {
                let message = match key_before(text, location) {
                    Some(key) if !message.contains('`') => format!("{key}: {message}"),
                    _ => message,
                };
                ConfigError::at(source_name, location, message)
            }
            None => ConfigError::whole(source_name, message),
        }
    }
}

/// The mapping key written just before `location` on its line (`key: value` or
/// `{key: value}`), if any: the key a value error is about.
fn key_before(text: &str, location: Location) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(location.line()).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(location.column()).ok()?.checked_sub(1)?;
    let before = line
        .char_indices()
        .nth(column)
        .map_or(line, |(index, _)| &line[..index]);
    let before = before.trim_end().strip_suffix(':')?;
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || "_-./".contains(c)))
        .map_or(0, |index| index + 1);
    let key = &before[start..];
    (!key.is_empty()).then_some(key)
}

/// The parser's own message, without the source snippet it renders for terminals.
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    // serde-saphyr appends " at line N, column M"; the position is reported separately.
    let first_line = rendered.lines().next().unwrap_or_default();
    let message = match first_line.rfind(" at line ") {
        Some(index) => &first_line[..index],
        None => first_line,
    };
    // An unknown key inside a policy's settings block: serde lists the keys of every
    // policy type, which helps nobody.
    match message.split_once(", expected one of threshold_ms,") {
        Some((unknown, _)) => format!("{unknown} in a policy settings block"),
        None => message.to_owned(),
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(
                formatter,
                "{}:{line}:{column}: {}",
                self.source_name, self.message
            ),
            _ => write!(formatter, "{}: {}", self.source_name, self.message),
        }
    }
}
