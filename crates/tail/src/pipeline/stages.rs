//! The stages themselves: settings (Promtail's keys), compilation and application.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;
use serde::{Deserialize, Serialize};
use weft_scrape_config::go_regex::compile_go;

use super::json_path::JsonPath;
use super::timestamp::TimestampStage;
use super::{Outcome, PipelineEntry, StageConfig, parsers};

/// `cri` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CriConfig {
    /// Most partial (`P`) lines joined into one entry (default 100).
    pub max_partial_lines: usize,
    /// Most bytes of one joined entry (default 0: no limit besides `max_line_size`).
    pub max_partial_line_size: usize,
}

impl Default for CriConfig {
    fn default() -> Self {
        CriConfig {
            max_partial_lines: 100,
            max_partial_line_size: 0,
        }
    }
}

/// `json` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    /// Extracted name to expression (a JMESPath subset: `a.b`, `a[0]`, `"dotted.key"`;
    /// empty or null: the top-level key of the same name).
    pub expressions: BTreeMap<String, Option<String>>,
    /// Parse this extracted value instead of the line.
    #[serde(default)]
    pub source: Option<String>,
    /// Drop lines that are not JSON objects instead of passing them on.
    #[serde(default)]
    pub drop_malformed: bool,
}

/// `logfmt` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogfmtConfig {
    /// Extracted name to logfmt key (empty or null: the same name).
    pub mapping: BTreeMap<String, Option<String>>,
    /// Parse this extracted value instead of the line.
    #[serde(default)]
    pub source: Option<String>,
}

/// `regex` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexConfig {
    /// A Go (RE2) regular expression; each named group that matched becomes an
    /// extracted value.
    pub expression: String,
    /// Match this extracted value instead of the line.
    #[serde(default)]
    pub source: Option<String>,
}

/// `multiline` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this starts a new entry; others are appended (with `\n`).
    pub firstline: String,
    /// A held entry is released after this long without its next first line
    /// (default 3s).
    #[serde(default = "default_max_wait_time", with = "humantime_serde")]
    pub max_wait_time: Duration,
    /// Most lines in one entry (default 128); the entry is released when reached.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_max_wait_time() -> Duration {
    Duration::from_secs(3)
}

fn default_max_lines() -> usize {
    128
}

/// `drop` settings: an entry is dropped when every condition given holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    /// Extracted names (one, or a list joined with `separator`) the conditions apply
    /// to; without it `expression` applies to the line.
    pub source: Option<StringOrList>,
    /// Joins several source values (default `;`).
    pub separator: Option<String>,
    /// The source value equals this.
    pub value: Option<String>,
    /// The source value (or the line) matches this Go regular expression.
    pub expression: Option<String>,
    /// The entry's timestamp is older than this.
    #[serde(with = "humantime_serde")]
    pub older_than: Option<Duration>,
    /// The line is longer than this many bytes (a number or `10KB`-style size).
    pub longer_than: Option<ByteSize>,
    /// The reason label of the drop counter (default `drop_stage`).
    pub drop_counter_reason: Option<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A byte count: a number, or text like `512`, `10KB`, `1MiB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    /// Bytes.
    Bytes(u64),
    /// Text with a unit.
    Text(String),
}

impl ByteSize {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            ByteSize::Bytes(count) => Ok(*count),
            ByteSize::Text(text) => parse_byte_size(text),
        }
    }
}

fn parse_byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte size"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{text:?} has an unknown unit")),
    };
    Ok((number * multiplier) as u64)
}

/// `limit` settings: a token bucket per scrape config (or per value of
/// `by_label_name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Lines per second.
    pub rate: f64,
    /// Lines allowed at once.
    pub burst: u32,
    /// Drop lines over the limit (true) or wait for tokens (false, the default).
    #[serde(default)]
    pub drop: bool,
    /// One bucket per value of this label.
    #[serde(default)]
    pub by_label_name: Option<String>,
    /// Most buckets kept with `by_label_name` (default 10,000); past it, the
    /// emptiest is forgotten.
    #[serde(default = "default_max_distinct_labels")]
    pub max_distinct_labels: usize,
}

