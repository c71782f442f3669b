//! The LogQL parser (recursive descent). Errors read as Loki's:
//! `parse error at line 1, col 11: syntax error: unexpected }, expecting STRING`.

use super::lexer::{Located, Token, lex};
use super::{FilterOp, LineFilter, LogQuery, MatchOp, Matcher, Query, Stage};

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

    pub(crate) fn message(message: &str) -> Self {
        ParseError(message.to_owned())
    }
}

struct Parser {
    tokens: Vec<Located>,
    next: usize,
    end: (usize, usize),
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|located| &located.token)
    }

    fn advance(&mut self) -> Option<Located> {
        let located = self.tokens.get(self.next).cloned();
        self.next += 1;
        located
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

    fn expect(&mut self, wanted: &Token, expecting: &str) -> Result<(), ParseError> {
        if self.peek() == Some(wanted) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    fn string(&mut self) -> Result<(String, (usize, usize)), ParseError> {
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

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(&Token::OpenBrace, "{")?;
        let mut matchers = Vec::new();
        loop {
            let name = match self.peek() {
                Some(Token::Identifier(name)) => name.clone(),
                Some(Token::CloseBrace) if matchers.is_empty() => {
                    return Err(self.unexpected("IDENTIFIER"));
                }
                _ => return Err(self.unexpected("IDENTIFIER")),
            };
            self.next += 1;
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
            match self.advance().map(|located| located.token) {
                Some(Token::Comma) => continue,
                Some(Token::CloseBrace) => break,
                _ => {
                    self.next -= 1;
                    return Err(self.unexpected("} or ,"));
                }
            }
        }
        if !matchers.iter().any(|matcher| !matcher.matches_value("")) {
            return Err(ParseError(String::from(
                "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            )));
        }
        Ok(matchers)
    }

    fn pipeline(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        while let Some(token) = self.peek().cloned() {
            let op = match token {
                Token::PipeExact => FilterOp::Contains,
                Token::NotEqual => FilterOp::NotContains,
                Token::PipeMatch => FilterOp::Regex,
                Token::NotRegexMatch => FilterOp::NotRegex,
                Token::Pipe => {
                    let (line, column) = self.position();
                    let stage = match self.tokens.get(self.next + 1).map(|l| &l.token) {
                        Some(Token::Identifier(name)) => format!("| {name}"),
                        _ => String::from("this pipeline stage"),
                    };
                    return Err(ParseError::at(
                        line,
                        column,
                        format!("{stage} is not supported yet (only line filters are)"),
                    ));
                }
                _ => return Err(self.unexpected("|=, !=, |~, !~ or $end")),
            };
            self.next += 1;
            let (value, (line, column)) = self.string()?;
            let filter = LineFilter::new(op, &value)
                .map_err(|error| ParseError::at(line, column, format!("invalid regex: {error}")))?;
            stages.push(Stage::LineFilter(filter));
        }
        Ok(stages)
    }
}

/// Parses a LogQL query. Metric queries, parsers and formatters are not supported yet
/// and fail with a message saying so, at their position.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let (tokens, end) =
        lex(text).map_err(|error| ParseError::at(error.line, error.column, error.message))?;
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
    };
    if let Some(Token::Identifier(name)) = parser.peek() {
        let (line, column) = parser.position();
        return Err(ParseError::at(
            line,
            column,
            format!("metric queries ({name}) are not supported yet"),
        ));
    }
    let selector = parser.selector()?;
    let pipeline = parser.pipeline()?;
    Ok(Query::Log(LogQuery { selector, pipeline }))
}
