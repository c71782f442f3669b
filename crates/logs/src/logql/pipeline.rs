//! Running a LogQL pipeline over one entry, as Loki does.
//!
//! An entry starts with its stream's labels and its structured metadata (metadata are
//! labels in the pipeline; one that has a stream label's name becomes `name_extracted`).
//! Each stage may drop the entry, add, change or remove labels, or rewrite the line.
//! Labels extracted by parsers that collide with a stream or metadata label get the
//! suffix `_extracted`; a parser extracts a name only once (the first parser wins).
//! Failures do not drop the entry: they set `__error__` (`JSONParserErr`,
//! `LogfmtParserErr`, `LabelFilterErr`, `TemplateFormatErr`, `SampleExtractionErr`) and
//! `__error_details__`, which a label filter can test (`| __error__=""`).

use std::borrow::Cow;
use std::net::IpAddr;

use regex::Regex;

use super::parsers;
use super::units::{parse_bytes, parse_go_duration};
use super::{
    CompareOp, FilterOp, LabelFilter, LabelFormat, LabelSelection, LineFilter, LineFilterValue,
    Stage, Unwrap, UnwrapConversion,
};
use crate::LabelSet;

/// The label holding a pipeline error.
pub const ERROR_LABEL: &str = "__error__";
/// The label holding a pipeline error's details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// Suffix of an extracted label whose name a stream or metadata label already has.
pub const DUPLICATE_SUFFIX: &str = "_extracted";

/// A runnable pipeline: stages and an optional unwrap. Cheap to build; borrows the AST.
#[derive(Debug, Clone, Copy)]
pub struct Pipeline<'a> {
    stages: &'a [Stage],
    unwrap: Option<&'a Unwrap>,
    only_line_filters: bool,
}

/// What the pipeline made of an entry it kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed<'l> {
    /// The entry's labels after the pipeline, sorted by name, `__error__` and
    /// `__error_details__` included when set. With an unwrap, the unwrapped label is
    /// removed (Loki's default grouping of unwrapped samples); `by`/`without` of the
    /// range aggregation is the caller's to apply.
    pub labels: LabelSet,
    /// The line, rewritten by `line_format`, `decolorize` or `unpack` (borrowed when
    /// unchanged).
    pub line: Cow<'l, str>,
    /// The unwrapped value when the pipeline has an unwrap (0 when the conversion
    /// failed; `__error__` is then `SampleExtractionErr` unless a post filter dropped
    /// the entry).
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Stream,
    Metadata,
    Parsed,
}

/// The labels of one entry while the pipeline runs (few labels: linear lookups).
#[derive(Debug)]
pub(crate) struct Labels<'s> {
    stream: &'s LabelSet,
    entries: Vec<(String, String, Category)>,
    /// Names a parser set (a later parser does not overwrite them).
    extracted: Vec<String>,
    error: Option<String>,
    error_details: Option<String>,
}

impl<'s> Labels<'s> {
    pub(crate) fn new(stream: &'s LabelSet, metadata: &[(String, String)]) -> Self {
        let mut labels = Labels {
            stream,
            entries: Vec::with_capacity(stream.len() + metadata.len()),
            extracted: Vec::new(),
            error: None,
            error_details: None,
        };
        // A stream label named like an error label is the error itself, so the
        // result never holds the name twice.
        for (name, value) in stream.pairs() {
            match name.as_str() {
                ERROR_LABEL => labels.error = Some(value.clone()),
                ERROR_DETAILS_LABEL => labels.error_details = Some(value.clone()),
                _ => labels
                    .entries
                    .push((name.clone(), value.clone(), Category::Stream)),
            }
        }
        for (name, value) in metadata {
            let name = if stream.get(name).is_some() {
                format!("{name}{DUPLICATE_SUFFIX}")
            } else {
                name.clone()
            };
            match name.as_str() {
                ERROR_LABEL => labels.error = Some(value.clone()),
                ERROR_DETAILS_LABEL => labels.error_details = Some(value.clone()),
                _ => labels.set(Category::Metadata, name, value.clone()),
            }
        }
        labels
    }

