//! TraceQL, Grafana Tempo's trace query language, with Tempo's semantics.
//!
//! [`parse`] turns query text into a [`Query`]: it tokenises like Tempo's lexer, parses
//! with Tempo's grammar and precedences, folds constants and runs Tempo's static checks,
//! so an invalid query gets the error Tempo gives (syntax errors name Tempo's line and
//! column). [`Query::evaluate`] runs a search query over the spans of one trace and
//! returns the spansets that survive the pipeline, with the attributes Tempo reports;
//! [`Query::pushdown`] gives necessary conditions for storage to pre-filter traces.
//!
//! Supported: spanset filters over every intrinsic Tempo's grammar accepts (scoped and
//! unscoped), attributes in every scope, all comparison, arithmetic and boolean
//! operators, `nil` checks, spanset operators (`&&`, `||`), structural operators with
//! their negated and union forms, pipelines with `count`/`avg`/`min`/`max`/`sum` scalar
//! filters, `by()`, `coalesce()`, `select()` and `with(...)` hints. Metrics queries
//! (`rate()`, `count_over_time()`, ...) parse; on search only their spanset part runs, as
//! in Tempo, and metrics arithmetic gets [`EvalError::MetricsQuery`].
//!
//! "Tempo's semantics" includes what its storage layer does to answers, as recorded from
//! a real Tempo in `tests/traceql` (checked by this module's conformance test): ints and
//! floats never compare across stored attributes and literals, arrays match when any
//! element does, ANDed conditions pre-filter the spans the pipeline sees (so
//! `{ !(status = error) }` matches nothing), spans not reached from a root take part in
//! no structural relation, and a span reports only the attributes of conditions it meets.
//! Differences from Tempo are listed on [`Query::evaluate`].

mod ast;
mod attribute;
mod classify;
mod duration;
mod eval;
mod fetch;
mod field_parser;
mod lexer;
mod literals;
pub mod metrics;
mod parser;
mod pipeline;
mod pushdown;
mod report;
mod structural;
mod validate;
mod value;

#[cfg(test)]
mod tests_eval;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_structural;
#[cfg(test)]
mod tests_tempo;

use std::fmt;

use weft_model::{Span, SpanFilter};

pub use parser::{MAX_NESTING_DEPTH, MAX_OPERATORS};
pub use pipeline::EvalError;
pub use value::{Static, status_name};

use ast::{Body, Root};
use structural::TraceIndex;

/// What kind of problem a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text does not follow the grammar (Tempo's "parse error at line L, col C").
    Syntax,
    /// The query parses but fails Tempo's static checks (types, regexes).
    Invalid,
    /// The query parses but Tempo does not support it ("... not yet supported").
    Unsupported,
    /// The query is grammatical but nests deeper than [`MAX_NESTING_DEPTH`] or has more
    /// than [`MAX_OPERATORS`] operators: weft's guard against unbounded recursion.
    Limit,
}

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line as Tempo reports it; 0 where Tempo's scanner reports 0 (after
    /// multi-character tokens) and for non-syntax errors.
    pub line: usize,
    /// 1-based column in characters as Tempo reports it; 0 for non-syntax errors.
    pub column: usize,
    /// What is wrong, in Tempo's words (e.g. "syntax error: unexpected $end").
    pub message: String,
    /// Syntax, static check or unsupported feature.
    pub kind: ErrorKind,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, line: usize, column: usize, message: String) -> Self {
        ParseError {
            line,
            column,
            message,
            kind,
        }
    }

    pub(crate) fn syntax(line: usize, column: usize, message: String) -> Self {
        ParseError::new(ErrorKind::Syntax, line, column, message)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Syntax if self.line == 0 && self.column == 0 => {
                write!(f, "parse error : {}", self.message)
            }
            ErrorKind::Syntax | ErrorKind::Limit => write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.column, self.message
            ),
            ErrorKind::Invalid | ErrorKind::Unsupported => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed, validated TraceQL query.
#[derive(Debug, Clone)]
pub struct Query {
    root: Root,
    /// Attributes returned with each matched span (see [`MatchedSpan::attributes`]).
    reported: Vec<report::Reported>,
    /// The conditions every evaluated span must meet first (see `fetch`), when the
    /// query's conditions are all ANDed.
    first_pass: Option<Vec<ast::FieldExpr>>,
    /// The query's reads of the span name (see [`MatchedSpan::name_reported`]).
    name_reads: Vec<report::Reported>,
}

