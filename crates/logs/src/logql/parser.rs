//! The LogQL parser (recursive descent with precedence climbing for binary operators).
//! Syntax errors read as Loki's:
//! `parse error at line 1, col 11: syntax error: unexpected }, expecting STRING`;
//! errors found after the syntax (a bad aggregation, a bad regex without a position)
//! read `parse error : <what>` as Loki's position-less errors do.

use std::time::Duration;

use super::lexer::{Located, Token, lex};
use super::pipeline::{IpPattern, LinePattern, PatternParser, RegexpParser};
use super::template::Template;
use super::units::{parse_bytes, parse_query_duration};
use super::{
    BinaryExpr, BinaryOp, Cardinality, CompareOp, FilterOp, Grouping, JsonExtraction, JsonPathPart,
    LabelFilter, LabelFormat, LabelReplace, LabelSelection, LineFilter, LineFilterValue, LogQuery,
    LogRange, MatchOp, Matcher, MetricExpr, ParserStage, Query, RangeAggregation, RangeFunction,
    Stage, Unwrap, UnwrapConversion, VectorAggregation, VectorFunction, VectorMatching,
};

/// The longest query text accepted, in bytes (Loki's limit).
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

/// A query that does not parse (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    fn at(line: usize, column: usize, message: impl std::fmt::Display) -> Self {
        ParseError(format!(
            "parse error at line {line}, col {column}: {message}"
        ))
    }

    /// A position-less error, worded as Loki's: `parse error : <message>`.
    pub(crate) fn plain(message: impl std::fmt::Display) -> Self {
        ParseError(format!("parse error : {message}"))
    }

    pub(crate) fn message(message: &str) -> Self {
        ParseError(message.to_owned())
    }
}

type Result<T> = std::result::Result<T, ParseError>;

/// A log query or a metric expression while parsing (parentheses may hold either).
enum Expr {
    Log(LogQuery),
    Metric(MetricExpr),
}

/// Deepest nesting of parentheses and sub-expressions (bounded recursion).
pub const MAX_NESTING: usize = 100;

struct Parser {
    tokens: Vec<Located>,
    next: usize,
    end: (usize, usize),
    /// Current nesting of expressions, label filters and log ranges.
    depth: usize,
}

const EXPECTING_STAGE: &str = "|=, !=, |~, !~, |>, !> or |";

fn is_stage_keyword(name: &str) -> bool {
    matches!(
        name,
        "json"
            | "logfmt"
            | "regexp"
            | "pattern"
            | "unpack"
            | "line_format"
            | "label_format"
            | "drop"
            | "keep"
            | "decolorize"
            | "unwrap"
    )
}

fn range_function(name: &str) -> Option<RangeFunction> {
    Some(match name {
        "rate" => RangeFunction::Rate,
        "rate_counter" => RangeFunction::RateCounter,
        "count_over_time" => RangeFunction::CountOverTime,
        "bytes_rate" => RangeFunction::BytesRate,
        "bytes_over_time" => RangeFunction::BytesOverTime,
        "absent_over_time" => RangeFunction::AbsentOverTime,
        "sum_over_time" => RangeFunction::SumOverTime,
        "avg_over_time" => RangeFunction::AvgOverTime,
        "min_over_time" => RangeFunction::MinOverTime,
        "max_over_time" => RangeFunction::MaxOverTime,
        "stdvar_over_time" => RangeFunction::StdvarOverTime,
        "stddev_over_time" => RangeFunction::StddevOverTime,
        "quantile_over_time" => RangeFunction::QuantileOverTime,
        "first_over_time" => RangeFunction::FirstOverTime,
        "last_over_time" => RangeFunction::LastOverTime,
        _ => return None,
    })
}

fn vector_function(name: &str) -> Option<VectorFunction> {
    Some(match name {
        "sum" => VectorFunction::Sum,
        "avg" => VectorFunction::Avg,
        "min" => VectorFunction::Min,
        "max" => VectorFunction::Max,
        "count" => VectorFunction::Count,
        "stddev" => VectorFunction::Stddev,
        "stdvar" => VectorFunction::Stdvar,
        "topk" => VectorFunction::Topk,
        "bottomk" => VectorFunction::Bottomk,
        "sort" => VectorFunction::Sort,
        "sort_desc" => VectorFunction::SortDesc,
        _ => return None,
    })
}

impl RangeFunction {
    /// The function's name in LogQL.
    pub fn name(self) -> &'static str {
        match self {
            RangeFunction::Rate => "rate",
            RangeFunction::RateCounter => "rate_counter",
            RangeFunction::CountOverTime => "count_over_time",
            RangeFunction::BytesRate => "bytes_rate",
            RangeFunction::BytesOverTime => "bytes_over_time",
            RangeFunction::AbsentOverTime => "absent_over_time",
            RangeFunction::SumOverTime => "sum_over_time",
            RangeFunction::AvgOverTime => "avg_over_time",
            RangeFunction::MinOverTime => "min_over_time",
            RangeFunction::MaxOverTime => "max_over_time",
            RangeFunction::StdvarOverTime => "stdvar_over_time",
            RangeFunction::StddevOverTime => "stddev_over_time",
            RangeFunction::QuantileOverTime => "quantile_over_time",
            RangeFunction::FirstOverTime => "first_over_time",
            RangeFunction::LastOverTime => "last_over_time",
        }
    }
}

impl VectorFunction {
    /// The function's name in LogQL.
    pub fn name(self) -> &'static str {
        match self {
            VectorFunction::Sum => "sum",
            VectorFunction::Avg => "avg",
            VectorFunction::Min => "min",
            VectorFunction::Max => "max",
            VectorFunction::Count => "count",
            VectorFunction::Stddev => "stddev",
            VectorFunction::Stdvar => "stdvar",
            VectorFunction::Topk => "topk",
            VectorFunction::Bottomk => "bottomk",
            VectorFunction::Sort => "sort",
            VectorFunction::SortDesc => "sort_desc",
        }
    }
}