    /// The value of `name` (the error labels included), if set.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL => self.error.as_deref(),
            ERROR_DETAILS_LABEL => self.error_details.as_deref(),
            _ => self
                .entries
                .iter()
                .find(|(candidate, _, _)| candidate == name)
                .map(|(_, value, _)| value.as_str()),
        }
    }

    pub(crate) fn has_error(&self) -> bool {
        self.error.is_some()
    }

    pub(crate) fn set_error(&mut self, error: &str, details: Option<String>) {
        self.error = Some(error.to_owned());
        if let Some(details) = details {
            self.error_details = Some(details);
        }
    }

    fn in_base(&self, name: &str) -> bool {
        self.stream.get(name).is_some()
            || self.entries.iter().any(|(candidate, _, category)| {
                *category == Category::Metadata && candidate == name
            })
    }

    /// The name an extracted key gets: `name_extracted` when a stream or metadata
    /// label has it.
    pub(crate) fn extracted_name(&self, name: String) -> String {
        if self.in_base(&name) {
            name + DUPLICATE_SUFFIX
        } else {
            name
        }
    }

    /// Whether a parser already extracted `name`.
    pub(crate) fn was_extracted(&self, name: &str) -> bool {
        self.extracted.iter().any(|candidate| candidate == name)
    }

    /// Sets a label a parser extracted (not when a parser already did).
    pub(crate) fn set_extracted(&mut self, name: String, value: String) {
        if self.was_extracted(&name) {
            return;
        }
        self.set_parsed(name, value);
    }

    /// Sets a parsed label (overwriting, recording it as extracted).
    pub(crate) fn set_parsed(&mut self, name: String, value: String) {
        match name.as_str() {
            ERROR_LABEL => self.error = Some(value),
            ERROR_DETAILS_LABEL => self.error_details = Some(value),
            _ => {
                if !self.was_extracted(&name) {
                    self.extracted.push(name.clone());
                }
                self.set(Category::Parsed, name, value);
            }
        }
    }

    /// Loki's precedence: parsed > metadata > stream.
    fn set(&mut self, category: Category, name: String, value: String) {
        let existing = self
            .entries
            .iter()
            .position(|(candidate, _, _)| *candidate == name);
        match existing {
            Some(index) => {
                let current = self.entries[index].2;
                let wins = match category {
                    Category::Parsed => true,
                    Category::Metadata => current != Category::Parsed,
                    Category::Stream => current == Category::Stream,
                };
                if wins {
                    self.entries[index].1 = value;
                    self.entries[index].2 = category;
                }
            }
            None => self.entries.push((name, value, category)),
        }
    }

    fn delete(&mut self, name: &str) {
        match name {
            ERROR_LABEL => self.error = None,
            ERROR_DETAILS_LABEL => self.error_details = None,
            _ => self.entries.retain(|(candidate, _, _)| candidate != name),
        }
    }

    fn rename(&mut self, target: &str, source: &str) {
        if let Some(index) = self
            .entries
            .iter()
            .position(|(candidate, _, _)| candidate == source)
        {
            let (_, value, _) = self.entries.remove(index);
            self.set_parsed(target.to_owned(), value);
        }
    }

    /// The labels parsers set, in the order they were first set.
    pub(crate) fn parsed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter(|(_, _, category)| *category == Category::Parsed)
            .map(|(name, value, _)| (name.as_str(), value.as_str()))
    }

    /// Name/value pairs for templates (error labels included), sorted by name.
    pub(crate) fn snapshot(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .entries
            .iter()
            .map(|(name, value, _)| (name.clone(), value.clone()))
            .collect();
        if let Some(error) = &self.error {
            pairs.push((ERROR_LABEL.to_owned(), error.clone()));
        }
        if let Some(details) = &self.error_details {
            pairs.push((ERROR_DETAILS_LABEL.to_owned(), details.clone()));
        }
        pairs.sort();
        pairs
    }

    fn into_label_set(self, without: Option<&str>) -> LabelSet {
        let mut pairs: Vec<(String, String)> = self
            .entries
            .into_iter()
            .filter(|(name, _, _)| Some(name.as_str()) != without)
            .map(|(name, value, _)| (name, value))
            .collect();
        if let Some(error) = self.error {
            pairs.push((ERROR_LABEL.to_owned(), error));
        }
        if let Some(details) = self.error_details {
            pairs.push((ERROR_DETAILS_LABEL.to_owned(), details));
        }
        pairs.sort_by(|left, right| left.0.cmp(&right.0));
        LabelSet::from_sorted_unique(pairs)
    }
}

impl<'a> Pipeline<'a> {
    /// A pipeline of `stages`, then `unwrap` and its post filters.
    pub fn new(stages: &'a [Stage], unwrap: Option<&'a Unwrap>) -> Self {
        Pipeline {
            stages,
            unwrap,
            only_line_filters: unwrap.is_none()
                && stages
                    .iter()
                    .all(|stage| matches!(stage, Stage::LineFilter(_))),
        }
    }