fn default_max_distinct_labels() -> usize {
    10_000
}

/// `output` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The extracted value that becomes the line.
    pub source: String,
}

/// `template` settings: `{{ .Value }}` (the source's value), `{{ .name }}` (any
/// extracted value), `{{ .Entry }}` (the line), and the functions `ToUpper`,
/// `ToLower`, `TrimSpace` applied as `{{ ToUpper .Value }}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The extracted value written (and read as `.Value`).
    pub source: String,
    /// The template.
    pub template: String,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    updated: Instant,
}

type Buckets = Arc<Mutex<BTreeMap<String, Bucket>>>;

/// A compiled stage.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Cri {
        config: CriConfig,
        held: Option<PipelineEntry>,
        held_lines: usize,
    },
    Docker,
    Json {
        expressions: Vec<(String, JsonPath)>,
        source: Option<String>,
        drop_malformed: bool,
    },
    Logfmt {
        mapping: Vec<(String, String)>,
        source: Option<String>,
    },
    Regex {
        regex: Regex,
        source: Option<String>,
    },
    Multiline {
        firstline: Regex,
        max_wait_time: Duration,
        max_lines: usize,
        held: Option<(PipelineEntry, usize)>,
    },
    Timestamp(TimestampStage),
    Labels(Vec<(String, String)>),
    StructuredMetadata(Vec<(String, String)>),
    StaticLabels(Vec<(String, String)>),
    LabelDrop(Vec<String>),
    LabelAllow(Vec<String>),
    Drop {
        sources: Vec<String>,
        separator: String,
        value: Option<String>,
        expression: Option<Regex>,
        older_than: Option<Duration>,
        longer_than: Option<u64>,
        reason: &'static str,
    },
    Limit {
        rate: f64,
        burst: f64,
        drop: bool,
        by_label_name: Option<String>,
        max_distinct_labels: usize,
        buckets: Buckets,
    },
    Output(String),
    Template {
        source: String,
        parts: Vec<TemplatePart>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum TemplatePart {
    Text(String),
    Field {
        name: String,
        function: Option<fn(&str) -> String>,
    },
}

fn name_mapping(map: &BTreeMap<String, Option<String>>) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, source)| {
            let source = match source {
                Some(source) if !source.is_empty() => source.clone(),
                _ => name.clone(),
            };
            (name.clone(), source)
        })
        .collect()
}

fn leak_reason(reason: &str) -> &'static str {
    // Reasons are a handful of configured strings, compiled once per configuration:
    // a metric label needs a 'static str.
    match reason {
        "drop_stage" => "drop_stage",
        other => Box::leak(other.to_owned().into_boxed_str()),
    }
}