/// Binding strength of a binary operator (higher binds tighter), Loki's table.
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Equal
        | BinaryOp::NotEqual
        | BinaryOp::Greater
        | BinaryOp::GreaterOrEqual
        | BinaryOp::Less
        | BinaryOp::LessOrEqual => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

/// Folds `left op right` for two literals as Loki does (comparisons give 1 or 0).
fn fold(op: BinaryOp, left: f64, right: f64) -> f64 {
    let truth = |holds: bool| if holds { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => left + right,
        BinaryOp::Sub => left - right,
        BinaryOp::Mul => left * right,
        BinaryOp::Div => left / right,
        BinaryOp::Mod => left % right,
        BinaryOp::Pow => left.powf(right),
        BinaryOp::Equal => truth(left == right),
        BinaryOp::NotEqual => truth(left != right),
        BinaryOp::Greater => truth(left > right),
        BinaryOp::GreaterOrEqual => truth(left >= right),
        BinaryOp::Less => truth(left < right),
        BinaryOp::LessOrEqual => truth(left <= right),
        // Set operators never reach here: literals are rejected on both sides.
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => f64::NAN,
    }
}

fn binary_op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::Pow => "^",
        BinaryOp::Equal => "==",
        BinaryOp::NotEqual => "!=",
        BinaryOp::Greater => ">",
        BinaryOp::GreaterOrEqual => ">=",
        BinaryOp::Less => "<",
        BinaryOp::LessOrEqual => "<=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
        BinaryOp::Unless => "unless",
    }
}