    /// True when every stage is a line filter and there is no unwrap: an entry keeps
    /// its stream's labels and line, and [`Pipeline::keeps_line`] decides alone
    /// without allocating.
    pub fn only_line_filters(&self) -> bool {
        self.only_line_filters
    }

    /// Whether `line` passes the line filters that come before any other stage (a
    /// cheap pre-check: an entry failing it is dropped by [`Pipeline::process`] too).
    pub fn keeps_line(&self, line: &str) -> bool {
        self.stages
            .iter()
            .map_while(|stage| match stage {
                Stage::LineFilter(filter) => Some(filter),
                _ => None,
            })
            .all(|filter| filter.matches(line))
    }

    /// Runs the pipeline over one entry: its Unix-nanosecond timestamp, line, stream
    /// labels and structured metadata. `None` when a stage dropped it.
    pub fn process<'l>(
        &self,
        timestamp_unix_nanos: i64,
        line: &'l str,
        stream: &LabelSet,
        metadata: &[(String, String)],
    ) -> Option<Processed<'l>> {
        if self.only_line_filters {
            if !self.keeps_line(line) {
                return None;
            }
            if metadata.is_empty() {
                return Some(Processed {
                    labels: stream.clone(),
                    line: Cow::Borrowed(line),
                    value: None,
                });
            }
        }
        let mut labels = Labels::new(stream, metadata);
        let mut line = Cow::Borrowed(line);
        for stage in self.stages {
            if !run_stage(stage, timestamp_unix_nanos, &mut line, &mut labels) {
                return None;
            }
        }
        let Some(unwrap) = self.unwrap else {
            return Some(Processed {
                labels: labels.into_label_set(None),
                line,
                value: None,
            });
        };
        // An entry without the label (or with it empty) gives no sample, as in Loki
        // (grafana/loki#6713); only a value that does not convert is an error.
        let raw = labels.get(&unwrap.label).unwrap_or("");
        if raw.is_empty() {
            return None;
        }
        let value = match convert(unwrap.conversion, raw) {
            Ok(value) => value,
            Err(details) => {
                labels.set_error("SampleExtractionErr", Some(details));
                0.0
            }
        };
        for filter in &unwrap.post_filters {
            if !filter.process(&mut labels) {
                return None;
            }
        }
        Some(Processed {
            labels: labels.into_label_set(Some(&unwrap.label)),
            line,
            value: Some(value),
        })
    }
}

fn convert(conversion: UnwrapConversion, raw: &str) -> Result<f64, String> {
    match conversion {
        UnwrapConversion::Number => go_parse_float(raw),
        UnwrapConversion::Duration => parse_go_duration(raw)
            .map(|nanos| nanos as f64 / 1e9)
            .ok_or_else(|| format!("time: invalid duration {}", go_quote(raw))),
        UnwrapConversion::Bytes => parse_bytes(raw).map(|bytes| bytes as f64).ok_or_else(|| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                go_quote(raw)
            )
        }),
    }
}

/// Go's `strconv.ParseFloat(text, 64)` for the forms logs carry (decimal, exponent,
/// `Inf`, `NaN`), with Go's error text.
pub(crate) fn go_parse_float(text: &str) -> Result<f64, String> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let acceptable = !unsigned.is_empty()
        && (unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
            || matches!(
                unsigned.to_ascii_lowercase().as_str(),
                "inf" | "infinity" | "nan"
            ));
    match acceptable.then(|| text.replace('_', "").parse::<f64>()) {
        Some(Ok(value)) => Ok(value),
        _ => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(text)
        )),
    }
}

/// Go's `%q` for the texts error details show.
pub(crate) fn go_quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

