//! Command-line flags and `WEFT_*` environment variables for every configuration key.
//!
//! Flags are not written by hand: every leaf of the default configuration becomes a flag
//! (`storage.path` -> `--storage.path`, `ingester.max_head_bytes` ->
//! `--ingester.max-head-bytes`) and an environment variable (`WEFT_STORAGE_PATH`,
//! `WEFT_INGESTER_MAX_HEAD_BYTES`). So a new config field is a new flag with no extra code,
//! and the YAML key, the flag and the variable always agree.
//!
//! Precedence, lowest first: defaults, the YAML file, environment variables, flags.

use serde_json::{Map, Value};

/// One configuration key as a flag and an environment variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Path of the key in the YAML tree, e.g. `["ingester", "max_head_bytes"]`.
    pub path: Vec<String>,
    /// Flag name without the leading dashes, e.g. `ingester.max-head-bytes`.
    pub flag: String,
    /// Environment variable, e.g. `WEFT_INGESTER_MAX_HEAD_BYTES`.
    pub env: String,
    /// The default value, used to type command-line text and shown in `--help`.
    pub default: Value,
}

impl Setting {
    fn new(path: Vec<String>, default: Value) -> Self {
        let flag = path
            .iter()
            .map(|segment| segment.replace('_', "-"))
            .collect::<Vec<_>>()
            .join(".");
        let env = format!(
            "WEFT_{}",
            path.join("_").replace(['-', '.'], "_").to_ascii_uppercase()
        );
        Setting {
            path,
            flag,
            env,
            default,
        }
    }

    /// The default rendered for `--help`.
    pub fn default_text(&self) -> String {
        match &self.default {
            Value::String(text) => text.clone(),
            Value::Null => String::from("unset"),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| item.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        }
    }

    /// Types `raw` like the default: numbers and booleans parsed, lists split on commas.
    /// Text that does not parse is kept as a string so deserialisation names the key.
    pub fn typed_value(&self, raw: &str) -> Value {
        match &self.default {
            // A list of numbers (e.g. histogram buckets) keeps its items numbers.
            Value::Array(items) => {
                let numbers = items.first().is_some_and(Value::is_number);
                Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| {
                            if numbers {
                                infer_scalar(item)
                            } else {
                                Value::String(item.to_owned())
                            }
                        })
                        .collect(),
                )
            }
            // A map leaf (e.g. `compactor.tenant-retention`): `key=value,key2=value2`.
            Value::Object(_) => Value::Object(
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| match item.split_once('=') {
                        Some((key, value)) => (
                            key.trim().to_owned(),
                            Value::String(value.trim().to_owned()),
                        ),
                        None => (item.to_owned(), Value::Null),
                    })
                    .collect(),
            ),
            Value::String(_) => Value::String(raw.to_owned()),
            _ => infer_scalar(raw),
        }
    }
}

fn infer_scalar(raw: &str) -> Value {
    if let Ok(number) = raw.parse::<u64>() {
        return Value::from(number);
    }
    if let Ok(number) = raw.parse::<i64>() {
        return Value::from(number);
    }
    if let Ok(number) = raw.parse::<f64>()
        && number.is_finite()
    {
        return Value::from(number);
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.to_owned()),
    }
}

/// Every leaf of `defaults` (a serialised default configuration) as a [`Setting`], in
/// tree order. Objects are walked; anything else (including lists) is a leaf.
pub fn settings_of(defaults: &Value) -> Vec<Setting> {
    let mut out = Vec::new();
    walk(defaults, &mut Vec::new(), &mut out);
    out
}

fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<Setting>) {
    match value {
        Value::Object(map) if !map.is_empty() || path.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        leaf => out.push(Setting::new(path.clone(), leaf.clone())),
    }
}

/// Sets `value` at `path` in `tree`, creating objects on the way. A non-object in the
/// way (the YAML file set `storage: 3`) is replaced, and deserialisation reports the rest.
pub fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for segment in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return;
        };
        node = map.entry(segment.clone()).or_insert(Value::Null);
    }
    *node = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_and_env_names_follow_the_yaml_path() {
        let defaults =
            json!({"storage": {"path": "./weft-data"}, "ingester": {"max_head_bytes": 5}});
        let settings = settings_of(&defaults);
        // Key order depends on serde_json's `preserve_order` feature, which another crate
        // in the build may turn on; the names are what matters.
        let mut flags: Vec<_> = settings
            .iter()
            .map(|s| (s.flag.as_str(), s.env.as_str()))
            .collect();
        flags.sort();
        assert_eq!(
            flags,
            [
                ("ingester.max-head-bytes", "WEFT_INGESTER_MAX_HEAD_BYTES"),
                ("storage.path", "WEFT_STORAGE_PATH"),
            ]
        );
    }

    #[test]
    fn command_line_text_is_typed_like_the_default() {
        let list = Setting::new(vec!["keys".into()], json!([]));
        assert_eq!(list.typed_value("a, b,"), json!(["a", "b"]));
        let number = Setting::new(vec!["n".into()], json!(1));
        assert_eq!(number.typed_value("42"), json!(42));
        assert_eq!(number.typed_value("lots"), json!("lots"));
        let text = Setting::new(vec!["s".into()], json!("x"));
        assert_eq!(text.typed_value("12"), json!("12"));
    }

    #[test]
    fn set_path_creates_missing_sections() {
        let mut tree = json!({});
        set_path(&mut tree, &["a".into(), "b".into()], json!(1));
        assert_eq!(tree, json!({"a": {"b": 1}}));
    }
}
