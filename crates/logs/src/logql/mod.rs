//! LogQL: the abstract syntax tree, the parser ([`parse`]) and the log pipeline.
//!
//! [`parse`] turns a query into a [`Query`]: either a [`LogQuery`] (a stream selector and
//! a pipeline of [`Stage`]s) or a [`MetricExpr`] (range aggregations over log ranges,
//! vector aggregations, binary operators, literals, `vector(n)` and `label_replace`).
//! Everything a stage needs at run time (compiled regexes, templates, JSON paths) is
//! built while parsing, so a parsed query is ready to run and a bad regex or template
//! is a parse error.
//!
//! Running a pipeline over one entry is [`Pipeline::process`] (see [`pipeline`]); a
//! metric query gets its samples from a [`LogRange`] through [`LogRange::pipeline`],
//! whose [`Processed::value`] is the unwrapped value.

pub mod detect;
mod json;
mod lexer;
mod parser;
mod parsers;
pub mod pipeline;
#[cfg(test)]
mod pipeline_tests;
pub mod template;
#[cfg(test)]
mod tests;
pub(crate) mod units;

use std::time::Duration;

use regex::Regex;

use crate::LabelSet;

pub use parser::{ParseError, parse};
pub use pipeline::{Pipeline, Processed};

/// A parsed LogQL query.
#[derive(Debug, Clone)]
pub enum Query {
    /// A log query: streams and their entries.
    Log(LogQuery),
    /// A metric query: an instant vector (or a scalar) per evaluation step.
    Metric(MetricExpr),
}

/// `{selector} | stage | stage ...`
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// The stream selector's matchers (at least one that does not match the empty
    /// string).
    pub selector: Vec<Matcher>,
    /// Stages applied to each entry, left to right. An entry a stage rejects is dropped
    /// and later stages do not see it.
    pub pipeline: Vec<Stage>,
}

/// A label matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// `name op "value"` in a stream selector, a string label filter, or `drop`/`keep`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// The value or regular expression as written.
    pub value: String,
    /// For regex operators: the value compiled as `^(?s:value)$`.
    regex: Option<Regex>,
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`, `|> "<_> x"`, `!> "..."`, with `or`
    /// alternatives.
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp`, `| pattern`, `| unpack`: labels from the line.
    Parser(ParserStage),
    /// `| status >= 400 and level="error"`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"`: the line becomes the rendered template.
    LineFormat(template::Template),
    /// `| label_format a="{{.b}}", c=d`: labels set from templates or renamed.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="v"`: those labels removed (when the matcher holds).
    Drop(Vec<LabelSelection>),
    /// `| keep a, b="v"`: only those labels kept (when the matcher holds).
    Keep(Vec<LabelSelection>),
    /// `| decolorize`: ANSI color escape sequences removed from the line.
    Decolorize,
}

/// A line filter's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `|=` the line contains the text.
    Contains,
    /// `!=` the line does not contain the text.
    NotContains,
    /// `|~` the regex matches somewhere in the line.
    Regex,
    /// `!~` the regex matches nowhere in the line.
    NotRegex,
    /// `|>` the line matches the pattern (`<_>` wildcards).
    Pattern,
    /// `!>` the line does not match the pattern.
    NotPattern,
}

/// A line filter: `op value (or value)*`. For `|=`, `|~` and `|>` the line passes when
/// any alternative matches; for `!=`, `!~` and `!>` when none does (Loki's `or` chains).
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// Operator.
    pub op: FilterOp,
    /// The alternatives, at least one.
    pub alternatives: Vec<LineFilterValue>,
}

/// One alternative of a line filter.
#[derive(Debug, Clone)]
pub enum LineFilterValue {
    /// A substring (for `|=`, `!=`) or an unanchored regex (for `|~`, `!~`).
    Text {
        /// As written.
        value: String,
        /// The compiled regex (regex operators only).
        regex: Option<Regex>,
    },
    /// `ip("10.0.0.0/8")`: the line contains an IP address the pattern matches.
    Ip(pipeline::IpPattern),
    /// A `|>`/`!>` pattern such as `"<_> error <_>"`.
    Pattern(pipeline::LinePattern),
}

/// A parser stage.
#[derive(Debug, Clone)]
pub enum ParserStage {
    /// `| json` (every field, nested names joined with `_`) or `| json a="b.c[0]"`.
    Json {
        /// The extractions; empty means every field.
        extractions: Vec<JsonExtraction>,
    },
    /// `| logfmt [--strict] [--keep-empty] [a="key", b]`.
    Logfmt {
        /// `--strict`: a malformed pair is an error instead of being skipped.
        strict: bool,
        /// `--keep-empty`: pairs without a value become labels with an empty value.
        keep_empty: bool,
        /// `label="key"` (or `key` for `key="key"`); empty means every pair.
        extractions: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>re)"`: named groups become labels.
    Regexp(pipeline::RegexpParser),
    /// `| pattern "<ip> - <_> ..."`.
    Pattern(pipeline::PatternParser),
    /// `| unpack`: a JSON object's string fields become labels and `_entry` the line.
    Unpack,
}

