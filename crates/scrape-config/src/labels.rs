//! Label sets and label name validation, as Prometheus's `model/labels` and
//! `prometheus/common/model` define them.

use std::fmt::Write as _;
use std::hash::Hasher as _;

use serde::{Deserialize, Serialize};

/// `__address__`: the `host:port` a target is scraped at.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`: `http` or `https`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`: the HTTP path of the scrape URL.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`: the target's scrape interval as a Prometheus duration.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`: the target's scrape timeout as a Prometheus duration.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// `job`: the job name.
pub const JOB_LABEL: &str = "job";
/// `instance`: defaults to `__address__` after relabeling.
pub const INSTANCE_LABEL: &str = "instance";
/// Prefix of labels that carry scrape URL query parameters (`__param_<name>`).
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of labels that service discovery attaches; removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix of labels internal to Prometheus; never part of a target's public labels.
pub const RESERVED_LABEL_PREFIX: &str = "__";

/// How label names are validated (Prometheus's `model.ValidationScheme`).
///
/// Prometheus 3.x defaults to [`NameValidationScheme::Utf8`] (global
/// `metric_name_validation_scheme: utf8`); Prometheus 2.x only knew
/// [`NameValidationScheme::Legacy`]. Relabel `target_label`s and `labelmap`
/// replacements are validated with the scrape config's scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidationScheme {
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
    /// Any non-empty UTF-8 string (the Prometheus 3.x default).
    #[default]
    Utf8,
}

impl NameValidationScheme {
    /// Whether `name` is a valid label name under this scheme. The empty name is
    /// never valid.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidationScheme::Legacy => is_valid_legacy_label_name(name),
            // A Rust `&str` is always valid UTF-8.
            NameValidationScheme::Utf8 => !name.is_empty(),
        }
    }
}

/// Whether `name` matches Prometheus's legacy label name pattern
/// `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// A set of labels: unique names, kept sorted by name (byte order), as
/// Prometheus's `labels.Labels`.
///
/// A label whose value is empty does not exist: [`Labels::set`] with an empty
/// value deletes the label, and [`Labels::get`] returns `""` for a missing label,
/// exactly as Prometheus's `labels.Builder`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    sorted_pairs: Vec<(String, String)>,
}

impl Labels {
    /// An empty label set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs; a later pair wins over an earlier one with the
    /// same name, and pairs with an empty value are left out.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels = Self::new();
        for (name, value) in pairs {
            labels.set(name, value);
        }
        labels
    }

    /// The value of `name`, or `""` when the label is not set.
    pub fn get(&self, name: &str) -> &str {
        match self.position(name) {
            Ok(index) => &self.sorted_pairs[index].1,
            Err(_) => "",
        }
    }

    /// Whether the label `name` is set (to a non-empty value).
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`; an empty `value` deletes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        if value.is_empty() {
            self.delete(&name);
            return;
        }
        match self.position(&name) {
            Ok(index) => self.sorted_pairs[index].1 = value,
            Err(index) => self.sorted_pairs.insert(index, (name, value)),
        }
    }

    /// Deletes the label `name` if it is set.
    pub fn delete(&mut self, name: &str) {
        if let Ok(index) = self.position(name) {
            self.sorted_pairs.remove(index);
        }
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.sorted_pairs.retain(|(name, value)| keep(name, value));
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sorted_pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.sorted_pairs.len()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.sorted_pairs.is_empty()
    }

    /// The labels whose names do not start with `__` (Prometheus's
    /// `Target.Labels()`): what a scraped series carries.
    pub fn without_reserved(&self) -> Labels {
        let mut public = self.clone();
        public.retain(|name, _| !name.starts_with(RESERVED_LABEL_PREFIX));
        public
    }

    /// Prometheus's `labels.Labels.Hash()`: xxHash64 (seed 0) of every
    /// `name 0xff value 0xff` in name order.
    pub fn prometheus_hash(&self) -> u64 {
        let mut hasher = twox_hash::XxHash64::with_seed(0);
        for (name, value) in self.iter() {
            hasher.write(name.as_bytes());
            hasher.write(&[0xff]);
            hasher.write(value.as_bytes());
            hasher.write(&[0xff]);
        }
        hasher.finish()
    }

    /// Prometheus's `labels.Labels.String()`: `{a="1", b="2"}`, values (and names
    /// that are not legacy-valid) quoted like Go's `strconv.Quote`.
    pub fn to_prometheus_string(&self) -> String {
        let mut text = String::from("{");
        for (index, (name, value)) in self.iter().enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            if is_valid_legacy_label_name(name) {
                text.push_str(name);
            } else {
                text.push_str(&go_quote(name));
            }
            text.push('=');
            text.push_str(&go_quote(value));
        }
        text.push('}');
        text
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.sorted_pairs
            .binary_search_by(|(existing, _)| existing.as_str().cmp(name))
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        Self::from_pairs(pairs)
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// Go's `strconv.Quote` for valid UTF-8: `\a \b \f \n \r \t \v \\ \"` escapes,
/// `\xNN` for other ASCII control bytes, `\uXXXX` / `\UXXXXXXXX` for other
/// non-printable characters. "Printable" follows Rust's `char::is_control` plus
/// the Unicode format and separator characters Go treats as non-printable that
/// label values realistically contain (zero-width space, BOM, line separators);
/// rarer unassigned code points may differ from Go.
pub(crate) fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            ' ' => quoted.push(' '),
            character if (character as u32) < 0x80 && character.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", character as u32);
            }
            character if is_go_non_printable(character) => {
                if (character as u32) < 0x10000 {
                    let _ = write!(quoted, "\\u{:04x}", character as u32);
                } else {
                    let _ = write!(quoted, "\\U{:08x}", character as u32);
                }
            }
            character => quoted.push(character),
        }
    }
    quoted.push('"');
    quoted
}

