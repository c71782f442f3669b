//! Line formats the parsing stages read: Docker's json-file lines, CRI lines and
//! logfmt.

use serde::Deserialize;

/// A Docker json-file line.
#[derive(Debug, Deserialize)]
pub(crate) struct DockerLine {
    pub log: String,
    #[serde(default)]
    pub stream: String,
    #[serde(default)]
    pub time: String,
}

/// Parses a Docker json-file line; the `log` field loses its trailing newline.
pub(crate) fn parse_docker(line: &str) -> Option<DockerLine> {
    let mut parsed: DockerLine = serde_json::from_str(line).ok()?;
    if parsed.log.ends_with('\n') {
        parsed.log.pop();
        if parsed.log.ends_with('\r') {
            parsed.log.pop();
        }
    }
    Some(parsed)
}

/// A CRI log line: `<RFC3339Nano time> <stdout|stderr> <flags> <content>`.
#[derive(Debug, PartialEq)]
pub(crate) struct CriLine<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub flags: &'a str,
    pub content: &'a str,
}

/// Parses a CRI line; `None` when it is not one.
pub(crate) fn parse_cri(line: &str) -> Option<CriLine<'_>> {
    let (time, rest) = line.split_once(' ')?;
    let (stream, rest) = rest.split_once(' ')?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let (flags, content) = match rest.split_once(' ') {
        Some((flags, content)) => (flags, content),
        None => (rest, ""),
    };
    if time.is_empty() || flags.is_empty() {
        return None;
    }
    Some(CriLine {
        time,
        stream,
        flags,
        content,
    })
}

/// Parses logfmt into pairs in order: `key=value`, `key="quoted \" value"`, and a
/// bare `key` (empty value). Malformed parts are skipped.
pub(crate) fn parse_logfmt(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut characters = text.chars().peekable();
    loop {
        while characters
            .peek()
            .is_some_and(|character| character.is_whitespace())
        {
            characters.next();
        }
        if characters.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&character) = characters.peek() {
            if character == '=' || character.is_whitespace() || character == '"' {
                break;
            }
            key.push(character);
            characters.next();
        }
        if key.is_empty() {
            // A stray quote or '=': skip it.
            characters.next();
            continue;
        }
        if characters.peek() != Some(&'=') {
            pairs.push((key, String::new()));
            continue;
        }
        characters.next();
        let mut value = String::new();
        if characters.peek() == Some(&'"') {
            characters.next();
            while let Some(character) = characters.next() {
                match character {
                    '\\' => match characters.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('r') => value.push('\r'),
                        Some(other) => value.push(other),
                        None => break,
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(&character) = characters.peek() {
                if character.is_whitespace() {
                    break;
                }
                value.push(character);
                characters.next();
            }
        }
        pairs.push((key, value));
    }
    pairs
}
