//! TraceQL tokens, scanned the way Tempo's lexer (Go's `text/scanner` plus a keyword
//! table) scans them, including the positions Tempo reports in parse errors.
//!
//! Tempo reports the start of the most recently scanned token, 1-based, in characters.
//! Its scanner forgets the line (reports line 0) once a token was extended character by
//! character after scanning: multi-character operators (`&&`, `!=`, `span.`), durations
//! (`1s`) and attribute names. [`Token::line`] keeps that quirk so messages match.

use std::fmt;

use super::ParseError;

/// One token kind. Keywords carry no text; names, strings and numbers carry their value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Identifier(String),
    String(String),
    Integer(i64),
    Float(f64),
    /// Nanoseconds; negative never comes from the lexer.
    Duration(i64),
    EndAttribute,
    Eof,
    /// Any fixed token: punctuation, operators, keywords, scopes (`span.`, `trace:`).
    Keyword(&'static str),
}

/// A token and where Tempo would report it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based line, or 0 where Tempo's scanner reports 0 (see the module docs).
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
}

impl Token {
    pub(crate) fn is(&self, keyword: &str) -> bool {
        matches!(&self.tok, Tok::Keyword(k) if *k == keyword)
    }

    /// The name yacc would print for this token in "unexpected X".
    pub(crate) fn describe(&self) -> String {
        match &self.tok {
            Tok::Identifier(_) => "IDENTIFIER".into(),
            Tok::String(_) => "STRING".into(),
            Tok::Integer(_) => "INTEGER".into(),
            Tok::Float(_) => "FLOAT".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::EndAttribute => "END_ATTRIBUTE".into(),
            Tok::Eof => "$end".into(),
            Tok::Keyword(k) => (*k).into(),
        }
    }

    pub(crate) fn syntax_error(&self, expecting: &[&str]) -> ParseError {
        let mut message = format!("syntax error: unexpected {}", self.describe());
        if !expecting.is_empty() {
            message.push_str(", expecting ");
            message.push_str(&expecting.join(" or "));
        }
        ParseError::syntax(self.line, self.column, message)
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Keyword(k) => f.write_str(k),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Every fixed token Tempo's lexer knows, longest combinations included.
const KEYWORDS: &[&str] = &[
    ",",
    ".",
    "{",
    "}",
    "(",
    ")",
    "=",
    "!=",
    "=~",
    "!~",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "/",
    "%",
    "*",
    "^",
    "true",
    "false",
    "nil",
    "ok",
    "error",
    "unset",
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
    "&&",
    "||",
    "!",
    "|",
    ">>",
    "<<",
    "~",
    "!>",
    "!<",
    "!>>",
    "!<<",
    "&~",
    "&>",
    "&<",
    "&>>",
    "&<<",
    "duration",
    "childCount",
    "name",
    "status",
    "statusMessage",
    "kind",
    "rootName",
    "rootServiceName",
    "rootService",
    "traceDuration",
    "nestedSetLeft",
    "nestedSetRight",
    "nestedSetParent",
    "id",
    "traceID",
    "spanID",
    "parentID",
    "timeSinceStart",
    "version",
    "parent",
    "parent.",
    "resource.",
    "span.",
    "trace:",
    "span:",
    "event:",
    "link:",
    "instrumentation:",
    "event.",
    "link.",
    "instrumentation.",
    "count",
    "avg",
    "max",
    "min",
    "sum",
    "by",
    "coalesce",
    "select",
    "topk",
    "bottomk",
    "with",
];

/// TraceQL metrics first-stage functions.
pub(crate) const METRICS_FUNCTIONS: [&str; 9] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
];

fn keyword(text: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .chain(METRICS_FUNCTIONS.iter())
        .copied()
        .find(|k| *k == text)
}

/// Scope tokens after which an attribute name follows.
fn starts_attribute(keyword: &str) -> bool {
    matches!(
        keyword,
        "." | "resource." | "span." | "parent." | "event." | "link." | "instrumentation."
    )
}

fn is_scope(keyword: &str) -> bool {
    matches!(
        keyword,
        "parent."
            | "span."
            | "resource."
            | "span:"
            | "trace:"
            | "event:"
            | "link:"
            | "instrumentation:"
            | "event."
            | "link."
            | "instrumentation."
    )
}

/// Characters that may appear unquoted in an attribute name.
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
}

pub(super) fn is_duration_char(c: char) -> bool {
    matches!(c, 'n' | 's' | 'u' | 'm' | 'h' | 'µ' | 'd' | 'w' | 'y')
}

/// Splits `query` into tokens; the last is always [`Tok::Eof`].
pub(crate) fn tokenize(query: &str) -> Result<Vec<Token>, ParseError> {
    Lexer::new(query).run()
}

pub(super) struct Lexer {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
    /// Position of the most recently scanned token and whether the line is still known.
    line: usize,
    column: usize,
    line_known: bool,
    parsing_attribute: bool,
    current_scope: &'static str,
}