/// Go's `%f`: six decimals.
fn go_float(value: f64) -> String {
    format!("{value:.6}")
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens
            .get(self.next + offset)
            .map(|located| &located.token)
    }

    fn peek_identifier(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Identifier(name)) => Some(name),
            _ => None,
        }
    }

    fn position(&self) -> (usize, usize) {
        self.tokens
            .get(self.next)
            .map_or(self.end, |located| (located.line, located.column))
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        let (line, column) = self.position();
        let found = self.peek().map_or(String::from("$end"), Token::describe);
        ParseError::at(
            line,
            column,
            format!("syntax error: unexpected {found}, expecting {expecting}"),
        )
    }

    fn error_here(&self, message: impl std::fmt::Display) -> ParseError {
        let (line, column) = self.position();
        ParseError::at(line, column, message)
    }

    fn eat(&mut self, wanted: &Token) -> bool {
        if self.peek() == Some(wanted) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_identifier() == Some(keyword) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, wanted: &Token, expecting: &str) -> Result<()> {
        if self.eat(wanted) {
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    fn string(&mut self) -> Result<(String, (usize, usize))> {
        let position = self.position();
        match self.peek() {
            Some(Token::String(value)) => {
                let value = value.clone();
                self.next += 1;
                Ok((value, position))
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn identifier(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Identifier(name)) => {
                let name = name.clone();
                self.next += 1;
                Ok(name)
            }
            _ => Err(self.unexpected("IDENTIFIER")),
        }
    }

    /// A number token with an optional sign, as written.
    fn signed_number_text(&mut self) -> Option<String> {
        let sign = match self.peek() {
            Some(Token::Minus) => "-",
            Some(Token::Plus) => "",
            _ => "",
        };
        let offset = usize::from(matches!(self.peek(), Some(Token::Minus | Token::Plus)));
        match self.peek_at(offset) {
            Some(Token::Number(text)) => {
                let text = format!("{sign}{text}");
                self.next += offset + 1;
                Some(text)
            }
            _ => None,
        }
    }

    fn float(&mut self) -> Result<f64> {
        let position = self.position();
        let Some(text) = self.signed_number_text() else {
            return Err(self.unexpected("NUMBER"));
        };
        parse_float(&text).ok_or_else(|| {
            ParseError::at(
                position.0,
                position.1,
                format!("unable to parse literal as a float: {text:?}"),
            )
        })
    }

    // ---- expressions -------------------------------------------------------------

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error_here(format!(
                "syntax error: nested more than {MAX_NESTING} levels deep"
            )));
        }
        Ok(())
    }

    fn expression(&mut self, minimum_precedence: u8) -> Result<Expr> {
        self.enter()?;
        let result = self.expression_inner(minimum_precedence);
        self.depth -= 1;
        result
    }

    fn expression_inner(&mut self, minimum_precedence: u8) -> Result<Expr> {
        let mut left = self.primary()?;
        while let Some(op) = self.peek_binary_op() {
            let strength = precedence(op);
            if strength < minimum_precedence {
                break;
            }
            let (line, column) = self.position();
            self.next += 1;
            let (return_bool, matching) = self.binary_modifiers(op)?;
            // `^` is right associative; the others are left associative.
            let next_minimum = if op == BinaryOp::Pow {
                strength
            } else {
                strength + 1
            };
            let right = self.expression(next_minimum)?;
            left = Expr::Metric(combine(
                op,
                return_bool,
                matching,
                left,
                right,
                (line, column),
            )?);
        }
        Ok(left)
    }

    fn peek_binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek()? {
            Token::Plus => BinaryOp::Add,
            Token::Minus => BinaryOp::Sub,
            Token::Star => BinaryOp::Mul,
            Token::Slash => BinaryOp::Div,
            Token::Percent => BinaryOp::Mod,
            Token::Caret => BinaryOp::Pow,
            Token::DoubleEqual => BinaryOp::Equal,
            Token::NotEqual => BinaryOp::NotEqual,
            Token::Greater => BinaryOp::Greater,
            Token::GreaterOrEqual => BinaryOp::GreaterOrEqual,
            Token::Less => BinaryOp::Less,
            Token::LessOrEqual => BinaryOp::LessOrEqual,
            Token::Identifier(name) => match name.as_str() {
                "and" => BinaryOp::And,
                "or" => BinaryOp::Or,
                "unless" => BinaryOp::Unless,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn binary_modifiers(&mut self, op: BinaryOp) -> Result<(bool, Option<VectorMatching>)> {
        let mut return_bool = self.eat_keyword("bool");
        if return_bool && op.is_set_operator() {
            // Loki accepts `bool` on and/or/unless and ignores it.
            return_bool = false;
        } else if return_bool && !op.is_comparison() {
            return Err(ParseError::plain(
                "bool modifier can only be used on comparison operators",
            ));
        }
        let on = match self.peek_identifier() {
            Some("on") => true,
            Some("ignoring") => false,
            _ => return Ok((return_bool, None)),
        };
        self.next += 1;
        let labels = self.label_list()?;
        let mut matching = VectorMatching {
            on,
            labels,
            cardinality: Cardinality::OneToOne,
            include: Vec::new(),
        };
        let cardinality = match self.peek_identifier() {
            Some("group_left") => Cardinality::ManyToOne,
            Some("group_right") => Cardinality::OneToMany,
            _ => return Ok((return_bool, Some(matching))),
        };
        self.next += 1;
        if op.is_set_operator() {
            return Err(ParseError::plain(format!(
                "no grouping allowed for \"{}\" operation",
                binary_op_name(op)
            )));
        }
        matching.cardinality = cardinality;
        if self.peek() == Some(&Token::OpenParen) {
            matching.include = self.label_list()?;
        }
        Ok((return_bool, Some(matching)))
    }

    /// `( a, b, ... )`, possibly empty.
    fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect(&Token::OpenParen, "(")?;
        let mut labels = Vec::new();
        if self.eat(&Token::CloseParen) {
            return Ok(labels);
        }
        loop {
            labels.push(self.identifier()?);
            if self.eat(&Token::Comma) {
                continue;
            }
            self.expect(&Token::CloseParen, ", or )")?;
            return Ok(labels);
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = match self.peek_identifier() {
            Some("by") => false,
            Some("without") => true,
            _ => return Ok(None),
        };
        self.next += 1;
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    fn primary(&mut self) -> Result<Expr> {
        match self.peek() {
            Some(Token::OpenBrace) => {
                let query = self.log_query()?;
                Ok(Expr::Log(query))
            }
            Some(Token::OpenParen) => {
                self.next += 1;
                let inner = self.expression(0)?;
                self.expect(&Token::CloseParen, ")")?;
                Ok(inner)
            }
            Some(Token::Number(_) | Token::Minus | Token::Plus) => {
                Ok(Expr::Metric(MetricExpr::Literal(self.float()?)))
            }
            Some(Token::Identifier(name)) => {
                let name = name.clone();
                if let Some(function) = range_function(&name) {
                    self.next += 1;
                    return Ok(Expr::Metric(self.range_aggregation(function)?));
                }
                if let Some(function) = vector_function(&name) {
                    self.next += 1;
                    return Ok(Expr::Metric(self.vector_aggregation(function)?));
                }
                match name.as_str() {
                    "vector" => {
                        self.next += 1;
                        self.expect(&Token::OpenParen, "(")?;
                        let value = self.float()?;
                        self.expect(&Token::CloseParen, ")")?;
                        Ok(Expr::Metric(MetricExpr::VectorLiteral(value)))
                    }
                    "label_replace" => {
                        self.next += 1;
                        Ok(Expr::Metric(self.label_replace()?))
                    }
                    _ => Err(self.unexpected("{, (, NUMBER or a function")),
                }
            }
            _ => Err(self.unexpected("{, (, NUMBER or a function")),
        }
    }

    fn metric_argument(&mut self) -> Result<MetricExpr> {
        let (line, column) = self.position();
        match self.expression(0)? {
            Expr::Metric(expr) => Ok(expr),
            Expr::Log(_) => Err(ParseError::at(
                line,
                column,
                "syntax error: unexpected log query, expecting a metric expression (a range aggregation such as rate({...}[5m]))",
            )),
        }
    }

    fn vector_aggregation(&mut self, function: VectorFunction) -> Result<MetricExpr> {
        let mut grouping = self.grouping()?;
        self.expect(&Token::OpenParen, "(")?;
        let mut parameter_text = None;
        if matches!(self.peek(), Some(Token::Number(_))) && self.peek_at(1) == Some(&Token::Comma) {
            if let Some(Token::Number(text)) = self.peek() {
                parameter_text = Some(text.clone());
            }
            self.next += 2;
        }
        let expr = self.metric_argument()?;
        self.expect(&Token::CloseParen, ")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let name = function.name();
        let parameter = match function {
            VectorFunction::Topk | VectorFunction::Bottomk => {
                let Some(text) = parameter_text else {
                    return Err(ParseError::plain(format!(
                        "parameter required for operation {name}"
                    )));
                };
                let Ok(k) = text.parse::<i64>() else {
                    return Err(ParseError::plain(format!(
                        "invalid parameter {name}({text},"
                    )));
                };
                if k <= 0 {
                    return Err(ParseError::plain(format!(
                        "invalid parameter (must be greater than 0) {name}({text}"
                    )));
                }
                Some(usize::try_from(k).unwrap_or(usize::MAX))
            }
            _ => {
                if let Some(text) = parameter_text {
                    return Err(ParseError::plain(format!(
                        "unsupported parameter for operation {name}({text},"
                    )));
                }
                None
            }
        };
        if matches!(function, VectorFunction::Sort | VectorFunction::SortDesc)
            && grouping
                .as_ref()
                .is_some_and(|grouping| !grouping.labels.is_empty())
        {
            return Err(ParseError::plain(
                "sort and sort_desc doesn't allow grouping by ",
            ));
        }
        Ok(MetricExpr::Vector(VectorAggregation {
            function,
            grouping,
            parameter,
            expr: Box::new(expr),
        }))
    }

    fn range_aggregation(&mut self, function: RangeFunction) -> Result<MetricExpr> {
        self.expect(&Token::OpenParen, "(")?;
        let mut parameter = None;
        if matches!(self.peek(), Some(Token::Number(_))) {
            let value = self.float()?;
            self.expect(&Token::Comma, ",")?;
            parameter = Some(value);
        }
        let range = self.log_range()?;
        self.expect(&Token::CloseParen, ")")?;
        let grouping = self.grouping()?;
        let name = function.name();
        match (function, parameter) {
            (RangeFunction::QuantileOverTime, None) => {
                return Err(ParseError::plain(format!(
                    "parameter required for operation {name}"
                )));
            }
            (RangeFunction::QuantileOverTime, Some(_)) | (_, None) => {}
            (_, Some(value)) => {
                return Err(ParseError::plain(format!(
                    "parameter {value} not supported for operation {name}"
                )));
            }
        }
        validate_range_aggregation(function, range.unwrap.is_some(), grouping.is_some())?;
        Ok(MetricExpr::Range(RangeAggregation {
            function,
            range,
            parameter,
            grouping,
        }))
    }

    fn label_replace(&mut self) -> Result<MetricExpr> {
        self.expect(&Token::OpenParen, "(")?;
        let expr = self.metric_argument()?;
        let mut strings = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(&Token::Comma, ",")?;
            strings.push(self.string()?);
        }
        self.expect(&Token::CloseParen, ")")?;
        let [destination, replacement, source, regex_text] =
            <[(String, (usize, usize)); 4]>::try_from(strings).map_err(|_| {
                ParseError::plain("label_replace takes an expression and four strings")
            })?;
        let regex = regex::Regex::new(&format!("^(?s:{})$", regex_text.0)).map_err(|error| {
            ParseError::at(
                regex_text.1.0,
                regex_text.1.1,
                format!("invalid regex in label_replace: {error}"),
            )
        })?;
        if !crate::labels::is_valid_label_name(&destination.0) {
            return Err(ParseError::at(
                destination.1.0,
                destination.1.1,
                format!(
                    "invalid destination label name in label_replace: {}",
                    destination.0
                ),
            ));
        }
        Ok(MetricExpr::LabelReplace(LabelReplace {
            expr: Box::new(expr),
            destination: destination.0,
            replacement: replacement.0,
            source: source.0,
            regex_text: regex_text.0,
            regex,
        }))
    }

    // ---- log ranges ---------------------------------------------------------------

    fn range_duration(&mut self) -> Result<Duration> {
        self.expect(&Token::OpenBracket, "[")?;
        let (line, column) = self.position();
        let text = match self.peek() {
            Some(Token::Number(text)) => text.clone(),
            _ => return Err(self.unexpected("DURATION")),
        };
        self.next += 1;
        self.expect(&Token::CloseBracket, "]")?;
        // Loki accepts `[0s]`: its windows `(t, t]` hold nothing.
        match parse_query_duration(&text) {
            Some(duration) => Ok(duration),
            None => Err(ParseError::at(
                line,
                column,
                format!("not a valid duration string: {text:?}"),
            )),
        }
    }

    fn offset(&mut self) -> Result<Duration> {
        if !self.eat_keyword("offset") {
            return Ok(Duration::ZERO);
        }
        let (line, column) = self.position();
        let text = match self.peek() {
            Some(Token::Number(text)) => text.clone(),
            _ => return Err(self.unexpected("DURATION")),
        };
        self.next += 1;
        parse_query_duration(&text).ok_or_else(|| {
            ParseError::at(
                line,
                column,
                format!("not a valid duration string: {text:?}"),
            )
        })
    }

    /// `{sel} pipeline [range] offset`, the range anywhere Loki allows it, with
    /// optional parentheses around the selector and pipeline or the whole range.
    fn log_range(&mut self) -> Result<LogRange> {
        self.enter()?;
        let result = self.log_range_inner();
        self.depth -= 1;
        result
    }

    fn log_range_inner(&mut self) -> Result<LogRange> {
        if self.peek() == Some(&Token::OpenParen) {
            self.next += 1;
            if self.peek() == Some(&Token::OpenParen) {
                let range = self.log_range()?;
                self.expect(&Token::CloseParen, ")")?;
                return Ok(range);
            }
            let selector = self.selector()?;
            let (pipeline, unwrap) = self.pipeline(true)?;
            if self.eat(&Token::CloseParen) {
                let range = self.range_duration()?;
                let offset = self.offset()?;
                return Ok(LogRange {
                    query: LogQuery { selector, pipeline },
                    range,
                    offset,
                    unwrap,
                });
            }
            let range = self.finish_log_range(selector, pipeline, unwrap)?;
            self.expect(&Token::CloseParen, ")")?;
            return Ok(range);
        }
        let selector = self.selector()?;
        let (pipeline, unwrap) = self.pipeline(true)?;
        self.finish_log_range(selector, pipeline, unwrap)
    }

    fn finish_log_range(
        &mut self,
        selector: Vec<Matcher>,
        mut pipeline: Vec<Stage>,
        mut unwrap: Option<Unwrap>,
    ) -> Result<LogRange> {
        if self.peek() != Some(&Token::OpenBracket) {
            return Err(self.unexpected(&format!("{EXPECTING_STAGE} or [range]")));
        }
        let range = self.range_duration()?;
        let offset = self.offset()?;
        if pipeline.is_empty() && unwrap.is_none() {
            (pipeline, unwrap) = self.pipeline(true)?;
        }
        Ok(LogRange {
            query: LogQuery { selector, pipeline },
            range,
            offset,
            unwrap,
        })
    }

    // ---- log queries --------------------------------------------------------------

    fn log_query(&mut self) -> Result<LogQuery> {
        let selector = self.selector()?;
        let (pipeline, _) = self.pipeline(false)?;
        Ok(LogQuery { selector, pipeline })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>> {
        self.expect(&Token::OpenBrace, "{")?;
        let mut matchers = Vec::new();
        loop {
            let name = self.identifier()?;
            let op = match self.peek() {
                Some(Token::Equal) => MatchOp::Equal,
                Some(Token::NotEqual) => MatchOp::NotEqual,
                Some(Token::RegexMatch) => MatchOp::Regex,
                Some(Token::NotRegexMatch) => MatchOp::NotRegex,
                _ => return Err(self.unexpected("=, !=, =~ or !~")),
            };
            self.next += 1;
            let (value, (line, column)) = self.string()?;
            let matcher = Matcher::new(&name, op, &value)
                .map_err(|error| ParseError::at(line, column, format!("invalid regex: {error}")))?;
            matchers.push(matcher);
            if self.eat(&Token::Comma) {
                continue;
            }
            self.expect(&Token::CloseBrace, "} or ,")?;
            break;
        }
        if !matchers.iter().any(|matcher| !matcher.matches_value("")) {
            return Err(ParseError::plain(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        Ok(matchers)
    }

    /// Stages until something that is not a stage. With `allow_unwrap` (inside a range
    /// aggregation) `| unwrap` may come last, followed only by label filters.
    fn pipeline(&mut self, allow_unwrap: bool) -> Result<(Vec<Stage>, Option<Unwrap>)> {
        let mut stages = Vec::new();
        let mut unwrap: Option<Unwrap> = None;
        loop {
            let op = match self.peek() {
                Some(Token::PipeExact) => FilterOp::Contains,
                Some(Token::NotEqual) => FilterOp::NotContains,
                Some(Token::PipeMatch) => FilterOp::Regex,
                Some(Token::NotRegexMatch) => FilterOp::NotRegex,
                Some(Token::PipePattern) => FilterOp::Pattern,
                Some(Token::NotPipePattern) => FilterOp::NotPattern,
                Some(Token::Pipe) => {
                    self.next += 1;
                    if let Some(unwrap) = &mut unwrap {
                        if self.peek_identifier().is_some_and(is_stage_keyword)
                            && !self.next_is_comparison()
                        {
                            return Err(self.unexpected("a label filter after unwrap"));
                        }
                        let filter = self.label_filter()?;
                        unwrap.post_filters.push(filter);
                        continue;
                    }
                    if self.peek_identifier() == Some("unwrap") && !self.next_is_comparison() {
                        if !allow_unwrap {
                            return Err(self.unexpected(
                                "a pipeline stage (unwrap is only allowed in a range aggregation)",
                            ));
                        }
                        self.next += 1;
                        unwrap = Some(self.unwrap()?);
                        continue;
                    }
                    stages.push(self.stage()?);
                    continue;
                }
                _ => return Ok((reorder_stages(stages), unwrap)),
            };
            if unwrap.is_some() {
                return Err(self.unexpected("| and a label filter after unwrap"));
            }
            self.next += 1;
            stages.push(Stage::LineFilter(self.line_filter(op)?));
        }
    }

    fn next_is_comparison(&self) -> bool {
        matches!(
            self.peek_at(1),
            Some(
                Token::Equal
                    | Token::NotEqual
                    | Token::RegexMatch
                    | Token::NotRegexMatch
                    | Token::DoubleEqual
                    | Token::Greater
                    | Token::GreaterOrEqual
                    | Token::Less
                    | Token::LessOrEqual
            )
        )
    }

    fn line_filter_value(&mut self, op: FilterOp) -> Result<LineFilterValue> {
        if self.peek_identifier() == Some("ip") && self.peek_at(1) == Some(&Token::OpenParen) {
            if !matches!(op, FilterOp::Contains | FilterOp::NotContains) {
                return Err(self.error_here("syntax error: ip() is only allowed with |= and !="));
            }
            self.next += 2;
            let (text, (line, column)) = self.string()?;
            self.expect(&Token::CloseParen, ")")?;
            let pattern = IpPattern::parse(&text).map_err(|error| {
                ParseError::at(line, column, format!("invalid ip pattern: {error}"))
            })?;
            return Ok(LineFilterValue::Ip(pattern));
        }
        let (value, (line, column)) = self.string()?;
        if matches!(op, FilterOp::Pattern | FilterOp::NotPattern) {
            let pattern = LinePattern::new(&value).map_err(|error| {
                ParseError::at(
                    line,
                    column,
                    format!("invalid line filter pattern: {error}"),
                )
            })?;
            return Ok(LineFilterValue::Pattern(pattern));
        }
        let regex = match op {
            FilterOp::Regex | FilterOp::NotRegex => {
                Some(regex::Regex::new(&value).map_err(|error| {
                    ParseError::at(line, column, format!("invalid regex: {error}"))
                })?)
            }
            FilterOp::Contains
            | FilterOp::NotContains
            | FilterOp::Pattern
            | FilterOp::NotPattern => None,
        };
        Ok(LineFilterValue::Text { value, regex })
    }

    fn line_filter(&mut self, op: FilterOp) -> Result<LineFilter> {
        let mut alternatives = vec![self.line_filter_value(op)?];
        // `or` continues a line filter only when a string or ip(...) follows, so a
        // binary `or` after a log range is not taken for it.
        while self.peek_identifier() == Some("or")
            && matches!(
                self.peek_at(1),
                Some(Token::String(_)) | Some(Token::Identifier(_))
            )
            && (matches!(self.peek_at(1), Some(Token::String(_)))
                || self.peek_at(2) == Some(&Token::OpenParen))
        {
            self.next += 1;
            alternatives.push(self.line_filter_value(op)?);
        }
        Ok(LineFilter { op, alternatives })
    }

    fn unwrap(&mut self) -> Result<Unwrap> {
        let conversion = match (self.peek_identifier(), self.peek_at(1)) {
            (Some("duration" | "duration_seconds"), Some(Token::OpenParen)) => {
                Some(UnwrapConversion::Duration)
            }
            (Some("bytes"), Some(Token::OpenParen)) => Some(UnwrapConversion::Bytes),
            _ => None,
        };
        let (label, conversion) = match conversion {
            Some(conversion) => {
                self.next += 2;
                let label = self.identifier()?;
                self.expect(&Token::CloseParen, ")")?;
                (label, conversion)
            }
            None => (self.identifier()?, UnwrapConversion::Number),
        };
        Ok(Unwrap {
            label,
            conversion,
            post_filters: Vec::new(),
        })
    }

    /// The stage after a `|` (not unwrap).
    fn stage(&mut self) -> Result<Stage> {
        let keyword = match self.peek_identifier() {
            Some(name) if is_stage_keyword(name) && !self.next_is_comparison() => name.to_owned(),
            _ if matches!(self.peek(), Some(Token::Identifier(_) | Token::OpenParen)) => {
                return Ok(Stage::LabelFilter(self.label_filter()?));
            }
            _ => {
                return Err(self.unexpected(
                    "a parser, a formatter, drop, keep, decolorize or a label filter",
                ));
            }
        };
        self.next += 1;
        Ok(match keyword.as_str() {
            "json" => Stage::Parser(ParserStage::Json {
                extractions: self.json_extractions()?,
            }),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Some(Token::Flag(flag)) = self.peek() {
                    match flag.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => return Err(self.unexpected("--strict, --keep-empty")),
                    }
                    self.next += 1;
                }
                let extractions = self.extraction_list()?;
                Stage::Parser(ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    extractions: extractions
                        .into_iter()
                        .map(|(label, key, _)| (label, key))
                        .collect(),
                })
            }
            "regexp" => {
                let (text, (line, column)) = self.string()?;
                let parser = RegexpParser::new(&text).map_err(|error| {
                    ParseError::at(line, column, format!("invalid regexp parser: {error}"))
                })?;
                Stage::Parser(ParserStage::Regexp(parser))
            }
            "pattern" => {
                let (text, (line, column)) = self.string()?;
                let parser = PatternParser::new(&text).map_err(|error| {
                    ParseError::at(line, column, format!("invalid pattern parser: {error}"))
                })?;
                Stage::Parser(ParserStage::Pattern(parser))
            }
            "unpack" => Stage::Parser(ParserStage::Unpack),
            "line_format" => {
                let (text, (line, column)) = self.string()?;
                let template = Template::parse(&text).map_err(|error| {
                    ParseError::at(
                        line,
                        column,
                        format!("invalid line_format template: {error}"),
                    )
                })?;
                Stage::LineFormat(template)
            }
            "label_format" => Stage::LabelFormat(self.label_formats()?),
            "drop" => Stage::Drop(self.label_selections()?),
            "keep" => Stage::Keep(self.label_selections()?),
            "decolorize" => Stage::Decolorize,
            _ => return Err(self.unexpected("a pipeline stage")),
        })
    }

    /// `a="x", b, c="y"` after a parser: (label, expression, position of expression).
    #[allow(clippy::type_complexity)]
    fn extraction_list(&mut self) -> Result<Vec<(String, String, (usize, usize))>> {
        let mut list = Vec::new();
        if self.peek_identifier().is_none() || self.peek_binary_op().is_some() {
            return Ok(list);
        }
        loop {
            let position = self.position();
            let label = self.identifier()?;
            if self.eat(&Token::Equal) {
                let (expression, position) = self.string()?;
                list.push((label, expression, position));
            } else {
                list.push((label.clone(), label, position));
            }
            if !self.eat(&Token::Comma) {
                return Ok(list);
            }
        }
    }

    fn json_extractions(&mut self) -> Result<Vec<JsonExtraction>> {
        self.extraction_list()?
            .into_iter()
            .map(|(label, expression, (line, column))| {
                let path = parse_json_path(&expression).map_err(|error| {
                    ParseError::at(
                        line,
                        column,
                        format!("invalid json path {expression:?}: {error}"),
                    )
                })?;
                Ok(JsonExtraction {
                    label,
                    expression,
                    path,
                })
            })
            .collect()
    }

    fn label_formats(&mut self) -> Result<Vec<LabelFormat>> {
        let mut formats = Vec::new();
        loop {
            let target = self.identifier()?;
            self.expect(&Token::Equal, "=")?;
            match self.peek() {
                Some(Token::String(_)) => {
                    let (text, (line, column)) = self.string()?;
                    let template = Template::parse(&text).map_err(|error| {
                        ParseError::at(
                            line,
                            column,
                            format!("invalid label_format template: {error}"),
                        )
                    })?;
                    formats.push(LabelFormat::Template { target, template });
                }
                Some(Token::Identifier(_)) => {
                    let source = self.identifier()?;
                    formats.push(LabelFormat::Rename { target, source });
                }
                _ => return Err(self.unexpected("STRING or IDENTIFIER")),
            }
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        let mut targets: Vec<&str> = formats
            .iter()
            .map(|format| match format {
                LabelFormat::Rename { target, .. } | LabelFormat::Template { target, .. } => {
                    target.as_str()
                }
            })
            .collect();
        targets.sort_unstable();
        if let Some(pair) = targets.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ParseError::plain(format!(
                "label_format: multiple label name '{}' not allowed in a single format operation",
                pair[0]
            )));
        }
        Ok(formats)
    }

    fn label_selections(&mut self) -> Result<Vec<LabelSelection>> {
        let mut selections = Vec::new();
        loop {
            let name = self.identifier()?;
            let op = match self.peek() {
                Some(Token::Equal) => Some(MatchOp::Equal),
                Some(Token::NotEqual) => Some(MatchOp::NotEqual),
                Some(Token::RegexMatch) => Some(MatchOp::Regex),
                Some(Token::NotRegexMatch) => Some(MatchOp::NotRegex),
                _ => None,
            };
            let matcher = match op {
                Some(op) => {
                    self.next += 1;
                    let (value, (line, column)) = self.string()?;
                    Some(Matcher::new(&name, op, &value).map_err(|error| {
                        ParseError::at(line, column, format!("invalid regex: {error}"))
                    })?)
                }
                None => None,
            };
            selections.push(LabelSelection { name, matcher });
            if !self.eat(&Token::Comma) {
                return Ok(selections);
            }
        }
    }

    // ---- label filters ------------------------------------------------------------

    /// `or` binds loosest; `and`, `,` and two filters side by side bind tighter.
    fn label_filter(&mut self) -> Result<LabelFilter> {
        self.enter()?;
        let result = self.label_filter_inner();
        self.depth -= 1;
        result
    }

    fn label_filter_inner(&mut self) -> Result<LabelFilter> {
        let mut left = self.label_filter_conjunction()?;
        while self.peek_identifier() == Some("or")
            && matches!(
                self.peek_at(1),
                Some(Token::Identifier(_) | Token::OpenParen)
            )
        {
            self.next += 1;
            let right = self.label_filter_conjunction()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn label_filter_conjunction(&mut self) -> Result<LabelFilter> {
        let mut left = self.label_filter_primary()?;
        loop {
            let joined = match self.peek() {
                Some(Token::Identifier(name)) if name == "and" => {
                    self.next += 1;
                    true
                }
                Some(Token::Comma) => {
                    self.next += 1;
                    true
                }
                // Side by side: `| a="1" b="2"`.
                Some(Token::Identifier(name))
                    if !matches!(name.as_str(), "or" | "unless" | "offset")
                        && self.next_is_comparison() =>
                {
                    true
                }
                Some(Token::OpenParen) => true,
                _ => false,
            };
            if !joined {
                return Ok(left);
            }
            let right = self.label_filter_primary()?;
            left = LabelFilter::And(Box::new(left), Box::new(right));
        }
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter> {
        if self.eat(&Token::OpenParen) {
            let inner = self.label_filter()?;
            self.expect(&Token::CloseParen, ")")?;
            return Ok(inner);
        }
        let name = self.identifier()?;
        let op_position = self.position();
        let Some(op) = self.peek().cloned() else {
            return Err(self.unexpected("=, !=, =~, !~, ==, >, >=, < or <="));
        };
        self.next += 1;
        // String matchers and ip().
        if matches!(
            op,
            Token::Equal | Token::NotEqual | Token::RegexMatch | Token::NotRegexMatch
        ) {
            if let Some(Token::String(_)) = self.peek() {
                let (value, (line, column)) = self.string()?;
                let op = match op {
                    Token::Equal => MatchOp::Equal,
                    Token::NotEqual => MatchOp::NotEqual,
                    Token::RegexMatch => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                let matcher = Matcher::new(&name, op, &value).map_err(|error| {
                    ParseError::at(line, column, format!("invalid regex: {error}"))
                })?;
                return Ok(LabelFilter::String(matcher));
            }
            if matches!(op, Token::Equal | Token::NotEqual)
                && self.peek_identifier() == Some("ip")
                && self.peek_at(1) == Some(&Token::OpenParen)
            {
                self.next += 2;
                let (text, (line, column)) = self.string()?;
                self.expect(&Token::CloseParen, ")")?;
                let pattern = IpPattern::parse(&text).map_err(|error| {
                    ParseError::at(line, column, format!("invalid ip pattern: {error}"))
                })?;
                return Ok(LabelFilter::Ip {
                    name,
                    negated: op == Token::NotEqual,
                    pattern,
                });
            }
            if matches!(op, Token::RegexMatch | Token::NotRegexMatch) {
                return Err(self.unexpected("STRING"));
            }
        }
        let compare = match op {
            Token::Equal | Token::DoubleEqual => CompareOp::Equal,
            Token::NotEqual => CompareOp::NotEqual,
            Token::Greater => CompareOp::Greater,
            Token::GreaterOrEqual => CompareOp::GreaterOrEqual,
            Token::Less => CompareOp::Less,
            Token::LessOrEqual => CompareOp::LessOrEqual,
            _ => {
                self.next -= 1;
                let _ = op_position;
                return Err(self.unexpected("=, !=, =~, !~, ==, >, >=, < or <="));
            }
        };
        let (line, column) = self.position();
        let Some(text) = self.signed_number_text() else {
            return Err(self.unexpected("STRING, NUMBER, DURATION or BYTES"));
        };
        if let Some(value) = parse_float(&text) {
            return Ok(LabelFilter::Number {
                name,
                op: compare,
                value,
            });
        }
        if let Some(duration) = parse_signed_query_duration(&text) {
            return Ok(LabelFilter::Duration {
                name,
                op: compare,
                nanos: duration,
            });
        }
        if let Some(bytes) = parse_bytes(&text) {
            return Ok(LabelFilter::Bytes {
                name,
                op: compare,
                bytes,
            });
        }
        Err(ParseError::at(
            line,
            column,
            format!("syntax error: {text:?} is not a number, duration or byte size"),
        ))
    }
}

/// A plain decimal number (digits, one dot, an exponent); not `inf` or `nan`.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let plain = unsigned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if !plain || !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    text.parse().ok()
}

fn parse_signed_query_duration(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let nanos = i128::try_from(parse_query_duration(unsigned)?.as_nanos()).ok()?;
    Some(if negative { -nanos } else { nanos })
}

/// Parses a JSON extraction path: `a.b[0]`, `["a b"].c`, `a["b"][1]`.
fn parse_json_path(text: &str) -> std::result::Result<Vec<JsonPathPart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut expect_field = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                return Err(String::from("unclosed ["));
            };
            let inside = after[..end].trim();
            if let Some(quoted) = inside
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
            {
                parts.push(JsonPathPart::Field(quoted.to_owned()));
            } else if let Ok(index) = inside.parse::<usize>() {
                parts.push(JsonPathPart::Index(index));
            } else {
                return Err(format!("invalid subscript [{inside}]"));
            }
            rest = &after[end + 1..];
            expect_field = false;
            continue;
        }
        if let Some(after) = rest.strip_prefix('.') {
            if parts.is_empty() {
                return Err(String::from("a path cannot start with ."));
            }
            rest = after;
            expect_field = true;
            continue;
        }
        if !expect_field {
            return Err(format!("unexpected {rest:?}"));
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let field = &rest[..end];
        if field.is_empty() {
            return Err(String::from("empty field name"));
        }
        parts.push(JsonPathPart::Field(field.to_owned()));
        rest = &rest[end..];
        expect_field = false;
    }
    if parts.is_empty() {
        return Err(String::from("empty path"));
    }
    Ok(parts)
}

fn validate_range_aggregation(
    function: RangeFunction,
    unwrapped: bool,
    grouped: bool,
) -> Result<()> {
    use RangeFunction as F;
    let name = function.name();
    if grouped
        && !matches!(
            function,
            F::AvgOverTime
                | F::StddevOverTime
                | F::StdvarOverTime
                | F::QuantileOverTime
                | F::MaxOverTime
                | F::MinOverTime
                | F::FirstOverTime
                | F::LastOverTime
        )
    {
        return Err(ParseError::plain(format!(
            "grouping not allowed for {name} aggregation"
        )));
    }
    if unwrapped {
        if matches!(function, F::CountOverTime | F::BytesRate | F::BytesOverTime) {
            return Err(ParseError::plain(format!(
                "invalid aggregation {name} with unwrap"
            )));
        }
        return Ok(());
    }
    if matches!(
        function,
        F::BytesOverTime | F::BytesRate | F::CountOverTime | F::Rate | F::AbsentOverTime
    ) {
        Ok(())
    } else {
        Err(ParseError::plain(format!(
            "invalid aggregation {name} without unwrap"
        )))
    }
}

fn combine(
    op: BinaryOp,
    return_bool: bool,
    matching: Option<VectorMatching>,
    left: Expr,
    right: Expr,
    (line, column): (usize, usize),
) -> Result<MetricExpr> {
    let name = binary_op_name(op);
    let (left, right) = match (left, right) {
        (Expr::Metric(left), Expr::Metric(right)) => (left, right),
        _ => {
            return Err(ParseError::at(
                line,
                column,
                format!(
                    "syntax error: a log query cannot be an operand of {name}; use a range aggregation such as count_over_time({{...}}[5m])"
                ),
            ));
        }
    };
    if op.is_set_operator() {
        if let MetricExpr::Literal(value) = left {
            return Err(ParseError::plain(format!(
                "unexpected literal for left leg of logical/set binary operation ({name}): {}",
                go_float(value)
            )));
        }
        if let MetricExpr::Literal(value) = right {
            return Err(ParseError::plain(format!(
                "unexpected literal for right leg of logical/set binary operation ({name}): {}",
                go_float(value)
            )));
        }
    }
    if let (MetricExpr::Literal(left), MetricExpr::Literal(right)) = (&left, &right) {
        return Ok(MetricExpr::Literal(fold(op, *left, *right)));
    }
    Ok(MetricExpr::Binary(BinaryExpr {
        op,
        return_bool,
        matching,
        left: Box::new(left),
        right: Box::new(right),
    }))
}

/// Parses a LogQL query: a log query or a metric query.
pub fn parse(text: &str) -> Result<Query> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ParseError::plain(format!(
            "input size too long ({} > {MAX_QUERY_BYTES})",
            text.len()
        )));
    }
    let (tokens, end) =
        lex(text).map_err(|error| ParseError::at(error.line, error.column, error.message))?;
    if tokens.is_empty() {
        return Err(ParseError::at(
            end.0,
            end.1,
            "syntax error: unexpected $end, expecting { or a metric expression",
        ));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
        depth: 0,
    };
    let expr = parser.expression(0)?;
    if parser.peek().is_some() {
        let expecting = match expr {
            Expr::Log(_) => EXPECTING_STAGE,
            Expr::Metric(_) => "a binary operator or $end",
        };
        return Err(parser.unexpected(expecting));
    }
    Ok(match expr {
        Expr::Log(query) => Query::Log(query),
        Expr::Metric(expr) => Query::Metric(expr),
    })
}

