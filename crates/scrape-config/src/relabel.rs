//! Relabeling (`relabel_configs`) with Prometheus's exact semantics
//! (`model/relabel/relabel.go`).
//!
//! A [`RelabelConfig`] is parsed with Prometheus's defaults (action `replace`,
//! separator `;`, regex `(.*)`, replacement `$1`), then checked with
//! [`RelabelConfig::validate`] against the scrape config's label name scheme.
//! [`relabel`] applies rules in order; the first rule that drops ends processing.
//!
//! One ordering detail differs: when two label names that `labelmap` maps to
//! the same new name both match, Prometheus sets them in "original labels, then
//! labels added by earlier rules" order, this crate in name order; the last one
//! set wins in both, so only that rare collision can differ.

use std::fmt;

use md5::{Digest as _, Md5};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::go_regex;
use crate::labels::{Labels, NameValidationScheme};

/// Default `separator` between joined source label values.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `regex` (before anchoring).
pub const DEFAULT_REGEX: &str = "(.*)";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// What a relabel rule does. Parsed case-insensitively, as Prometheus does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches the
    /// joined source values; an empty result deletes the label.
    #[default]
    Replace,
    /// Drops the target unless `regex` matches the joined source values.
    Keep,
    /// Drops the target when `regex` matches the joined source values.
    Drop,
    /// Drops the target unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the target when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to `md5(joined values)[8..16]` (big-endian) modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the expanded `replacement`.
    LabelMap,
    /// Deletes every label whose name matches `regex`.
    LabelDrop,
    /// Deletes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined source values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined source values in upper case.
    Uppercase,
}

impl Action {
    /// The name Prometheus uses in configuration (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively; the error is Prometheus's.
    pub fn parse(text: &str) -> Result<Self, String> {
        const ALL: [Action; 11] = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        let lower = text.to_lowercase();
        ALL.into_iter()
            .find(|action| action.as_str() == lower)
            .ok_or_else(|| format!("unknown relabel action {text:?}"))
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A relabel regex: the pattern as written and its compiled, fully anchored form
/// `^(?s:<pattern>)$`.
#[derive(Clone, Debug)]
pub struct RelabelRegex {
    pattern: String,
    compiled: Regex,
    is_default: bool,
}

impl RelabelRegex {
    /// Compiles `pattern` anchored at both ends with `.` matching newlines, with Go
    /// RE2 semantics (see the crate's `go_regex` notes).
    pub fn new(pattern: &str) -> Result<Self, String> {
        Ok(Self {
            pattern: pattern.to_owned(),
            compiled: go_regex::compile_anchored(pattern)
                .map_err(|error| format!("invalid regex {pattern:?}: {error}"))?,
            is_default: false,
        })
    }

    /// The default regex `(.*)`, as when `regex` is not written at all. (An
    /// explicit `regex: (.*)` is not "the default" for Prometheus's checks.)
    pub fn default_regex() -> Self {
        static DEFAULT: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
        let compiled = DEFAULT.get_or_init(|| {
            go_regex::compile_anchored(DEFAULT_REGEX).expect("the default regex compiles")
        });
        Self {
            pattern: String::from(DEFAULT_REGEX),
            compiled: compiled.clone(),
            is_default: true,
        }
    }

    /// The pattern as written, without the anchoring wrapper.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }

    /// The compiled, anchored regex.
    pub fn compiled(&self) -> &Regex {
        &self.compiled
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.is_default == other.is_default
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pattern)
    }
}

/// One relabel rule, with Prometheus's defaults for unwritten fields. Unknown
/// keys are errors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator`; a missing label gives `""`.
    /// `None` when the key was not written (`labeldrop`/`labelkeep` reject even an
    /// empty list).
    pub source_labels: Option<Vec<String>>,
    /// Joins the source values; default `;`.
    pub separator: String,
    /// Matched against the joined values (or label names for `label*` actions);
    /// default `(.*)`; `regex: null` means `""`.
    pub regex: RelabelRegex,
    /// Modulus for `hashmod`; 0 when unset.
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or
    /// compared by `keepequal`/`dropequal`. `replace` may use `$1`/`${name}`.
    pub target_label: String,
    /// Template for `replace` and `labelmap`; default `$1`.
    pub replacement: String,
    /// What the rule does; default `replace`. `None` only for an explicit
    /// `action: null`, which validation rejects.
    pub action: Option<Action>,
    /// Scheme used to check target label names at run time; set by
    /// [`RelabelConfig::validate`]. Default UTF-8 (Prometheus 3.x).
    #[serde(skip)]
    pub name_validation_scheme: NameValidationScheme,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: None,
            separator: String::from(DEFAULT_SEPARATOR),
            regex: RelabelRegex::default_regex(),
            modulus: 0,
            target_label: String::new(),
            replacement: String::from(DEFAULT_REPLACEMENT),
            action: Some(Action::Replace),
            name_validation_scheme: NameValidationScheme::default(),
        }
    }
}