fn run_stage(
    stage: &Stage,
    timestamp_unix_nanos: i64,
    line: &mut Cow<'_, str>,
    labels: &mut Labels,
) -> bool {
    match stage {
        Stage::LineFilter(filter) => filter.matches(line),
        Stage::Parser(parser) => {
            if let Some(new_line) = parsers::run(parser, line, labels) {
                *line = Cow::Owned(new_line);
            }
            true
        }
        Stage::LabelFilter(filter) => filter.process(labels),
        Stage::LineFormat(template) => {
            let data = labels.snapshot();
            match template.render(&data, line, timestamp_unix_nanos) {
                Ok(rendered) => *line = Cow::Owned(rendered),
                Err(error) => labels.set_error("TemplateFormatErr", Some(error)),
            }
            true
        }
        Stage::LabelFormat(formats) => {
            let mut data: Option<Vec<(String, String)>> = None;
            for format in formats {
                match format {
                    LabelFormat::Rename { target, source } => labels.rename(target, source),
                    LabelFormat::Template { target, template } => {
                        let data = data.get_or_insert_with(|| labels.snapshot());
                        match template.render(data, line, timestamp_unix_nanos) {
                            Ok(value) => labels.set_parsed(target.clone(), value),
                            Err(error) => labels.set_error("TemplateFormatErr", Some(error)),
                        }
                    }
                }
            }
            true
        }
        Stage::Drop(selections) => {
            for selection in selections {
                if selection_holds(selection, labels) {
                    labels.delete(&selection.name);
                }
            }
            true
        }
        Stage::Keep(selections) => {
            let keep = |name: &str, labels: &Labels| {
                selections
                    .iter()
                    .any(|selection| selection.name == name && selection_holds(selection, labels))
            };
            let removed: Vec<String> = labels
                .entries
                .iter()
                .map(|(name, _, _)| name.clone())
                .filter(|name| !keep(name, labels))
                .collect();
            for name in removed {
                labels.delete(&name);
            }
            true
        }
        Stage::Decolorize => {
            if let Cow::Owned(stripped) = ansi_escape().replace_all(line, "") {
                *line = Cow::Owned(stripped);
            }
            true
        }
    }
}

fn selection_holds(selection: &LabelSelection, labels: &Labels) -> bool {
    match &selection.matcher {
        None => true,
        Some(matcher) => labels
            .get(&selection.name)
            .is_some_and(|value| matcher.matches_value(value)),
    }
}

fn ansi_escape() -> &'static Regex {
    static ANSI: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    ANSI.get_or_init(|| {
        // ECMA-48 control sequences (CSI ... final byte) and OSC strings ended by BEL.
        Regex::new(r"[\x1b\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x07)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))")
            .expect("the ANSI escape regex is valid")
    })
}

impl LineFilter {
    /// Whether `line` passes: any alternative matches for `|=`/`|~`/`|>`, none for
    /// `!=`/`!~`/`!>`.
    pub fn matches(&self, line: &str) -> bool {
        let any = self
            .alternatives
            .iter()
            .any(|alternative| alternative.found_in(line));
        match self.op {
            FilterOp::Contains | FilterOp::Regex | FilterOp::Pattern => any,
            FilterOp::NotContains | FilterOp::NotRegex | FilterOp::NotPattern => !any,
        }
    }
}

impl LineFilterValue {
    fn found_in(&self, line: &str) -> bool {
        match self {
            LineFilterValue::Text {
                regex: Some(regex), ..
            } => regex.is_match(line),
            // std's substring search (SIMD for short needles) measured faster than a
            // literal regex (memmem) on 200k logfmt lines of ~200 bytes.
            LineFilterValue::Text { value, regex: None } => line.contains(value.as_str()),
            LineFilterValue::Ip(pattern) => pattern.found_in(line),
            LineFilterValue::Pattern(pattern) => pattern.matches(line),
        }
    }
}

fn compare<T: PartialOrd>(op: CompareOp, left: T, right: T) -> bool {
    match op {
        CompareOp::Equal => left == right,
        CompareOp::NotEqual => left != right,
        CompareOp::Greater => left > right,
        CompareOp::GreaterOrEqual => left >= right,
        CompareOp::Less => left < right,
        CompareOp::LessOrEqual => left <= right,
    }
}