/// Loki's stage order (its `reorderStages`): within each run of stages that ends at a
/// label filter, a `line_format` or an `unpack`, the line filters run first, in their
/// order, then the other stages in theirs. A line filter written after `decolorize`, a
/// parser, `drop`/`keep` or `label_format` therefore sees the line those stages saw (only
/// `decolorize` changes it), and lines are filtered before they are parsed.
fn reorder_stages(stages: Vec<Stage>) -> Vec<Stage> {
    let mut result = Vec::with_capacity(stages.len());
    let mut filters: Vec<Stage> = Vec::new();
    let mut others: Vec<Stage> = Vec::new();
    let flush = |result: &mut Vec<Stage>, filters: &mut Vec<Stage>, others: &mut Vec<Stage>| {
        result.append(filters);
        result.append(others);
    };
    for stage in stages {
        match stage {
            Stage::LabelFilter(_) => {
                flush(&mut result, &mut filters, &mut others);
                result.push(stage);
            }
            Stage::LineFilter(_) => filters.push(stage),
            Stage::LineFormat(_) | Stage::Parser(ParserStage::Unpack) => {
                others.push(stage);
                flush(&mut result, &mut filters, &mut others);
            }
            _ => others.push(stage),
        }
    }
    flush(&mut result, &mut filters, &mut others);
    result
}