fn is_go_non_printable(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{a0}' | '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        )
        || character.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_label_names_follow_the_prometheus_pattern() {
        for valid in ["a", "_", "__address__", "A1_b", "_0"] {
            assert!(is_valid_legacy_label_name(valid), "{valid}");
        }
        for invalid in ["", "0a", "a-b", "a.b", "é", "a b", "$1"] {
            assert!(!is_valid_legacy_label_name(invalid), "{invalid}");
        }
        assert!(NameValidationScheme::Utf8.is_valid_label_name("utf-8.label"));
        assert!(!NameValidationScheme::Utf8.is_valid_label_name(""));
        assert!(!NameValidationScheme::Legacy.is_valid_label_name("utf-8.label"));
    }

    #[test]
    fn setting_an_empty_value_deletes_and_names_stay_sorted() {
        let mut labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "3")]);
        assert_eq!(
            labels.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        labels.set("b", "");
        assert!(!labels.contains("b"));
        assert_eq!(labels.get("b"), "");
        labels.set("a", "9");
        assert_eq!(labels.get("a"), "9");
        assert_eq!(Labels::from_pairs([("x", "")]).len(), 0);
    }

    #[test]
    fn prometheus_string_quotes_like_go() {
        let labels = Labels::from_pairs([
            ("job", "a\"b"),
            ("utf-8.name", "line\nnext"),
            ("z", "tab\there\u{1}"),
        ]);
        assert_eq!(
            labels.to_prometheus_string(),
            r#"{job="a\"b", "utf-8.name"="line\nnext", z="tab\there\x01"}"#
        );
        assert_eq!(Labels::new().to_prometheus_string(), "{}");
        assert_eq!(go_quote("é\u{200b}"), "\"é\\u200b\"");
    }

    #[test]
    fn hash_is_xxhash64_of_names_and_values_with_0xff_separators() {
        // xxhash64("a\xff1\xff") computed independently of the label type.
        let mut expected = twox_hash::XxHash64::with_seed(0);
        expected.write(b"a\xff1\xff");
        assert_eq!(
            Labels::from_pairs([("a", "1")]).prometheus_hash(),
            expected.finish()
        );
        // The empty label set hashes the empty input: xxhash64("") with seed 0.
        assert_eq!(Labels::new().prometheus_hash(), 0xef46_db37_51d8_e999);
    }
}