/// Why a relabel rule is invalid. Messages are Prometheus's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelabelConfigError {
    /// `action: null`.
    #[error("relabel action cannot be empty")]
    EmptyAction,
    /// `hashmod` without a positive `modulus`.
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// An action that writes or compares a label has no `target_label`.
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    /// `target_label` is not a valid label name (or template).
    #[error("{label:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel {
        /// The target label as written.
        label: String,
        /// The rule's action.
        action: Action,
    },
    /// `labelmap`'s `replacement` is not a valid label name template.
    #[error("{replacement:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement {
        /// The replacement as written.
        replacement: String,
        /// The rule's action.
        action: Action,
    },
    /// `replacement` written for `lowercase`, `uppercase`, `keepequal`, `dropequal`.
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    /// `keepequal`/`dropequal` with fields other than source and target labels.
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    /// `labeldrop`/`labelkeep` with fields other than `regex`.
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
}

impl RelabelConfig {
    /// Prometheus's `relabel.Config.Validate`: which fields each action needs and
    /// allows, and that target labels are valid under `scheme` (templates with `$`
    /// are checked with Prometheus's legacy template pattern when `scheme` is
    /// legacy). Records `scheme` for run-time target label checks.
    pub fn validate(&mut self, scheme: NameValidationScheme) -> Result<(), RelabelConfigError> {
        self.name_validation_scheme = scheme;
        let Some(action) = self.action else {
            return Err(RelabelConfigError::EmptyAction);
        };
        if action == Action::HashMod && self.modulus == 0 {
            return Err(RelabelConfigError::ZeroModulus);
        }
        let writes_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if writes_target && self.target_label.is_empty() {
            return Err(RelabelConfigError::MissingTargetLabel(action));
        }
        let invalid_target = || RelabelConfigError::InvalidTargetLabel {
            label: self.target_label.clone(),
            action,
        };
        let has_template = self.target_label.contains('$');
        if action == Action::Replace {
            let valid = if has_template {
                is_valid_label_name_template(&self.target_label, scheme)
            } else {
                scheme.is_valid_label_name(&self.target_label)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let no_replacement_actions = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if no_replacement_actions && !scheme.is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if no_replacement_actions && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelConfigError::ReplacementNotAllowed(action));
        }
        if action == Action::LabelMap && !is_valid_label_name_template(&self.replacement, scheme) {
            return Err(RelabelConfigError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action,
            });
        }
        if action == Action::HashMod && !scheme.is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!self.regex.is_default
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelConfigError::OnlySourceAndTarget(action));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (self.source_labels.is_some()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelConfigError::OnlyRegex(action));
        }
        Ok(())
    }
}

