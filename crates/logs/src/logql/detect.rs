//! The fields Loki's `detected_fields` finds in a log line: the line read as JSON, or
//! when that fails as logfmt (not strict, empty values dropped), with Loki's label
//! names; and the type Loki gives a value.

use std::borrow::Cow;
use std::collections::HashMap;

use super::ParserStage;
use super::json::{self, JsonValue};
use super::parsers::{self, json_label_name};
use super::pipeline::{DUPLICATE_SUFFIX, Labels, go_parse_float};
use super::units::{parse_bytes, parse_go_duration};
use crate::LabelSet;

/// The fields of one line and the parser that found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFields {
    /// `json` or `logfmt`.
    pub parser: &'static str,
    /// Name, value, and for JSON the member's path (the keys as written).
    pub fields: Vec<(String, String, Option<Vec<String>>)>,
}

/// Reads `line` of the stream `stream` as Loki's `detected_fields` does; `None` when
/// neither parser reads it.
pub fn line_fields(stream: &LabelSet, line: &str) -> Option<LineFields> {
    let json_stage = ParserStage::Json {
        extractions: Vec::new(),
    };
    let mut labels = Labels::new(stream, &[]);
    parsers::run(&json_stage, line, &mut labels);
    if !labels.has_error() {
        let mut paths: HashMap<String, Vec<String>> = HashMap::new();
        // The JSON parsed once already, so this walk cannot fail.
        let _ = json::for_each_leaf(line, &mut |path: &[Cow<'_, str>], _: JsonValue<'_>| {
            paths
                .entry(json_label_name(path))
                .or_insert_with(|| path.iter().map(|part| part.to_string()).collect());
        });
        let fields = labels
            .parsed()
            .map(|(name, value)| {
                let path = paths
                    .get(name)
                    .or_else(|| {
                        let base = name.strip_suffix(DUPLICATE_SUFFIX)?;
                        paths.get(base)
                    })
                    .cloned();
                (name.to_owned(), value.to_owned(), path)
            })
            .collect();
        return Some(LineFields {
            parser: "json",
            fields,
        });
    }
    let logfmt_stage = ParserStage::Logfmt {
        strict: false,
        keep_empty: false,
        extractions: Vec::new(),
    };
    let mut labels = Labels::new(stream, &[]);
    parsers::run(&logfmt_stage, line, &mut labels);
    if labels.has_error() {
        return None;
    }
    let fields = labels
        .parsed()
        .map(|(name, value)| (name.to_owned(), value.to_owned(), None))
        .collect();
    Some(LineFields {
        parser: "logfmt",
        fields,
    })
}

/// Loki's type of a field value, tried in its order: `int` (Go's `ParseInt`), `float`,
/// `boolean` (Go's `ParseBool`), `duration` (Go's `ParseDuration`), `bytes`
/// (go-humanize's `ParseBytes`), else `string`.
pub fn value_type(value: &str) -> &'static str {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && value.parse::<i64>().is_ok()
    {
        return "int";
    }
    if go_parse_float(value).is_ok() {
        return "float";
    }
    if matches!(
        value,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    ) {
        return "boolean";
    }
    if parse_go_duration(value).is_some() {
        return "duration";
    }
    if parse_bytes(value).is_some() {
        return "bytes";
    }
    "string"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> LabelSet {
        LabelSet::parse(r#"{app="api", level="info"}"#).expect("labels")
    }

    #[test]
    fn json_lines_give_nested_names_and_their_paths() {
        let found = line_fields(
            &stream(),
            r#"{"level":"warn","user":{"id":42,"e-mail":"a@b"},"took":"1.5s","tags":[1]}"#,
        )
        .expect("json");
        assert_eq!(found.parser, "json");
        let by_name: HashMap<_, _> = found
            .fields
            .iter()
            .map(|(name, value, path)| (name.as_str(), (value.as_str(), path.clone())))
            .collect();
        // `level` is a stream label: the parsed one is `level_extracted`.
        assert_eq!(
            by_name["level_extracted"],
            ("warn", Some(vec![String::from("level")]))
        );
        assert_eq!(
            by_name["user_id"],
            ("42", Some(vec![String::from("user"), String::from("id")]))
        );
        assert_eq!(by_name["user_e_mail"].0, "a@b");
        assert_eq!(by_name["took"].0, "1.5s");
        assert!(!by_name.contains_key("tags"), "arrays are not fields");
    }

    #[test]
    fn other_lines_are_read_as_logfmt_or_not_at_all() {
        let found = line_fields(
            &stream(),
            r#"ts=1 msg="served" status=200 empty= size=12KB"#,
        )
        .expect("logfmt");
        assert_eq!(found.parser, "logfmt");
        let names: Vec<&str> = found
            .fields
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect();
        assert_eq!(names, ["ts", "msg", "status", "size"]);
        assert!(found.fields.iter().all(|(_, _, path)| path.is_none()));
        let plain = line_fields(&stream(), "GET /index.html 200").expect("logfmt reads it");
        assert!(plain.fields.is_empty(), "{plain:?}");
    }

    #[test]
    fn types_follow_lokis_order() {
        for (value, expected) in [
            ("42", "int"),
            ("-7", "int"),
            ("1", "int"),
            ("1.5", "float"),
            ("1e3", "float"),
            ("NaN", "float"),
            ("true", "boolean"),
            ("F", "boolean"),
            ("1.5s", "duration"),
            ("-2h45m", "duration"),
            ("12KB", "bytes"),
            ("3 MiB", "bytes"),
            ("served", "string"),
            ("", "string"),
        ] {
            assert_eq!(value_type(value), expected, "{value:?}");
        }
    }
}