/// One spanset of a trace that survived the query.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSet {
    /// The spans, in the order of the slice given to [`Query::evaluate`].
    pub spans: Vec<MatchedSpan>,
    /// Number of matching spans (Tempo's `matched`); equals `spans.len()` here, callers
    /// that cut `spans` to a limit keep this count.
    pub matched: usize,
    /// Spanset attributes in the order Tempo adds them: `by(...)` keys (e.g.
    /// `("by(resource.service.name)", ...)`) and aggregates (e.g. `("count()", Int(5))`).
    pub attributes: Vec<(String, Static)>,
}

/// A span of a [`SpanSet`].
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpan {
    /// Index into the slice given to [`Query::evaluate`].
    pub index: usize,
    /// The attributes Tempo returns with this span, keyed by name without scope
    /// (`http.method`, `status`): those the query reads through a condition the span
    /// meets (an array gives its matching element, a met `= nil` the text `nil`), and
    /// those read through `by()`, `select()`, aggregates or arithmetic (the text `nil`
    /// when missing). Never `name`, `duration`, span and trace ids or trace-level
    /// intrinsics, which a search result carries elsewhere.
    pub attributes: Vec<(String, Static)>,
    /// True when Tempo lists this span's name in a search result: the query reads
    /// `name` outside a condition, or through a condition this span meets.
    pub name_reported: bool,
}

/// Parses and validates `query`. Metrics queries parse (see [`Query::is_metrics`]).
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let tokens = lexer::tokenize(query)?;
    let (root, _) = parse_tokens(tokens, false)?;
    validate::root(&root)?;
    let (reported, name_reads) = report::reported_attributes(&root);
    let first_pass = match &root.body {
        Body::Search(pipeline)
        | Body::Metrics {
            search: Some(pipeline),
            ..
        } => fetch::first_pass(pipeline),
        _ => None,
    };
    Ok(Query {
        root,
        reported,
        first_pass,
        name_reads,
    })
}

/// Parses tokens into a root. Where the query stops being valid at a token after a
/// complete query, yacc only expected `with` there and says so; `probing` parses such a
/// prefix without recursing again.
fn parse_tokens(tokens: Vec<lexer::Token>, probing: bool) -> Result<(Root, usize), ParseError> {
    let mut parser = parser::Parser::new(tokens);
    let node = parser.parse_outer(0)?;
    let hints = parser.hints()?;
    let classifier = classify::Classifier {
        tokens: &parser.tokens,
    };
    let failure = match classifier.root(&node) {
        Ok(body) if parser.peek().tok == lexer::Tok::Eof => {
            return Ok((Root { body, hints }, parser.pos));
        }
        Ok(_) => (parser.pos, parser.peek().syntax_error(&[])),
        // yacc stops at the first token that cannot continue.
        Err((position, error)) if position < parser.pos || parser.peek().tok == lexer::Tok::Eof => {
            (position, error)
        }
        Err(_) => (parser.pos, parser.peek().syntax_error(&[])),
    };
    let (position, error) = failure;
    let at = &parser.tokens[position.min(parser.tokens.len() - 1)];
    if !probing && error.kind == ErrorKind::Syntax && at.tok != lexer::Tok::Eof {
        let mut prefix = parser.tokens[..position].to_vec();
        prefix.push(lexer::Token {
            tok: lexer::Tok::Eof,
            line: at.line,
            column: at.column,
        });
        if let Ok((root, _)) = parse_tokens(prefix, true) {
            let expecting: &[&str] = if root.hints.is_empty() {
                &["with"]
            } else {
                &[]
            };
            return Err(at.syntax_error(expecting));
        }
    }
    Err(error)
}

/// Intrinsic names for the tags API's intrinsic scope, in Tempo's order.
pub fn intrinsic_names() -> &'static [&'static str] {
    &[
        "duration",
        "name",
        "status",
        "statusMessage",
        "kind",
        "rootServiceName",
        "rootName",
        "traceDuration",
        "event:name",
        "event:timeSinceStart",
        "link:spanID",
        "link:traceID",
        "instrumentation:name",
        "instrumentation:version",
        "trace:id",
        "span:id",
        "span:parentID",
        "span:status",
        "span:statusMessage",
        "span:duration",
        "span:name",
        "span:kind",
        "trace:rootName",
        "trace:rootService",
        "trace:duration",
    ]
}