/// Whether `template` is a valid label name once `$` references are expanded:
/// under UTF-8 any non-empty text; under legacy Prometheus's
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`.
pub fn is_valid_label_name_template(template: &str, scheme: NameValidationScheme) -> bool {
    match scheme {
        NameValidationScheme::Utf8 => scheme.is_valid_label_name(template),
        NameValidationScheme::Legacy => legacy_template_regex().is_match(template),
    }
}

fn legacy_template_regex() -> &'static Regex {
    static TEMPLATE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        go_regex::compile_go(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")
            .expect("the legacy template pattern compiles")
    })
}

/// Applies `configs` in order to `labels`. Returns `None` when a rule drops the
/// target, else the relabeled set. Rules must have been validated (an
/// unvalidated `action: null` rule is treated as a no-op).
pub fn relabel(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut labels = labels.clone();
    for config in configs {
        if !apply(config, &mut labels) {
            return None;
        }
    }
    Some(labels)
}

fn joined_source_values(config: &RelabelConfig, labels: &Labels) -> String {
    let mut joined = String::new();
    for (index, name) in config.source_labels.iter().flatten().enumerate() {
        if index > 0 {
            joined.push_str(&config.separator);
        }
        joined.push_str(labels.get(name));
    }
    joined
}

/// One rule; false means drop.
fn apply(config: &RelabelConfig, labels: &mut Labels) -> bool {
    let Some(action) = config.action else {
        return true;
    };
    let value = joined_source_values(config, labels);
    match action {
        Action::Drop => return !config.regex.is_match(&value),
        Action::Keep => return config.regex.is_match(&value),
        Action::DropEqual => return labels.get(&config.target_label) != value,
        Action::KeepEqual => return labels.get(&config.target_label) == value,
        Action::Replace => replace(config, labels, &value),
        Action::Lowercase => labels.set(config.target_label.clone(), go_lowercase(&value)),
        Action::Uppercase => labels.set(config.target_label.clone(), go_uppercase(&value)),
        Action::HashMod => {
            let digest = Md5::digest(value.as_bytes());
            let mut last_eight = [0u8; 8];
            last_eight.copy_from_slice(&digest[8..16]);
            let bucket = u64::from_be_bytes(last_eight) % config.modulus.max(1);
            labels.set(config.target_label.clone(), bucket.to_string());
        }
        Action::LabelMap => {
            let snapshot = labels.clone();
            for (name, label_value) in snapshot.iter() {
                if let Some(captures) = config.regex.compiled().captures(name) {
                    let mut new_name = String::new();
                    go_regex::expand_into(
                        &mut new_name,
                        &config.replacement,
                        config.regex.compiled(),
                        &captures,
                    );
                    labels.set(new_name, label_value);
                }
            }
        }
        Action::LabelDrop => labels.retain(|name, _| !config.regex.is_match(name)),
        Action::LabelKeep => labels.retain(|name, _| config.regex.is_match(name)),
    }
    true
}

fn replace(config: &RelabelConfig, labels: &mut Labels, value: &str) {
    // Prometheus's fast path: no regex work for a constant label.
    if value.is_empty()
        && config.regex.is_default
        && !config.target_label.contains('$')
        && !config.replacement.contains('$')
    {
        labels.set(config.target_label.clone(), config.replacement.clone());
        return;
    }
    let regex = config.regex.compiled();
    let Some(captures) = regex.captures(value) else {
        return;
    };
    let mut target = String::new();
    go_regex::expand_into(&mut target, &config.target_label, regex, &captures);
    if !config.name_validation_scheme.is_valid_label_name(&target) {
        return;
    }
    let mut replaced = String::new();
    go_regex::expand_into(&mut replaced, &config.replacement, regex, &captures);
    // An empty value deletes the label.
    labels.set(target, replaced);
}

/// Go's `strings.ToLower`: per-character simple case mapping (no context rules
/// such as the Greek final sigma).
fn go_lowercase(text: &str) -> String {
    text.chars()
        .map(|character| {
            // Only U+0130 has a multi-character full lower case; its simple
            // mapping is the first character ('i').
            character.to_lowercase().next().unwrap_or(character)
        })
        .collect()
}

/// Go's `strings.ToUpper`: per-character simple case mapping. Characters whose
/// full upper case is several characters (`ß` -> `SS`) have no simple mapping
/// and stay, except the Greek letters with ypogegrammeni, whose simple upper
/// case is the prosgegrammeni form (`ᾀ` -> `ᾈ`).
fn go_uppercase(text: &str) -> String {
    text.chars()
        .map(|character| {
            let mut upper = character.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => simple_uppercase_of_multi(character),
            }
        })
        .collect()
}

/// The simple upper case of a character whose full upper case is several
/// characters (UnicodeData.txt field 12).
fn simple_uppercase_of_multi(character: char) -> char {
    let code = u32::from(character);
    let mapped = match code {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => code + 8,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        _ => code,
    };
    char::from_u32(mapped).unwrap_or(character)
}

// --- Deserialization ---------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default, deserialize_with = "present_source_labels")]
    source_labels: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present_string")]
    separator: Option<String>,
    #[serde(default, deserialize_with = "present_regex")]
    regex: Option<RelabelRegex>,
    #[serde(default)]
    modulus: Option<u64>,
    #[serde(default, deserialize_with = "present_string")]
    target_label: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    replacement: Option<String>,
    #[serde(default, deserialize_with = "present_action")]
    action: Option<Option<Action>>,
}

/// A written key, `null` meaning the empty string (as Go's YAML decoder does).
fn present_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Some(
        Option::<String>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

fn present_source_labels<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    let names = Option::<Vec<String>>::deserialize(deserializer)?;
    for name in names.iter().flatten() {
        if name.is_empty() {
            return Err(serde::de::Error::custom(format!(
                "{name:?} is not a valid label name"
            )));
        }
    }
    Ok(Some(names))
}

fn present_regex<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<RelabelRegex>, D::Error> {
    let pattern = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    RelabelRegex::new(&pattern)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn present_action<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Action>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(Some(None)),
        Some(text) => Action::parse(&text)
            .map(|action| Some(Some(action)))
            .map_err(serde::de::Error::custom),
    }
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRelabelConfig::deserialize(deserializer)?;
        let defaults = RelabelConfig::default();
        Ok(RelabelConfig {
            source_labels: raw.source_labels.unwrap_or_default(),
            separator: raw.separator.unwrap_or(defaults.separator),
            regex: raw.regex.unwrap_or(defaults.regex),
            modulus: raw.modulus.unwrap_or(0),
            target_label: raw.target_label.unwrap_or_default(),
            replacement: raw.replacement.unwrap_or(defaults.replacement),
            action: raw.action.unwrap_or(defaults.action),
            name_validation_scheme: defaults.name_validation_scheme,
        })
    }
}