/// `label="path"` of `| json`.
#[derive(Debug, Clone)]
pub struct JsonExtraction {
    /// The label set.
    pub label: String,
    /// The path as written (`a.b[0]`, `["a b"].c`).
    pub expression: String,
    /// The path, parsed.
    pub path: Vec<JsonPathPart>,
}

/// One step of a JSON extraction path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonPathPart {
    /// An object field.
    Field(String),
    /// An array index.
    Index(usize),
}

/// A comparison of a numeric, duration or bytes label filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==` (or `=`)
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

/// A label filter expression.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// Both hold (`and`, `,` or two filters side by side). Both sides always run, as
    /// in Loki, so the right side may set `__error__` even when the left fails.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds; the right side runs only when the left fails.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name = "v"`, `!=`, `=~`, `!~` on the value ("" when absent). Works on entries
    /// with `__error__` too.
    String(Matcher),
    /// `name op 1.5`: the value parsed as a float.
    Number {
        /// Label name.
        name: String,
        /// Comparison.
        op: CompareOp,
        /// Right-hand side.
        value: f64,
    },
    /// `name op 250ms`: the value parsed as a Go duration.
    Duration {
        /// Label name.
        name: String,
        /// Comparison.
        op: CompareOp,
        /// Right-hand side in nanoseconds.
        nanos: i128,
    },
    /// `name op 20MB`: the value parsed as a byte size (`KB` = 1000, `KiB` = 1024).
    Bytes {
        /// Label name.
        name: String,
        /// Comparison.
        op: CompareOp,
        /// Right-hand side in bytes.
        bytes: u64,
    },
    /// `name = ip("10.0.0.0/8")` or `name != ip(...)`.
    Ip {
        /// Label name.
        name: String,
        /// True for `!=`.
        negated: bool,
        /// The pattern.
        pattern: pipeline::IpPattern,
    },
}

/// One `label_format` assignment.
#[derive(Debug, Clone)]
pub enum LabelFormat {
    /// `target=source`: the source label's value moves to `target` (source removed).
    Rename {
        /// New name.
        target: String,
        /// Old name.
        source: String,
    },
    /// `target="{{...}}"`: the template's output.
    Template {
        /// Label set.
        target: String,
        /// The template.
        template: template::Template,
    },
}

/// An item of `drop`/`keep`: a bare name, or a matcher that must also hold.
#[derive(Debug, Clone)]
pub struct LabelSelection {
    /// Label name.
    pub name: String,
    /// `name="v"` etc.; `None` for a bare name.
    pub matcher: Option<Matcher>,
}

/// How `unwrap` turns a label value into a sample value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConversion {
    /// `unwrap label`: a float (Go's `strconv.ParseFloat`).
    Number,
    /// `unwrap duration(label)` or `duration_seconds(label)`: a Go duration, in seconds.
    Duration,
    /// `unwrap bytes(label)`: a byte size in bytes.
    Bytes,
}

/// `| unwrap ...` with the label filters that follow it.
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// The label whose value becomes the sample value.
    pub label: String,
    /// The conversion.
    pub conversion: UnwrapConversion,
    /// Label filters after the unwrap (`| __error__=""`), run after the conversion.
    pub post_filters: Vec<LabelFilter>,
}

/// The log side of a range aggregation: `{sel} | pipeline [range] offset o`, with an
/// optional `unwrap`.
#[derive(Debug, Clone)]
pub struct LogRange {
    /// Selector and pipeline (without the unwrap).
    pub query: LogQuery,
    /// The range (`[5m]`); `[0s]` is allowed, as in Loki, and selects nothing.
    pub range: Duration,
    /// `offset 1h` (zero when absent).
    pub offset: Duration,
    /// `| unwrap label` and its post filters.
    pub unwrap: Option<Unwrap>,
}

/// A range aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    /// `rate`: entries (or the unwrapped sum) per second.
    Rate,
    /// `rate_counter`: the unwrapped values treated as a counter.
    RateCounter,
    /// `count_over_time`
    CountOverTime,
    /// `bytes_rate`: line bytes per second.
    BytesRate,
    /// `bytes_over_time`: line bytes.
    BytesOverTime,
    /// `absent_over_time`
    AbsentOverTime,
    /// `sum_over_time` (unwrap)
    SumOverTime,
    /// `avg_over_time` (unwrap)
    AvgOverTime,
    /// `min_over_time` (unwrap)
    MinOverTime,
    /// `max_over_time` (unwrap)
    MaxOverTime,
    /// `stdvar_over_time` (unwrap)
    StdvarOverTime,
    /// `stddev_over_time` (unwrap)
    StddevOverTime,
    /// `quantile_over_time(φ, ...)` (unwrap)
    QuantileOverTime,
    /// `first_over_time` (unwrap)
    FirstOverTime,
    /// `last_over_time` (unwrap)
    LastOverTime,
}

/// `by (a, b)` or `without (a, b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// True for `without`.
    pub without: bool,
    /// The label names as written (may be empty: `by ()`).
    pub labels: Vec<String>,
}

