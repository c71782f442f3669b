//! LogQL: the abstract syntax tree, the parser ([`parse`]) and evaluation of stream
//! selectors and line filters.
//!
//! The tree is built to grow: a [`Query`] is a log query today and will gain metric
//! variants (range and vector aggregations); a pipeline is a list of [`Stage`]s that
//! will gain parsers, label filters and formatters beside line filters.

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use regex::Regex;

use crate::LabelSet;

pub use parser::{ParseError, parse};

/// A parsed LogQL query.
#[derive(Debug, Clone)]
pub enum Query {
    /// A log query: streams and their entries.
    Log(LogQuery),
}

/// `{selector} | stage | stage ...`
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// The stream selector's matchers (at least one).
    pub selector: Vec<Matcher>,
    /// Stages applied to each line, left to right.
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

/// `name op "value"` in a stream selector.
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
    /// `|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`.
    LineFilter(LineFilter),
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
}

/// A line filter.
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// Operator.
    pub op: FilterOp,
    /// Text or regular expression as written.
    pub value: String,
    regex: Option<Regex>,
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

impl LineFilter {
    /// Builds a line filter, compiling regexes unanchored.
    pub fn new(op: FilterOp, value: &str) -> Result<Self, String> {
        let regex = match op {
            FilterOp::Regex | FilterOp::NotRegex => {
                Some(Regex::new(value).map_err(|error| error.to_string())?)
            }
            FilterOp::Contains | FilterOp::NotContains => None,
        };
        Ok(LineFilter {
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Whether `line` passes the filter.
    pub fn matches(&self, line: &str) -> bool {
        match (self.op, &self.regex) {
            (FilterOp::Contains, _) => line.contains(&self.value),
            (FilterOp::NotContains, _) => !line.contains(&self.value),
            (FilterOp::Regex, Some(regex)) => regex.is_match(line),
            (FilterOp::NotRegex, Some(regex)) => !regex.is_match(line),
            (FilterOp::Regex | FilterOp::NotRegex, None) => false,
        }
    }
}

impl LogQuery {
    /// Whether a stream with `labels` is selected.
    pub fn selects(&self, labels: &LabelSet) -> bool {
        self.selector.iter().all(|matcher| matcher.matches(labels))
    }

    /// Whether `line` passes every stage.
    pub fn keeps_line(&self, line: &str) -> bool {
        self.pipeline.iter().all(|stage| match stage {
            Stage::LineFilter(filter) => filter.matches(line),
        })
    }
}

/// Parses a selector alone (`match[]` of `/series`, `query` of `/labels`).
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse(text)? {
        Query::Log(query) if query.pipeline.is_empty() => Ok(query.selector),
        Query::Log(_) => Err(ParseError::message(
            "only a stream selector is allowed here, without a pipeline",
        )),
    }
}