impl Stage {
    pub(crate) fn compile(config: &StageConfig) -> Result<Stage, String> {
        Ok(match config {
            StageConfig::Cri(cri) => Stage::Cri {
                config: cri.clone().unwrap_or_default(),
                held: None,
                held_lines: 0,
            },
            StageConfig::Docker(_) => Stage::Docker,
            StageConfig::Json(json) => {
                if json.expressions.is_empty() {
                    return Err(String::from("expressions must not be empty"));
                }
                let expressions = json
                    .expressions
                    .iter()
                    .map(|(name, expression)| {
                        let text = match expression {
                            Some(text) if !text.is_empty() => text.as_str(),
                            _ => name.as_str(),
                        };
                        JsonPath::parse(text)
                            .map(|path| (name.clone(), path))
                            .map_err(|error| format!("expressions.{name}: {error}"))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Stage::Json {
                    expressions,
                    source: json.source.clone(),
                    drop_malformed: json.drop_malformed,
                }
            }
            StageConfig::Logfmt(logfmt) => {
                if logfmt.mapping.is_empty() {
                    return Err(String::from("mapping must not be empty"));
                }
                Stage::Logfmt {
                    mapping: name_mapping(&logfmt.mapping),
                    source: logfmt.source.clone(),
                }
            }
            StageConfig::Regex(regex) => {
                let compiled = compile_go(&regex.expression)
                    .map_err(|error| format!("expression {:?}: {error}", regex.expression))?;
                if compiled.capture_names().flatten().next().is_none() {
                    return Err(format!(
                        "expression {:?} has no named capture group",
                        regex.expression
                    ));
                }
                Stage::Regex {
                    regex: compiled,
                    source: regex.source.clone(),
                }
            }
            StageConfig::Multiline(multiline) => {
                let firstline = compile_go(&multiline.firstline)
                    .map_err(|error| format!("firstline {:?}: {error}", multiline.firstline))?;
                if multiline.max_lines == 0 {
                    return Err(String::from("max_lines must be above 0"));
                }
                if multiline.max_wait_time.is_zero() {
                    return Err(String::from("max_wait_time must be above 0"));
                }
                Stage::Multiline {
                    firstline,
                    max_wait_time: multiline.max_wait_time,
                    max_lines: multiline.max_lines,
                    held: None,
                }
            }
            StageConfig::Timestamp(timestamp) => {
                Stage::Timestamp(TimestampStage::compile(timestamp)?)
            }
            StageConfig::Labels(map) => Stage::Labels(check_names(name_mapping(map))?),
            StageConfig::StructuredMetadata(map) => {
                Stage::StructuredMetadata(check_names(name_mapping(map))?)
            }
            StageConfig::StaticLabels(map) => Stage::StaticLabels(check_names(
                map.iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            )?),
            StageConfig::Labeldrop(names) => Stage::LabelDrop(names.clone()),
            StageConfig::Labelallow(names) => Stage::LabelAllow(names.clone()),
            StageConfig::Drop(drop) => {
                let sources = match &drop.source {
                    None => Vec::new(),
                    Some(StringOrList::One(name)) => vec![name.clone()],
                    Some(StringOrList::Many(names)) => names.clone(),
                };
                if drop.value.is_some() && drop.expression.is_some() {
                    return Err(String::from("value and expression cannot both be set"));
                }
                if drop.value.is_some() && sources.is_empty() {
                    return Err(String::from("value needs a source"));
                }
                if drop.value.is_none()
                    && drop.expression.is_none()
                    && drop.older_than.is_none()
                    && drop.longer_than.is_none()
                    && sources.is_empty()
                {
                    return Err(String::from(
                        "at least one of source, value, expression, older_than or longer_than is needed",
                    ));
                }
                let expression = drop
                    .expression
                    .as_deref()
                    .map(|text| {
                        compile_go(text).map_err(|error| format!("expression {text:?}: {error}"))
                    })
                    .transpose()?;
                let longer_than = drop
                    .longer_than
                    .as_ref()
                    .map(|size| {
                        size.bytes()
                            .map_err(|error| format!("longer_than: {error}"))
                    })
                    .transpose()?;
                Stage::Drop {
                    sources,
                    separator: drop.separator.clone().unwrap_or_else(|| String::from(";")),
                    value: drop.value.clone(),
                    expression,
                    older_than: drop.older_than,
                    longer_than,
                    reason: leak_reason(
                        drop.drop_counter_reason.as_deref().unwrap_or("drop_stage"),
                    ),
                }
            }
            StageConfig::Limit(limit) => {
                if !(limit.rate.is_finite() && limit.rate > 0.0) {
                    return Err(format!("rate {} must be above 0", limit.rate));
                }
                if limit.burst == 0 {
                    return Err(String::from("burst must be above 0"));
                }
                Stage::Limit {
                    rate: limit.rate,
                    burst: f64::from(limit.burst),
                    drop: limit.drop,
                    by_label_name: limit.by_label_name.clone(),
                    max_distinct_labels: limit.max_distinct_labels.max(1),
                    buckets: Arc::new(Mutex::new(BTreeMap::new())),
                }
            }
            StageConfig::Output(output) => {
                if output.source.is_empty() {
                    return Err(String::from("source must not be empty"));
                }
                Stage::Output(output.source.clone())
            }
            StageConfig::Template(template) => {
                if template.source.is_empty() {
                    return Err(String::from("source must not be empty"));
                }
                Stage::Template {
                    source: template.source.clone(),
                    parts: parse_template(&template.template)?,
                }
            }
        })
    }

    /// The same settings with no held lines.
    pub(crate) fn fresh(&self) -> Stage {
        let mut stage = self.clone();
        match &mut stage {
            Stage::Cri {
                held, held_lines, ..
            } => {
                *held = None;
                *held_lines = 0;
            }
            Stage::Multiline { held, .. } => *held = None,
            _ => {}
        }
        stage
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stage::Cri { .. } => "cri",
            Stage::Docker => "docker",
            Stage::Json { .. } => "json",
            Stage::Logfmt { .. } => "logfmt",
            Stage::Regex { .. } => "regex",
            Stage::Multiline { .. } => "multiline",
            Stage::Timestamp(_) => "timestamp",
            Stage::Labels(_) => "labels",
            Stage::StructuredMetadata(_) => "structured_metadata",
            Stage::StaticLabels(_) => "static_labels",
            Stage::LabelDrop(_) => "labeldrop",
            Stage::LabelAllow(_) => "labelallow",
            Stage::Drop { .. } => "drop",
            Stage::Limit { .. } => "limit",
            Stage::Output(_) => "output",
            Stage::Template { .. } => "template",
        }
    }

    pub(crate) fn held_start(&self) -> Option<u64> {
        match self {
            Stage::Cri { held, .. } => held.as_ref().map(|entry| entry.start_offset),
            Stage::Multiline { held, .. } => held.as_ref().map(|(entry, _)| entry.start_offset),
            _ => None,
        }
    }

    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<PipelineEntry> {
        match self {
            Stage::Multiline {
                held,
                max_wait_time,
                ..
            } => {
                let expired = held.as_ref().is_some_and(|(entry, _)| {
                    entry.read_at.is_some_and(|read_at| {
                        now.saturating_duration_since(read_at) >= *max_wait_time
                    })
                });
                if expired {
                    held.take().map(|(entry, _)| entry).into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn take_all(&mut self) -> Vec<PipelineEntry> {
        match self {
            Stage::Cri {
                held, held_lines, ..
            } => {
                *held_lines = 0;
                held.take().into_iter().collect()
            }
            Stage::Multiline { held, .. } => {
                held.take().map(|(entry, _)| entry).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Applies the stage; on [`Outcome::Error`] the entry has been pushed to `out`
    /// unchanged.
    pub(crate) fn apply(
        &mut self,
        mut entry: PipelineEntry,
        out: &mut Vec<PipelineEntry>,
        delay: &mut Duration,
    ) -> Outcome {
        match self {
            Stage::Cri {
                config,
                held,
                held_lines,
            } => apply_cri(config, held, held_lines, entry, out),
            Stage::Docker => {
                let outcome = match parsers::parse_docker(&entry.line) {
                    Some(docker) => {
                        entry
                            .labels
                            .insert(String::from("stream"), docker.stream.clone());
                        entry
                            .extracted
                            .insert(String::from("stream"), docker.stream);
                        entry
                            .extracted
                            .insert(String::from("output"), docker.log.clone());
                        if let Some(nanos) = super::go_time::parse_rfc3339(&docker.time) {
                            entry.timestamp_unix_nanos = nanos;
                            entry
                                .extracted
                                .insert(String::from("timestamp"), docker.time);
                        }
                        entry.line = docker.log;
                        Outcome::Pass
                    }
                    None => Outcome::Error,
                };
                out.push(entry);
                outcome
            }
            Stage::Json {
                expressions,
                source,
                drop_malformed,
            } => {
                let text = match source {
                    Some(name) => match entry.extracted.get(name) {
                        Some(value) => value.clone(),
                        None => {
                            out.push(entry);
                            return Outcome::Error;
                        }
                    },
                    None => entry.line.clone(),
                };
                let parsed: Result<serde_json::Value, _> = serde_json::from_str(&text);
                match parsed {
                    Ok(value @ serde_json::Value::Object(_)) => {
                        for (name, path) in expressions.iter() {
                            if let Some(found) = path.evaluate(&value) {
                                entry.extracted.insert(name.clone(), found);
                            }
                        }
                        out.push(entry);
                        Outcome::Pass
                    }
                    _ if *drop_malformed => Outcome::Drop("malformed_json"),
                    _ => {
                        out.push(entry);
                        Outcome::Error
                    }
                }
            }
            Stage::Logfmt { mapping, source } => {
                let text = match source {
                    Some(name) => match entry.extracted.get(name) {
                        Some(value) => value.clone(),
                        None => {
                            out.push(entry);
                            return Outcome::Error;
                        }
                    },
                    None => entry.line.clone(),
                };
                let pairs = parsers::parse_logfmt(&text);
                for (name, key) in mapping.iter() {
                    if let Some((_, value)) = pairs.iter().rev().find(|(found, _)| found == key) {
                        entry.extracted.insert(name.clone(), value.clone());
                    }
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::Regex { regex, source } => {
                let text = match source {
                    Some(name) => match entry.extracted.get(name) {
                        Some(value) => value.clone(),
                        None => {
                            out.push(entry);
                            return Outcome::Error;
                        }
                    },
                    None => entry.line.clone(),
                };
                match regex.captures(&text) {
                    Some(captures) => {
                        for name in regex.capture_names().flatten() {
                            if let Some(found) = captures.name(name) {
                                entry
                                    .extracted
                                    .insert(name.to_owned(), found.as_str().to_owned());
                            }
                        }
                        out.push(entry);
                        Outcome::Pass
                    }
                    None => {
                        out.push(entry);
                        Outcome::Error
                    }
                }
            }
            Stage::Multiline {
                firstline,
                max_lines,
                held,
                ..
            } => {
                if firstline.is_match(&entry.line) {
                    if let Some((previous, _)) = held.take() {
                        out.push(previous);
                    }
                    *held = Some((entry, 1));
                } else {
                    match held {
                        Some((block, lines)) => {
                            block.line.push('\n');
                            block.line.push_str(&entry.line);
                            *lines += 1;
                        }
                        // A continuation line with nothing to continue starts a block.
                        None => *held = Some((entry, 1)),
                    }
                }
                if held.as_ref().is_some_and(|(_, lines)| *lines >= *max_lines)
                    && let Some((full, _)) = held.take()
                {
                    out.push(full);
                }
                Outcome::Pass
            }
            Stage::Timestamp(stage) => {
                let ok = stage.apply(&mut entry);
                out.push(entry);
                if ok { Outcome::Pass } else { Outcome::Error }
            }
            Stage::Labels(mapping) => {
                for (name, source) in mapping.iter() {
                    if let Some(value) = entry.extracted.get(source) {
                        entry.labels.insert(name.clone(), value.clone());
                    }
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::StructuredMetadata(mapping) => {
                for (name, source) in mapping.iter() {
                    if let Some(value) = entry.extracted.get(source) {
                        entry
                            .structured_metadata
                            .insert(name.clone(), value.clone());
                    }
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::StaticLabels(pairs) => {
                for (name, value) in pairs.iter() {
                    entry.labels.insert(name.clone(), value.clone());
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::LabelDrop(names) => {
                for name in names.iter() {
                    entry.labels.remove(name);
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::LabelAllow(names) => {
                entry.labels.retain(|name, _| names.contains(name));
                out.push(entry);
                Outcome::Pass
            }
            Stage::Drop {
                sources,
                separator,
                value,
                expression,
                older_than,
                longer_than,
                reason,
            } => {
                if drop_matches(
                    &entry,
                    sources,
                    separator,
                    value,
                    expression,
                    *older_than,
                    *longer_than,
                ) {
                    return Outcome::Drop(reason);
                }
                out.push(entry);
                Outcome::Pass
            }
            Stage::Limit {
                rate,
                burst,
                drop,
                by_label_name,
                max_distinct_labels,
                buckets,
            } => {
                let key = match by_label_name {
                    Some(name) => match entry.labels.get(name) {
                        Some(value) => value.clone(),
                        // Promtail limits only entries that have the label.
                        None => {
                            out.push(entry);
                            return Outcome::Pass;
                        }
                    },
                    None => String::new(),
                };
                let wait = take_token(buckets, key, *rate, *burst, *drop, *max_distinct_labels);
                match wait {
                    None => Outcome::Drop("ratelimit"),
                    Some(wait) => {
                        *delay += wait;
                        out.push(entry);
                        Outcome::Pass
                    }
                }
            }
            Stage::Output(source) => match entry.extracted.get(source.as_str()) {
                Some(value) => {
                    entry.line = value.clone();
                    out.push(entry);
                    Outcome::Pass
                }
                None => {
                    out.push(entry);
                    Outcome::Error
                }
            },
            Stage::Template { source, parts } => {
                let current = entry
                    .extracted
                    .get(source.as_str())
                    .cloned()
                    .unwrap_or_default();
                let mut rendered = String::new();
                for part in parts.iter() {
                    match part {
                        TemplatePart::Text(text) => rendered.push_str(text),
                        TemplatePart::Field { name, function } => {
                            let value = match name.as_str() {
                                "Value" => current.as_str(),
                                "Entry" => entry.line.as_str(),
                                other => {
                                    entry.extracted.get(other).map(String::as_str).unwrap_or("")
                                }
                            };
                            match function {
                                Some(function) => rendered.push_str(&function(value)),
                                None => rendered.push_str(value),
                            }
                        }
                    }
                }
                entry.extracted.insert(source.clone(), rendered);
                out.push(entry);
                Outcome::Pass
            }
        }
    }
}

fn check_names(pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    for (name, _) in &pairs {
        if name.is_empty() {
            return Err(String::from("a label name must not be empty"));
        }
    }
    Ok(pairs)
}

fn apply_cri(
    config: &CriConfig,
    held: &mut Option<PipelineEntry>,
    held_lines: &mut usize,
    mut entry: PipelineEntry,
    out: &mut Vec<PipelineEntry>,
) -> Outcome {
    let Some(cri) = parsers::parse_cri(&entry.line) else {
        if let Some(previous) = held.take() {
            *held_lines = 0;
            out.push(previous);
        }
        out.push(entry);
        return Outcome::Error;
    };
    entry
        .labels
        .insert(String::from("stream"), cri.stream.to_owned());
    entry
        .extracted
        .insert(String::from("stream"), cri.stream.to_owned());
    entry
        .extracted
        .insert(String::from("flags"), cri.flags.to_owned());
    if let Some(nanos) = super::go_time::parse_rfc3339(cri.time) {
        entry.timestamp_unix_nanos = nanos;
    }
    entry
        .extracted
        .insert(String::from("timestamp"), cri.time.to_owned());
    let partial = cri.flags.split(':').next() == Some("P");
    let content = cri.content.to_owned();
    match held {
        Some(block) => {
            block.line.push_str(&content);
            *held_lines += 1;
            if config.max_partial_line_size > 0 && block.line.len() > config.max_partial_line_size {
                let mut cut = config.max_partial_line_size;
                while !block.line.is_char_boundary(cut) {
                    cut -= 1;
                }
                block.line.truncate(cut);
            }
        }
        None => {
            entry.line = content;
            *held = Some(entry);
            *held_lines = 1;
        }
    }
    if !partial || *held_lines >= config.max_partial_lines {
        *held_lines = 0;
        if let Some(complete) = held.take() {
            out.push(complete);
        }
    }
    Outcome::Pass
}

#[allow(clippy::too_many_arguments)]
fn drop_matches(
    entry: &PipelineEntry,
    sources: &[String],
    separator: &str,
    value: &Option<String>,
    expression: &Option<Regex>,
    older_than: Option<Duration>,
    longer_than: Option<u64>,
) -> bool {
    let source_value = if sources.is_empty() {
        None
    } else {
        let mut parts = Vec::with_capacity(sources.len());
        for name in sources {
            match entry.extracted.get(name) {
                Some(found) => parts.push(found.as_str()),
                // A missing source: the entry is kept (Promtail's behaviour).
                None => return false,
            }
        }
        Some(parts.join(separator))
    };
    if let Some(expected) = value
        && source_value.as_deref() != Some(expected.as_str())
    {
        return false;
    }
    if let Some(regex) = expression {
        let subject = source_value.as_deref().unwrap_or(entry.line.as_str());
        if !regex.is_match(subject) {
            return false;
        }
    }
    if let Some(age) = older_than {
        let now_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let limit = now_nanos.saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
        if entry.timestamp_unix_nanos >= limit {
            return false;
        }
    }
    if let Some(length) = longer_than
        && (entry.line.len() as u64) <= length
    {
        return false;
    }
    true
}

/// Takes a token from the bucket of `key`: `Some(wait)` (zero when one was there;
/// when blocking, the wait until the borrowed token is due), `None` when dropping
/// and the bucket is empty.
fn take_token(
    buckets: &Buckets,
    key: String,
    rate: f64,
    burst: f64,
    drop: bool,
    max_distinct_labels: usize,
) -> Option<Duration> {
    let now = Instant::now();
    let Ok(mut buckets) = buckets.lock() else {
        // A poisoned lock means a panic elsewhere; let the line through.
        return Some(Duration::ZERO);
    };
    if !buckets.contains_key(&key) && buckets.len() >= max_distinct_labels {
        let fullest = buckets
            .iter()
            .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
            .map(|(name, _)| name.clone());
        if let Some(name) = fullest {
            buckets.remove(&name);
        }
    }
    let bucket = buckets.entry(key).or_insert(Bucket {
        tokens: burst,
        updated: now,
    });
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.updated = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        return Some(Duration::ZERO);
    }
    if drop {
        return None;
    }
    let missing = 1.0 - bucket.tokens;
    bucket.tokens -= 1.0;
    Some(Duration::from_secs_f64(missing / rate))
}

fn parse_template(text: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("template {text:?}: unclosed {{{{"))?;
        let action = after[..close]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let words: Vec<&str> = action.split_whitespace().collect();
        let (function, field) = match words.as_slice() {
            [field] => (None, *field),
            [function, field] => {
                let function: fn(&str) -> String = match *function {
                    "ToUpper" => |value| value.to_uppercase(),
                    "ToLower" => |value| value.to_lowercase(),
                    "TrimSpace" => |value| value.trim().to_owned(),
                    other => return Err(format!("template {text:?}: unknown function {other:?}")),
                };
                (Some(function), *field)
            }
            _ => {
                return Err(format!(
                    "template {text:?}: cannot evaluate {{{{{action}}}}}"
                ));
            }
        };
        let Some(name) = field.strip_prefix('.') else {
            return Err(format!("template {text:?}: {field:?} is not a .field"));
        };
        parts.push(TemplatePart::Field {
            name: name.to_owned(),
            function,
        });
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    Ok(parts)
}