/// `function(parameter, log_range) grouping`.
#[derive(Debug, Clone)]
pub struct RangeAggregation {
    /// The function.
    pub function: RangeFunction,
    /// The log range.
    pub range: LogRange,
    /// φ of `quantile_over_time` (required there, absent elsewhere).
    pub parameter: Option<f64>,
    /// `by`/`without` after the call (only for functions Loki allows it on).
    pub grouping: Option<Grouping>,
}

/// A vector aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFunction {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, ...)`
    Topk,
    /// `bottomk(k, ...)`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

/// `function by (labels) (parameter, expr)`.
#[derive(Debug, Clone)]
pub struct VectorAggregation {
    /// The function.
    pub function: VectorFunction,
    /// `by`/`without`, before or after the arguments; `None` when absent.
    pub grouping: Option<Grouping>,
    /// `k` of `topk`/`bottomk` (a positive integer, required there, absent elsewhere).
    pub parameter: Option<usize>,
    /// The aggregated expression.
    pub expr: Box<MetricExpr>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^` (right associative)
    Pow,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// True for `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal
                | BinaryOp::NotEqual
                | BinaryOp::Greater
                | BinaryOp::GreaterOrEqual
                | BinaryOp::Less
                | BinaryOp::LessOrEqual
        )
    }

    /// True for `and`, `or`, `unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// How series of the two sides are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// The default (and what set operators use: many-to-many).
    OneToOne,
    /// `group_left`: many left series per right series.
    ManyToOne,
    /// `group_right`: many right series per left series.
    OneToMany,
}

/// `on(...)`/`ignoring(...)` and `group_left(...)`/`group_right(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// True for `on`, false for `ignoring`.
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// From `group_left`/`group_right`.
    pub cardinality: Cardinality,
    /// The labels in `group_left(...)`/`group_right(...)` copied from the "one" side.
    pub include: Vec<String>,
}

/// `left op bool on(...) group_left(...) right`.
#[derive(Debug, Clone)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// `bool`: comparisons return 0/1 instead of filtering.
    pub return_bool: bool,
    /// `on`/`ignoring`; `None` when absent (match on all labels).
    pub matching: Option<VectorMatching>,
    /// Left side.
    pub left: Box<MetricExpr>,
    /// Right side.
    pub right: Box<MetricExpr>,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    /// The expression whose series are relabelled.
    pub expr: Box<MetricExpr>,
    /// Destination label.
    pub destination: String,
    /// Replacement with `$1`, `${name}` references.
    pub replacement: String,
    /// Source label.
    pub source: String,
    /// The regex as written.
    pub regex_text: String,
    /// The regex compiled fully anchored (`^(?s:regex)$`).
    pub regex: Regex,
}

/// A metric expression.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// `rate({...}[5m])` and friends.
    Range(RangeAggregation),
    /// `sum by (a) (...)` and friends.
    Vector(VectorAggregation),
    /// `a + b`, `a > bool 1`, `a and b`. Two literals are folded into one [`Literal`]
    /// at parse time (as Loki does).
    ///
    /// [`Literal`]: MetricExpr::Literal
    Binary(BinaryExpr),
    /// A number (a scalar), sign included.
    Literal(f64),
    /// `vector(n)`: one series without labels with value `n` at every step.
    VectorLiteral(f64),
    /// `label_replace(...)`.
    LabelReplace(LabelReplace),
}

impl Matcher {
    /// Builds a matcher, compiling regexes fully anchored (`.` matches newlines, as
    /// Prometheus' matchers do). The error is the regex compiler's message.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|error| error.to_string())?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Whether `value` (the empty string for an absent label) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether the stream with `labels` satisfies the matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }
}

impl LogQuery {
    /// Whether a stream with `labels` is selected.
    pub fn selects(&self, labels: &LabelSet) -> bool {
        self.selector.iter().all(|matcher| matcher.matches(labels))
    }

    /// True when every stage is a line filter: entries keep their stream's labels and
    /// line, and [`LogQuery::keeps_line`] decides alone.
    pub fn only_line_filters(&self) -> bool {
        self.pipeline
            .iter()
            .all(|stage| matches!(stage, Stage::LineFilter(_)))
    }

    /// Whether `line` passes every line filter (other stages are ignored; use
    /// [`LogQuery::pipeline`] for the full pipeline).
    pub fn keeps_line(&self, line: &str) -> bool {
        self.pipeline.iter().all(|stage| match stage {
            Stage::LineFilter(filter) => filter.matches(line),
            _ => true,
        })
    }

    /// The runnable pipeline of this query (no unwrap).
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline::new(&self.pipeline, None)
    }
}

impl LogRange {
    /// The runnable pipeline: stages, then the unwrap (its value in
    /// [`Processed::value`]) and its post filters.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline::new(&self.query.pipeline, self.unwrap.as_ref())
    }
}

/// Parses a selector alone (`match[]` of `/series`, `query` of `/labels`).
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse(text)? {
        Query::Log(query) if query.pipeline.is_empty() => Ok(query.selector),
        Query::Log(_) | Query::Metric(_) => Err(ParseError::message(
            "only a stream selector is allowed here, without a pipeline",
        )),
    }
}