impl Query {
    /// Evaluates the query over all spans of one trace (deduplicated, any order) and
    /// returns the spansets that survive the pipeline; empty when the trace does not
    /// match or cannot be evaluated (see [`Query::try_evaluate`]).
    ///
    /// Differences from Tempo: spans come back in slice order (Tempo's order follows its
    /// storage layout, and it cuts spansets to `spss` spans; callers do that); `&&`/`||`
    /// inside a filter always short-circuit; evaluation errors (division by zero) fail
    /// only this trace. Known, not replicated (see `tests_tempo.rs`): Tempo's regexes on
    /// link ids look at the first link only, it drops a `!= nil` filter before `by()`,
    /// and it hides string values of `span.http.status_code`.
    pub fn evaluate(&self, spans: &[Span]) -> Vec<SpanSet> {
        self.try_evaluate(spans).unwrap_or_default()
    }

    /// Like [`Query::evaluate`], but says why a trace could not be evaluated where Tempo
    /// would fail the whole query: a structural operator after `by()`, division by zero,
    /// a metrics query.
    pub fn try_evaluate(&self, spans: &[Span]) -> Result<Vec<SpanSet>, EvalError> {
        let pipeline = match &self.root.body {
            Body::Search(pipeline)
            | Body::Metrics {
                search: Some(pipeline),
                ..
            } => pipeline,
            Body::Metrics { search: None, .. } => return Err(EvalError::MetricsQuery),
            Body::ScalarPipelineFilter(filter) => {
                return Err(EvalError::Unsupported(filter.to_string()));
            }
        };
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let trace = TraceIndex::new(spans);
        let fetched = (0..spans.len()).filter(|&index| {
            self.first_pass
                .as_ref()
                .is_none_or(|conditions| fetch::meets(conditions, &trace, index))
        });
        let all = pipeline::State {
            spans: fetched.map(|index| index as u32).collect(),
            ..pipeline::State::default()
        };
        let states = pipeline::pipeline(pipeline, &trace, vec![all])?;
        Ok(states
            .into_iter()
            .filter(|state| !state.spans.is_empty())
            .map(|mut state| {
                state.spans.sort_unstable();
                state.spans.dedup();
                SpanSet {
                    matched: state.spans.len(),
                    spans: state
                        .spans
                        .iter()
                        .map(|&index| self.matched_span(&trace, index as usize))
                        .collect(),
                    attributes: state
                        .attributes
                        .iter()
                        .map(|(name, value)| (name.clone(), value.to_static()))
                        .collect(),
                }
            })
            .collect())
    }

    fn matched_span(&self, trace: &TraceIndex<'_>, index: usize) -> MatchedSpan {
        MatchedSpan {
            index,
            attributes: report::span_attributes(&self.reported, trace, index),
            name_reported: report::reports_name(&self.name_reads, trace, index),
        }
    }

    /// Necessary conditions for a trace to match, for storage to pre-filter: every
    /// trace [`Query::evaluate`] would match meets every criterion (see
    /// [`weft_model::SpanFilter`]). Empty when nothing is safely implied.
    pub fn pushdown(&self) -> SpanFilter {
        match &self.root.body {
            Body::Search(pipeline)
            | Body::Metrics {
                search: Some(pipeline),
                ..
            } => pushdown::for_pipeline(pipeline),
            _ => SpanFilter::default(),
        }
    }

    /// The `most_recent=true` hint: the caller should return the newest traces.
    pub fn most_recent(&self) -> bool {
        self.root
            .hints
            .iter()
            .find(|(name, value)| name == "most_recent" && value.as_bool().is_some())
            .and_then(|(_, value)| value.as_bool())
            .unwrap_or(false)
    }

    /// The `with(...)` hints, in query order.
    pub fn hints(&self) -> Vec<(String, Static)> {
        self.root
            .hints
            .iter()
            .map(|(name, value)| (name.clone(), value.to_static()))
            .collect()
    }

    /// True for TraceQL metrics queries (`rate()`, `count_over_time()`, ...). As in
    /// Tempo's search, [`Query::evaluate`] runs the spanset pipeline before the first
    /// metrics function (`{ } | rate()` returns every span); metrics arithmetic between
    /// pipelines gets [`EvalError::MetricsQuery`].
    pub fn is_metrics(&self) -> bool {
        matches!(self.root.body, Body::Metrics { .. })
    }
}

/// The query normalised the way Tempo prints it (`{ .a = 1 }|(count()) > 2`); it parses
/// back to the same query.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}