impl LabelFilter {
    /// Runs the filter over an entry's labels: false drops the entry. A value that
    /// does not convert sets `__error__="LabelFilterErr"` and keeps the entry; typed
    /// filters let entries that already have an error through (only string filters
    /// can drop them), as in Loki.
    pub(crate) fn process(&self, labels: &mut Labels) -> bool {
        match self {
            LabelFilter::And(left, right) => {
                let left = left.process(labels);
                let right = right.process(labels);
                left && right
            }
            LabelFilter::Or(left, right) => left.process(labels) || right.process(labels),
            LabelFilter::String(matcher) => {
                matcher.matches_value(labels.get(&matcher.name).unwrap_or(""))
            }
            LabelFilter::Number { name, op, value } => {
                typed(labels, name, go_parse_float, |found| {
                    compare(*op, found, *value)
                })
            }
            LabelFilter::Duration { name, op, nanos } => typed(
                labels,
                name,
                |raw| {
                    parse_go_duration(raw)
                        .ok_or_else(|| format!("time: invalid duration {}", go_quote(raw)))
                },
                |found| compare(*op, found, *nanos),
            ),
            LabelFilter::Bytes { name, op, bytes } => typed(
                labels,
                name,
                |raw| {
                    parse_bytes(raw).ok_or_else(|| {
                        format!(
                            "strconv.ParseFloat: parsing {}: invalid syntax",
                            go_quote(raw)
                        )
                    })
                },
                |found| compare(*op, found, *bytes),
            ),
            LabelFilter::Ip {
                name,
                negated,
                pattern,
            } => {
                let Some(value) = labels.get(name) else {
                    return false;
                };
                let matches = value
                    .trim()
                    .parse::<IpAddr>()
                    .is_ok_and(|address| pattern.contains(address));
                matches != *negated
            }
        }
    }
}

fn typed<T>(
    labels: &mut Labels,
    name: &str,
    convert: impl Fn(&str) -> Result<T, String>,
    holds: impl Fn(T) -> bool,
) -> bool {
    // Loki's typed filters: a missing label drops the entry, even one with a parser
    // error; a value that does not convert keeps it with `LabelFilterErr` (unless an
    // error is already set, the more useful one).
    let Some(raw) = labels.get(name) else {
        return false;
    };
    match convert(raw) {
        Ok(value) => holds(value),
        Err(details) => {
            if !labels.has_error() {
                labels.set_error("LabelFilterErr", Some(details));
            }
            true
        }
    }
}

/// `ip("...")`: one address, a CIDR block (`10.0.0.0/8`) or a range
/// (`10.0.0.1-10.0.0.9`), IPv4 or IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPattern {
    /// One address.
    Single(IpAddr),
    /// `address/prefix`.
    Cidr(IpAddr, u8),
    /// `first-last`, inclusive.
    Range(IpAddr, IpAddr),
}

fn address_bits(address: IpAddr) -> (u128, u8) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

impl IpPattern {
    /// Parses a pattern; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((address, prefix)) = text.split_once('/') {
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("invalid address {address:?}"))?;
            let prefix: u8 = prefix
                .parse()
                .map_err(|_| format!("invalid prefix length {prefix:?}"))?;
            if prefix > address_bits(address).1 {
                return Err(format!("prefix length {prefix} is too long"));
            }
            return Ok(IpPattern::Cidr(address, prefix));
        }
        if let Some((first, last)) = text.split_once('-') {
            let first: IpAddr = first
                .trim()
                .parse()
                .map_err(|_| format!("invalid address {first:?}"))?;
            let last: IpAddr = last
                .trim()
                .parse()
                .map_err(|_| format!("invalid address {last:?}"))?;
            if first.is_ipv4() != last.is_ipv4() || address_bits(first).0 > address_bits(last).0 {
                return Err(format!("invalid range {text:?}"));
            }
            return Ok(IpPattern::Range(first, last));
        }
        text.parse()
            .map(IpPattern::Single)
            .map_err(|_| format!("invalid address {text:?}"))
    }

    /// Whether `address` is in the pattern.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (bits, width) = address_bits(address);
        match self {
            IpPattern::Single(single) => *single == address,
            IpPattern::Cidr(network, prefix) => {
                let (network_bits, network_width) = address_bits(*network);
                if network_width != width {
                    return false;
                }
                let shift = u32::from(width - prefix);
                if shift >= 128 {
                    return true;
                }
                (bits >> shift) == (network_bits >> shift)
            }
            IpPattern::Range(first, last) => {
                first.is_ipv4() == address.is_ipv4()
                    && address_bits(*first).0 <= bits
                    && bits <= address_bits(*last).0
            }
        }
    }

    /// Whether any address written in `line` is in the pattern.
    pub fn found_in(&self, line: &str) -> bool {
        line.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .filter(|word| word.len() >= 2)
            .any(|word| {
                word.trim_matches(|c| c == ':' || c == '.')
                    .parse::<IpAddr>()
                    .is_ok_and(|address| self.contains(address))
            })
    }
}

/// `| regexp "..."`: the compiled regex and its named groups.
#[derive(Debug, Clone)]
pub struct RegexpParser {
    pub(crate) regex: Regex,
}