impl Lexer {
    fn new(query: &str) -> Self {
        Lexer {
            chars: query.chars().collect(),
            pos: 0,
            line: 0,
            column: 0,
            line_known: true,
            parsing_attribute: false,
            current_scope: "",
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    /// Consumes one character after a scan, as Go's `Scanner.Next` does: the line is lost.
    pub(super) fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        self.line_known = false;
        Some(c)
    }

    /// Tempo's position for the character at `index` (the end of input included).
    fn position_of(&self, index: usize) -> (usize, usize) {
        if self.chars.is_empty() {
            return (0, 0);
        }
        let before = &self.chars[..index.min(self.chars.len())];
        let line = 1 + before.iter().filter(|c| **c == '\n').count();
        let line_start = before
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |newline| newline + 1);
        (line, index - line_start + 1)
    }

    fn mark_token_start(&mut self) {
        let (line, column) = self.position_of(self.pos);
        self.line = line;
        self.column = column;
        self.line_known = true;
    }

    pub(super) fn token(&self, tok: Tok) -> Token {
        Token {
            tok,
            line: if self.line_known { self.line } else { 0 },
            column: self.column,
        }
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ParseError {
        let line = if self.line_known { self.line } else { 0 };
        ParseError::syntax(line, self.column, message.into())
    }

    fn run(mut self) -> Result<Vec<Token>, ParseError> {
        let mut tokens = Vec::new();
        loop {
            let token = self.lex()?;
            let end = token.tok == Tok::Eof;
            tokens.push(token);
            if end {
                return Ok(tokens);
            }
        }
    }

    fn lex(&mut self) -> Result<Token, ParseError> {
        if self.parsing_attribute {
            if !self.peek().is_some_and(is_attribute_char) {
                self.parsing_attribute = false;
                return Ok(self.token(Tok::EndAttribute));
            }
            if let Some(scope) = self.try_scope_after_parent() {
                self.current_scope = scope;
                return Ok(self.token(Tok::Keyword(scope)));
            }
            let name = self.attribute_name()?;
            return Ok(self.token(Tok::Identifier(name)));
        }
        self.skip_whitespace_and_comments();
        self.mark_token_start();
        let Some(first) = self.peek() else {
            return Ok(self.token(Tok::Eof));
        };
        if first == '"' || first == '`' {
            let text = self.string_literal(first)?;
            return Ok(self.token(Tok::String(text)));
        }
        if first.is_ascii_digit()
            || (first == '.' && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()))
        {
            return self.number();
        }
        // One scanned unit: an identifier, a character literal or a single character.
        let start = self.pos;
        if first.is_alphabetic() || first == '_' {
            while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                self.pos += 1;
            }
        } else if first == '\'' {
            self.pos += 1;
            while let Some(c) = self.peek() {
                self.pos += 1;
                if c == '\'' || c == '\n' {
                    break;
                }
            }
        } else {
            self.pos += 1;
        }
        let mut text: String = self.chars[start..self.pos].iter().collect();
        // Longest combination with the following characters (`&` + `&`, `span` + `.`).
        let mut combined: Option<&'static str> = None;
        while let Some(next) = self.peek() {
            let mut candidate = text.clone();
            candidate.push(next);
            match keyword(&candidate) {
                Some(k) => {
                    combined = Some(k);
                    text = candidate;
                    self.next_char();
                }
                None => break,
            }
        }
        if let Some(k) = combined {
            if is_scope(k) {
                self.current_scope = k;
            }
            self.parsing_attribute = starts_attribute(k);
            return Ok(self.token(Tok::Keyword(k)));
        }
        if let Some(k) = keyword(&text) {
            self.parsing_attribute = starts_attribute(k);
            return Ok(self.token(Tok::Keyword(k)));
        }
        Ok(self.token(Tok::Identifier(text)))
    }

    fn skip_whitespace_and_comments(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c == ' ' || c == '\t' || c == '\n' || c == '\r' => self.pos += 1,
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    while self.pos < self.chars.len()
                        && !(self.peek() == Some('*') && self.peek_at(1) == Some('/'))
                    {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.chars.len());
                }
                _ => return,
            }
        }
    }

    /// After `parent.`, a following `span.` or `resource.` is a scope, not a name.
    fn try_scope_after_parent(&mut self) -> Option<&'static str> {
        if self.current_scope != "parent." {
            return None;
        }
        for scope in ["span.", "resource."] {
            let len = scope.chars().count();
            if self.chars.len() >= self.pos + len
                && self.chars[self.pos..self.pos + len]
                    .iter()
                    .copied()
                    .eq(scope.chars())
            {
                for _ in 0..len {
                    self.next_char();
                }
                return Some(scope);
            }
        }
        None
    }

    fn attribute_name(&mut self) -> Result<String, ParseError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '"' {
                self.next_char();
                loop {
                    match self.peek() {
                        None => return Err(self.error("unexpected EOF, expecting \"")),
                        Some('"') => {
                            self.next_char();
                            break;
                        }
                        Some('\\') => {
                            self.next_char();
                            match self.peek() {
                                Some(escaped @ ('\\' | '"')) => {
                                    name.push(escaped);
                                    self.next_char();
                                }
                                _ => return Err(self.error("invalid escape sequence")),
                            }
                        }
                        Some(other) => {
                            name.push(other);
                            self.next_char();
                        }
                    }
                }
            } else if is_attribute_char(c) {
                name.push(c);
                self.next_char();
            } else {
                break;
            }
        }
        Ok(name)
    }
}