impl RegexpParser {
    /// Compiles the regex; it needs at least one named group, names valid and unique.
    pub fn new(text: &str) -> Result<Self, String> {
        let regex = Regex::new(text).map_err(|error| error.to_string())?;
        let mut names = Vec::new();
        for name in regex.capture_names().flatten() {
            if !crate::labels::is_valid_label_name(name) {
                return Err(format!("invalid extracted label name '{name}'"));
            }
            if names.contains(&name) {
                return Err(format!("duplicate extracted label name '{name}'"));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(String::from("at least one named capture must be supplied"));
        }
        Ok(RegexpParser { regex })
    }
}

/// One piece of a `pattern` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternPart {
    Literal(String),
    /// A named capture, or `None` for `<_>`.
    Capture(Option<String>),
}

/// `| pattern "<ip> - <_> ..."`: literals and captures.
#[derive(Debug, Clone)]
pub struct PatternParser {
    pub(crate) parts: Vec<PatternPart>,
}

/// Splits a pattern into literals and captures (`<name>`, `<_>`); two captures may
/// not follow each other.
fn pattern_parts(text: &str) -> Result<Vec<PatternPart>, String> {
    let mut parts: Vec<PatternPart> = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(character) = rest.chars().next() {
        if character == '<'
            && let Some(end) = rest.find('>')
            && (&rest[1..end] == "_" || crate::labels::is_valid_label_name(&rest[1..end]))
        {
            let name = &rest[1..end];
            if !literal.is_empty() {
                parts.push(PatternPart::Literal(std::mem::take(&mut literal)));
            }
            if let Some(PatternPart::Capture(previous)) = parts.last() {
                let previous = previous.as_deref().unwrap_or("_");
                return Err(format!(
                    "found consecutive capture '<{previous}><{name}>': invalid expression"
                ));
            }
            parts.push(PatternPart::Capture((name != "_").then(|| name.to_owned())));
            rest = &rest[end + 1..];
            continue;
        }
        literal.push(character);
        rest = &rest[character.len_utf8()..];
    }
    if !literal.is_empty() {
        parts.push(PatternPart::Literal(literal));
    }
    Ok(parts)
}

impl PatternParser {
    /// Parses the pattern: `<name>` captures, `<_>` skips, anything else literal. At
    /// least one capture; two captures may not follow each other; names unique.
    pub fn new(text: &str) -> Result<Self, String> {
        let parts = pattern_parts(text)?;
        if !parts
            .iter()
            .any(|part| matches!(part, PatternPart::Capture(_)))
        {
            return Err(String::from("at least one capture is required"));
        }
        let mut names: Vec<&str> = Vec::new();
        for part in &parts {
            if let PatternPart::Capture(Some(name)) = part {
                if names.contains(&name.as_str()) {
                    return Err(format!(
                        "duplicate capture name ({name}): invalid expression"
                    ));
                }
                names.push(name);
            }
        }
        Ok(PatternParser { parts })
    }
}

/// The pattern of a `|>`/`!>` line filter: literals and `<_>` only.
#[derive(Debug, Clone)]
pub struct LinePattern {
    parts: Vec<PatternPart>,
}

impl LinePattern {
    /// Parses a line-filter pattern; named captures are refused, as in Loki.
    pub fn new(text: &str) -> Result<Self, String> {
        let parts = pattern_parts(text)?;
        if let Some(PatternPart::Capture(Some(name))) = parts
            .iter()
            .find(|part| matches!(part, PatternPart::Capture(Some(_))))
        {
            return Err(format!("named captures are not allowed: found '<{name}>'"));
        }
        Ok(LinePattern { parts })
    }

    /// Loki's `Matcher.Test`: each literal found after the previous one (a literal
    /// right after another match, other than the first, fails: an empty capture); a
    /// pattern ending in a literal must end the line, one ending in a capture must
    /// leave text for it. An empty line matches only an empty pattern.
    pub fn matches(&self, line: &str) -> bool {
        if line.is_empty() || self.parts.is_empty() {
            return line.is_empty() && self.parts.is_empty();
        }
        let mut offset = 0;
        for (index, part) in self.parts.iter().enumerate() {
            let PatternPart::Literal(literal) = part else {
                continue;
            };
            let Some(found) = line[offset..].find(literal.as_str()) else {
                return false;
            };
            if index != 0 && found == 0 {
                return false;
            }
            offset += found + literal.len();
        }
        let ends_on_capture = matches!(self.parts.last(), Some(PatternPart::Capture(_)));
        ends_on_capture == (offset != line.len())
    }
}
